#!/usr/bin/env python3
"""PyTorch reference cases for the norm layers' `bias` argument and their reprs.

Writes, in the format of Tests/TestSupport/Resources/FIXTURES-README.md:
  fixtures/layers/<name>.safetensors   one layer with bias=False through train / eval steps
  fixtures/reprs/norm_reprs.json       repr(layer) and state_dict keys for constructor arguments

Run with the project's PyTorch (2.13 CPU):
  /work/venv/bin/python scripts/reference/make_norm_bias_fixtures.py
"""
import json
import os

import torch
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TestSupport", "Resources", "fixtures")

MODULES = {
    "BatchNorm1d": torch.nn.BatchNorm1d, "BatchNorm2d": torch.nn.BatchNorm2d, "BatchNorm3d": torch.nn.BatchNorm3d,
    "InstanceNorm1d": torch.nn.InstanceNorm1d, "InstanceNorm2d": torch.nn.InstanceNorm2d,
    "InstanceNorm3d": torch.nn.InstanceNorm3d, "GroupNorm": torch.nn.GroupNorm, "LayerNorm": torch.nn.LayerNorm,
    "RMSNorm": torch.nn.RMSNorm,
}


def layer_case(name, module, kwargs, steps, seed):
    """Runs the steps in float64 from float32 inputs, stores float32 (exact for the inputs)."""
    g = torch.Generator().manual_seed(seed)
    m = MODULES[module](**kwargs)
    # A state that is not the default initialisation.
    with torch.no_grad():
        for k, t in m.state_dict().items():
            if k == "num_batches_tracked":
                t.fill_(3)
            elif k == "running_var":
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g))
    out = {"init." + k: v.detach().clone().float() if v.is_floating_point() else v.clone()
           for k, v in m.state_dict().items()}
    m = m.double()
    for i, (mode, shape) in enumerate(steps):
        m.train(mode == "train")
        x32 = (torch.randn(shape, generator=g) * 2 + 0.5).float()
        dy32 = torch.randn(shape, generator=g).float()
        x = x32.double().requires_grad_(True)
        m.zero_grad()
        y = m(x)
        y.backward(dy32.double())
        s = f"step{i}."
        out[s + "input"], out[s + "grad_output"] = x32, dy32
        out[s + "output"], out[s + "grad_input"] = y.detach().float(), x.grad.float()
        if getattr(m, "weight", None) is not None:
            out[s + "grad_weight"] = m.weight.grad.float()
        if getattr(m, "bias", None) is not None:
            out[s + "grad_bias"] = m.bias.grad.float()
        for k in ("running_mean", "running_var"):
            if getattr(m, k, None) is not None:
                out[s + k] = getattr(m, k).detach().float()
        if getattr(m, "num_batches_tracked", None) is not None:
            out[s + "num_batches_tracked"] = m.num_batches_tracked.clone()
    case = {"module": module, "kwargs": kwargs, "steps": [{"mode": md, "shape": sh} for md, sh in steps]}
    out = {k: v.contiguous() for k, v in out.items()}
    save_file(out, os.path.join(ROOT, "layers", name + ".safetensors"), metadata={"case": json.dumps(case)})


def main():
    layer_case("bn2d_no_bias", "BatchNorm2d", {"num_features": 3, "bias": False},
               [("train", [4, 3, 3, 3]), ("train", [2, 3, 3, 3]), ("eval", [2, 3, 3, 3])], seed=1)
    layer_case("bn1d_no_bias_momentum_none", "BatchNorm1d", {"num_features": 4, "bias": False, "momentum": None},
               [("train", [5, 4]), ("train", [3, 4, 2]), ("eval", [2, 4])], seed=2)
    layer_case("bn3d_no_bias", "BatchNorm3d", {"num_features": 2, "bias": False},
               [("train", [2, 2, 2, 3, 2]), ("eval", [1, 2, 2, 3, 2])], seed=3)
    layer_case("gn_no_bias", "GroupNorm", {"num_groups": 2, "num_channels": 4, "bias": False},
               [("train", [3, 4, 5]), ("eval", [2, 4, 2, 2])], seed=4)
    layer_case("in2d_affine_no_bias", "InstanceNorm2d",
               {"num_features": 3, "affine": True, "bias": False, "track_running_stats": True},
               [("train", [2, 3, 4, 4]), ("eval", [1, 3, 4, 4])], seed=5)

    reprs = []
    for module, kwargs in [
        ("BatchNorm1d", {"num_features": 8}),
        ("BatchNorm2d", {"num_features": 4, "bias": False}),
        ("BatchNorm2d", {"num_features": 4, "affine": False}),
        ("BatchNorm3d", {"num_features": 2, "eps": 1e-3, "momentum": None, "bias": False, "track_running_stats": False}),
        ("InstanceNorm2d", {"num_features": 3}),
        ("InstanceNorm1d", {"num_features": 3, "affine": True}),
        ("InstanceNorm3d", {"num_features": 3, "affine": True, "bias": False}),
        ("GroupNorm", {"num_groups": 2, "num_channels": 4}),
        ("GroupNorm", {"num_groups": 2, "num_channels": 4, "bias": False}),
        ("GroupNorm", {"num_groups": 32, "num_channels": 256, "affine": False}),
        ("LayerNorm", {"normalized_shape": [4]}),
        ("LayerNorm", {"normalized_shape": [3, 4], "bias": False}),
        ("LayerNorm", {"normalized_shape": [4], "elementwise_affine": False}),
        ("RMSNorm", {"normalized_shape": [4]}),
    ]:
        m = MODULES[module](**kwargs)
        reprs.append({"module": module, "kwargs": kwargs, "repr": repr(m), "state_dict_keys": list(m.state_dict().keys())})
    os.makedirs(os.path.join(ROOT, "reprs"), exist_ok=True)
    with open(os.path.join(ROOT, "reprs", "norm_reprs.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": reprs}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
