"""Reference for SwiftNN's module hooks: the order in which PyTorch calls forward pre-hooks,
forward hooks, full backward pre-hooks and full backward hooks on a nested model, and the
gradients the backward hooks receive.

Writes Tests/TestSupport/Resources/fixtures/hooks/nested_hooks.json. Model (weights fixed, listed
in the file): Net(block=Block(fc=Linear(3, 4), act=ReLU()), head=Sequential(Linear(4, 2)));
Net.forward(x) = head(block(x)), Block.forward(x) = act(fc(x)). Every module gets all four hooks;
each logs (event, module name). Two cases: the input requires grad, and it does not.
Run: /work/venv/bin/python scripts/reference/module_hooks.py
"""
import json
import os

import torch
from torch import nn

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TestSupport", "Resources", "fixtures", "hooks")


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.fc(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.block(x))


def tolist(t):
    return None if t is None else t.detach().double().reshape(-1).tolist()


def run(input_requires_grad):
    net = Net().double()
    with torch.no_grad():
        for i, (name, p) in enumerate(net.named_parameters()):
            p.copy_(torch.linspace(-1.0, 1.0, p.numel(), dtype=torch.float64).reshape(p.shape) * (0.5 + 0.25 * i))
    events, grads = [], {}
    for name, m in net.named_modules():
        name = name or "model"
        m.register_forward_pre_hook(lambda mod, args, n=name: events.append(["forward_pre", n]))
        m.register_forward_hook(lambda mod, args, out, n=name: events.append(["forward", n]))
        m.register_full_backward_pre_hook(lambda mod, go, n=name: events.append(["backward_pre", n]))

        def bwd(mod, gi, go, n=name):
            events.append(["backward", n])
            grads[n] = {"grad_input": tolist(gi[0]), "grad_output": tolist(go[0])}
        m.register_full_backward_hook(bwd)
    x = torch.tensor([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]], dtype=torch.float64, requires_grad=input_requires_grad)
    y = net(x)
    upstream = torch.tensor([[1.0, -2.0], [0.5, 3.0]], dtype=torch.float64)
    y.backward(upstream)
    return {
        "input_requires_grad": input_requires_grad,
        "input": tolist(x), "upstream": tolist(upstream), "output": tolist(y),
        "parameters": {k: tolist(v) for k, v in net.named_parameters()},
        "events": events, "grads": grads,
        "input_grad": tolist(x.grad) if input_requires_grad else None,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {"torch": torch.__version__, "cases": [run(True), run(False)]}
    with open(os.path.join(OUT, "nested_hooks.json"), "w") as f:
        json.dump(cases, f, indent=1)
        f.write("\n")
    for c in cases["cases"]:
        print(c["input_requires_grad"], [" ".join(e) for e in c["events"]])


if __name__ == "__main__":
    main()
