#!/usr/bin/env python3
"""PyTorch's side of `swiftnn bench train`: the same training steps, timed the same way.

    /work/venv/bin/python scripts/bench/torch_train_step.py [--threads 1,2] [--repeats 20]

MLP step: MLPClassifier 784->[512,256,128]->10 (BatchNorm1d, ReLU, Dropout 0.4), batch 128.
SmallCNN step: the tutorial's SmallCNN with 3 input channels, batch 64, 3x32x32; and with 1 input
channel at batch 128 on 1x28x28, the shapes torch_recipe.py and `swiftnn train --model cnn` run.
ResNet steps: torchvision's resnet18 with the small-image stem (3x3 stride 1, no max pool) at batch 32
on 3x32x32, and resnet18 and resnet50 with the ImageNet stem at batch 8 on 3x224x224, 10 classes.
All: CrossEntropyLoss(label_smoothing=0.1), AdamW(lr 1e-3, weight_decay 1e-4); a step is
zero_grad + forward + loss + backward + step. For each thread count it prints the median step
time, the step's GEMM FLOPs (counted from the layer shapes exactly as swiftnn counts them:
forward + weight-gradient + input-gradient products of every Linear and convolution, the
input-gradient one skipped for the layer reading the data), the sgemm peak measured in the same
run (best median of 512^3 and 1024^3 torch.mm, measured before and after the steps, the larger
kept) and the ratio step / (FLOPs / peak).
"""
import argparse
import time

import torch
import torch.nn as nn


class MLPClassifier(nn.Module):
    def __init__(self, d=784, hidden=(512, 256, 128), k=10, p=0.4):
        super().__init__()
        layers, prev = [], d
        for h in hidden:
            layers += [nn.Linear(prev, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Dropout(p)]
            prev = h
        layers.append(nn.Linear(prev, k))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x.flatten(1))


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


class ResidualBlock(nn.Module):
    """torchvision's residual blocks: relu(main(x) + identity), the identity through a 1x1 convolution
    and batch norm when the shape changes."""
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.main(x) + identity)


class BasicBlock(ResidualBlock):
    def __init__(self, cin, cout, stride):
        super().__init__(cin, cout, stride)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def main(self, x):
        return self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))


class Bottleneck(ResidualBlock):
    """torchvision's (v1.5: the stride on the 3x3 convolution)."""
    def __init__(self, cin, planes, stride):
        super().__init__(cin, planes * 4, stride)
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)

    def main(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out))


class ResNet(nn.Module):
    """torchvision's resnet18 (depth 18) or resnet50 (depth 50); small_image: the 3x3 stride-1 stem and
    no max pool (swiftnn's `stem: .smallImage`)."""
    def __init__(self, small_image, depth=18, cin=3, k=10):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, 64, 3, 1, 1, bias=False) if small_image else nn.Conv2d(cin, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_image else nn.MaxPool2d(3, 2, 1)
        stages, prev = [], 64
        blocks = (2, 2, 2, 2) if depth == 18 else (3, 4, 6, 3)
        for (planes, stride), count in zip(((64, 1), (128, 2), (256, 2), (512, 2)), blocks):
            if depth == 18:
                stage = [BasicBlock(prev, planes, stride)] + [BasicBlock(planes, planes, 1) for _ in range(count - 1)]
                prev = planes
            else:
                stage = [Bottleneck(prev, planes, stride)] + [Bottleneck(planes * 4, planes, 1) for _ in range(count - 1)]
                prev = planes * 4
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(prev, k)

    def forward(self, x):
        h = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        h = self.layer4(self.layer3(self.layer2(self.layer1(h))))
        return self.fc(torch.flatten(self.avgpool(h), 1))


def step_flops(model, x):
    """Forward + both backward GEMM FLOPs from the shapes every Linear / Conv2d sees."""
    total = [0.0]
    handles = []

    def linear_hook(m, inp, out):
        rows = inp[0].numel() // m.in_features
        prod = 2.0 * rows * m.in_features * m.out_features
        total[0] += prod * (3 if inp[0].requires_grad else 2)

    def conv_hook(m, inp, out):
        k = 1
        for s in m.kernel_size:
            k *= s
        positions = out.numel() // (out.shape[0] * m.out_channels)
        prod = 2.0 * out.shape[0] * m.out_channels * (m.in_channels // m.groups) * k * positions
        total[0] += prod * (3 if inp[0].requires_grad else 2)

    for m in model.modules():
        if isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
    model.train()
    model(x)
    for h in handles:
        h.remove()
    return total[0]


def median(xs):
    v = sorted(xs)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def timed(fn, repeats, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return median(times), min(times)


def gemm_peak(repeats):
    best = 0.0
    for n in (512, 1024):
        torch.manual_seed(1)
        a, b = torch.randn(n, n), torch.randn(n, n)
        out = torch.empty(n, n)
        med, _ = timed(lambda: torch.mm(a, b, out=out), max(5, repeats // 2), warmup=2)
        best = max(best, 2.0 * n ** 3 / med)
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--only", default=None, help="mlp, cnn (both SmallCNN cases), 3x32x32, 1x28x28, resnet, resnet-50 or imagenet")
    a = ap.parse_args()
    print(f"torch {torch.__version__}, load average {' '.join(open('/proc/loadavg').read().split()[:3])}")
    cases = []
    def wanted(name):
        return a.only is None or a.only.lower() in name.lower()

    if wanted("mlp"):
        torch.manual_seed(0)
        cases.append(("MLP step (batch 128)", MLPClassifier(), torch.randn(128, 784), torch.arange(128) * 7 % 10))
    for cin, batch, size in ((3, 64, 32), (1, 128, 28)):
        name = f"SmallCNN step (batch {batch}, {cin}x{size}x{size})"
        if wanted(name):
            torch.manual_seed(0)
            cases.append((name, SmallCNN(cin), torch.randn(batch, cin, size, size), torch.arange(batch) * 7 % 10))
    for depth, small, batch, size in ((18, True, 32, 32), (18, False, 8, 224), (50, False, 8, 224)):
        name = f"ResNet-{depth} step (batch {batch}, " + (f"CIFAR {size}x{size})" if small else f"ImageNet stem, {size}x{size})")
        if wanted(name):
            torch.manual_seed(0)
            cases.append((name, ResNet(small, depth), torch.randn(batch, 3, size, size), torch.arange(batch) * 7 % 10))
    rows = []
    for t in [int(s) for s in a.threads.split(",")]:
        torch.set_num_threads(t)
        before = gemm_peak(a.repeats)
        timings = []
        for name, model, x, y in cases:
            flops = step_flops(model, x)
            crit = nn.CrossEntropyLoss(label_smoothing=0.1)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
            model.train()

            def step():
                opt.zero_grad()
                loss = crit(model(x), y)
                loss.backward()
                opt.step()

            med, fastest = timed(step, a.repeats)
            timings.append((name, med, fastest, flops))
        # The machine's speed drifts within minutes: the peak is measured again after the steps and
        # the larger kept, so that a slow moment cannot make the floor lenient.
        after = gemm_peak(a.repeats)
        peak = max(before, after)
        print(f"sgemm peak, {t} thread(s): {peak / 1e9:.1f} GFLOP/s (before the steps {before / 1e9:.1f}, after {after / 1e9:.1f})")
        for name, med, fastest, flops in timings:
            floor = flops / peak
            rows.append((name, t, med, fastest, flops, floor, med / floor))
    print(f"{'case':36} {'threads':>7} {'median':>10} {'fastest':>10} {'GFLOP':>7} {'floor':>10} {'ratio':>6}")
    for name, t, med, fastest, flops, floor, ratio in rows:
        print(f"{name:36} {t:>7} {med * 1e3:>7.3f} ms {fastest * 1e3:>7.3f} ms {flops / 1e9:>7.3f} {floor * 1e3:>7.3f} ms {ratio:>5.2f}x")


if __name__ == "__main__":
    main()
