#!/usr/bin/env python3
"""PyTorch reference cases for Conv2d → BatchNorm2d → ReLU (the fused path of Sequential/ConvBNBlock).

    /work/venv/bin/python scripts/reference/make_conv_bn_relu_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/TestSupport/Resources/fixtures/convbnrelu. Each case is one safetensors
file holding the initial state of `nn.Sequential(nn.Conv2d(...), nn.BatchNorm2d(...), nn.ReLU())`
under its state-dict keys (`0.weight`, `0.bias`, `1.weight`, `1.bias`, `1.running_mean`,
`1.running_var`, `1.num_batches_tracked`) and what PyTorch does with it:

- two training steps t = 1, 2 on inputs `input_t` with output gradients `grad_output_t`:
  `output_t`, the gradients `grad_input_t`, `grad_0.weight_t`, `grad_0.bias_t` (when the conv has a
  bias), `grad_1.weight_t`, `grad_1.bias_t` (gradients are zeroed before each step), and the
  buffers after the step, `running_mean_t`, `running_var_t`, `num_batches_tracked_t`;
- evaluation on `input_eval` with `grad_output_eval`: `output_eval`, `grad_input_eval`,
  `grad_0.weight_eval`, `grad_1.weight_eval`, `grad_1.bias_eval` (and `grad_0.bias_eval`).

The header's `case` metadata holds the constructor arguments: {"in": C, "out": O, "kernel": k,
"stride": s, "padding": p, "conv_bias": bool, "momentum": float or null, "eps": float}.
Everything is float32 (the fused path's dtype), computed by PyTorch in float32 like the layers.
"""
import json
import os
import sys

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures/convbnrelu")

# name, input shape (N, C, H, W), out channels, kernel, stride, padding, conv bias, momentum, eps
CASES = [
    ("nobias_3x3_pad1", [2, 3, 6, 6], 4, 3, 1, 1, False, 0.1, 1e-5),
    ("bias_stride2_odd_channels", [3, 2, 7, 7], 5, 3, 2, 1, True, 0.1, 1e-5),
    ("batch1_spatial_momentum_none", [1, 3, 5, 6], 3, 3, 1, 1, False, None, 1e-5),
    ("pointwise_1x1_output_momentum_03", [4, 3, 3, 3], 6, 3, 1, 0, True, 0.3, 1e-3),
    # First layers (no conv bias): with an input that needs no gradient, SwiftNN recomputes a
    # convolution of at most 12 taps (the 1-channel case) inside batch norm + ReLU instead of
    # storing it, and stores the 27 taps of the 3-channel case.
    ("first_layer_1ch", [4, 1, 10, 10], 8, 3, 1, 1, False, 0.1, 1e-5),
    ("first_layer_3ch_stride2_momentum_none", [5, 3, 9, 9], 7, 3, 2, 1, False, None, 1e-5),
]


def make_case(name, xshape, out_ch, k, s, p, conv_bias, momentum, eps, gen):
    n, c = xshape[0], xshape[1]
    model = nn.Sequential(nn.Conv2d(c, out_ch, k, stride=s, padding=p, bias=conv_bias),
                          nn.BatchNorm2d(out_ch, eps=eps, momentum=momentum), nn.ReLU())
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.randn(prm.shape, generator=gen) * 0.5)
        model[1].weight.add_(1.0)          # scales around 1, some negative biases: both ReLU sides
        model[1].running_mean.copy_(torch.randn(out_ch, generator=gen) * 0.1)
        model[1].running_var.copy_(torch.rand(out_ch, generator=gen) + 0.5)
    tensors = {k2: v.detach().clone().contiguous() for k2, v in model.state_dict().items()}
    # The bias key of the BatchNorm is 1.bias; the conv's 0.bias only when it has one.
    model.train()
    for t in (1, 2):
        x = (torch.randn(xshape, generator=gen) * 1.5 + 0.3).requires_grad_(True)
        model.zero_grad(set_to_none=True)
        y = model(x)
        gy = torch.randn(y.shape, generator=gen)
        y.backward(gy)
        tensors[f"input_{t}"] = x.detach().clone()
        tensors[f"grad_output_{t}"] = gy
        tensors[f"output_{t}"] = y.detach().clone()
        tensors[f"grad_input_{t}"] = x.grad.clone()
        for key, prm in model.named_parameters():
            tensors[f"grad_{key}_{t}"] = prm.grad.clone()
        tensors[f"running_mean_{t}"] = model[1].running_mean.clone()
        tensors[f"running_var_{t}"] = model[1].running_var.clone()
        tensors[f"num_batches_tracked_{t}"] = model[1].num_batches_tracked.clone()
    model.eval()
    x = torch.randn(xshape, generator=gen).requires_grad_(True)
    model.zero_grad(set_to_none=True)
    y = model(x)
    gy = torch.randn(y.shape, generator=gen)
    y.backward(gy)
    tensors["input_eval"] = x.detach().clone()
    tensors["grad_output_eval"] = gy
    tensors["output_eval"] = y.detach().clone()
    tensors["grad_input_eval"] = x.grad.clone()
    for key, prm in model.named_parameters():
        tensors[f"grad_{key}_eval"] = prm.grad.clone()
    meta = {"in": c, "out": out_ch, "kernel": k, "stride": s, "padding": p, "conv_bias": conv_bias,
            "momentum": momentum, "eps": eps}
    tensors = {k2: v.contiguous() for k2, v in tensors.items()}
    save_file(tensors, os.path.join(OUT, name + ".safetensors"),
              metadata={"case": json.dumps(meta), "torch": torch.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20261202)
    for case in CASES:
        make_case(*case, gen)
    print(f"wrote {len(CASES)} cases to {OUT}")


if __name__ == "__main__":
    main()
