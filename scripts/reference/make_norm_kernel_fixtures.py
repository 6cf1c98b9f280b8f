#!/usr/bin/env python3
"""PyTorch references for the shapes that select the normalization kernels' fast paths: SIMD
bodies and tails, the channel-vectorized (N, C) batch norm, the whole-tensor two-sweep batch norm,
inputs offset by 1e4 (cancellation), and non-temporal stores. They replace the float32-vs-float64
comparisons (two paths of the library) as the reference for these paths.

    /work/venv/bin/python scripts/reference/make_norm_kernel_fixtures.py [FIXTURES_DIR]

Writes `normkernels/<name>.safetensors` under FIXTURES_DIR (default
Tests/TestSupport/Resources/fixtures). Each file: `input` (float32), optional `weight`, `bias`,
`running_mean`, `running_var`, `grad_output`, and PyTorch's `output`, `grad_input`, `grad_weight`,
`grad_bias`, computed in float64 from the stored float32 values and stored as float32. The `case`
metadata: {"function": "batch_norm"|"instance_norm"|"group_norm"|"layer_norm"|"rms_norm",
"args": {...}, "path": "..."}.

A case too large to store (`whole_tensor_bn`, 2^18 values) stores instead the recipe of its input
(`"lcg": {"seed", "offset", "scale"}`: the generator `NormTest.values` of the tests) and its
results only at `sample_index` (int64): `output`, `grad_input` at those positions.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures"),
                   "normkernels")
M64 = (1 << 64) - 1


def lcg(n, seed):
    """The tests' deterministic values in [-1, 1): a 64-bit LCG, top 53 bits."""
    a, c = 6364136223846793005, 1442695040888963407
    s = (seed * a + c) & M64
    out = []
    for _ in range(n):
        s = (s * a + c) & M64
        out.append((s >> 11) / float(1 << 53) * 2 - 1)
    return torch.tensor(out, dtype=torch.float64)


def f32(t):
    return t.to(torch.float32)


def run(function, args, x, params, gy):
    """Calls the functional form in float64 on the float32 values; returns output and gradients."""
    x64 = x.double().requires_grad_()
    p64 = {k: v.double().requires_grad_() if k in ("weight", "bias") else v.double().clone() for k, v in params.items()}
    if function == "batch_norm":
        y = F.batch_norm(x64, p64.get("running_mean"), p64.get("running_var"), p64.get("weight"), p64.get("bias"),
                         training=args["training"], eps=args.get("eps", 1e-5))
    elif function == "instance_norm":
        y = F.instance_norm(x64, weight=p64.get("weight"), bias=p64.get("bias"), eps=args.get("eps", 1e-5))
    elif function == "group_norm":
        y = F.group_norm(x64, args["num_groups"], p64.get("weight"), p64.get("bias"), eps=args.get("eps", 1e-5))
    elif function == "layer_norm":
        y = F.layer_norm(x64.reshape(args.get("view", list(x.shape))), args["normalized_shape"], p64.get("weight"),
                         p64.get("bias"), eps=args.get("eps", 1e-5))
    else:
        y = F.rms_norm(x64, args["normalized_shape"], p64.get("weight"), eps=args["eps"])
    y.backward(gy.double().reshape(y.shape))
    grads = {"grad_input": x64.grad}
    for k in ("weight", "bias"):
        if k in p64:
            grads["grad_" + k] = p64[k].grad
    return y, grads


def case(name, function, args, x, params, gy, path):
    y, grads = run(function, args, x, params, gy)
    t = {"input": x, "grad_output": gy, "output": f32(y), **{k: f32(v) for k, v in params.items()},
         **{k: f32(v) for k, v in grads.items()}}
    save(name, t, {"function": function, "args": args, "path": path})


def save(name, t, meta):
    os.makedirs(OUT, exist_ok=True)
    p = os.path.join(OUT, name + ".safetensors")
    save_file({k: v.detach().contiguous() for k, v in t.items()}, p, metadata={"case": json.dumps(meta)})
    os.chmod(p, 0o644)


def main():
    # Offset 1e4 with unit spread (the tests' `offsetData`): cancellation in the statistics.
    shape = [3, 4, 9, 10]
    n = 3 * 4 * 9 * 10
    x = f32(1e4 + lcg(n, 7) * 1.7).reshape(shape)
    gy = f32(lcg(n, 8)).reshape(shape)
    case("offset_batch_norm_train", "batch_norm", {"training": True}, x, {}, gy, "offset 1e4, batch statistics")
    case("offset_layer_norm", "layer_norm", {"normalized_shape": [9, 10]}, x, {}, gy, "offset 1e4, rows of 90")
    case("offset_group_norm", "group_norm", {"num_groups": 2}, x, {}, gy, "offset 1e4, 2 groups")
    case("offset_instance_norm", "instance_norm", {}, x, {}, gy, "offset 1e4, planes of 90")
    case("offset_batch_norm_eval", "batch_norm", {"training": False}, x,
         {"running_mean": torch.full([4], 1e4), "running_var": torch.full([4], 2.9)}, gy, "offset 1e4, running statistics")
    x2 = f32(1e4 + lcg(40 * 37, 3) * 1.7).reshape([40, 37])
    case("offset_batch_norm_nc", "batch_norm", {"training": True}, x2, {}, f32(lcg(40 * 37, 4)).reshape([40, 37]),
         "(N, C) input: the channel-vectorized path")

    # Odd shapes: SIMD bodies and scalar tails, with affine parameters.
    for shape in ([5, 3, 37], [2, 70, 1], [3, 2, 33, 3]):
        cnt = 1
        for s in shape:
            cnt *= s
        x = f32(lcg(cnt, 11) * 3 + 0.5).reshape(shape)
        c, d = shape[1], shape[-1]
        w, b = f32(1 + lcg(c, 12)), f32(lcg(c, 13))
        lw, lb = f32(1 + lcg(d, 14)), f32(lcg(d, 15))
        gy = f32(lcg(cnt, 16)).reshape(shape)
        tag = "x".join(map(str, shape))
        groups = 2 if c % 2 == 0 else 1
        case(f"odd_{tag}_batch_norm", "batch_norm", {"training": True}, x, {"weight": w, "bias": b}, gy, "SIMD body and tail")
        case(f"odd_{tag}_group_norm", "group_norm", {"num_groups": groups}, x, {"weight": w, "bias": b}, gy, "SIMD body and tail")
        # A row of one element has exactly zero input gradient, which float32 (PyTorch's too) only
        # reaches to rstd·ulp ≈ 3e-5: normalize the trailing two dims there instead.
        ln_shape = [d] if d > 1 else shape[1:]
        ln_count = d if d > 1 else shape[1] * shape[2]
        lnw, lnb = f32(1 + lcg(ln_count, 14)).reshape(ln_shape), f32(lcg(ln_count, 15)).reshape(ln_shape)
        case(f"odd_{tag}_layer_norm", "layer_norm", {"normalized_shape": ln_shape}, x, {"weight": lnw, "bias": lnb}, gy,
             "SIMD body and tail")
        case(f"odd_{tag}_rms_norm", "rms_norm", {"normalized_shape": [d], "eps": 1e-5}, x, {"weight": lw}, gy, "SIMD body and tail")

    # Planes of 67 and rows of 201: segments that start off 64-byte boundaries (the tests run these
    # with non-temporal stores forced on).
    x = f32(lcg(3 * 4 * 67, 31) * 2 + 7).reshape([3, 4, 67])
    gy = f32(lcg(3 * 4 * 67, 32)).reshape([3, 4, 67])
    case("unaligned_batch_norm_train", "batch_norm", {"training": True}, x, {}, gy, "unaligned segments")
    case("unaligned_batch_norm_eval", "batch_norm", {"training": False}, x,
         {"running_mean": torch.full([4], 7.0), "running_var": torch.full([4], 2.0)}, gy, "unaligned segments")
    case("unaligned_group_norm", "group_norm", {"num_groups": 2}, x, {}, gy, "unaligned segments")
    case("unaligned_instance_norm", "instance_norm", {}, x, {}, gy, "unaligned segments")
    case("unaligned_layer_norm", "layer_norm", {"normalized_shape": [201], "view": [4, 201]}, x, {}, gy, "unaligned rows")

    # One channel of 2^18 values (too few channel blocks for two threads): the two-sweep,
    # whole-tensor batch norm. Stored by recipe and sampled.
    shape, n = [2, 1, 1 << 17], 1 << 18
    x = f32(1e4 + lcg(n, 21)).reshape(shape)
    gy = f32(lcg(n, 22)).reshape(shape)
    y, grads = run("batch_norm", {"training": True}, x, {}, gy)
    g = torch.Generator().manual_seed(5)
    idx = torch.cat([torch.arange(0, 64), torch.arange(n - 64, n), torch.randint(0, n, (384,), generator=g)])
    save("whole_tensor_batch_norm", {"sample_index": idx, "output": f32(y.reshape(-1)[idx]),
                                      "grad_input": f32(grads["grad_input"].reshape(-1)[idx])},
         {"function": "batch_norm", "args": {"training": True}, "shape": shape,
          "lcg": {"input": {"seed": 21, "offset": 1e4, "scale": 1.0}, "grad_output": {"seed": 22, "offset": 0.0, "scale": 1.0}},
          "path": "whole-tensor two-sweep batch norm"})
    print(f"wrote normalization kernel cases to {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
