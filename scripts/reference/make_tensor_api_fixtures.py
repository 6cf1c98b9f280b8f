#!/usr/bin/env python3
"""Reference cases for the Tensor conveniences a PyTorch user expects, made by real PyTorch.

Writes Tests/TestSupport/Resources/fixtures/tensor_api/:
  printing.json     -- repr(tensor) for many tensors (PyTorch's default print options)
  statistics.json   -- std (dim, correction, keepdim) with gradients, unique, allclose, isnan/isfinite
  layers.json       -- reprs of layers built with PyTorch's positional arguments, and what
                       PyTorch does with in-place ReLU (its error on a leaf, its gradients)

Tensor values are given either literally ("values", with "nan"/"inf"/"-inf" as strings) or by a
formula both sides evaluate exactly ("formula": value_i = ((i*mul) % mod - off) * scale, computed
in float64 and then rounded to the dtype), so large summarized tensors stay small on disk.

Run: /work/venv/bin/python scripts/reference/make_tensor_api_fixtures.py
"""
import json
import math
import os

import torch

OUT = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TestSupport", "Resources", "fixtures", "tensor_api")
DTYPES = {"float32": torch.float32, "float64": torch.float64, "int64": torch.int64, "uint8": torch.uint8, "bool": torch.bool}


def encode(v):
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
    return v


def formula_values(n, mul, mod, off, scale):
    return [float(((i * mul) % mod - off) * scale) for i in range(n)]


def make(case):
    dtype = DTYPES[case["dtype"]]
    n = math.prod(case["shape"])
    if "formula" in case:
        f = case["formula"]
        vals = formula_values(n, f["mul"], f["mod"], f["off"], f["scale"])
    else:
        vals = [float(v) if isinstance(v, str) else v for v in case["values"]]
    t = torch.tensor(vals, dtype=torch.float64).to(dtype).reshape(case["shape"])
    if case.get("requires_grad"):
        t.requires_grad_(True)
    return t


def literal(dtype, shape, values, **extra):
    c = {"dtype": dtype, "shape": shape, "values": [encode(v) for v in values]}
    c.update(extra)
    return c


def formula(dtype, shape, mul, mod, off, scale, **extra):
    c = {"dtype": dtype, "shape": shape, "formula": {"mul": mul, "mod": mod, "off": off, "scale": scale}}
    c.update(extra)
    return c


def printing_cases():
    g = torch.Generator().manual_seed(0)
    cases = []

    def randn(shape, scale=1.0, dtype="float32", **extra):
        v = (torch.randn(shape, generator=g, dtype=torch.float64) * scale).to(DTYPES[dtype])
        return literal(dtype, list(shape), [float(x) for x in v.reshape(-1).tolist()], **extra)

    # Ordinary float tensors of several ranks and scales.
    for shape in [(5,), (2, 3), (2, 3, 4), (2, 1, 2, 3), (1,), (3, 1)]:
        cases.append(randn(shape))
    for scale in [1e-3, 1e-5, 10.0, 1e3, 1e5, 1e9]:
        cases.append(randn((4,), scale))
    cases.append(randn((3, 3), 1e4))
    cases.append(randn((6,), dtype="float64"))
    cases.append(randn((2, 2), dtype="float64", requires_grad=True))
    cases.append(randn((3,), requires_grad=True))
    # Integer-valued floats: "1." style, with and without sci mode.
    cases.append(literal("float32", [4], [1, 2, -3, 10]))
    cases.append(literal("float32", [3], [0, 0, 0]))
    cases.append(literal("float32", [2, 2], [1e9, 2, 3, -4]))
    cases.append(literal("float32", [3], [100000, 1, 5]))
    cases.append(literal("float64", [3], [1, 2, 3]))
    # Non-finite values and signed zero.
    cases.append(literal("float32", [5], [1.5, float("nan"), float("inf"), float("-inf"), -0.0]))
    cases.append(literal("float32", [3], [float("nan"), 2, 3]))
    cases.append(literal("float32", [2], [float("nan"), float("inf")]))
    cases.append(literal("float32", [3], [-0.0, 0.0, 1.0]))
    cases.append(literal("float32", [4], [0.1, 0.25, -0.5, 1e-4]))
    cases.append(literal("float32", [3], [0.00001, 0.5, 1]))
    cases.append(literal("float32", [2], [123456.7, 0.001]))
    # Scalars (0-d).
    for v in [3.5, 3.0, 1e-5, -2.25, 1e10, float("nan"), 0.0]:
        cases.append(literal("float32", [], [v]))
    cases.append(literal("int64", [], [7]))
    cases.append(literal("bool", [], [True]))
    cases.append(literal("float64", [], [0.125]))
    # Integers, bytes, bools.
    cases.append(literal("int64", [5], [1, -2, 10, 300, 0]))
    cases.append(literal("int64", [2, 3], [1, 2, 3, 4, 5, 6]))
    cases.append(literal("uint8", [4], [0, 7, 255, 16]))
    cases.append(literal("bool", [3], [True, False, True]))
    cases.append(literal("bool", [2, 2], [False, False, True, False]))
    # Empty tensors: the shape and dtype are printed.
    cases.append(literal("float32", [0], []))
    cases.append(literal("float32", [0, 3], []))
    cases.append(literal("int64", [0], []))
    cases.append(literal("float64", [2, 0], []))
    # Line wrapping at 80 columns.
    cases.append(formula("float32", [30], 7, 23, 11, 0.125))
    cases.append(formula("int64", [60], 13, 997, 400, 1))
    cases.append(formula("float32", [4, 20], 5, 41, 20, 0.5))
    cases.append(formula("float64", [25], 3, 17, 8, 0.0625))
    cases.append(formula("float32", [12], 7, 23, 11, 1e-6))
    cases.append(formula("float32", [12], 7, 23, 11, 1.0, requires_grad=True))
    # Summarization above 1000 elements (edge items 3).
    cases.append(formula("float32", [2000], 37, 1009, 500, 0.01))
    cases.append(formula("float32", [40, 30], 11, 101, 50, 0.25))
    cases.append(formula("float32", [11, 11, 11], 17, 257, 128, 1.0))
    cases.append(formula("int64", [1001], 1, 100000, 0, 1))
    cases.append(formula("float32", [3, 400], 29, 211, 100, 1e-5))
    cases.append(formula("float32", [2, 3, 200], 31, 409, 200, 0.5))
    cases.append(formula("bool", [1200], 1, 2, 0, 1))
    cases.append(formula("float32", [1001, 1], 7, 13, 6, 2.0))

    for c in cases:
        c["repr"] = repr(make(c))
    return cases


def statistics_cases():
    g = torch.Generator().manual_seed(1)
    out = {"std": [], "unique": [], "allclose": [], "isnan": []}

    def randvals(shape):
        return [float(x) for x in torch.randn(shape, generator=g, dtype=torch.float64).reshape(-1).tolist()]

    for shape, kwargs in [
        ([7], {}), ([3, 4], {}), ([3, 4], {"dim": [1]}), ([3, 4], {"dim": [0]}), ([3, 4], {"dim": [1], "keepdim": True}),
        ([2, 3, 4], {"dim": [0, 2]}), ([2, 3, 4], {"dim": [-1], "correction": 0}), ([5], {"correction": 2}),
        ([2, 5], {"dim": [1], "correction": 0, "keepdim": True}), ([1], {}), ([4, 1], {"dim": [1]}),
    ]:
        for dtype in ["float64", "float32"]:
            vals = randvals(shape)
            x = torch.tensor(vals, dtype=torch.float64).to(DTYPES[dtype]).reshape(shape).requires_grad_(True)
            args = dict(kwargs)
            dims = args.pop("dim", None)
            y = torch.std(x, dim=dims, **args) if dims is not None else torch.std(x, **args)
            grad_out = torch.linspace(0.5, 1.5, y.numel(), dtype=x.dtype).reshape(y.shape)
            y.backward(grad_out)
            out["std"].append({
                "dtype": dtype, "shape": shape, "values": [encode(v) for v in vals], "kwargs": kwargs,
                "output_shape": list(y.shape), "output": [encode(v) for v in y.detach().double().reshape(-1).tolist()],
                "grad_output": grad_out.double().reshape(-1).tolist(),
                "grad_input": [encode(v) for v in x.grad.double().reshape(-1).tolist()],
            })

    for dtype, vals, shape in [
        ("int64", [3, 1, 2, 3, 1, 5], [6]), ("float32", [0.5, -1, 0.5, 2, -1, 0], [2, 3]),
        ("float32", [float("nan"), 1, float("nan"), 1], [4]), ("bool", [True, False, True], [3]),
        ("float32", [], [0]), ("uint8", [9, 9, 0, 200], [4]), ("float64", [-0.0, 0.0, 1.5], [3]),
    ]:
        t = make(literal(dtype, shape, vals))
        values, inverse, counts = torch.unique(t, sorted=True, return_inverse=True, return_counts=True)
        out["unique"].append({
            "dtype": dtype, "shape": shape, "values": [encode(float(v) if dtype not in ("bool",) else v) for v in vals],
            "unique": [encode(float(v)) for v in values.double().tolist()],
            "inverse": inverse.reshape(-1).tolist(), "inverse_shape": list(inverse.shape), "counts": counts.tolist(),
        })

    pairs = [
        ([1.0, 2.0], [1.0, 2.0 + 1e-6], {}), ([1.0, 2.0], [1.0, 2.001], {}), ([1.0, 2.0], [1.0, 2.001], {"rtol": 1e-3}),
        ([0.0], [1e-9], {}), ([0.0], [1e-7], {}), ([0.0], [1e-7], {"atol": 1e-6}),
        ([float("nan")], [float("nan")], {}), ([float("nan")], [float("nan")], {"equal_nan": True}),
        ([float("inf")], [float("inf")], {}), ([float("inf")], [float("-inf")], {}), ([float("inf")], [1e38], {}),
        ([1.0, 2.0, 3.0], [2.0], {"rtol": 0.5, "atol": 0.5}), ([[1.0], [2.0]], [1.0, 2.0], {}),
    ]
    for a, b, kw in pairs:
        ta, tb = torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.float32)
        out["allclose"].append({
            "a": [encode(float(v)) for v in ta.reshape(-1).tolist()], "a_shape": list(ta.shape),
            "b": [encode(float(v)) for v in tb.reshape(-1).tolist()], "b_shape": list(tb.shape),
            "kwargs": kw, "result": bool(torch.allclose(ta, tb, **kw)),
        })

    for dtype, vals in [("float32", [1.0, float("nan"), float("inf"), float("-inf"), -0.0, 3e38]),
                        ("float64", [float("nan"), 2.5]), ("int64", [1, -5]), ("bool", [True, False])]:
        t = make(literal(dtype, [len(vals)], vals))
        out["isnan"].append({"dtype": dtype, "values": [encode(float(v)) if dtype != "bool" else v for v in vals],
                             "isnan": torch.isnan(t).tolist(), "isfinite": torch.isfinite(t).tolist()})
    return out


def layer_cases():
    nn = torch.nn
    reprs = {
        "ReLU(inplace=True)": nn.ReLU(inplace=True), "ReLU()": nn.ReLU(),
        "GroupNorm(32, 256)": nn.GroupNorm(32, 256), "GroupNorm(4, 8, eps=1e-3, affine=False)": nn.GroupNorm(4, 8, eps=1e-3, affine=False),
        "Conv1d(16, 33, 3, stride=2)": nn.Conv1d(16, 33, 3, stride=2),
        "Conv2d(3, 64, 3, padding=1)": nn.Conv2d(3, 64, 3, padding=1),
        "Conv2d(3, 64, 7, stride=2, padding=3, bias=False)": nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False),
        "Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))": nn.Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2)),
        "Conv3d(4, 8, 3, padding=1)": nn.Conv3d(4, 8, 3, padding=1),
        "Conv3d(4, 8, (3, 3, 1), padding=(1, 1, 0))": nn.Conv3d(4, 8, (3, 3, 1), padding=(1, 1, 0)),
        "Linear(784, 512)": nn.Linear(784, 512), "BatchNorm2d(64)": nn.BatchNorm2d(64), "LayerNorm(512)": nn.LayerNorm(512),
        "Dropout(0.25)": nn.Dropout(0.25), "Dropout2d(0.1)": nn.Dropout2d(0.1), "AlphaDropout(0.2)": nn.AlphaDropout(0.2),
        "FeatureAlphaDropout(0.2)": nn.FeatureAlphaDropout(0.2), "Dropout1d(0.3)": nn.Dropout1d(0.3), "Dropout3d(0.4)": nn.Dropout3d(0.4),
        "MaxPool2d(2)": nn.MaxPool2d(2), "AdaptiveAvgPool2d(1)": nn.AdaptiveAvgPool2d(1), "Embedding(10, 3)": nn.Embedding(10, 3),
    }
    out = {"reprs": {k: repr(v) for k, v in reprs.items()}}
    # In-place ReLU on a leaf that requires grad: PyTorch refuses at once.
    leaf = torch.tensor([-1.0, 2.0], requires_grad=True)
    try:
        torch.relu_(leaf)
        out["leaf_error"] = None
    except RuntimeError as e:
        out["leaf_error"] = str(e)
    # Linear -> ReLU(inplace=True): allowed, gradients as out of place.
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, generator=g, dtype=torch.float64)
    lin = nn.Linear(3, 5).double()
    with torch.no_grad():
        lin.weight.copy_(torch.randn(5, 3, generator=g, dtype=torch.float64))
        lin.bias.copy_(torch.randn(5, generator=g, dtype=torch.float64))
    y = nn.ReLU(inplace=True)(lin(x))
    y.sum().backward()
    out["linear_relu"] = {
        "x": x.reshape(-1).tolist(), "weight": lin.weight.detach().reshape(-1).tolist(), "bias": lin.bias.detach().tolist(),
        "output": y.detach().reshape(-1).tolist(), "grad_weight": lin.weight.grad.reshape(-1).tolist(),
        "grad_bias": lin.bias.grad.tolist(),
    }
    # Sigmoid -> relu_: sigmoid's backward needs its output, so PyTorch fails at backward time.
    z = torch.tensor([-1.0, 0.5], requires_grad=True)
    s = torch.sigmoid(z)
    torch.relu_(s)
    try:
        s.sum().backward()
        out["saved_error"] = None
    except RuntimeError as e:
        out["saved_error"] = str(e).split("\n")[0]
    return out


def main():
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch": torch.__version__, "generator": "scripts/reference/make_tensor_api_fixtures.py"}
    with open(os.path.join(OUT, "printing.json"), "w") as f:
        json.dump({"meta": meta, "cases": printing_cases()}, f, indent=0)
    with open(os.path.join(OUT, "statistics.json"), "w") as f:
        json.dump({"meta": meta, **statistics_cases()}, f, indent=0)
    with open(os.path.join(OUT, "layers.json"), "w") as f:
        json.dump({"meta": meta, **layer_cases()}, f, indent=1)


if __name__ == "__main__":
    main()
