#!/usr/bin/env python3
"""PyTorch's side of `swiftnn bench fold`: torchvision's ResNet-18 (its own class, from
torchvision/models/resnet.py) in eval mode, the median time of a forward pass as built and after
torch.fx.experimental.optimization.fuse (every Conv2d → BatchNorm2d folded), per thread count.
Prints `unfused_<threads> seconds` and `fused_<threads> seconds` lines.

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


def median_time(fn, repeats, warmup=1):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


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
    with torch.inference_mode():
        diff = (model(x) - fused(x)).abs().max().item()
        print(f"# max |fused - unfused| = {diff:.3g}", file=sys.stderr)
        for t in [int(s) for s in a.threads.split(",")]:
            torch.set_num_threads(t)
            print(f"unfused_{t}", median_time(lambda: model(x), a.repeats))
            print(f"fused_{t}", median_time(lambda: fused(x), a.repeats))


if __name__ == "__main__":
    main()
