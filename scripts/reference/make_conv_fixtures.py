#!/usr/bin/env python3
"""PyTorch reference cases for convolution forward and backward (input, weight and bias gradients).

    /work/venv/bin/python scripts/reference/make_conv_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/TestSupport/Resources/fixtures/conv. Each case is one safetensors file:
`input`, `weight`, `bias` (when the case has one), `grad_output`, and PyTorch's `output`,
`grad_input`, `grad_weight`, `grad_bias`. The header's `case` metadata holds the call:
{"op": "conv1d"|"conv2d"|"conv3d", "stride": [...], "padding": [...], "dilation": [...],
"groups": g, "bias": bool, "dtype": "float32"|"float64", "path": "<what it exercises>"}.

float32 cases are computed in float64 from the stored float32 inputs and stored as float32, so they
are the exact answer for those inputs; float64 cases are computed and stored in float64.

The shapes are chosen to select every path of Sources/TensorCore/Kernels/Convolution.swift:
- `isPointwise && nb == 1`: the input is the column matrix (no im2col), forward and backward;
- samples side by side in one GEMM (`nb > 1`, outputs < 256 positions), including a last chunk
  with fewer samples than the others, and a pointwise kernel that still goes through im2col;
- one sample per GEMM (outputs >= 256 positions), with and without bias;
- stride > 1 (the strided im2col/col2im loops), padding (zero columns/rows/planes), dilation,
  groups and depthwise, 1-d/2-d/3-d, unbatched input;
- batches larger than the thread count, so that chunks are split unevenly over threads and the
  threaded weight-gradient reduction runs (the tests rerun every case with two threads and the
  parallel threshold lowered).
"""
import json
import os
import sys

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures/conv")

# name, input shape, out channels, kernel, stride, padding, dilation, groups, bias, dtype, path
CASES = [
    ("pointwise_direct_2d", [3, 2, 16, 17], 3, [1, 1], [1, 1], [0, 0], [1, 1], 1, True, "float32",
     "1x1 direct path (input is the column matrix), one sample per GEMM, bias"),
    ("pointwise_direct_nobias_1d_f64", [3, 2, 256], 2, [1], [1], [0], [1], 1, False, "float64",
     "1-d pointwise direct path without bias, float64"),
    ("pointwise_unbatched_f64", [3, 4, 4], 4, [1, 1], [1, 1], [0, 0], [1, 1], 1, True, "float64",
     "unbatched input: batch of one, so the direct path even with a small output"),
    ("pointwise_side_by_side_f64", [6, 4, 5, 5], 6, [1, 1], [1, 1], [0, 0], [1, 1], 1, False, "float64",
     "1x1 kernel, small output: samples side by side through im2col, no bias"),
    ("pointwise_padded_2d", [2, 3, 5, 5], 2, [1, 1], [1, 1], [1, 1], [1, 1], 1, True, "float32",
     "1x1 kernel with padding: not the direct path"),
    ("pointwise_stride2_3d_f64", [2, 3, 4, 5, 4], 2, [1, 1, 1], [2, 2, 2], [0, 0, 0], [1, 1, 1], 1, True, "float64",
     "1x1x1 kernel with stride 2: strided im2col, 3-d"),
    ("stride2_pad1_2d", [2, 3, 9, 10], 4, [3, 3], [2, 2], [1, 1], [1, 1], 1, True, "float32",
     "stride 2 and padding, samples side by side with bias"),
    ("dilation2_pad2_2d_f64", [2, 2, 11, 12], 3, [3, 3], [1, 1], [2, 2], [2, 2], 1, False, "float64",
     "dilation 2 with padding 2, samples side by side without bias"),
    ("asymmetric_2d_f64", [1, 2, 6, 7], 2, [2, 3], [3, 2], [1, 2], [2, 1], 1, False, "float64",
     "per-axis kernel, stride, padding and dilation"),
    ("groups3_2d", [4, 6, 8, 8], 9, [3, 3], [1, 1], [1, 1], [1, 1], 3, True, "float32",
     "groups=3, samples side by side"),
    ("depthwise_2d", [2, 2, 16, 16], 4, [3, 3], [1, 1], [1, 1], [1, 1], 2, True, "float32",
     "depthwise (groups = in channels, multiplier 2), one sample per GEMM"),
    ("large_batch5_2d", [5, 1, 16, 16], 2, [3, 3], [1, 1], [1, 1], [1, 1], 1, True, "float32",
     "batch 5 > threads, one sample per GEMM: uneven chunks and the threaded weight-gradient sum"),
    ("batched_chunks_2d", [20, 2, 6, 5], 3, [3, 3], [1, 1], [1, 1], [1, 1], 1, False, "float32",
     "18 samples per GEMM: two chunks, the last holding 2 samples; threaded reduction"),
    ("single_sample_large_2d", [1, 2, 24, 24], 4, [3, 3], [1, 1], [1, 1], [1, 1], 1, True, "float32",
     "one sample, large output: the GEMM itself splits over threads"),
    ("conv1d_stride2_groups2", [3, 4, 50], 6, [5], [2], [2], [1], 2, True, "float32",
     "1-d, stride 2, padding 2, groups 2"),
    ("conv1d_dilated_long_f64", [2, 1, 262], 2, [3], [1], [0], [3], 1, False, "float64",
     "1-d, dilation 3, long output (one sample per GEMM) without bias"),
    ("conv3d_mixed", [2, 2, 5, 6, 7], 4, [3, 3, 3], [1, 2, 1], [1, 1, 0], [1, 1, 2], 1, True, "float32",
     "3-d with depth padding (whole zero planes), per-axis stride and dilation"),
    ("conv3d_groups2_f64", [3, 4, 4, 4, 4], 4, [2, 2, 2], [2, 2, 2], [1, 1, 1], [1, 1, 1], 2, True, "float64",
     "3-d, groups 2, stride 2 with padding"),
]


def make_case(name, xshape, out_ch, k, s, p, d, g, bias, dtype, path, gen):
    dt = torch.float32 if dtype == "float32" else torch.float64
    batched = len(xshape) == len(k) + 2
    cin = xshape[1] if batched else xshape[0]
    fan_in = cin // g
    for kk in k:
        fan_in *= kk
    bound = 1.0 / fan_in ** 0.5
    x = (torch.rand(xshape, generator=gen, dtype=torch.float64) * 2 - 1).to(dt)
    w = ((torch.rand([out_ch, cin // g] + k, generator=gen, dtype=torch.float64) * 2 - 1) * bound).to(dt)
    b = ((torch.rand([out_ch], generator=gen, dtype=torch.float64) * 2 - 1) * bound).to(dt) if bias else None
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[len(k)]
    # The exact answer for the stored inputs: computed in float64.
    x64, w64 = x.double().requires_grad_(), w.double().requires_grad_()
    b64 = b.double().requires_grad_() if bias else None
    y = conv(x64, w64, b64, stride=s, padding=p, dilation=d, groups=g)
    gy = (torch.rand(y.shape, generator=gen, dtype=torch.float64) * 2 - 1).to(dt)
    y.backward(gy.double())
    t = {"input": x, "weight": w, "grad_output": gy, "output": y.detach().to(dt),
         "grad_input": x64.grad.to(dt), "grad_weight": w64.grad.to(dt)}
    if bias:
        t["bias"] = b
        t["grad_bias"] = b64.grad.to(dt)
    case = {"op": f"conv{len(k)}d", "stride": s, "padding": p, "dilation": d, "groups": g, "bias": bias,
            "dtype": dtype, "path": path}
    path = os.path.join(OUT, name + ".safetensors")
    save_file({key: v.contiguous() for key, v in t.items()}, path, metadata={"case": json.dumps(case)})
    os.chmod(path, 0o644)


def main():
    os.makedirs(OUT, exist_ok=True)
    gen = torch.Generator().manual_seed(20240608)
    for c in CASES:
        make_case(*c, gen)
    print(f"wrote {len(CASES)} cases to {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
