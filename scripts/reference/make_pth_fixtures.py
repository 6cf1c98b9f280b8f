#!/usr/bin/env python3
"""PyTorch checkpoint files (torch.save output) for SwiftNN's .pth reader tests.

    /work/venv/bin/python scripts/reference/make_pth_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/TestSupport/Resources/fixtures/pth. Every file is written by real
PyTorch (torch.save, both serialization formats) except the hand-built malicious pickles, and each
is checked here with torch.load(weights_only=True): the good ones load, the malicious ones are
refused. Reference values go to companion .safetensors files (read by SwiftNN's independent
safetensors reader), so a test never compares the .pth reader with itself.
Nothing here executes a malicious payload: the payloads are only pickled, and only ever loaded with
weights_only=True, which refuses them before any call.
"""
import io
import math
import os
import pickle
import struct
import sys
import zipfile
from collections import OrderedDict

import torch
import torch.nn as nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures/pth")


def path(name):
    return os.path.join(OUT, name)


def save_reference(name, tensors, meta=None):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path(name), metadata=meta or {})


def must_load(name):
    return torch.load(path(name), weights_only=True)


def must_refuse(name, needle):
    try:
        torch.load(path(name), weights_only=True)
    except Exception as e:  # UnpicklingError wrapped by torch
        msg = str(e)
        assert needle in msg, f"{name}: torch refused it, but not for {needle}: {msg[:300]}"
        return
    raise AssertionError(f"{name}: torch.load(weights_only=True) accepted a malicious file")


# ── The tutorial's models ─────────────────────────────────────────────────────────────────────
class ConvBNBlock(nn.Module):
    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.block(x)


class SmallCNN(nn.Module):
    def __init__(self, cin=3, k=10, p=0.5):
        super().__init__()
        self.features = nn.Sequential(ConvBNBlock(cin, 32), ConvBNBlock(32, 64, 2), ConvBNBlock(64, 128, 2),
                                      ConvBNBlock(128, 256, 2), nn.AdaptiveAvgPool2d(1))
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(256, 128), nn.ReLU(), nn.Dropout(p), nn.Linear(128, k))

    def forward(self, x):
        return self.classifier(self.features(x))


class MLPClassifier(nn.Module):
    def __init__(self, d=20, hidden=(16, 8), k=3, p=0.3):
        super().__init__()
        layers, prev = [], d
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(p)]
            prev = h
        layers.append(nn.Linear(prev, k))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def trained_a_little(model, x, steps=3, k=10):
    """A few SGD steps in train mode, so running statistics and weights are not the defaults."""
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    y = torch.arange(x.shape[0]) % k
    for _ in range(steps):
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model, opt


def small_cnn_files():
    torch.manual_seed(11)
    model = SmallCNN(3, 10)
    x = torch.randn(4, 3, 16, 16)
    trained_a_little(model, x)
    # The zip format (PyTorch >= 1.6), float32, exactly as a user saves a model.
    torch.save(model.state_dict(), path("small_cnn.pth"))
    with torch.no_grad():
        out = model(x)
    save_reference("small_cnn.reference.safetensors", {"input": x, "output": out})
    again = SmallCNN(3, 10).eval()
    again.load_state_dict(must_load("small_cnn.pth"), strict=True)
    with torch.no_grad():
        assert torch.equal(again(x), out)

    # The legacy format, with the weights in float16 (half the size): the reference output is
    # computed from the same float16 values widened to float32, as SwiftNN loads them.
    half = OrderedDict((k, v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items())
    torch.save(half, path("small_cnn_half_legacy.pth"), _use_new_zipfile_serialization=False)
    widened = SmallCNN(3, 10).eval()
    widened.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    with torch.no_grad():
        out16 = widened(x)
    save_reference("small_cnn_half_legacy.reference.safetensors", {"input": x, "output": out16})
    back = must_load("small_cnn_half_legacy.pth")
    assert all(torch.equal(back[k], half[k]) for k in half)


def mlp_model():
    torch.manual_seed(5)
    model = MLPClassifier()
    x = torch.randn(6, 20)
    _, opt = trained_a_little(model, x, k=3)
    return model, opt, x


def training_checkpoint_files():
    model, _, x = mlp_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    y = torch.arange(6) % 3
    for _ in range(2):
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()
    ckpt = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
        "epoch": 3,
        "best_acc": 0.875,
        "args": {"lr": 1e-3, "name": "run-7", "tags": ["mnist", "cnn"], "betas": (0.9, 0.999), "resume": None,
                 "flags": {True, False}, "big": 2 ** 70, "neg": -123456789012, "blob": b"\x00\xffbytes",
                 "size": torch.Size([2, 3]), "device": torch.device("cpu"), "dtype": torch.float16},
        "extras": {"named_parameters": OrderedDict(model.named_parameters())},  # nn.Parameter via _rebuild_parameter
    }
    torch.save(ckpt, path("training_checkpoint.pth"))
    loaded = must_load("training_checkpoint.pth")
    assert loaded["epoch"] == 3 and loaded["args"]["big"] == 2 ** 70
    ref = {"model." + k: v for k, v in model.state_dict().items()}
    for pid, state in opt.state_dict()["state"].items():
        for k, v in state.items():
            ref[f"optimizer.state.{pid}.{k}"] = v.reshape(v.shape)
    save_reference("training_checkpoint.reference.safetensors", ref)

    # DistributedDataParallel's 'module.' prefix, inside a wrapper dict.
    ddp = OrderedDict(("module." + k, v) for k, v in model.state_dict().items())
    torch.save({"state_dict": ddp, "epoch": 7, "arch": "mlp"}, path("ddp_wrapped.pth"))
    must_load("ddp_wrapped.pth")
    save_reference("mlp.reference.safetensors", dict(model.state_dict()) | {"input": x, "output": model(x).detach()})

    # Two candidate state dicts: auto-detection must ask which one.
    torch.save({"model": model.state_dict(), "ema": model.state_dict(), "step": 10}, path("two_state_dicts.pth"))


def dtype_files():
    # float16 / bfloat16 with special values; the companion holds the exact float32 widening.
    h = torch.tensor([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035e-05, 5.96e-08, float("inf"), float("-inf"), float("nan"), 3.140625, 1e-3],
                     dtype=torch.float16)
    b = torch.tensor([0.0, -0.0, 1.0, -2.5, 3.3895e38, 1e-38, 9.2e-41, float("inf"), float("-inf"), float("nan"), 3.140625, 1e-3],
                     dtype=torch.bfloat16)
    torch.save({"half": h, "half_2d": h.reshape(3, 4).t()}, path("float16.pth"))
    torch.save({"bf16": b, "bf16_2d": b.reshape(4, 3)}, path("bfloat16.pth"))
    save_reference("float16.reference.safetensors", {"half": h.float(), "half_2d": h.reshape(3, 4).t().float()})
    save_reference("bfloat16.reference.safetensors", {"bf16": b.float(), "bf16_2d": b.reshape(4, 3).float()})
    must_load("float16.pth")
    must_load("bfloat16.pth")

    ints = {
        "f64": torch.tensor([1.5, -2.25, 1e300], dtype=torch.float64),
        "i64": torch.tensor([-(2 ** 62), 0, 2 ** 62 + 5], dtype=torch.int64),
        "i32": torch.tensor([-(2 ** 31), -1, 0, 2 ** 31 - 1], dtype=torch.int32),
        "i16": torch.tensor([-32768, -1, 7, 32767], dtype=torch.int16),
        "i8": torch.tensor([-128, -1, 0, 127], dtype=torch.int8),
        "u8": torch.tensor([0, 1, 200, 255], dtype=torch.uint8),
        "bool": torch.tensor([True, False, True]),
        "u16": torch.tensor([0, 1, 65535], dtype=torch.uint16),  # _rebuild_tensor_v3 over an UntypedStorage
        "u32": torch.tensor([0, 7, 2 ** 32 - 1], dtype=torch.uint32),
        "scalar": torch.tensor(4.5),
        "empty": torch.zeros(0, 3),
    }
    torch.save(ints, path("dtypes.pth"))
    must_load("dtypes.pth")
    widened = {k: (v.to(torch.int64) if k in ("i32", "i16", "i8", "u16", "u32") else v) for k, v in ints.items()}
    save_reference("dtypes.reference.safetensors", widened)


def view_tensors():
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    tied = torch.randn(3, 5, generator=torch.Generator().manual_seed(3))
    views = OrderedDict()
    views["base"] = base
    views["transposed"] = base.t()                 # strides (1, 6)
    views["slice"] = base[1:3, 2:5]                # offset 8, strides (6, 1)
    views["stepped"] = base[:, ::2]                # strides (6, 2)
    views["flat_window"] = base.view(-1)[5:11]     # contiguous, offset 5
    views["expanded"] = torch.arange(3.0).expand(4, 3)  # stride 0
    views["permuted"] = torch.arange(60.0).reshape(3, 4, 5).permute(2, 0, 1)
    views["tied_a"] = tied                         # the same tensor twice: shared storage
    views["tied_b"] = tied
    views["tied_rows"] = tied[1:]                  # a view of the tied storage
    views["neg_view"] = torch._neg_view(torch.tensor([1.0, -2.0, 3.0]))  # metadata {'neg': True}? materialised by torch
    views["param"] = nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]]).t())
    return views


def view_files():
    views = view_tensors()
    torch.save(views, path("views.pth"))
    torch.save(views, path("views_legacy.pth"), _use_new_zipfile_serialization=False)
    ref = {k: v.detach().resolve_neg().contiguous().clone() for k, v in views.items()}
    save_reference("views.reference.safetensors", ref)
    for name in ("views.pth", "views_legacy.pth"):
        back = must_load(name)
        for k in views:
            assert torch.equal(back[k].resolve_neg(), ref[k]), (name, k)
        assert back["tied_a"].untyped_storage().data_ptr() == back["tied_b"].untyped_storage().data_ptr()

    # Protocols 4 and 5 (torch.save(pickle_protocol=…)): FRAME, SHORT_BINUNICODE, MEMOIZE,
    # STACK_GLOBAL … (PyTorch's own weights_only loader refuses these opcodes; SwiftNN reads them.)
    model, _, _ = mlp_model()
    save_reference("protocol.reference.safetensors", dict(model.state_dict()))
    torch.save(model.state_dict(), path("protocol4.pth"), pickle_protocol=4)
    torch.save(model.state_dict(), path("protocol5.pth"), pickle_protocol=5)
    for name in ("protocol4.pth", "protocol5.pth"):
        back = torch.load(path(name), weights_only=False)  # our own file, made just above
        assert all(torch.equal(back[k], v) for k, v in model.state_dict().items())

    # A tensor with a Python attribute: torch._tensor._rebuild_from_type_v2.
    t = torch.tensor([1.0, 2.0])
    t.note = "calibrated"
    torch.save({"t": t}, path("tensor_with_attribute.pth"))
    must_load("tensor_with_attribute.pth")


def big_endian_file():
    """The same small state dict with byteorder 'big' and byte-swapped storages, as a big-endian
    machine writes it; torch.load gives the same values on this little-endian machine."""
    sd = OrderedDict([("w", torch.tensor([[1.5, -2.0], [3.25, 1e-3]])), ("h", torch.tensor([1.0, -0.5], dtype=torch.float16)),
                      ("n", torch.tensor([1, -2, 3 ** 30], dtype=torch.int64)), ("i", torch.tensor([7, -9], dtype=torch.int32))])
    buf = io.BytesIO()
    torch.save(sd, buf)
    src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
    elem = {}
    pkl = src.read("archive/data.pkl")
    for key, t in zip(["0", "1", "2", "3"], sd.values()):
        elem[key] = t.element_size()
    with zipfile.ZipFile(path("big_endian.pth"), "w", zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            name = info.filename
            if name == "archive/byteorder":
                data = b"big"
            elif name.startswith("archive/data/"):
                size = elem[name.rsplit("/", 1)[1]]
                data = b"".join(data[i:i + size][::-1] for i in range(0, len(data), size))
            dst.writestr(name, data)
    back = must_load("big_endian.pth")
    for k, v in sd.items():
        assert torch.equal(back[k], v), k
    save_reference("big_endian.reference.safetensors", {k: (v.float() if v.dtype == torch.float16 else v.to(torch.int64) if v.dtype == torch.int32 else v) for k, v in sd.items()})


# ── Malicious files: the reader must refuse them, naming the callable, and never run them ─────
class Payload:
    """Pickles as a call of `func(*args)`: what an attacker puts into a checkpoint."""

    def __init__(self, func, args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def zip_with_pickle(name, pkl):
    """A torch.save-shaped zip archive around a hand-made data.pkl."""
    with zipfile.ZipFile(path(name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", b"little")
        z.writestr("archive/version", b"3\n")


def malicious_files():
    harmless = "echo swiftnn-test-payload-never-executed"
    # 1. A real state dict with an extra entry that calls os.system (pickled as posix.system).
    sd = OrderedDict([("fc.weight", torch.ones(2, 2)), ("fc.bias", torch.zeros(2)), ("evil", Payload(os.system, (harmless,)))])
    torch.save(sd, path("malicious_os_system.pth"))
    must_refuse("malicious_os_system.pth", "system")
    # 2. The same in the legacy format, with builtins.eval.
    torch.save({"w": torch.ones(3), "x": Payload(eval, ("1+1",))}, path("malicious_eval_legacy.pth"), _use_new_zipfile_serialization=False)
    must_refuse("malicious_eval_legacy.pth", "eval")
    # 3. Protocol 4 STACK_GLOBAL naming builtins.exec.
    torch.save({"x": Payload(exec, ("pass",))}, path("malicious_exec_protocol4.pth"), pickle_protocol=4)
    # (torch refuses it already at the protocol-4 opcodes; SwiftNN must refuse it at the GLOBAL)
    must_refuse("malicious_exec_protocol4.pth", "Unsupported operand")
    # 4. Hand-written opcodes: GLOBAL 'os system', the argument tuple, REDUCE — nothing else.
    pkl = b"\x80\x02" + b"cos\nsystem\n" + b"X" + struct.pack("<I", len(harmless)) + harmless.encode() + b"\x85R."
    zip_with_pickle("malicious_handmade_os_system.pth", pkl)
    must_refuse("malicious_handmade_os_system.pth", "os.system")
    # 5. An allowed-looking module with a forbidden attribute (torch itself is not a free pass).
    pkl = b"\x80\x02" + b"ctorch\nload\n" + b"X\x04\x00\x00\x00x.pt\x85R."
    zip_with_pickle("malicious_torch_load.pth", pkl)
    must_refuse("malicious_torch_load.pth", "torch.load")


def main():
    global OUT
    if len(sys.argv) > 1:
        OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    small_cnn_files()
    training_checkpoint_files()
    dtype_files()
    view_files()
    big_endian_file()
    malicious_files()
    total = 0
    for f in sorted(os.listdir(OUT)):
        total += os.path.getsize(path(f))
        print(f"{os.path.getsize(path(f)):>9}  {f}")
    print(f"{total:>9}  total, torch {torch.__version__}")


if __name__ == "__main__":
    main()
