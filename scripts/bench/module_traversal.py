#!/usr/bin/env python3
"""PyTorch's side of `swiftnn bench module`: the same ResNet-50-shaped tree (narrow widths), the
median time of list(model.parameters()), model.state_dict(), model.train(), model.zero_grad().
Prints `name seconds` lines."""
import statistics
import time

import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, c, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 1, bias=False); self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False); self.bn2 = nn.BatchNorm2d(c)
        self.conv3 = nn.Conv2d(c, c, 1, bias=False); self.bn3 = nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c)) if downsample else None


class ResNet50Shape(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 7, stride=2, padding=3, bias=False); self.bn1 = nn.BatchNorm2d(4)
        self.relu = nn.ReLU(inplace=True); self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(*[Bottleneck(4, i == 0) for i in range(3)])
        self.layer2 = nn.Sequential(*[Bottleneck(4, i == 0) for i in range(4)])
        self.layer3 = nn.Sequential(*[Bottleneck(4, i == 0) for i in range(6)])
        self.layer4 = nn.Sequential(*[Bottleneck(4, i == 0) for i in range(3)])
        self.avgpool = nn.AdaptiveAvgPool2d(1); self.fc = nn.Linear(4, 1000)


def median_time(fn, repeats=50, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return statistics.median(times)


model = ResNet50Shape()
assert len(list(model.parameters())) == 161
for name, fn in [("parameters()", lambda: list(model.parameters())), ("stateDict()", model.state_dict),
                 ("train()", model.train), ("zeroGrad()", model.zero_grad)]:
    print(name, median_time(fn))
