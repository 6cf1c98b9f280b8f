#!/usr/bin/env python3
"""PyTorch's side of `swiftnn bench fold`: torchvision's ResNet-18 (its own class, from
torchvision/models/resnet.py) in eval mode, the median time of a forward pass as built and after
torch.fx.experimental.optimization.fuse (every Conv2d → BatchNorm2d folded), per thread count.
Prints `unfused_<threads> seconds` and `fused_<threads> seconds` lines (median wall time), and
`unfused_cpu_<threads>` / `fused_cpu_<threads>` (median process CPU time, all threads), and
`batchnorms_<threads>`: the 20 BatchNorm2d layers alone on their inputs (what fusing can save).

    /work/venv/bin/python scripts/bench/fold_batchnorm.py --batch 4 --size 224 --repeats 5 --threads 1,2
"""
import argparse
import os
import statistics
import sys
import time

import torch
from torch.fx.experimental.optimization import fuse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "reference"))
from make_resnet_fixtures import load_torchvision_resnet  # noqa: E402


def median_times(fns, repeats, warmup=1):
    """Per function: median wall time and median process CPU time (all threads), in seconds.
    The functions take turns within each repetition, so a change in the machine's load during the
    measurement affects all of them alike."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times, cpus = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn()
            times[i].append(time.perf_counter() - t0)
            cpus[i].append(time.process_time() - c0)
    return [(statistics.median(t), statistics.median(c)) for t, c in zip(times, cpus)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", default="1,2")
    a = ap.parse_args()
    tv = load_torchvision_resnet()
    torch.manual_seed(0)
    model = tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    model.eval()
    fused = fuse(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(a.batch, 3, a.size, a.size)
    # Each BatchNorm's input in one forward pass, to time the 20 layers alone (what fusing can save).
    bn_inputs = []
    hooks = [m.register_forward_pre_hook(lambda m, inp: bn_inputs.append((m, inp[0])))
             for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.inference_mode():
        model(x)
    for h in hooks:
        h.remove()

    def batchnorms_alone():
        for m, inp in bn_inputs:
            m(inp)

    with torch.inference_mode():
        diff = (model(x) - fused(x)).abs().max().item()
        print(f"# max |fused - unfused| = {diff:.3g}", file=sys.stderr)
        for t in [int(s) for s in a.threads.split(",")]:
            torch.set_num_threads(t)
            results = median_times([lambda: model(x), lambda: fused(x), batchnorms_alone], a.repeats)
            for name, (wall, cpu) in zip(["unfused", "fused", "batchnorms"], results):
                print(f"{name}_{t}", wall)
                print(f"{name}_cpu_{t}", cpu)


if __name__ == "__main__":
    main()
