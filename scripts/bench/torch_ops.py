#!/usr/bin/env python3
"""PyTorch's times for the cases of `swiftnn bench ops`, to run side by side with it.

    /work/venv/bin/python scripts/bench/torch_ops.py --threads 1,2 --repeats 10

Same shapes and data layout as BenchOps.swift (float32, [4096, 1024] unless noted); the median of
`--repeats` timed calls after three warm-ups, per thread count. Prints one line per case.
"""
import argparse

import torch

from torch_train_step import timed   # same directory: the training steps' median timer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()

    torch.manual_seed(0)
    rows, cols = 4096, 1024
    a, b = torch.randn(rows, cols), torch.randn(rows, cols)
    bias = torch.randn(cols)
    sq = torch.randn(2048, 2048)
    positive = a.abs()
    leaf = a.detach().clone().requires_grad_(True)
    ones = torch.ones(rows, cols)

    def backward(f):
        f(leaf).backward(ones)
        leaf.grad = None

    labels = torch.tensor([i * 37 % cols for i in range(rows)])

    def cross_entropy_step(smoothing=0.0):
        torch.nn.functional.cross_entropy(leaf, labels, label_smoothing=smoothing).backward()
        leaf.grad = None

    cases = [
        ("a + b (same shape)", lambda: a + b),
        ("a + bias (row broadcast)", lambda: a + bias),
        ("a * 2 (scalar)", lambda: a * 2),
        ("a.pow(2)", lambda: a.pow(2)),
        ("relu", lambda: torch.relu(a)),
        ("sqrt", lambda: positive.sqrt()),
        ("rsqrt", lambda: positive.rsqrt()),
        ("exp", lambda: a.exp()),
        ("sigmoid", lambda: a.sigmoid()),
        ("tanh", lambda: a.tanh()),
        ("gelu (erf)", lambda: torch.nn.functional.gelu(a)),
        ("gelu (tanh)", lambda: torch.nn.functional.gelu(a, approximate="tanh")),
        ("selu", lambda: torch.selu(a)),
        ("elu", lambda: torch.nn.functional.elu(a)),
        ("log", lambda: positive.log()),
        ("selu forward + backward", lambda: backward(torch.selu)),
        ("gelu forward + backward", lambda: backward(torch.nn.functional.gelu)),
        ("silu", lambda: torch.nn.functional.silu(a)),
        ("silu forward + backward", lambda: backward(torch.nn.functional.silu)),
        ("sum()", lambda: a.sum()),
        ("sum(dim: 0) [4096,1024]", lambda: a.sum(0)),
        ("sum(dim: 1) [4096,1024]", lambda: a.sum(1)),
        ("mean(dim: -1)", lambda: a.mean(-1)),
        ("variance(dims: [0])", lambda: a.var(0, unbiased=False)),
        ("softmax(dim: -1)", lambda: a.softmax(-1)),
        ("log_softmax forward + backward", lambda: backward(lambda t: t.log_softmax(-1))),
        ("cross_entropy forward + backward", lambda: cross_entropy_step()),
        ("cross_entropy label smoothing 0.1 f + b", lambda: cross_entropy_step(0.1)),
        ("max(dim: 1)", lambda: a.max(1)),
        ("transposed [2048,2048]", lambda: sq.t().contiguous()),
        ("to(.float64)", lambda: a.double()),
        ("where(a > 0, a, b)", lambda: torch.where(a > 0, a, b)),
    ]
    print(f"torch {torch.__version__}")
    for threads in [int(t) for t in args.threads.split(",")]:
        torch.set_num_threads(threads)
        for name, fn in cases:
            print(f"{name:<26} {threads:>2}  {timed(fn, args.repeats)[0] * 1e3:9.3f} ms")


if __name__ == "__main__":
    main()
