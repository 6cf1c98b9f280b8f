"""Writes the seed corpora of the fuzz targets (Fuzz/Corpus/<Target>/): small valid files of each
format, and a few classic near-misses. Run with the project's Python (numpy, safetensors):

    /work/venv/bin/python scripts/fuzz/make_seeds.py
"""
import gzip
import json
import os
import struct

import numpy as np
from safetensors.numpy import save

ROOT = os.path.join(os.path.dirname(__file__), "..", "..", "Fuzz", "Corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def idx(shape, fill=7):
    head = bytes([0, 0, 8, len(shape)]) + b"".join(struct.pack(">I", s) for s in shape)
    return head + bytes([fill % 256]) * int(np.prod(shape))


def mlp_state(rng, inputs=4, hidden=3, classes=2):
    """MLPClassifier(inputs, [hidden], classes)'s state dict, in PyTorch's key order."""
    f = lambda *s: rng.standard_normal(s).astype(np.float32)
    return {
        "net.0.weight": f(hidden, inputs), "net.0.bias": f(hidden),
        "net.1.weight": np.ones(hidden, np.float32), "net.1.bias": np.zeros(hidden, np.float32),
        "net.1.running_mean": f(hidden) * 0.1, "net.1.running_var": np.ones(hidden, np.float32),
        "net.1.num_batches_tracked": np.array(3, np.int64),
        "net.4.weight": f(classes, hidden), "net.4.bias": f(classes),
    }


def main():
    rng = np.random.default_rng(0)

    # Safetensors: plain state dicts of every dtype, with and without metadata.
    put("FuzzSafetensors", "mlp.safetensors", save(mlp_state(rng), metadata={"format": "pt"}))
    put("FuzzSafetensors", "dtypes.safetensors", save({
        "f64": np.arange(3, dtype=np.float64), "f16": np.arange(4, dtype=np.float16),
        "i32": np.arange(2, dtype=np.int32), "u8": np.arange(5, dtype=np.uint8),
        "b": np.array([True, False]), "empty": np.zeros((0, 3), np.float32), "scalar": np.array(1.5, np.float32)}))
    put("FuzzSafetensors", "empty.safetensors", save({}))

    # A SwiftNN training checkpoint of the FuzzTrainingCheckpoint run: MLPClassifier(4, [3], 2),
    # AdamW (lr 1e-3, weight decay 0.01) after 2 steps, CosineAnnealingLR(T_max 5) after epoch 1.
    state = mlp_state(rng)
    tensors = {"model." + k: v for k, v in state.items()}
    params = [k for k in state if "running" not in k and "num_batches" not in k]
    for i, k in enumerate(params):
        tensors[f"optim.state.{i}.exp_avg"] = (state[k] * 0.01).astype(np.float32)
        tensors[f"optim.state.{i}.exp_avg_sq"] = (state[k] ** 2 * 0.001).astype(np.float32)
        tensors[f"optim.state.{i}.step"] = np.array(2, np.float32)
    lr = 1e-3 * (1 + np.cos(np.pi / 5)) / 2
    groups = [{"params": list(range(len(params))), "amsgrad": 0.0, "beta1": 0.9, "beta2": 0.999, "eps": 1e-08,
               "initial_lr": 0.001, "lr": lr, "maximize": 0.0, "weight_decay": 0.01}]
    sched = {"last_epoch": 1, "_step_count": 2, "base_lrs": [0.001], "_last_lr": [lr], "T_max": 5.0, "eta_min": 0.0}
    meta = {"format": "swiftnn.training_checkpoint", "format_version": "1", "parts": "model,optim,scheduler",
            "epoch": "1", "best_metric": "50.0", "rng.default": "1:4", "rng.loader": "2:1",
            "optim.optimizer": "AdamW", "optim.param_groups": json.dumps(groups),
            "scheduler.scheduler": "CosineAnnealingLR", "scheduler.state": json.dumps(sched)}
    ckpt = save(tensors, metadata=meta)
    put("FuzzTrainingCheckpoint", "last.safetensors", ckpt)
    put("FuzzSafetensors", "training.safetensors", ckpt)

    # Checkpoints for evaluate/doctor: weights + architecture metadata (MLP on 1×2×2 inputs).
    arch = {"dropout": 0.4, "hiddenDims": [3], "inputShape": [1, 2, 2], "mean": [0.5], "model": "mlp",
            "numClasses": 2, "std": [0.25]}
    put("FuzzCheckpointModel", "best.safetensors", save(mlp_state(rng), metadata={"architecture": json.dumps(arch), "format": "pt"}))
    tmeta = dict(meta, architecture=json.dumps(arch))
    put("FuzzCheckpointModel", "last.safetensors", save(tensors, metadata=tmeta))
    arch3 = dict(arch, inputShape=[3, 1, 2], mean=[0.1, 0.2, 0.3], std=[1.0, 1.0, 1.0], hiddenDims=[2, 2])
    s3 = mlp_state(rng, inputs=6, hidden=2)
    s3.update({"net.4.weight": np.ones((2, 2), np.float32), "net.4.bias": np.zeros(2, np.float32),
               "net.5.weight": np.ones(2, np.float32), "net.5.bias": np.zeros(2, np.float32),
               "net.5.running_mean": np.zeros(2, np.float32), "net.5.running_var": np.ones(2, np.float32),
               "net.5.num_batches_tracked": np.array(0, np.int64),
               "net.8.weight": np.ones((2, 2), np.float32), "net.8.bias": np.zeros(2, np.float32)})
    put("FuzzCheckpointModel", "two-layers.safetensors", save(s3, metadata={"architecture": json.dumps(arch3)}))

    # IDX, raw and gzip (one and two members, NUL padding).
    for name, shape in [("labels", [5]), ("images", [2, 3, 3]), ("empty", [0, 28, 28])]:
        raw = idx(shape)
        put("FuzzIDX", name + ".idx", raw)
        put("FuzzIDX", name + ".idx.gz", gzip.compress(raw, mtime=0))
    raw = idx([2, 4, 4], fill=200)
    put("FuzzIDX", "two-members.idx.gz", gzip.compress(raw[:9], mtime=0) + gzip.compress(raw[9:], mtime=0))
    put("FuzzIDX", "padded.idx.gz", gzip.compress(raw, mtime=0) + bytes(4))

    # gzip.
    put("FuzzGzip", "text.gz", gzip.compress(b"SwiftNN fuzz seed " * 20, mtime=0))
    put("FuzzGzip", "zeros.gz", gzip.compress(bytes(4096), mtime=0))
    put("FuzzGzip", "stored.gz", gzip.compress(bytes(range(256)), compresslevel=0, mtime=0))
    put("FuzzGzip", "two.gz", gzip.compress(b"a", mtime=0) + gzip.compress(b"b", mtime=0))

    # CIFAR-10: one and three records.
    rec = lambda label: bytes([label]) + bytes(rng.integers(0, 256, 3072, dtype=np.uint8))
    put("FuzzCIFAR", "one.bin", rec(3))
    put("FuzzCIFAR", "three.bin", rec(0) + rec(9) + rec(5))

    # .pth: the torch.save fixtures of the pth tests (zip and legacy pickle, every dtype, views,
    # big-endian, malicious globals), all but the two large SmallCNN ones (> 32 KiB, the
    # target's -max_len).
    pth = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "TestSupport", "Resources", "fixtures", "pth")
    for name in sorted(os.listdir(pth)):
        path = os.path.join(pth, name)
        if name.endswith(".pth") and os.path.getsize(path) <= 32768:
            with open(path, "rb") as f:
                put("FuzzTorchFile", name, f.read())


if __name__ == "__main__":
    main()
