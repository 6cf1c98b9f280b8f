import TensorCore
import Autograd

/// A module whose `forward` feeds some child convolution or linear layer straight into a child
/// BatchNorm (and uses the layer's output nowhere else), so ``fuseBatchNorm(_:)`` may fold them.
/// A `Sequential` needs no declaration: adjacent layers are found by position.
///
/// ```swift
/// final class Stem: Module, BatchNormFoldable {
///     var conv = Conv2d(3, 16, 3, padding: 1, bias: false), bn = BatchNorm2d(16)
///     override func forward(_ x: Tensor) -> Tensor { bn(conv(x)).relu() }
///     var batchNormFoldingPairs: [(layer: String, batchNorm: String)] { [("conv", "bn")] }
/// }
/// ```
public protocol BatchNormFoldable: Module {
    /// Child names (state-dict keys) of each layer → BatchNorm pair.
    var batchNormFoldingPairs: [(layer: String, batchNorm: String)] { get }
}

/// Folds every BatchNorm that directly follows a convolution or linear layer into that layer, for
/// inference, like PyTorch's `torch.fx.experimental.optimization.fuse` and
/// `torch.nn.utils.fusion.fuse_conv_bn_eval` / `fuse_linear_bn_eval`.
///
/// In evaluation a BatchNorm is a per-channel affine map, `y = (x − μ) / √(σ² + eps) · γ + β`
/// with its running statistics, so it merges into the preceding layer's weight and bias:
/// `W' = W · γ / √(σ² + eps)` (per output channel), `b' = (b − μ) · γ / √(σ² + eps) + β`. The pairs
/// are Conv1d → BatchNorm1d, Conv2d → BatchNorm2d, Conv3d → BatchNorm3d and Linear → BatchNorm1d,
/// found anywhere in the module tree: adjacent elements of every ``Sequential``, and the pairs a
/// ``BatchNormFoldable`` module declares (the ResNet blocks, for instance). The layer gains a bias
/// if it had none; `affine: false` (γ = 1, β = 0) and `momentum: nil` statistics fold the same
/// way; a BatchNorm without running statistics (it normalizes with batch statistics even in
/// evaluation) is left alone. The folded BatchNorm becomes a pass-through with no state
/// (``BatchNormBase/isFolded``), so the state dict loses its keys as PyTorch's fused model does.
/// The arithmetic is done in Double.
///
/// The model is changed in place, put in evaluation mode and returned; its output equals the
/// unfused model's evaluation output up to rounding. Fold a copy if you still want to train.
///
/// ```swift
/// let model = resnet18(numClasses: 10)
/// try model.loadStateDict(weights)
/// let fast = fuseBatchNorm(model)        // eval mode, 20 BatchNorms folded away
/// let logits = withNoGrad { fast(images) }
/// ```
@discardableResult
public func fuseBatchNorm(_ model: Module) -> Module {
    model.eval()
    for m in model.modules() {
        var pairs: [(Module, BatchNormBase)] = []
        if let seq = m as? Sequential, seq.count >= 2 {
            for i in 0..<(seq.count - 1) {
                if let bn = seq[i + 1] as? BatchNormBase { pairs.append((seq[i], bn)) }
            }
        }
        if let foldable = m as? any BatchNormFoldable {
            let children = Dictionary(m.namedChildren(), uniquingKeysWith: { a, _ in a })
            for (layerName, bnName) in foldable.batchNormFoldingPairs {
                if let layer = children[layerName], let bn = children[bnName] as? BatchNormBase { pairs.append((layer, bn)) }
            }
        }
        for (layer, bn) in pairs { _ = foldBatchNorm(bn, into: layer) }
    }
    return model
}

/// Folds `bn` into `layer` (a convolution or linear layer whose output `bn` normalizes), like
/// PyTorch's `fuse_conv_bn_eval` / `fuse_linear_bn_eval` but in place; returns whether it did.
/// Nothing changes when the two do not match (kind, channel count) or `bn` has no running
/// statistics or is folded already.
@discardableResult
public func foldBatchNorm(_ bn: BatchNormBase, into layer: Module) -> Bool {
    guard !bn.isFolded, let mean = bn.runningMean, let variance = bn.runningVar else { return false }
    let weight: Parameter
    let bias: Parameter?
    switch layer {
    case let conv as ConvNd:
        let matches = (conv is Conv1d && bn is BatchNorm1d) || (conv is Conv2d && bn is BatchNorm2d) || (conv is Conv3d && bn is BatchNorm3d)
        guard matches, conv.outChannels == bn.numFeatures else { return false }
        weight = conv.weight
        bias = conv.bias
    case let linear as Linear:
        guard bn is BatchNorm1d, linear.outFeatures == bn.numFeatures else { return false }
        weight = linear.weight
        bias = linear.bias
    default:
        return false
    }
    guard weight.dtype == .float32 || weight.dtype == .float64 else { return false }
    let c = bn.numFeatures
    // In Double: scale = γ / √(σ² + eps), shift = (b − μ) · scale + β, W' = W · scale per output
    // channel (the weight's first dimension for Conv*d and Linear alike).
    let (newWeight, newBias) = withNoGrad { () -> (Tensor, Tensor) in
        let double = { (t: Tensor) in t.detach().to(.float64) }
        let gamma = bn.weight.map(double) ?? Tensor.ones([c], dtype: .float64)
        let beta = bn.bias.map(double) ?? Tensor.zeros([c], dtype: .float64)
        let scale = gamma * (double(variance) + bn.eps).rsqrt()
        let oldBias = bias.map(double) ?? Tensor.zeros([c], dtype: .float64)
        let shift = (oldBias - double(mean)) * scale + beta
        let w = double(weight) * scale.reshaped([c] + [Int](repeating: 1, count: weight.rank - 1))
        return (w.to(weight.dtype), shift.to(weight.dtype))
    }
    weight.copyData(from: newWeight)
    if let bias {
        bias.copyData(from: newBias)
    } else if let conv = layer as? ConvNd {
        conv.bias = Parameter(newBias)
    } else if let linear = layer as? Linear {
        linear.bias = Parameter(newBias)
    }
    bn.isFolded = true
    return true
}
