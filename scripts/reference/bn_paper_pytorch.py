"""The BatchNorm paper's MNIST experiment (Ioffe & Szegedy 2015, Figure 1) in PyTorch, with the
recipe of `swiftnn experiment bn-paper`: the bundled 10,000 training / 2,000 test MNIST images
binarized at half intensity, a 784-100-100-100-10 sigmoid MLP with weights from N(0, 0.01²) and zero
biases, with and without BatchNorm before each sigmoid (no bias then), plain SGD lr 0.5, batches of
60, test accuracy and the 15/50/85th percentiles of the last hidden layer's sigmoid inputs every 250
steps. Prints the same summary as the SwiftNN command, so the two can be compared side by side
(the random streams differ, so the curves agree in shape, not value by value).

Run: /work/venv/bin/python scripts/reference/bn_paper_pytorch.py [--steps 10000] [--seed 1] [--json out.json]
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "Sources", "Data", "Resources", "mnist-10k")


def idx(name):
    b = gzip.open(os.path.join(DATA, name)).read()
    n = b[3]
    dims = struct.unpack(">" + "I" * n, b[4:4 + 4 * n])
    return np.frombuffer(b[4 + 4 * n:], dtype=np.uint8).reshape(dims)


def load(images, labels):
    x = (idx(images).reshape(-1, 784).astype(np.float32) / 255 >= 0.5).astype(np.float32)
    return torch.tensor(x), torch.tensor(idx(labels).astype(np.int64))


def network(batch_norm, std):
    layers, width = [], 784
    for _ in range(3):
        linear = torch.nn.Linear(width, 100, bias=not batch_norm)
        layers += [linear] + ([torch.nn.BatchNorm1d(100)] if batch_norm else []) + [torch.nn.Sigmoid()]
        width = 100
    layers.append(torch.nn.Linear(width, 10))
    net = torch.nn.Sequential(*layers)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, std)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
    return net


def run(batch_norm, a, train, test):
    torch.manual_seed(a.seed)
    net = network(batch_norm, a.init_std)
    opt = torch.optim.SGD(net.parameters(), lr=a.lr)
    g = torch.Generator().manual_seed(a.seed + 17)
    x, y = train
    tx, ty = test
    last_sigmoid = max(i for i, m in enumerate(net) if isinstance(m, torch.nn.Sigmoid))
    curve = {"steps": [], "accuracy": [], "units": []}

    def evaluate(step):
        net.eval()
        with torch.no_grad():
            h = tx
            for m in list(net)[:last_sigmoid]:
                h = m(h)
            out = h
            for m in list(net)[last_sigmoid:]:
                out = m(out)
            curve["steps"].append(step)
            curve["accuracy"].append((out.argmax(1) == ty).float().mean().item())
            curve["units"].append(np.percentile(h.numpy().astype(np.float64), [15, 50, 85], axis=0).T)  # [100, 3]
        net.train()

    start = time.time()
    evaluate(0)
    step = 0
    while step < a.steps:
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - a.batch_size + 1, a.batch_size):  # drop the last partial batch
            b = perm[i:i + a.batch_size]
            loss = torch.nn.functional.cross_entropy(net(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
            step += 1
            if step % a.eval_every == 0 or step == a.steps:
                evaluate(step)
            if step >= a.steps:
                break
    curve["seconds"] = time.time() - start
    return curve


def summarize(c):
    """What BNPaperComparison computes: from 10 % of training on, how far each unit's median moves
    (in units of its mean 15-85 spread) and how much its spread changes (max / min)."""
    steps = c["steps"]
    start = next((i for i, s in enumerate(steps) if s >= steps[-1] // 10 and s > 0), 0)
    u = np.array(c["units"][start:])  # [evals, 100, 3]
    med, spread = u[:, :, 1], u[:, :, 2] - u[:, :, 0]
    rel = (med.max(0) - med.min(0)) / np.maximum(spread.mean(0), 1e-12)
    ratio = spread.max(0) / np.maximum(spread.min(0), 1e-12)
    acc = c["accuracy"]
    first = lambda t: next((steps[i] for i, v in enumerate(acc) if v >= t), None)
    return {"final": acc[-1], "best": max(acc), "to90": first(0.90), "to95": first(0.95),
            "unit0_relative_drift": rel[0], "unit0_spread_ratio": ratio[0],
            "mean_relative_drift": rel.mean(), "mean_spread_ratio": ratio.mean(), "seconds": c["seconds"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--batch-size", type=int, default=60)
    ap.add_argument("--lr", type=float, default=0.5)
    ap.add_argument("--init-std", type=float, default=0.01)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    train = load("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
    test = load("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    results = {}
    for bn in (False, True):
        name = "with BatchNorm" if bn else "without BatchNorm"
        s = summarize(run(bn, a, train, test))
        results[name] = s
        print(f"{name:18s} final {100 * s['final']:.2f} %  best {100 * s['best']:.2f} %  90 % at {s['to90']}  95 % at {s['to95']}  "
              f"unit 0 median moved {s['unit0_relative_drift']:.2f} spreads, spread x{s['unit0_spread_ratio']:.2f}; "
              f"all units {s['mean_relative_drift']:.2f} spreads, x{s['mean_spread_ratio']:.2f}  ({s['seconds']:.0f} s)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1, default=float)


if __name__ == "__main__":
    main()
