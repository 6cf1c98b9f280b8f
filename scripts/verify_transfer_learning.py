#!/usr/bin/env python3
"""The tutorial's transfer-learning scenario end to end, PyTorch → SwiftNN → PyTorch, full size.

    /work/venv/bin/python scripts/verify_transfer_learning.py [--skip-build]

`--skip-build` passes `--skip-build` to `swift test` (the tests already built).

1. PyTorch builds torchvision's ResNet-18 (its own class from torchvision/models/resnet.py; the
   `torchvision` package itself cannot be imported in this venv), gives its BatchNorms non-default
   running statistics and saves `resnet18.pth` with torch.save into a temporary folder, with an
   input batch and its eval output (`pretrained_io.safetensors`).
2. `swift test --filter TransferLearningTests` runs with SWIFTNN_TRANSFER_DIR set to that folder:
   SwiftNN loads the file strictly and must give PyTorch's eval output; then it freezes the
   backbone (requiresGrad = false), replaces the head (model.fc = Linear(512, 10)), freezes
   BatchNorm, fine-tunes, and saves `finetuned.pth` plus an input batch with its eval output
   (`finetuned_io.safetensors`).
3. PyTorch loads `finetuned.pth` with weights_only=True into torchvision's ResNet-18 with
   `fc = nn.Linear(512, 10)` using strict=True and must give the same eval output (within
   1e-5 + 1e-4·|want|); every backbone tensor, running statistics included, must be bit-identical
   to the original file and the head must have changed.
Exit status 0 when all of this holds.
"""
import os
import subprocess
import sys
import tempfile

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(HERE, "reference"))
from make_resnet_fixtures import load_torchvision_resnet  # noqa: E402


def main():
    tv = load_torchvision_resnet()
    work = os.environ.get("SWIFTNN_TRANSFER_DIR") or tempfile.mkdtemp(prefix="swiftnn-transfer-")
    os.makedirs(work, exist_ok=True)
    torch.manual_seed(0)
    pretrained = tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])
    # "Pretraining": a few training-mode passes so the running statistics are not 0 / 1.
    pretrained.train()
    with torch.no_grad():
        for _ in range(3):
            pretrained(torch.randn(8, 3, 64, 64) * 1.3 + 0.2)
    pretrained.eval()
    original = {k: v.clone() for k, v in pretrained.state_dict().items()}
    torch.save(pretrained.state_dict(), os.path.join(work, "resnet18.pth"))
    # PyTorch's eval output of the pretrained model, which SwiftNN's strict load must reproduce.
    x = torch.randn(2, 3, 64, 64) * 1.5 + 0.1
    with torch.no_grad():
        save_file({"input": x, "output": pretrained(x)}, os.path.join(work, "pretrained_io.safetensors"))
    print(f"wrote {os.path.join(work, 'resnet18.pth')} ({sum(p.numel() for p in pretrained.parameters())} parameters)")

    env = dict(os.environ, SWIFTNN_TRANSFER_DIR=work)
    flags = ["--skip-build"] if "--skip-build" in sys.argv else []
    run = subprocess.run(["swift", "test", *flags, "--filter", "TransferLearningTests"], cwd=ROOT, env=env,
                         capture_output=True, text=True)
    lines = run.stdout.splitlines()
    print("\n".join(l for l in lines if l.startswith(("✔ Test ", "✘"))))
    if run.returncode != 0:
        print(run.stderr[-2000:])
        sys.exit("swift test failed")

    finetuned = torch.load(os.path.join(work, "finetuned.pth"), weights_only=True)
    model = tv.ResNet(tv.BasicBlock, [2, 2, 2, 2])
    model.fc = nn.Linear(512, 10)
    model.load_state_dict(finetuned, strict=True)
    model.eval()
    io = load_file(os.path.join(work, "finetuned_io.safetensors"))
    with torch.no_grad():
        out = model(io["input"])
    want = io["output"]
    excess = ((out - want).abs() - (1e-5 + 1e-4 * want.abs())).max().item()
    assert excess <= 0, f"eval output differs: max excess over the tolerance {excess}"
    print(f"PyTorch strict load of finetuned.pth: eval output {tuple(out.shape)} matches SwiftNN's "
          f"(max |diff| {(out - want).abs().max().item():.3g}, max |want| {want.abs().max().item():.3g}, "
          f"tolerance 1e-5 + 1e-4·|want|)")
    changed = [k for k in finetuned if not k.startswith("fc.") and not torch.equal(finetuned[k], original[k])]
    assert not changed, f"backbone tensors changed: {changed[:5]}"
    assert finetuned["fc.weight"].shape == (10, 512)
    print(f"backbone: all {len(original) - 2} tensors (weights and BatchNorm statistics) bit-identical; only fc changed")


if __name__ == "__main__":
    main()
