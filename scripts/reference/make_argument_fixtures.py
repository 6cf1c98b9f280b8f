#!/usr/bin/env python3
"""PyTorch reference cases that pin every constructor argument (and op argument) that changes a
result, with inputs chosen so that the argument's effect is far above the test tolerance.

    /work/venv/bin/python scripts/reference/make_argument_fixtures.py [FIXTURES_DIR]

FIXTURES_DIR defaults to Tests/TestSupport/Resources/fixtures. Writes:

- `layers/*_smallvar*.safetensors`, `layers/*_eps_*` — normalization layers in the format of the
  existing layer fixtures (see FIXTURES-README.md), with inputs (and running variances) so small
  that eps changes the result: every layer's eps, default and explicit.
- `modules/*.safetensors` — one module with non-default arguments: activations (ELU alpha, GELU
  approximate, Softmax/LogSoftmax dim; SiLU, LeakyReLU's slope, Hardtanh's bounds, ReLU6,
  Hardswish, Hardsigmoid on inputs that include their kinks), pooling (kernel, stride, padding, dilation, ceil_mode,
  count_include_pad, divisor_override, output_size), Embedding padding_idx, MultiheadAttention
  (batch_first, bias, key_padding_mask, attn_mask, average_attn_weights) and the losses (weight,
  ignore_index, reduction, label_smoothing, pos_weight). Format in FIXTURES-README.md.
- `ops/elementwise.json` — op-level cases for test targets without a safetensors reader: clamp
  with elements inside, outside and on a two-sided range (and min > max), pow's special exponents,
  the tie rules of maximum/minimum and of max()/min(), squeeze(), relu/abs at 0, elu alpha, and
  silu, leaky_relu, hardtanh/relu6, hardswish and hardsigmoid at their kinks.

float32 cases are computed in float64 from the stored float32 values and stored as float32.
"""
import json
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures")
GEN = torch.Generator().manual_seed(8)


def uniform(shape, lo=-1.0, hi=1.0, dtype=torch.float32):
    return (torch.rand(shape, generator=GEN, dtype=torch.float64) * (hi - lo) + lo).to(dtype)


def save(path, tensors, case):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, path, metadata={"case": json.dumps(case)})
    os.chmod(path, 0o644)


# ---------------------------------------------------------------------------------------------
# Normalization layers whose eps matters (layers/ format: init.*, step<i>.*)

def norm_case(name, module, kwargs, steps, init, ref_kwargs=None):
    """`module(**kwargs)` in float64 (with `ref_kwargs` overriding for the float64 computation),
    state `init`, then each step (mode, input) with a random upstream gradient."""
    cls = getattr(nn, module)
    m = cls(**{**kwargs, **(ref_kwargs or {})}).double()
    sd = m.state_dict()
    for k, v in init.items():
        sd[k].copy_(v.double() if v.dtype.is_floating_point else v)
    t = {f"init.{k}": (v.float() if v.dtype.is_floating_point else v.clone()) for k, v in m.state_dict().items()}
    params = dict(m.named_parameters())
    for i, (mode, x) in enumerate(steps):
        m.train(mode == "train")
        for p in params.values():
            p.grad = None
        x64 = x.double().requires_grad_()
        y = m(x64)
        gy = uniform(y.shape)
        y.backward(gy.double())
        t[f"step{i}.input"] = x
        t[f"step{i}.output"] = y.float()
        t[f"step{i}.grad_output"] = gy
        t[f"step{i}.grad_input"] = x64.grad.float()
        for pn in ("weight", "bias"):
            if pn in params:
                t[f"step{i}.grad_{pn}"] = params[pn].grad.float()
        for k, v in m.state_dict().items():
            if k in ("running_mean", "running_var"):
                t[f"step{i}.{k}"] = v.float()
            elif k == "num_batches_tracked":
                t[f"step{i}.{k}"] = v.clone()
    case = {"module": module, "kwargs": kwargs, "steps": [{"mode": mode, "shape": list(x.shape)} for mode, x in steps]}
    save(os.path.join(OUT, "layers", name + ".safetensors"), t, case)
    eps_matters(name, module, kwargs, steps, init, t)


def eps_matters(name, module, kwargs, steps, init, t):
    """Asserts that with eps = 0 every step's output or input gradient misses the fixture by
    far more than the test tolerance (1e-5 + 1e-4·|want|), so the fixture pins eps
    (eps = 1e-30 stands for 0, which BatchNorm refuses in training)."""
    cls = getattr(nn, module)
    m = cls(**{**kwargs, "eps": 1e-30}).double()   # 0 is refused in training
    sd = m.state_dict()
    for k, v in init.items():
        sd[k].copy_(v.double() if v.dtype.is_floating_point else v)
    for i, (mode, x) in enumerate(steps):
        m.train(mode == "train")
        x64 = x.double().requires_grad_()
        y = m(x64)
        y.backward(t[f"step{i}.grad_output"].double())
        worst = 0.0
        for got, key in ((y, "output"), (x64.grad, "grad_input")):
            want = t[f"step{i}.{key}"].double()
            worst = max(worst, float(((got.detach() - want).abs() / (1e-5 + 1e-4 * want.abs())).max().detach()))
        assert worst > 10, f"{name} step {i}: eps changes the result by only {worst:.2f} tolerances"


def small(shape, spread, offset=0.0):
    """Values offset + U(-spread, spread): variance spread²/3."""
    return uniform(shape, -spread, spread) + offset


def affine_init(c):
    return {"weight": uniform([c], 0.5, 1.5), "bias": uniform([c], -0.5, 0.5)}


def make_norm_cases():
    f32eps = torch.finfo(torch.float32).eps
    # RMSNorm eps=None means finfo(input dtype).eps: float32's for the float32 inputs stored here,
    # so the float64 reference must use float32's value explicitly. Mean square ≈ 1.2e-7 ≈ eps.
    norm_case("rms_default_eps_smallvar", "RMSNorm", {"normalized_shape": [6]},
              [("train", small([4, 6], 6e-4))], {"weight": uniform([6], 0.5, 1.5)}, ref_kwargs={"eps": f32eps})
    norm_case("rms_eps_1e-3_smallvar", "RMSNorm", {"normalized_shape": [2, 3], "eps": 1e-3},
              [("train", small([3, 2, 3], 0.05))], {"weight": uniform([2, 3], 0.5, 1.5)})
    # Variance ≈ 1e-5 = the default eps, around an offset so the mean matters too.
    norm_case("gn_default_eps_smallvar", "GroupNorm", {"num_groups": 2, "num_channels": 4},
              [("train", small([2, 4, 3, 3], 5.5e-3, 0.5))], affine_init(4))
    norm_case("gn_eps_1e-2_smallvar", "GroupNorm", {"num_groups": 3, "num_channels": 6, "eps": 1e-2},
              [("train", small([2, 6, 5], 0.17, -1.0))], affine_init(6))
    norm_case("in2d_default_eps_smallvar", "InstanceNorm2d", {"num_features": 3, "affine": True, "track_running_stats": True},
              [("train", small([2, 3, 4, 4], 5.5e-3, 0.25)), ("eval", small([2, 3, 4, 4], 5.5e-3, 0.25))],
              {**affine_init(3), "running_mean": uniform([3], -0.1, 0.1) + 0.25, "running_var": uniform([3], 1e-6, 2e-5),
               "num_batches_tracked": torch.tensor(0)})
    norm_case("in1d_eps_1e-3_smallvar", "InstanceNorm1d", {"num_features": 2, "eps": 1e-3},
              [("train", small([3, 2, 7], 0.055, 2.0))], {})
    norm_case("ln_default_eps_smallvar", "LayerNorm", {"normalized_shape": [5]},
              [("train", small([4, 5], 5.5e-3, -0.3))], {"weight": uniform([5], 0.5, 1.5), "bias": uniform([5], -0.5, 0.5)})
    # Train with a small batch variance; eval with running variances of the order of eps.
    norm_case("bn2d_default_eps_smallvar", "BatchNorm2d", {"num_features": 3},
              [("train", small([2, 3, 3, 3], 5.5e-3, 0.1)), ("eval", small([2, 3, 3, 3], 5.5e-3, 0.1))],
              {**affine_init(3), "running_mean": uniform([3], 0.05, 0.15), "running_var": uniform([3], 1e-6, 2e-5),
               "num_batches_tracked": torch.tensor(3)})
    norm_case("bn1d_eps_1e-3_smallvar", "BatchNorm1d", {"num_features": 4, "eps": 1e-3},
              [("train", small([6, 4], 0.055, -0.2)), ("eval", small([6, 4], 0.055, -0.2))],
              {**affine_init(4), "running_mean": uniform([4], -0.3, -0.1), "running_var": uniform([4], 1e-4, 2e-3),
               "num_batches_tracked": torch.tensor(0)})


# ---------------------------------------------------------------------------------------------
# Modules with arguments (modules/ format)

def module_case(name, module, kwargs, x, ref=None):
    """Forward `x` through the module in float64 (`ref`, or `module(**kwargs)`) and backward with a
    stored upstream gradient; records the input gradient and every parameter's gradient."""
    fdt = x.dtype if x.dtype.is_floating_point else torch.float32
    m = ref if ref is not None else getattr(nn, module)(**kwargs).double()
    t = {f"init.{k}": v.to(fdt) for k, v in m.state_dict().items()}
    x64 = x.double().requires_grad_() if x.dtype.is_floating_point else x
    y = m(x64)
    gy = uniform(y.shape, dtype=fdt)
    y.backward(gy.double())
    t.update({"input": x, "output": y.to(fdt), "grad_output": gy})
    if x.dtype.is_floating_point:
        t["grad_input"] = x64.grad.to(fdt)
    for pn, p in m.named_parameters():
        t[f"grad.{pn}"] = p.grad.to(fdt)
    save(os.path.join(OUT, "modules", name + ".safetensors"), t, {"module": module, "kwargs": kwargs, "kind": "module"})


def make_activation_cases():
    x = uniform([3, 5], -3, 2)
    module_case("elu_alpha_0_3", "ELU", {"alpha": 0.3}, x)
    module_case("elu_default", "ELU", {}, x)
    # Where exact and tanh-approximated GELU differ most relative to the value.
    g = torch.cat([uniform([8], -3.5, -1.5), uniform([4], 1.5, 3.0)])
    module_case("gelu_tanh", "GELU", {"approximate": "tanh"}, g)
    module_case("gelu_none", "GELU", {"approximate": "none"}, g)
    s = uniform([3, 4, 5], -2, 2)
    for d in (0, 1, 2, -2):
        module_case(f"softmax_dim_{d}".replace("-", "m"), "Softmax", {"dim": d}, s)
        module_case(f"logsoftmax_dim_{d}".replace("-", "m"), "LogSoftmax", {"dim": d}, s)


def make_pooling_cases():
    x = uniform([2, 2, 7, 8], -2, 2)
    module_case("maxpool_k3_s2_p1_ceil", "MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, x)
    module_case("maxpool_rect_dilated", "MaxPool2d",
                {"kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 1], "dilation": [1, 2]}, x)
    module_case("maxpool_k2_default", "MaxPool2d", {"kernel_size": 2}, x)
    module_case("avgpool_ceil_exclude_pad", "AvgPool2d",
                {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False}, x)
    module_case("avgpool_ceil_include_pad", "AvgPool2d",
                {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": True}, x)
    module_case("avgpool_rect_divisor", "AvgPool2d",
                {"kernel_size": [2, 3], "stride": [1, 2], "padding": [1, 1], "divisor_override": 5}, x)
    module_case("avgpool_k2_default", "AvgPool2d", {"kernel_size": 2}, x)
    y = uniform([2, 3, 7, 9], -2, 2)
    module_case("adaptive_avgpool_3_none", "AdaptiveAvgPool2d", {"output_size": [3, None]}, y)
    module_case("adaptive_avgpool_4", "AdaptiveAvgPool2d", {"output_size": 4}, y)


def make_embedding_cases():
    idx = torch.tensor([[2, 0, 6], [2, 5, 2]], dtype=torch.int64)
    for name, pad in (("embedding_padding_idx_2", 2), ("embedding_padding_idx_m1", -1)):
        torch.manual_seed(3)
        m = nn.Embedding(7, 3, padding_idx=pad).double()
        with torch.no_grad():
            m.weight.copy_(uniform([7, 3]).double())   # padding row not zero: only its gradient is pinned
        idx2 = idx.clone()
        idx2[0, 2] = 6 if pad == 2 else 3
        module_case(name, "Embedding", {"num_embeddings": 7, "embedding_dim": 3, "padding_idx": pad}, idx2, ref=m)


def make_attention_cases():
    cases = [
        # name, kwargs, L, S, N (None: unbatched), self-attention, kpm kind, attn mask kind, average
        ("mha_seq_first_kpm_cross", {"embed_dim": 8, "num_heads": 2}, 3, 4, 2, False, "bool", None, True),
        ("mha_seq_first_self_float_masks", {"embed_dim": 8, "num_heads": 2}, 4, 4, 2, True, "float", "float2d", False),
        ("mha_batch_first_nobias_3d_mask", {"embed_dim": 6, "num_heads": 3, "bias": False, "batch_first": True},
         2, 5, 2, False, None, "bool3d", True),
        ("mha_unbatched_kpm", {"embed_dim": 4, "num_heads": 2}, 3, 3, None, True, "bool", "bool2d", True),
    ]
    for name, kwargs, L, S, N, self_attn, kpm_kind, mask_kind, average in cases:
        E, H = kwargs["embed_dim"], kwargs["num_heads"]
        bf = kwargs.get("batch_first", False)
        m = nn.MultiheadAttention(**kwargs).double()
        with torch.no_grad():
            for p in m.parameters():
                p.copy_(uniform(p.shape, -0.6, 0.6).double())

        def shape(length):
            if N is None:
                return [length, E]
            return [N, length, E] if bf else [length, N, E]

        q = uniform(shape(L))
        k = q if self_attn else uniform(shape(S))
        v = q if self_attn else uniform(shape(S))
        t = {f"init.{key}": val.float() for key, val in m.state_dict().items()}
        call = {"average_attn_weights": average}
        kpm = None
        if kpm_kind is not None:
            pattern = torch.zeros([N or 1, S], dtype=torch.bool)
            pattern[0, S - 1] = True
            if (N or 1) > 1:
                pattern[1, 0] = True
                pattern[1, 2] = True
            pattern = pattern if N is not None else pattern[0]
            kpm = pattern if kpm_kind == "bool" else pattern.double() * -1e4 + uniform(pattern.shape, -0.5, 0.5).double()
            t["key_padding_mask"] = kpm if kpm_kind == "bool" else kpm.float()
            kpm = kpm if kpm_kind == "bool" else kpm.float().double()
        am = None
        if mask_kind == "float2d":
            am = uniform([L, S], -1, 1)
            t["attn_mask"] = am
            am = am.double()
        elif mask_kind in ("bool2d", "bool3d"):
            shp = [L, S] if mask_kind == "bool2d" else [N * H, L, S]
            am = (torch.arange(math.prod(shp)) % 3 == 1).reshape(shp)
            am[..., 0] = False   # no fully masked row (PyTorch gives NaN there)
            t["attn_mask"] = am
        q64 = q.double().requires_grad_()
        k64 = q64 if self_attn else k.double().requires_grad_()
        v64 = q64 if self_attn else v.double().requires_grad_()
        out, w = m(q64, k64, v64, key_padding_mask=kpm, need_weights=True, attn_mask=am, average_attn_weights=average)
        gy = uniform(out.shape)
        out.backward(gy.double())
        t.update({"query": q, "output": out.float(), "weights": w.float(), "grad_output": gy,
                  "grad_query": q64.grad.float()})
        if not self_attn:
            t.update({"key": k, "value": v, "grad_key": k64.grad.float(), "grad_value": v64.grad.float()})
        for pn, p in m.named_parameters():
            t[f"grad.{pn}"] = p.grad.float()
        save(os.path.join(OUT, "modules", name + ".safetensors"), t,
             {"module": "MultiheadAttention", "kwargs": kwargs, "kind": "attention", "call": call,
              "self_attention": self_attn})


def make_loss_cases():
    logits = uniform([5, 4], -3, 3)
    target = torch.tensor([0, 1, 3, 1, 2])
    w = uniform([4], 0.2, 2.0)
    for red in ("mean", "sum", "none"):
        kw = {"ignore_index": 1, "reduction": red, "label_smoothing": 0.2}
        ref = nn.CrossEntropyLoss(weight=w.double(), **kw)
        loss_case(f"cross_entropy_weight_ignore_smooth_{red}", "CrossEntropyLoss", kw, logits, target, ref, {"weight": w})
    ref = nn.CrossEntropyLoss(label_smoothing=0.35)
    loss_case("cross_entropy_smooth_0_35", "CrossEntropyLoss", {"label_smoothing": 0.35}, logits, target, ref, {})
    probs = torch.softmax(uniform([5, 4], -2, 2).double(), dim=1).float()
    ref = nn.CrossEntropyLoss(weight=w.double(), label_smoothing=0.1)
    loss_case("cross_entropy_probabilities_weight_smooth", "CrossEntropyLoss", {"label_smoothing": 0.1}, logits, probs, ref,
              {"weight": w})
    spatial = uniform([2, 3, 2, 2], -2, 2, dtype=torch.float64)
    st = torch.tensor([[[0, 2], [1, 0]], [[2, 2], [0, 1]]])
    ref = nn.CrossEntropyLoss(ignore_index=2, reduction="sum")
    loss_case("cross_entropy_spatial_ignore_sum_f64", "CrossEntropyLoss", {"ignore_index": 2, "reduction": "sum"},
              spatial, st, ref, {})
    logp = torch.log_softmax(uniform([5, 4], -2, 2).double(), dim=1).float()
    for red in ("mean", "none"):
        kw = {"ignore_index": 3, "reduction": red}
        loss_case(f"nll_weight_ignore_{red}", "NLLLoss", kw, logp, target, nn.NLLLoss(weight=w.double(), **kw), {"weight": w})
    a, b = uniform([3, 4], -2, 2), uniform([3, 4], -2, 2)
    for red in ("mean", "sum", "none"):
        loss_case(f"mse_{red}", "MSELoss", {"reduction": red}, a, b, nn.MSELoss(reduction=red), {})
    z = uniform([4, 3], -4, 4)
    y = (uniform([4, 3], 0, 1) > 0.5).float() * 0.9 + 0.05
    bw, pw = uniform([3], 0.3, 2.0), uniform([3], 0.5, 3.0)
    for red in ("mean", "sum", "none"):
        kw = {"reduction": red}
        ref = nn.BCEWithLogitsLoss(weight=bw.double(), pos_weight=pw.double(), **kw)
        loss_case(f"bce_logits_weight_pos_weight_{red}", "BCEWithLogitsLoss", kw, z, y, ref, {"weight": bw, "pos_weight": pw})


def loss_case(name, module, kwargs, x, target, ref, tensor_kwargs):
    x64 = x.double().requires_grad_()
    tgt = target.double() if target.dtype.is_floating_point else target
    y = ref(x64, tgt)
    gy = uniform(y.shape, dtype=x.dtype) if y.dim() > 0 else torch.tensor(0.7, dtype=x.dtype)
    y.backward(gy.double())
    t = {"input": x, "target": target, "output": y.to(x.dtype), "grad_output": gy, "grad_input": x64.grad.to(x.dtype)}
    for k, v in tensor_kwargs.items():
        t[f"kwarg.{k}"] = v
    save(os.path.join(OUT, "modules", name + ".safetensors"), t, {"module": module, "kwargs": kwargs, "kind": "loss"})


# ---------------------------------------------------------------------------------------------
# Op-level cases as JSON (float64 throughout)

def values(t):
    return {"shape": list(t.shape), "values": [float(v) for v in t.detach().reshape(-1).tolist()]}


def op_case(cases, name, op, args, inputs, fn):
    leaves = [torch.tensor(v, dtype=torch.float64).requires_grad_() for v in inputs]
    y = fn(*leaves)
    gy = uniform(y.shape, 0.5, 1.5, dtype=torch.float64)
    y.backward(gy)
    for v in values(y)["values"] + sum((values(l.grad)["values"] for l in leaves if l.grad is not None), []):
        assert math.isfinite(v), f"{name}: non-finite value"
    cases.append({"name": name, "op": op, "args": args, "inputs": [values(l) for l in leaves], "output": values(y),
                  "grad_output": values(gy), "grad_inputs": [values(l.grad) if l.grad is not None else None for l in leaves]})


def make_op_cases():
    c = []
    mixed = [[-1.5, -0.5, -0.25, 0.0, 0.1, 0.25], [0.3, 0.5, 0.7, 1.0, -0.6, 2.0]]
    op_case(c, "clamp two-sided, elements inside, outside and on both bounds", "clamp", {"min": -0.5, "max": 0.5}, [mixed],
            lambda x: x.clamp(min=-0.5, max=0.5))
    op_case(c, "clamp min only", "clamp", {"min": 0.1}, [mixed], lambda x: x.clamp(min=0.1))
    op_case(c, "clamp max only", "clamp", {"max": 0.25}, [mixed], lambda x: x.clamp(max=0.25))
    op_case(c, "clamp with min > max: everything is max, no gradient", "clamp", {"min": 0.5, "max": 0.25}, [mixed],
            lambda x: x.clamp(min=0.5, max=0.25))
    pos = [[0.5, 1.0, 1.7, 2.5], [3.0, 0.25, 1.25, 0.8]]
    signed = [[-2.0, -0.5, 0.0, 0.75], [1.5, -1.25, 2.0, 0.3]]
    for e in (0.0, 1.0, 2.0, 3.0):
        op_case(c, f"pow {e} with negative and zero bases", "pow", {"exponent": e}, [signed], lambda x, e=e: x.pow(e))
    for e in (0.5, -1.5, 2.5, 0.0, 1.0):
        op_case(c, f"pow {e} on positive bases", "pow", {"exponent": e}, [pos], lambda x, e=e: x.pow(e))
    a = [[1.0, 2.0, -3.0], [0.5, 0.5, 4.0]]
    b = [[1.0, 3.0, -3.0], [0.25, 0.5, 5.0]]
    op_case(c, "maximum with ties: the gradient is split evenly", "maximum", {}, [a, b], torch.maximum)
    op_case(c, "minimum with ties: the gradient is split evenly", "minimum", {}, [a, b], torch.minimum)
    op_case(c, "maximum broadcast with ties", "maximum", {}, [a, [[0.5, 2.0, -3.0]]], torch.maximum)
    op_case(c, "minimum broadcast with ties", "minimum", {}, [a, [[0.5], [4.0]]], torch.minimum)
    tied = [[1.0, 4.0, 4.0], [-2.0, 4.0, -2.0]]
    op_case(c, "max() with tied maxima: the gradient is shared evenly", "max", {}, [tied], lambda x: x.max())
    op_case(c, "min() with tied minima: the gradient is shared evenly", "min", {}, [tied], lambda x: x.min())
    op_case(c, "max(dim: 1) with ties", "max_dim", {"dim": 1}, [tied], lambda x: x.max(dim=1).values)
    op_case(c, "min(dim: 0) with ties", "min_dim", {"dim": 0}, [tied], lambda x: x.min(dim=0).values)
    op_case(c, "squeeze() removes every size-1 dim", "squeeze", {}, [[[[1.0], [2.0], [3.0]]]], lambda x: x.squeeze() * 2)
    op_case(c, "squeeze() of [2, 1, 2]", "squeeze", {}, [[[[1.0, -1.0]], [[2.0, 0.5]]]], lambda x: x.squeeze() * 2)
    op_case(c, "relu at 0 has gradient 0", "relu", {}, [[-1.0, 0.0, 2.0]], torch.relu)
    op_case(c, "abs at 0 has gradient 0", "abs", {}, [[-1.0, 0.0, 2.0]], torch.abs)
    op_case(c, "elu alpha 0.3", "elu", {"alpha": 0.3}, [[-2.0, -0.5, 0.0, 0.5, 1.5]], lambda x: F.elu(x, alpha=0.3))
    op_case(c, "elu alpha 2.5", "elu", {"alpha": 2.5}, [[-2.0, -0.5, 0.0, 0.5, 1.5]], lambda x: F.elu(x, alpha=2.5))
    # The activations added later (cases appended, so that the earlier ones keep their random draws).
    kinks = [[-7.0, -3.0, -1.0, -0.5, 0.0], [0.25, 1.0, 3.0, 6.0, 8.0]]
    op_case(c, "silu", "silu", {}, [kinks], F.silu)
    op_case(c, "leaky_relu slope 0.2 at 0", "leaky_relu", {"negative_slope": 0.2}, [kinks],
            lambda x: F.leaky_relu(x, negative_slope=0.2))
    op_case(c, "hardtanh at and beyond its bounds", "hardtanh", {"min": -1.0, "max": 1.0}, [kinks], F.hardtanh)
    op_case(c, "relu6 at 0 and 6: no gradient on the bounds", "hardtanh", {"min": 0.0, "max": 6.0}, [kinks], F.relu6)
    op_case(c, "hardswish at -3 and 3", "hardswish", {}, [kinks], F.hardswish)
    op_case(c, "hardsigmoid at -3 and 3", "hardsigmoid", {}, [kinks], F.hardsigmoid)
    path = os.path.join(OUT, "ops", "elementwise.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"generator": "scripts/reference/make_argument_fixtures.py", "torch": torch.__version__, "cases": c}, f,
                  indent=1)
        f.write("\n")
    os.chmod(path, 0o644)


def make_later_activation_cases():
    """SiLU, LeakyReLU, Hardtanh, ReLU6, Hardswish, Hardsigmoid: random inputs plus their kinks
    (run last, so that the earlier fixtures keep their random draws)."""
    kinks = torch.tensor([-3.0, 0.0, 3.0, 6.0, -1.0, 1.0])
    x = torch.cat([uniform([3, 6], -7, 8).reshape(-1), kinks]).reshape(4, 6)
    module_case("silu", "SiLU", {}, x)
    module_case("leaky_relu_default", "LeakyReLU", {}, x)
    module_case("leaky_relu_0_2", "LeakyReLU", {"negative_slope": 0.2}, x)
    module_case("hardtanh_default", "Hardtanh", {}, x)
    module_case("hardtanh_m2_5_3", "Hardtanh", {"min_val": -2.5, "max_val": 3.0}, x)
    module_case("relu6", "ReLU6", {}, x)
    module_case("hardswish", "Hardswish", {}, x)
    module_case("hardsigmoid", "Hardsigmoid", {}, x)


def main():
    make_norm_cases()
    make_activation_cases()
    make_pooling_cases()
    make_embedding_cases()
    make_attention_cases()
    make_loss_cases()
    make_op_cases()
    make_later_activation_cases()
    print(f"wrote argument fixtures under {OUT} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
