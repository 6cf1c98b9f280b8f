#!/usr/bin/env python3
"""ResNet, BatchNorm-folding and BatchNorm re-estimation references for SwiftNN's tests.

    /work/venv/bin/python scripts/reference/make_resnet_fixtures.py [OUT_DIR]

OUT_DIR defaults to Tests/TestSupport/Resources/fixtures/resnet.

`import torchvision` is broken in the project's venv (its compiled ops do not match the CPU torch),
so torchvision's own `models/resnet.py` is executed from its source file with the few imports it
needs stubbed out: the key lists and parameter counts below come from torchvision's real `ResNet`
class. The narrow models are built by `TVResNet`, a transcription of that class with extra
arguments (stage widths, small-image stem, input channels); with default arguments it must give
exactly torchvision's keys and shapes, which this script asserts for every configuration.

Outputs:
- torchvision_keys.txt: for resnet18/34/50/101/152, resnext50_32x4d, wide_resnet50_2 (1000
  classes): a header line `# name parameters entries`, then `key shape` lines (shape comma-separated).
- resnet*_narrow*.pth: state dicts written by torch.save of small TVResNets after a few training
  steps (so running statistics are not the defaults); each with a .reference.safetensors holding
  an `input` batch and the eval-mode `output`, and `__metadata__` `case` = the constructor arguments.
- fuse/*.safetensors: torch.nn.utils.fusion.fuse_conv_bn_eval / fuse_linear_bn_eval cases.
- update_bn.safetensors: a Conv-BN-ReLU-Linear-BN1d model, three batches (the last smaller), the
  running statistics after torch.optim.swa_utils.update_bn, and the per-sample (population)
  statistics of every BatchNorm input over all batches, computed in float64.
"""
import importlib.util
import json
import os
import sys
import types

import torch
import torch.nn as nn
from safetensors.torch import save_file
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval, fuse_linear_bn_weights

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "Tests/TestSupport/Resources/fixtures/resnet")


def path(*parts):
    return os.path.join(OUT, *parts)


def load_torchvision_resnet():
    """torchvision/models/resnet.py, executed without the torchvision package."""
    import site
    base = None
    for d in site.getsitepackages():
        if os.path.exists(os.path.join(d, "torchvision/models/resnet.py")):
            base = os.path.join(d, "torchvision")
    assert base, "torchvision's source is not installed"

    def stub(name, **attrs):
        m = types.ModuleType(name)
        m.__path__ = []
        m.__dict__.update(attrs)
        sys.modules[name] = m

    class Weights:
        def __init__(self, **kw):
            pass

    saved = {k: sys.modules.get(k) for k in list(sys.modules) if k.startswith("torchvision")}
    stub("torchvision")
    stub("torchvision.models")
    stub("torchvision.transforms")
    stub("torchvision.transforms._presets", ImageClassification=object)
    stub("torchvision.models._api", WeightsEnum=object, Weights=Weights, register_model=lambda *a, **k: (lambda f: f))
    stub("torchvision.models._meta", _IMAGENET_CATEGORIES=[])
    stub("torchvision.models._utils", _ovewrite_named_param=lambda kw, k, v: kw.setdefault(k, v),
         handle_legacy_interface=lambda **k: (lambda f: f))
    stub("torchvision.utils", _log_api_usage_once=lambda *a: None)
    spec = importlib.util.spec_from_file_location("torchvision.models.resnet", os.path.join(base, "models/resnet.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for k in [k for k in sys.modules if k.startswith("torchvision")]:
        del sys.modules[k]
    sys.modules.update({k: v for k, v in saved.items() if v is not None})
    return mod


# ── TVResNet: torchvision's ResNet, transcribed, with widths / stem / in_channels ─────────────
def conv3x3(i, o, stride=1, groups=1):
    return nn.Conv2d(i, o, 3, stride=stride, padding=1, groups=groups, bias=False)


def conv1x1(i, o, stride=1):
    return nn.Conv2d(i, o, 1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError("BasicBlock only supports groups=1 and base_width=64")
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class TVResNet(nn.Module):
    def __init__(self, block, layers, num_classes=1000, zero_init_residual=False, groups=1, width_per_group=64,
                 widths=(64, 128, 256, 512), small_stem=False, in_channels=3):
        super().__init__()
        self.inplanes = widths[0]
        self.groups, self.base_width = groups, width_per_group
        if small_stem:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        else:
            self.conv1 = nn.Conv2d(in_channels, widths[0], 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_stem else nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(conv1x1(self.inplanes, planes * block.expansion, stride),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample, self.groups, self.base_width)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, groups=self.groups, base_width=self.base_width))
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


CONFIGS = {
    "resnet18": ("basic", [2, 2, 2, 2], {}),
    "resnet34": ("basic", [3, 4, 6, 3], {}),
    "resnet50": ("bottleneck", [3, 4, 6, 3], {}),
    "resnet101": ("bottleneck", [3, 4, 23, 3], {}),
    "resnet152": ("bottleneck", [3, 8, 36, 3], {}),
    "resnext50_32x4d": ("bottleneck", [3, 4, 6, 3], {"groups": 32, "width_per_group": 4}),
    "wide_resnet50_2": ("bottleneck", [3, 4, 6, 3], {"width_per_group": 128}),
}
# Published torchvision parameter counts (1000 classes).
PARAMETERS = {"resnet18": 11689512, "resnet34": 21797672, "resnet50": 25557032, "resnet101": 44549160,
              "resnet152": 60192808, "resnext50_32x4d": 25028904, "wide_resnet50_2": 68883240}


def key_lists():
    tv = load_torchvision_resnet()
    lines = []
    for name, (kind, layers, kw) in CONFIGS.items():
        real = tv.ResNet(tv.BasicBlock if kind == "basic" else tv.Bottleneck, layers, **kw)
        ours = TVResNet(BasicBlock if kind == "basic" else Bottleneck, layers, **kw)
        real_sd, our_sd = real.state_dict(), ours.state_dict()
        assert [(k, tuple(v.shape)) for k, v in real_sd.items()] == [(k, tuple(v.shape)) for k, v in our_sd.items()], name
        count = sum(p.numel() for p in real.parameters())
        assert count == PARAMETERS[name], (name, count)
        lines.append(f"# {name} {count} {len(real_sd)}")
        lines += [f"{k} {','.join(map(str, v.shape))}" for k, v in real_sd.items()]
    with open(path("torchvision_keys.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def trained(model, x, steps=3, classes=10):
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    y = torch.arange(x.shape[0]) % classes
    for _ in range(steps):
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return model


NARROW = {
    # name: (block, layers, kwargs, input shape)
    "resnet18_narrow": ("basic", [2, 2, 2, 2], {"widths": (4, 8, 16, 32), "num_classes": 10}, [2, 3, 40, 40]),
    "resnet18_narrow_small_stem_1ch": ("basic", [2, 2, 2, 2], {"widths": (4, 8, 16, 32), "num_classes": 10, "small_stem": True,
                                                               "in_channels": 1}, [2, 1, 28, 28]),
    "resnet50_narrow": ("bottleneck", [3, 4, 6, 3], {"widths": (2, 4, 8, 16), "num_classes": 7, "zero_init_residual": True}, [2, 3, 40, 40]),
    "resnext_narrow": ("bottleneck", [1, 1, 1, 1], {"widths": (8, 8, 16, 16), "num_classes": 5, "groups": 4, "width_per_group": 16},
                       [2, 3, 24, 24]),
}


def narrow_models():
    for i, (name, (kind, layers, kw, shape)) in enumerate(NARROW.items()):
        torch.manual_seed(100 + i)
        model = TVResNet(BasicBlock if kind == "basic" else Bottleneck, layers, **kw)
        x = torch.randn(*shape)
        trained(model, torch.randn(*([8] + shape[1:])), classes=kw["num_classes"])
        torch.save(model.state_dict(), path(name + ".pth"))
        with torch.no_grad():
            out = model(x)
        case = {"block": kind, "layers": layers, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}}
        save_file({"input": x, "output": out}, path(name + ".reference.safetensors"), metadata={"case": json.dumps(case)})
        back = TVResNet(BasicBlock if kind == "basic" else Bottleneck, layers, **kw).eval()
        back.load_state_dict(torch.load(path(name + ".pth"), weights_only=True), strict=True)
        with torch.no_grad():
            assert torch.equal(back(x), out)


def fuse_cases():
    os.makedirs(path("fuse"), exist_ok=True)
    torch.manual_seed(7)
    cases = []
    for dims in (1, 2, 3):
        for bias in (True, False):
            for affine in (True, False):
                cases.append((f"conv{dims}d_bias{int(bias)}_affine{int(affine)}", dims, bias, affine, 0.1))
    cases.append(("conv2d_momentum_none", 2, False, True, None))
    cases.append(("conv2d_groups2_stride2", 2, True, True, 0.1))
    for bias in (True, False):
        for affine in (True, False):
            cases.append((f"linear_bias{int(bias)}_affine{int(affine)}", 0, bias, affine, 0.1))
    for name, dims, bias, affine, momentum in cases:
        if dims == 0:
            layer = nn.Linear(6, 5, bias=bias)
            bn = nn.BatchNorm1d(5, affine=affine, momentum=momentum, eps=1e-3)
            x = torch.randn(7, 6)
        else:
            conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]
            bnc = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims]
            groups = 2 if "groups2" in name else 1
            layer = conv(4, 6, 3, stride=2 if "stride2" in name else 1, padding=1, bias=bias, groups=groups)
            bn = bnc(6, affine=affine, momentum=momentum)
            x = torch.randn(*([3, 4] + [5] * dims))
        # Non-trivial running statistics and affine parameters: a few training passes.
        for _ in range(3):
            bn.train()
            bn(layer(torch.randn_like(x) * 2 + 0.5))
        if affine:
            with torch.no_grad():
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.uniform_(-0.5, 0.5)
        layer.eval()
        bn.eval()
        if dims == 0 and not affine:
            # PyTorch's fuse_linear_bn_eval needs an affine BatchNorm; the same weights with γ = 1, β = 0.
            fused = nn.Linear(6, 5)
            w, b = fuse_linear_bn_weights(layer.weight, layer.bias, bn.running_mean, bn.running_var, bn.eps,
                                          torch.ones(5), torch.zeros(5))
            fused.weight, fused.bias = w, b
        else:
            fused = (fuse_linear_bn_eval if dims == 0 else fuse_conv_bn_eval)(layer, bn)
        with torch.no_grad():
            want = bn(layer(x))
            got = fused(x)
        assert torch.allclose(got, want, atol=1e-5, rtol=1e-4)
        t = {"layer.weight": layer.weight.detach(), "input": x, "fused.weight": fused.weight.detach(),
             "fused.bias": fused.bias.detach(), "output": want}
        if bias:
            t["layer.bias"] = layer.bias.detach()
        for k, v in bn.state_dict().items():
            t["bn." + k] = v
        meta = {"kind": "linear" if dims == 0 else f"conv{dims}d", "bias": bias, "affine": affine, "momentum": momentum,
                "eps": bn.eps, "groups": getattr(layer, "groups", 1), "stride": getattr(layer, "stride", [1])[0]}
        save_file(t, path("fuse", name + ".safetensors"), metadata={"case": json.dumps(meta)})


class BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4, momentum=0.3)
        self.relu = nn.ReLU()
        self.fc = nn.Linear(4 * 6 * 6, 5)
        self.bn1d = nn.BatchNorm1d(5)

    def forward(self, x):
        return self.bn1d(self.fc(torch.flatten(self.relu(self.bn(self.conv(x))), 1)))


def update_bn_case():
    torch.manual_seed(21)
    model = BNNet()
    batches = [torch.randn(6, 3, 6, 6) * 1.5 + 0.3, torch.randn(6, 3, 6, 6) - 0.2, torch.randn(3, 3, 6, 6) * 0.5 + 1.0]
    # Statistics that update_bn must overwrite.
    model.train()
    model(torch.randn(4, 3, 6, 6) * 3)
    model.eval()
    t = {"init." + k: v.clone() for k, v in model.state_dict().items()}
    for i, b in enumerate(batches):
        t[f"batch{i}"] = b
    # Every BatchNorm's inputs over all batches, in float64, for the per-sample statistics.
    seen = {"bn": [], "bn1d": []}
    hooks = [getattr(model, n).register_forward_pre_hook(lambda m, inp, n=n: seen[n].append(inp[0].detach().double()))
             for n in seen]
    torch.optim.swa_utils.update_bn(batches, model)
    for h in hooks:
        h.remove()
    assert model.bn.momentum == 0.3 and model.bn1d.momentum == 0.1 and not model.training
    for k, v in model.state_dict().items():
        if "running" in k or "num_batches" in k:
            t["per_batch." + k] = v.clone()
    for n, inputs in seen.items():
        x = torch.cat(inputs)
        dims = [0] + list(range(2, x.dim()))
        t[f"per_sample.{n}.running_mean"] = x.mean(dim=dims).float()
        t[f"per_sample.{n}.running_var"] = x.var(dim=dims, unbiased=True).float()
    save_file(t, path("update_bn.safetensors"))


def main():
    global OUT
    if len(sys.argv) > 1:
        OUT = sys.argv[1]
    os.makedirs(OUT, exist_ok=True)
    key_lists()
    narrow_models()
    fuse_cases()
    update_bn_case()
    total = 0
    for d, _, files in os.walk(OUT):
        for f in sorted(files):
            size = os.path.getsize(os.path.join(d, f))
            total += size
            print(f"{size:>9}  {os.path.relpath(os.path.join(d, f), OUT)}")
    print(f"{total:>9}  total, torch {torch.__version__}")


if __name__ == "__main__":
    main()
