import Foundation
import Synchronization
import TensorCore
import Autograd

// The functional dropout family (torch.nn.functional.dropout …). Each call is one autograd node
// whose backward regenerates the mask from the same random stream (nothing is stored but the
// stream's 8-byte key). p = 0, eval mode (`training: false`) and empty inputs return the input
// itself, like PyTorch.

/// The six members of the dropout family: which elements share a decision, and which transform
/// kept and dropped elements get.
public enum DropoutVariant: String, Sendable, CaseIterable {
    case dropout, dropout1d, dropout2d, dropout3d
    case alphaDropout = "alpha_dropout"
    case featureAlphaDropout = "feature_alpha_dropout"

    /// PyTorch's module class name (`Dropout2d`), used in descriptions and messages.
    public var moduleName: String {
        switch self {
        case .dropout: "Dropout"
        case .dropout1d: "Dropout1d"
        case .dropout2d: "Dropout2d"
        case .dropout3d: "Dropout3d"
        case .alphaDropout: "AlphaDropout"
        case .featureAlphaDropout: "FeatureAlphaDropout"
        }
    }

    /// Alpha (SELU) or inverted dropout.
    public var kind: DropoutKind {
        self == .alphaDropout || self == .featureAlphaDropout ? .alpha : .inverted
    }

    /// Whether one decision covers a whole (sample, channel) slice.
    public var isChannelwise: Bool {
        self != .dropout && self != .alphaDropout
    }

    /// Refuses a probability outside [0, 1] (or NaN) with PyTorch's message.
    ///
    /// ```swift
    /// try DropoutVariant.dropout.validate(p: 1.1)
    /// // UsageError: dropout probability has to be between 0 and 1, but got 1.1
    /// ```
    public func validate(p: Double, source: String? = nil) throws(UsageError) {
        guard p >= 0 && p <= 1 else {
            throw UsageError(source ?? rawValue, "dropout probability has to be between 0 and 1, but got \(p)")
        }
    }

    /// Checks everything PyTorch checks before dropping: `p`, the rank rules of the channel-wise
    /// variants, and (when elements would really be drawn) that feature dropout has a channel
    /// dimension. Warnings PyTorch gives (Dropout2d on 3-D input, deprecated ranks) are printed
    /// once per process to standard error.
    ///
    /// ```swift
    /// try DropoutVariant.dropout1d.validate(Tensor.zeros([2, 3, 4, 5]), p: 0.5, training: true)
    /// // UsageError: dropout1d: Expected 2D or 3D input, but received a 4D input. …
    /// ```
    public func validate(_ input: Tensor, p: Double, training: Bool, inplace: Bool = false,
                         source: String? = nil) throws(UsageError) {
        try validate(p: p, source: source)
        let src = source ?? rawValue
        let rank = input.rank
        switch self {
        case .dropout1d:
            if rank != 2 && rank != 3 {
                throw UsageError(src, "dropout1d: Expected 2D or 3D input, but received a \(rank)D input. Note that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")
            }
        case .dropout2d:
            if rank != 3 && rank != 4 {
                DropoutWarnings.warnOnce("dropout2d: Received a \(rank)-D input to dropout2d, which is deprecated and will result in an error in a future release. To retain the behavior and silence this warning, please use dropout instead. Note that dropout2d exists to provide channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 3D or 4D inputs).")
            }
            if rank == 3 {
                DropoutWarnings.warnOnce("dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D dropout behavior is desired - input is interpreted as shape (N, C, L), where C is the channel dim. This behavior will change in a future release to interpret the input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D channel-wise dropout behavior, please switch to using dropout1d instead.")
            }
        case .dropout3d:
            if rank != 4 && rank != 5 {
                DropoutWarnings.warnOnce("dropout3d: Received a \(rank)-D input to dropout3d, which is deprecated and will result in an error in a future release. To retain the behavior and silence this warning, please use dropout instead. Note that dropout3d exists to provide channel-wise dropout on inputs with 3 spatial dimensions, a channel dimension, and an optional batch dimension (i.e. 4D or 5D inputs).")
            }
        default:
            break
        }
        if inplace && training && p > 0 && input.count > 0 && input.needsGradient {
            if input.isLeaf {
                throw UsageError(src, "a leaf Variable that requires grad is being used in an in-place operation.")
            }
            // PyTorch allows this and catches misuse later through version counters; tensors here
            // carry none, so overwriting a recorded tensor (an activation saved for backward, a
            // view of a leaf) would silently corrupt gradients. Refuse it up front instead.
            throw UsageError(src, "in-place \(rawValue) on a tensor that is part of a recorded graph would overwrite values backward needs; use inplace: false while recording gradients (in-place is fine inside withNoGrad)")
        }
        let draws = training && p > 0 && p < 1 && input.count > 0
        if draws {
            guard input.dtype.isFloatingPoint else {
                throw UsageError(src, "\(rawValue) expects a floating-point input, got \(input.dtype)")
            }
            if isChannelwise && batchedShape(input.shape).count < 2 {
                throw UsageError(src, "Feature dropout requires at least 2 dimensions in the input")
            }
        }
    }

    /// The shape PyTorch hands to its feature-dropout kernel: Dropout1d and Dropout3d add a batch
    /// dimension to unbatched input (2-D, resp. anything but 5-D).
    func batchedShape(_ shape: [Int]) -> [Int] {
        switch self {
        case .dropout1d: return shape.count == 2 ? [1] + shape : shape
        case .dropout3d: return shape.count == 5 ? shape : [1] + shape
        default: return shape
        }
    }

    /// Applies this dropout; stops with PyTorch's message on invalid arguments (see
    /// ``validate(_:p:training:inplace:source:)``). `inplace` writes the result into `input`'s storage and
    /// returns a tensor viewing it (PyTorch returns the input itself; here the returned tensor
    /// carries the graph node, so earlier users of `input` keep their own gradient path).
    public func apply(_ input: Tensor, p: Double, training: Bool, generator: Generator? = nil,
                      inplace: Bool = false, source: String? = nil) -> Tensor {
        do { try validate(input, p: p, training: training, inplace: inplace, source: source) } catch { usageFailure(error) }
        if p == 0 || !training || input.count == 0 { return input }
        let out = inplace
            ? Tensor(storage: input.storage, shape: input.shape, dtype: input.dtype, offset: input.storageOffset)
            : Tensor(uninitializedShape: input.shape, dtype: input.dtype)
        let nodeName = isChannelwise ? (kind == .alpha ? "feature_alpha_dropout" : "feature_dropout")
                                     : (kind == .alpha ? "alpha_dropout" : "dropout")
        if p == 1 {
            // PyTorch: input * 0 for every variant (so NaN stays NaN, negatives give -0.0).
            let z = Kernels.timesZero(input)
            if inplace { out.copyData(from: z) }
            let result = inplace ? out : z
            return Autograd.record(nodeName, output: result, inputs: [input]) { g in [Kernels.timesZero(g)] }
        }
        let decisions = DropoutDecisions(stream: (generator ?? .default).nextStream(), p: p)
        let kind = self.kind
        if isChannelwise {
            let bs = batchedShape(input.shape)
            let rowLength = bs[2...].reduce(1, *)
            Kernels.channelDropout(input, into: out, rowLength: rowLength, decisions: decisions, kind: kind)
            return Autograd.record(nodeName, output: out, inputs: [input]) { g in
                [Kernels.channelDropoutBackward(g, rowLength: rowLength, decisions: decisions, kind: kind)]
            }
        }
        Kernels.dropout(input, into: out, decisions: decisions, kind: kind)
        return Autograd.record(nodeName, output: out, inputs: [input]) { g in
            [Kernels.dropoutBackward(g, decisions: decisions, kind: kind)]
        }
    }
}

/// PyTorch's `warnings.warn`, once per message and process, on standard error.
public enum DropoutWarnings {
    private static let seen = Mutex<[String]>([])

    /// Prints `message` to standard error unless it was printed before.
    public static func warnOnce(_ message: String) {
        let first = seen.withLock { s -> Bool in
            if s.contains(message) { return false }
            s.append(message)
            return true
        }
        if first { FileHandle.standardError.write(Data("UserWarning: \(message)\n".utf8)) }
    }

    /// Every warning given so far, in order (for tests).
    public static var emitted: [String] { seen.withLock { $0 } }
}

/// Inverted dropout, like `torch.nn.functional.dropout`: in training, each element is dropped
/// (set to `x * 0`) with probability `p` and kept ones become `x * Float(1 / (1 - p))`, so the
/// expected value is unchanged. With `training: false` or `p = 0` the input itself is returned.
///
/// The mask comes from one stream of `generator` (the default generator, seeded by
/// `Tensor.manualSeed`, when nil): the same seed gives the same mask on any thread count.
///
/// ```swift
/// Tensor.manualSeed(0)
/// let x = Tensor.randn([32, 128], requiresGrad: true)
/// let y = dropout(x, p: 0.5)                 // half the elements are 0, the others 2·x
/// let g = Generator(seed: 7)
/// let z = dropout(x, p: 0.2, generator: g)   // reproducible from g's state
/// dropout(x, p: 0.5, training: false) === x  // true: no copy
/// ```
public func dropout(_ input: Tensor, p: Double = 0.5, training: Bool = true, inplace: Bool = false,
                    generator: Generator? = nil) -> Tensor {
    DropoutVariant.dropout.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}

/// Channel-wise dropout on (N, C, L) or unbatched (C, L) input, like `torch.nn.functional.dropout1d`:
/// each (sample, channel) row is kept (scaled by `1 / (1 - p)`) or zeroed as a whole.
///
/// ```swift
/// let y = dropout1d(Tensor.randn([8, 16, 100]), p: 0.2)
/// ```
public func dropout1d(_ input: Tensor, p: Double = 0.5, training: Bool = true, inplace: Bool = false,
                      generator: Generator? = nil) -> Tensor {
    DropoutVariant.dropout1d.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}

/// Channel-wise dropout on (N, C, H, W) input, like `torch.nn.functional.dropout2d`: each
/// (sample, channel) plane is kept (scaled) or zeroed as a whole. 3-D input is treated as
/// (N, C, L), with PyTorch's warning.
///
/// ```swift
/// let y = dropout2d(Tensor.randn([8, 16, 32, 32]), p: 0.1)
/// ```
public func dropout2d(_ input: Tensor, p: Double = 0.5, training: Bool = true, inplace: Bool = false,
                      generator: Generator? = nil) -> Tensor {
    DropoutVariant.dropout2d.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}

/// Channel-wise dropout on (N, C, D, H, W) or unbatched (C, D, H, W) input, like
/// `torch.nn.functional.dropout3d`.
///
/// ```swift
/// let y = dropout3d(Tensor.randn([2, 4, 8, 8, 8]), p: 0.2)
/// ```
public func dropout3d(_ input: Tensor, p: Double = 0.5, training: Bool = true, inplace: Bool = false,
                      generator: Generator? = nil) -> Tensor {
    DropoutVariant.dropout3d.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}

/// Alpha dropout for self-normalizing (SELU) networks, like `torch.nn.functional.alpha_dropout`:
/// dropped elements take SELU's negative saturation value and an affine correction keeps a
/// standard-normal input at mean 0 and variance 1 (for p = 0.5, dropped elements are -0.779194).
///
/// ```swift
/// let y = alphaDropout(Tensor.randn([64, 256]), p: 0.1)
/// ```
public func alphaDropout(_ input: Tensor, p: Double = 0.5, training: Bool = false, inplace: Bool = false,
                         generator: Generator? = nil) -> Tensor {
    DropoutVariant.alphaDropout.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}

/// Channel-wise alpha dropout, like `torch.nn.functional.feature_alpha_dropout`: one decision per
/// (sample, channel), the alpha-dropout transform on whole channels.
///
/// ```swift
/// let y = featureAlphaDropout(Tensor.randn([8, 16, 10, 10]), p: 0.2, training: true)
/// ```
public func featureAlphaDropout(_ input: Tensor, p: Double = 0.5, training: Bool = false, inplace: Bool = false,
                                generator: Generator? = nil) -> Tensor {
    DropoutVariant.featureAlphaDropout.apply(input, p: p, training: training, generator: generator, inplace: inplace)
}
