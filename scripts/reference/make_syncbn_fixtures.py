#!/usr/bin/env python3
"""PyTorch references for SyncBatchNorm: BatchNorm on the concatenated batch.

SyncBatchNorm over processes holding parts of a batch must give what one BatchNorm gives on the
whole batch (PyTorch's SyncBatchNorm needs CUDA/NCCL, so the reference is nn.BatchNorm*d on the
concatenation, which is what SyncBatchNorm computes). The Swift tests split every step's batch of
16 between 2 or 3 ranks (5 + 11, 5 + 0 + 11, 1 + 4 + 11, …), run SyncBatchNorm over Open MPI and
compare each rank's slice of the output and input gradient, the sum of the ranks' weight and bias
gradients (each rank's own, as in PyTorch's SyncBatchNorm; data-parallel training adds them up)
and every rank's running statistics with these files.

    /work/venv/bin/python scripts/reference/make_syncbn_fixtures.py [FIXTURES_DIR]

Writes `syncbn/<name>.safetensors` under FIXTURES_DIR (default
Tests/TestSupport/Resources/fixtures) in the layer-fixture format of FIXTURES-README.md: `init.*`
is the starting state, and per step `stepi.input` / `stepi.grad_output` go in and `stepi.output`,
`stepi.grad_input`, `stepi.grad_weight`, `stepi.grad_bias`, `stepi.running_mean`,
`stepi.running_var`, `stepi.num_batches_tracked` come out. The module runs in float64 on the
stored float32 values; results are stored as float32. Inputs sit far from zero (offset 40, spread
3) so that sum / sum-of-squares statistics would lose digits where Chan's merge does not.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures"),
                   "syncbn")

BATCH = 16
MODULES = {"BatchNorm1d": torch.nn.BatchNorm1d, "BatchNorm2d": torch.nn.BatchNorm2d, "BatchNorm3d": torch.nn.BatchNorm3d}


def make(name, module, kwargs, shape, modes, seed):
    g = torch.Generator().manual_seed(seed)
    c = kwargs["num_features"]
    m = MODULES[module](**kwargs).double()
    # A state that is not the default initialisation.
    with torch.no_grad():
        if m.affine:
            m.weight.copy_(torch.rand(c, generator=g, dtype=torch.float64) + 0.5)
            m.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64))
        if m.track_running_stats:
            m.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64))
            m.running_var.copy_(torch.rand(c, generator=g, dtype=torch.float64) + 0.5)
            m.num_batches_tracked.fill_(3)
    for p in m.parameters():
        p.data = p.data.float().double()
    for b in m.buffers():
        if b.dtype == torch.float64:
            b.data = b.data.float().double()
    # state_dict() holds references: copy before the steps change the buffers in place.
    tensors = {f"init.{k}": (v.float() if v.dtype == torch.float64 else v.clone()) for k, v in m.state_dict().items()}
    steps = []
    for i, mode in enumerate(modes):
        m.train(mode == "train")
        x = (torch.randn([BATCH] + shape, generator=g) * 3 + 40).float()
        gy = torch.randn([BATCH] + shape, generator=g).float()
        x64 = x.double().requires_grad_()
        m.zero_grad()
        y = m(x64)
        y.backward(gy.double())
        t = {"input": x, "grad_output": gy, "output": y.float(), "grad_input": x64.grad.float()}
        if m.affine:
            t["grad_weight"] = m.weight.grad.float()
            t["grad_bias"] = m.bias.grad.float()
        if m.track_running_stats:
            t["running_mean"] = m.running_mean.float()
            t["running_var"] = m.running_var.float()
            t["num_batches_tracked"] = m.num_batches_tracked.clone()
        tensors.update({f"step{i}.{k}": v.contiguous() for k, v in t.items()})
        steps.append({"mode": mode, "shape": [BATCH] + shape})
    meta = {"module": module, "kwargs": kwargs, "steps": steps}
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, name + ".safetensors"), metadata={"case": json.dumps(meta)})


make("bn1d_2d", "BatchNorm1d", {"num_features": 3}, [3], ["train", "train", "eval"], 1)
make("bn1d_3d", "BatchNorm1d", {"num_features": 4}, [4, 5], ["train", "train", "eval"], 2)
make("bn2d", "BatchNorm2d", {"num_features": 3}, [3, 4, 5], ["train", "train", "eval"], 3)
make("bn3d", "BatchNorm3d", {"num_features": 2}, [2, 3, 4, 2], ["train", "train", "eval"], 4)
make("bn2d_momentum_none", "BatchNorm2d", {"num_features": 3, "momentum": None}, [3, 2, 3], ["train", "train", "train"], 5)
make("bn2d_no_affine_eps", "BatchNorm2d", {"num_features": 2, "affine": False, "eps": 1e-3}, [2, 3, 3], ["train", "eval"], 6)
# Without running statistics evaluation normalizes each process's batch by itself (PyTorch's
# SyncBatchNorm does not synchronize in eval mode), so this case has training steps only.
make("bn1d_no_tracking", "BatchNorm1d", {"num_features": 3, "track_running_stats": False}, [3], ["train", "train"], 7)
print("wrote", sorted(os.listdir(OUT)))
