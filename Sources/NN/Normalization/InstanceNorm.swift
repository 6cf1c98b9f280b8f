import Foundation
import TensorCore
import Autograd

/// Shared implementation of ``InstanceNorm1d``, ``InstanceNorm2d`` and ``InstanceNorm3d``
/// (PyTorch's `_InstanceNorm`).
open class InstanceNormBase: NormBase {
    /// Rank of an unbatched input (2 for InstanceNorm1d …).
    open var unbatchedRank: Int { 2 }

    /// Checks `input` as `forward` would, with PyTorch's messages.
    ///
    /// ```swift
    /// #expect(throws: UsageError.self) { try InstanceNorm2d(3).validate(Tensor.zeros([2, 3, 1, 1])) }
    /// ```
    public func validate(_ input: Tensor) throws(UsageError) {
        let r = unbatchedRank
        if input.rank != r && input.rank != r + 1 {
            throw UsageError(typeName, "expected \(r)D or \(r + 1)D input (got \(input.rank)D input)")
        }
        let featureDim = input.rank - r
        let c = input.shape[featureDim]
        if c != numFeatures && affine {
            throw UsageError(typeName, "expected input's size at dim=\(featureDim) to match num_features (\(numFeatures)), but got: \(c).")
        }
        try validateInstanceNorm(batchedShape: batchedShape(input), input, runningMean: runningMean, runningVar: runningVar,
                                 weight: weight, bias: bias, useInputStats: useInputStats, source: typeName)
    }

    private var useInputStats: Bool { isTraining || !trackRunningStats }

    private func batchedShape(_ input: Tensor) -> [Int] {
        input.rank == unbatchedRank ? [1] + input.shape : input.shape
    }

    /// Whether the channel-count warning was printed (PyTorch warns once per call site).
    private var warnedChannelMismatch = false

    override open func forward(_ x: Tensor) -> Tensor {
        do { try validate(x) } catch { usageFailure(error) }
        let shape = batchedShape(x)
        if shape[1] != numFeatures && !affine && !warnedChannelMismatch {
            // Without affine parameters num_features is unused: PyTorch only warns.
            warnedChannelMismatch = true
            FileHandle.standardError.write(Data("UserWarning: \(typeName): input's size at dim=\(x.rank - unbatchedRank) does not match num_features. You can silence this warning by not passing in num_features, which is not used because affine=False\n".utf8))
        }
        // Unbatched input runs as a batch of one.
        let batched = shape == x.shape ? x : x.reshaped(shape)
        let y = instanceNormCore(batched, running: runningStatistics, weight: weight, bias: bias,
                                 useInputStats: useInputStats, eps: eps)
        return shape == x.shape ? y : y.reshaped(x.shape)
    }

    /// PyTorch quirk: instance norm never counts batches (and momentum nil freezes the running
    /// statistics).
    override var countsBatches: Bool { false }
}

/// Instance normalization over (N, C, L) or unbatched (C, L) input, like `torch.nn.InstanceNorm1d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// with E and the biased Var over L, separately for each sample and channel. By default there are
/// no affine parameters and no running statistics (`affine: false, trackRunningStats: false`).
///
/// ```swift
/// let norm = InstanceNorm1d(64)
/// let y = norm(Tensor.randn([4, 64, 100]))
/// ```
public final class InstanceNorm1d: InstanceNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }
    override public var unbatchedRank: Int { 2 }
}

/// Instance normalization over (N, C, H, W) or unbatched (C, H, W) input, like
/// `torch.nn.InstanceNorm2d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// with E and the biased Var over H and W, separately for each sample and channel (style
/// transfer, GAN generators).
///
/// ```swift
/// let norm = InstanceNorm2d(64, affine: true)
/// let y = norm(Tensor.randn([8, 64, 32, 32]))
/// ```
public final class InstanceNorm2d: InstanceNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }
    override public var unbatchedRank: Int { 3 }
}

/// Instance normalization over (N, C, D, H, W) or unbatched (C, D, H, W) input, like
/// `torch.nn.InstanceNorm3d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// with E and the biased Var over D, H and W, separately for each sample and channel.
///
/// ```swift
/// let norm = InstanceNorm3d(8)
/// let y = norm(Tensor.randn([2, 8, 4, 16, 16]))
/// ```
public final class InstanceNorm3d: InstanceNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = false,
                trackRunningStats: Bool = false, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }
    override public var unbatchedRank: Int { 4 }
}
