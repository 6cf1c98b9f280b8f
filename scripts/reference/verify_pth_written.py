#!/usr/bin/env python3
"""Checks that .pth files written by SwiftNN load in PyTorch with weights_only=True (also with
mmap=True, which needs the 64-byte data alignment) and hold exactly the expected tensors.

    /work/venv/bin/python scripts/reference/verify_pth_written.py WRITTEN.pth EXPECTED [--model small_cnn REFERENCE.safetensors]

EXPECTED is a .pth written by PyTorch or a .safetensors file with the same tensors (dtype widening
as SwiftNN loads: half/bfloat16 -> float32, int32/int16/int8/uint16/uint32 -> int64).
With --model small_cnn, the written state dict is also loaded with strict=True into the tutorial's
SmallCNN, whose eval output on REFERENCE's `input` must equal its `output` within 1e-5 + 1e-4|want|.
Exit status 0 when everything matches.
"""
import sys

import torch
from safetensors.torch import load_file

sys.path.insert(0, __file__.rsplit("/", 1)[0])


def widen(t):
    if t.dtype in (torch.float16, torch.bfloat16):
        return t.float()
    if t.dtype in (torch.int32, torch.int16, torch.int8, torch.uint16, torch.uint32):
        return t.to(torch.int64)
    return t


def expected_tensors(path):
    if path.endswith(".safetensors"):
        return load_file(path)
    obj = torch.load(path, weights_only=True)
    if not all(isinstance(v, torch.Tensor) for v in obj.values()):
        obj = next(v for v in obj.values() if isinstance(v, dict) and v and all(isinstance(x, torch.Tensor) for x in v.values()))
    return obj


def main():
    written, expected = sys.argv[1], sys.argv[2]
    got = torch.load(written, weights_only=True)
    mapped = torch.load(written, weights_only=True, mmap=True)
    want = expected_tensors(expected)
    assert type(got).__name__ == "OrderedDict", type(got)
    # safetensors files keep no order; a .pth expectation must match the order too.
    if expected.endswith(".safetensors"):
        assert sorted(got.keys()) == sorted(want.keys()), (sorted(got.keys())[:5], sorted(want.keys())[:5])
    else:
        assert list(got.keys()) == list(want.keys()), (list(got.keys())[:5], list(want.keys())[:5])
    for k, v in want.items():
        w = widen(v)
        for name, obj in (("load", got), ("mmap", mapped)):
            g = obj[k]
            assert g.dtype == w.dtype and g.shape == w.shape, (name, k, g.dtype, w.dtype, g.shape, w.shape)
            assert torch.equal(g, w) or (g.is_floating_point() and torch.equal(g.nan_to_num(7.0), w.nan_to_num(7.0))), (name, k)
            assert g.is_contiguous()
    # Tensors that shared memory in SwiftNN share a storage in PyTorch too.
    shared = {}
    for k, v in got.items():
        shared.setdefault(v.untyped_storage().data_ptr(), []).append(k)
    groups = [g for g in shared.values() if len(g) > 1]
    if "--model" in sys.argv:
        from make_pth_fixtures import SmallCNN
        ref = load_file(sys.argv[sys.argv.index("--model") + 2])
        model = SmallCNN(3, 10).eval()
        model.load_state_dict(got, strict=True)
        with torch.no_grad():
            out = model(ref["input"])
        err = (out - ref["output"]).abs() - (1e-5 + 1e-4 * ref["output"].abs())
        assert err.max() <= 0, f"eval output differs by up to {err.max().item()}"
        print("  strict load into SmallCNN: eval output matches")
    print(f"OK {written}: {len(got)} tensors equal to {expected}; shared storages: {groups or 'none'}")


if __name__ == "__main__":
    main()
