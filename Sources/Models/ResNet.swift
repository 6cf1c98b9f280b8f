import TensorCore
import Autograd
import NN

/// The stem of a ``ResNet``: what happens before `layer1`.
public enum ResNetStem: Sendable, Equatable {
    /// torchvision's: `conv1` 7×7 stride 2 padding 3, `bn1`, ReLU, `maxpool` 3×3 stride 2 — for
    /// ImageNet-sized inputs (224×224), which it shrinks 4×.
    case imageNet
    /// For small images (CIFAR's 32×32, MNIST's 28×28): `conv1` 3×3 stride 1 padding 1 and no max
    /// pool (`maxpool` is an ``Identity``), so `layer1` sees the full resolution. The state-dict
    /// keys are the same; only `conv1.weight`'s kernel is 3×3.
    case smallImage
}

/// torchvision's `BasicBlock` (ResNet-18/34): two 3×3 convolutions with BatchNorm and a residual
/// connection, `downsample` (1×1 convolution + BatchNorm) matching the shortcut when the stride or
/// width changes. State-dict keys: `conv1`, `bn1`, `conv2`, `bn2`, `downsample.0`, `downsample.1`.
///
/// `relu(bn1(conv1(x)))` runs fused (``convBatchNormReLU(_:conv:batchNorm:relu:)``: one batch-norm
/// + ReLU sweep, one autograd node) and so does the tail `relu(bn2(·) + identity)`
/// (``batchNormAddReLU(_:residual:batchNorm:relu:)``) unless a hook on `relu` or a BatchNorm needs
/// the layers; Bottleneck's and ResNet's stem likewise.
///
/// ```swift
/// let block = BasicBlock(64, 64)
/// block(Tensor.randn([2, 64, 8, 8])).shape       // [2, 64, 8, 8]
/// ```
public final class BasicBlock: Module, BatchNormFoldable {
    /// Output channels are `planes × expansion`.
    public static let expansion = 1
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var relu: ReLU
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    /// The shortcut's projection, nil when the input can be added as it is.
    public var downsample: Sequential?
    public let stride: Int

    public init(_ inplanes: Int, _ planes: Int, stride: Int = 1, downsample: Sequential? = nil,
                groups: Int = 1, baseWidth: Int = 64) {
        usageCheck(groups == 1 && baseWidth == 64, "BasicBlock", "BasicBlock only supports groups=1 and base_width=64")
        conv1 = Conv2d(inplanes, planes, 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(planes)
        relu = ReLU(inplace: true)
        conv2 = Conv2d(planes, planes, 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor {
        let out = convBatchNormReLU(x, conv: conv1, batchNorm: bn1, relu: relu)
        return batchNormAddReLU(conv2(out), residual: downsample.map { $0(x) } ?? x, batchNorm: bn2, relu: relu)
    }

    public var batchNormFoldingPairs: [(layer: String, batchNorm: String)] { [("conv1", "bn1"), ("conv2", "bn2")] }
}

/// torchvision's `Bottleneck` (ResNet-50/101/152, "ResNet v1.5": the stride sits on the 3×3
/// convolution): 1×1 reduce, 3×3 (optionally grouped), 1×1 expand ×4, each with BatchNorm, and a
/// residual connection. Keys: `conv1`, `bn1`, `conv2`, `bn2`, `conv3`, `bn3`, `downsample.0/.1`.
///
/// ```swift
/// let block = Bottleneck(256, 64)                 // 256 → 64 → 64 → 256 channels
/// ```
public final class Bottleneck: Module, BatchNormFoldable {
    public static let expansion = 4
    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var conv2: Conv2d
    public var bn2: BatchNorm2d
    public var conv3: Conv2d
    public var bn3: BatchNorm2d
    public var relu: ReLU
    public var downsample: Sequential?
    public let stride: Int

    /// `groups` and `baseWidth` give ResNeXt and Wide ResNet: the inner width is
    /// `planes × baseWidth / 64 × groups`.
    public init(_ inplanes: Int, _ planes: Int, stride: Int = 1, downsample: Sequential? = nil,
                groups: Int = 1, baseWidth: Int = 64) {
        let width = Int(Double(planes) * (Double(baseWidth) / 64)) * groups
        conv1 = Conv2d(inplanes, width, 1, bias: false)
        bn1 = BatchNorm2d(width)
        conv2 = Conv2d(width, width, 3, stride: stride, padding: 1, groups: groups, bias: false)
        bn2 = BatchNorm2d(width)
        conv3 = Conv2d(width, planes * Self.expansion, 1, bias: false)
        bn3 = BatchNorm2d(planes * Self.expansion)
        relu = ReLU(inplace: true)
        self.downsample = downsample
        self.stride = stride
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor {
        var out = convBatchNormReLU(x, conv: conv1, batchNorm: bn1, relu: relu)
        out = convBatchNormReLU(out, conv: conv2, batchNorm: bn2, relu: relu)
        return batchNormAddReLU(conv3(out), residual: downsample.map { $0(x) } ?? x, batchNorm: bn3, relu: relu)
    }

    public var batchNormFoldingPairs: [(layer: String, batchNorm: String)] {
        [("conv1", "bn1"), ("conv2", "bn2"), ("conv3", "bn3")]
    }
}

/// torchvision's ResNet, with its structure, initialisation and state-dict keys exactly
/// (`conv1`, `bn1`, `layer1.0.conv1`, `layer2.0.downsample.0`, …, `fc`), so torchvision weights load
/// with `strict: true` and PyTorch loads what SwiftNN saves. Build one with ``resnet18(numClasses:
/// zeroInitResidual:stem:inChannels:)`` and its siblings.
///
/// The options beyond torchvision's (`stem`, `inChannels`, `widths`) change shapes, not keys.
///
/// ```swift
/// let net = resnet18(numClasses: 10)
/// net(Tensor.randn([2, 3, 224, 224])).shape           // [2, 10]
/// net.fc = Linear(512, 5)                              // a new head
/// let cifar = resnet18(numClasses: 10, stem: .smallImage)
/// cifar(Tensor.randn([2, 3, 32, 32])).shape            // [2, 10]
/// ```
public final class ResNet: Module, BatchNormFoldable {
    /// Which residual block the stages are made of.
    public enum Block: Sendable {
        case basic, bottleneck
        public var expansion: Int { self == .basic ? BasicBlock.expansion : Bottleneck.expansion }
    }

    public var conv1: Conv2d
    public var bn1: BatchNorm2d
    public var relu: ReLU
    /// `MaxPool2d(3, stride: 2, padding: 1)`, or ``Identity`` with the small-image stem.
    public var maxpool: Module
    public var layer1: Sequential
    public var layer2: Sequential
    public var layer3: Sequential
    public var layer4: Sequential
    public var avgpool: AdaptiveAvgPool2d
    public var fc: Linear

    public let block: Block

    /// - Parameters:
    ///   - layers: blocks per stage (`[2, 2, 2, 2]` is ResNet-18).
    ///   - widths: the four stages' `planes` (torchvision: 64, 128, 256, 512; the stem has
    ///     `widths[0]` channels). Narrower widths give a small ResNet with the same keys.
    ///   - zeroInitResidual: start each residual branch's last BatchNorm weight at 0, so every block
    ///     begins as the identity (torchvision's `zero_init_residual`).
    ///   - groups, widthPerGroup: ResNeXt / Wide ResNet bottlenecks (torchvision's arguments).
    public init(block: Block, layers: [Int], numClasses: Int = 1000, zeroInitResidual: Bool = false,
                groups: Int = 1, widthPerGroup: Int = 64, stem: ResNetStem = .imageNet, inChannels: Int = 3,
                widths: [Int] = [64, 128, 256, 512]) {
        usageCheck(layers.count == 4 && layers.allSatisfy { $0 >= 1 }, "ResNet", "layers must be four block counts of at least 1, got \(layers)")
        usageCheck(widths.count == 4 && widths.allSatisfy { $0 >= 1 }, "ResNet", "widths must be four positive channel counts, got \(widths)")
        usageCheck(inChannels >= 1 && numClasses >= 1, "ResNet", "inChannels and numClasses must be positive")
        self.block = block
        switch stem {
        case .imageNet:
            conv1 = Conv2d(inChannels, widths[0], 7, stride: 2, padding: 3, bias: false)
            maxpool = MaxPool2d(3, stride: 2, padding: 1)
        case .smallImage:
            conv1 = Conv2d(inChannels, widths[0], 3, stride: 1, padding: 1, bias: false)
            maxpool = Identity()
        }
        bn1 = BatchNorm2d(widths[0])
        relu = ReLU(inplace: true)
        var inplanes = widths[0]
        func makeLayer(_ planes: Int, _ blocks: Int, stride: Int) -> Sequential {
            let out = planes * block.expansion
            let downsample = stride != 1 || inplanes != out
                ? Sequential(Conv2d(inplanes, out, 1, stride: stride, bias: false), BatchNorm2d(out)) : nil
            var stage: [any Layer] = []
            for i in 0..<blocks {
                let s = i == 0 ? stride : 1, d = i == 0 ? downsample : nil
                switch block {
                case .basic: stage.append(BasicBlock(inplanes, planes, stride: s, downsample: d, groups: groups, baseWidth: widthPerGroup))
                case .bottleneck: stage.append(Bottleneck(inplanes, planes, stride: s, downsample: d, groups: groups, baseWidth: widthPerGroup))
                }
                inplanes = out
            }
            return Sequential(stage)
        }
        layer1 = makeLayer(widths[0], layers[0], stride: 1)
        layer2 = makeLayer(widths[1], layers[1], stride: 2)
        layer3 = makeLayer(widths[2], layers[2], stride: 2)
        layer4 = makeLayer(widths[3], layers[3], stride: 2)
        avgpool = AdaptiveAvgPool2d(1)
        fc = Linear(widths[3] * block.expansion, numClasses)
        super.init()

        // torchvision's initialisation: He-normal (fan_out, ReLU gain) for every convolution,
        // BatchNorm weight 1 and bias 0; Linear keeps PyTorch's default.
        for m in modules() {
            if let conv = m as? Conv2d {
                Init.kaimingNormal(conv.weight, mode: .fanOut, nonlinearity: .relu)
            } else if let bn = m as? BatchNormBase {
                if let w = bn.weight { Init.ones(w) }
                if let b = bn.bias { Init.zeros(b) }
            }
        }
        if zeroInitResidual {
            for m in modules() {
                if let b = m as? Bottleneck, let w = b.bn3.weight { Init.zeros(w) }
                if let b = m as? BasicBlock, let w = b.bn2.weight { Init.zeros(w) }
            }
        }
    }

    /// Every state-dict key with its shape, in order, for the model these arguments build —
    /// computed without building it (a checkpoint can be checked against an architecture before
    /// any weight is allocated). Equal to `ResNet(…).stateDict()`'s keys and shapes.
    public static func stateShapes(block: Block, layers: [Int], numClasses: Int = 1000, groups: Int = 1, widthPerGroup: Int = 64,
                                   stem: ResNetStem = .imageNet, inChannels: Int = 3,
                                   widths: [Int] = [64, 128, 256, 512]) -> [(key: String, shape: [Int])] {
        var out: [(key: String, shape: [Int])] = []
        func bn(_ prefix: String, _ c: Int) {
            for k in ["weight", "bias", "running_mean", "running_var"] { out.append((prefix + k, [c])) }
            out.append((prefix + "num_batches_tracked", []))
        }
        let k = stem == .imageNet ? 7 : 3
        out.append(("conv1.weight", [widths[0], inChannels, k, k]))
        bn("bn1.", widths[0])
        var inplanes = widths[0]
        for stage in 0..<4 {
            let planes = widths[stage], expanded = planes * block.expansion
            for i in 0..<layers[stage] {
                let p = "layer\(stage + 1).\(i)."
                switch block {
                case .basic:
                    out.append((p + "conv1.weight", [planes, inplanes, 3, 3])); bn(p + "bn1.", planes)
                    out.append((p + "conv2.weight", [planes, planes, 3, 3])); bn(p + "bn2.", planes)
                case .bottleneck:
                    let width = Int(Double(planes) * (Double(widthPerGroup) / 64)) * groups
                    out.append((p + "conv1.weight", [width, inplanes, 1, 1])); bn(p + "bn1.", width)
                    out.append((p + "conv2.weight", [width, width / groups, 3, 3])); bn(p + "bn2.", width)
                    out.append((p + "conv3.weight", [expanded, width, 1, 1])); bn(p + "bn3.", expanded)
                }
                if i == 0 && (stage > 0 || inplanes != expanded) {
                    out.append((p + "downsample.0.weight", [expanded, inplanes, 1, 1])); bn(p + "downsample.1.", expanded)
                }
                inplanes = expanded
            }
        }
        out += [("fc.weight", [numClasses, inplanes]), ("fc.bias", [numClasses])]
        return out
    }

    override public func forward(_ x: Tensor) -> Tensor {
        var h = maxpool(convBatchNormReLU(x, conv: conv1, batchNorm: bn1, relu: relu))
        h = layer4(layer3(layer2(layer1(h))))
        return fc(avgpool(h).flattened(startDim: 1))
    }

    public var batchNormFoldingPairs: [(layer: String, batchNorm: String)] { [("conv1", "bn1")] }
}

/// ResNet-18 (torchvision's `resnet18`): BasicBlocks `[2, 2, 2, 2]`, 11,689,512 parameters with
/// 1000 classes.
///
/// ```swift
/// let model = resnet18(numClasses: 10)
/// try model.loadStateDict(StateDict(contentsOf: URL(fileURLWithPath: "resnet18.pth")), strict: true)
/// ```
public func resnet18(numClasses: Int = 1000, zeroInitResidual: Bool = false, stem: ResNetStem = .imageNet,
                     inChannels: Int = 3) -> ResNet {
    ResNet(block: .basic, layers: [2, 2, 2, 2], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           stem: stem, inChannels: inChannels)
}

/// ResNet-34: BasicBlocks `[3, 4, 6, 3]`.
public func resnet34(numClasses: Int = 1000, zeroInitResidual: Bool = false, stem: ResNetStem = .imageNet,
                     inChannels: Int = 3) -> ResNet {
    ResNet(block: .basic, layers: [3, 4, 6, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           stem: stem, inChannels: inChannels)
}

/// ResNet-50: Bottlenecks `[3, 4, 6, 3]`, 25,557,032 parameters with 1000 classes.
public func resnet50(numClasses: Int = 1000, zeroInitResidual: Bool = false, stem: ResNetStem = .imageNet,
                     inChannels: Int = 3) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           stem: stem, inChannels: inChannels)
}

/// ResNet-101: Bottlenecks `[3, 4, 23, 3]`.
public func resnet101(numClasses: Int = 1000, zeroInitResidual: Bool = false, stem: ResNetStem = .imageNet,
                      inChannels: Int = 3) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 23, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           stem: stem, inChannels: inChannels)
}

/// ResNet-152: Bottlenecks `[3, 8, 36, 3]`.
public func resnet152(numClasses: Int = 1000, zeroInitResidual: Bool = false, stem: ResNetStem = .imageNet,
                      inChannels: Int = 3) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 8, 36, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           stem: stem, inChannels: inChannels)
}

/// ResNeXt-50 32×4d (torchvision's `resnext50_32x4d`): grouped bottlenecks.
public func resnext50_32x4d(numClasses: Int = 1000, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           groups: 32, widthPerGroup: 4)
}

/// Wide ResNet-50-2 (torchvision's `wide_resnet50_2`): bottlenecks twice as wide inside.
public func wide_resnet50_2(numClasses: Int = 1000, zeroInitResidual: Bool = false) -> ResNet {
    ResNet(block: .bottleneck, layers: [3, 4, 6, 3], numClasses: numClasses, zeroInitResidual: zeroInitResidual,
           widthPerGroup: 128)
}
