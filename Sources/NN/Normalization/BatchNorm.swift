import TensorCore
import Autograd

/// What batch and instance normalization share (PyTorch's `_NormBase`): the optional affine
/// parameters, the optional running statistics and the batch counter.
open class NormBase: Module {
    /// Number of channels C.
    public let numFeatures: Int
    /// Added to the variance before the square root.
    public var eps: Double
    /// Weight of the newest batch in the running statistics; nil = cumulative average.
    public var momentum: Double?
    /// Whether the layer has a learnable per-channel weight (and bias, unless built with
    /// `bias: false`).
    public let affine: Bool
    /// Whether the layer keeps running statistics.
    public let trackRunningStats: Bool

    /// Per-channel scale γ (initialised to 1), nil when `affine` is false.
    public var weight: Parameter?
    /// Per-channel shift β (initialised to 0), nil when `affine` or `bias` is false.
    public var bias: Parameter?
    /// Running mean (starts at 0), nil when `trackRunningStats` is false. A tensor assigned here
    /// becomes the buffer (its storage is shared, not copied).
    public var runningMean: Tensor? {
        get { _runningMean }
        set { _runningMean = Buffer.adopting(newValue) }
    }
    /// Running unbiased variance (starts at 1), nil when `trackRunningStats` is false.
    public var runningVar: Tensor? {
        get { _runningVar }
        set { _runningVar = Buffer.adopting(newValue) }
    }
    private var _runningMean: Buffer?
    private var _runningVar: Buffer?
    /// The int64 0-d counter stored under `num_batches_tracked`.
    private var _numBatchesTracked: Buffer?

    /// Training-mode forward passes counted so far (nil when `trackRunningStats` is false).
    public var numBatchesTracked: Int? {
        get { _numBatchesTracked.map { Int($0.itemDouble()) } }
        set {
            guard let t = _numBatchesTracked, let newValue else { return }
            t.fill(Double(newValue))
        }
    }

    /// Whether updates count batches in `num_batches_tracked` (BatchNorm yes, InstanceNorm no).
    var countsBatches: Bool { true }

    /// The running statistics with this layer's update rule (momentum, counter), nil when they
    /// are not tracked.
    public var runningStatistics: RunningStatistics? {
        guard let runningMean, let runningVar else { return nil }
        return RunningStatistics(mean: runningMean, variance: runningVar,
                                 batchesTracked: countsBatches ? _numBatchesTracked : nil, momentum: momentum)
    }

    public init(numFeatures: Int, eps: Double, momentum: Double?, affine: Bool, trackRunningStats: Bool, bias: Bool = true) {
        self.numFeatures = numFeatures
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.trackRunningStats = trackRunningStats
        if affine {
            weight = Parameter(Tensor.ones([numFeatures]))
            if bias { self.bias = Parameter(Tensor.zeros([numFeatures])) }
        }
        if trackRunningStats {
            _runningMean = Buffer(Tensor.zeros([numFeatures]))
            _runningVar = Buffer(Tensor.ones([numFeatures]))
            _numBatchesTracked = Buffer(Tensor(scalar: Int64(0)))
        }
        super.init()
    }

    /// Running statistics back to 0 / 1 and the counter to 0.
    public func resetRunningStats() {
        runningMean?.fill(0)
        runningVar?.fill(1)
        _numBatchesTracked?.fill(0)
    }

    /// Running statistics reset, weight 1 and bias 0.
    public func resetParameters() {
        resetRunningStats()
        weight?.fill(1)
        bias?.fill(0)
    }

    override open class var optionalStateKeys: Set<String> { ["num_batches_tracked"] }

    override open func fillMissingStateKey(_ key: String) {
        if key == "num_batches_tracked" { _numBatchesTracked?.fill(0) }
    }

    override open var extraDescription: String {
        "\(numFeatures), eps=\(PyRepr.float(eps)), momentum=\(momentum.map(PyRepr.float) ?? "None"), "
            + "affine=\(PyRepr.bool(affine)), bias=\(PyRepr.bool(bias != nil)), "
            + "track_running_stats=\(PyRepr.bool(trackRunningStats))"
    }
}

/// Shared implementation of ``BatchNorm1d``, ``BatchNorm2d`` and ``BatchNorm3d``.
open class BatchNormBase: NormBase {
    /// Checks the input's rank (each subclass's own rule).
    open func checkInputDim(_ input: Tensor) throws(UsageError) {}

    /// Checks `input` as `forward` would, with PyTorch's messages: rank, one value per channel in
    /// training, channel count.
    ///
    /// ```swift
    /// #expect(throws: UsageError.self) { try BatchNorm2d(3).validate(Tensor.zeros([3, 4, 4])) }
    /// ```
    public func validate(_ input: Tensor) throws(UsageError) {
        try checkInputDim(input)
        try validateBatchNorm(input, runningMean: usesRunningStats ? runningMean : nil,
                              runningVar: usesRunningStats ? runningVar : nil, weight: weight, bias: bias,
                              training: batchStatisticsMode, source: typeName)
    }

    /// Batch statistics normalize in training, and in evaluation when no running stats are kept.
    private var batchStatisticsMode: Bool { isTraining || (runningMean == nil && runningVar == nil) }
    /// Running stats are read (eval) or updated (training) when they are tracked.
    private var usesRunningStats: Bool { !isTraining || trackRunningStats }

    /// Combines this layer's training statistics with other processes' (SyncBatchNorm: set by
    /// `SyncBatchNorm.convert`) or micro-batches'; nil for plain BatchNorm. Evaluation ignores it.
    ///
    /// ```swift
    /// bn.statisticsReducer = myReducer      // every training forward now goes through it
    /// ```
    public var statisticsReducer: (any BatchNormReducer)? {
        get { reducerBox?.reducer }
        set { reducerBox = newValue.map(ReducerBox.init) }
    }
    /// A final class, so that the member cache watches one word (an existential property would
    /// make the layer reflect on every access).
    private var reducerBox: ReducerBox?

    private final class ReducerBox {
        let reducer: any BatchNormReducer
        init(_ reducer: any BatchNormReducer) { self.reducer = reducer }
    }

    /// `SyncBatchNorm` once a synchronizing reducer is attached (as PyTorch prints a converted model).
    override open var typeName: String { statisticsReducer?.layerName ?? super.typeName }

    override open func forward(_ x: Tensor) -> Tensor { forward(x, reducer: statisticsReducer) }

    /// The forward pass with batch statistics combined across processes or micro-batches by
    /// `reducer` in training (see ``BatchNormReducer``); SyncBatchNorm is this with a reducer
    /// that talks to the other processes. Evaluation ignores the reducer.
    public func forward(_ x: Tensor, reducer: (any BatchNormReducer)?) -> Tensor {
        let reducer = isTraining ? reducer : nil
        do {
            try checkInputDim(x)
            try validateBatchNorm(x, runningMean: usesRunningStats ? runningMean : nil,
                                  runningVar: usesRunningStats ? runningVar : nil, weight: weight, bias: bias,
                                  training: batchStatisticsMode, checkBatchSize: reducer == nil, source: typeName)
        } catch { usageFailure(error) }
        return batchNormCore(x, running: usesRunningStats ? runningStatistics : nil, weight: weight, bias: bias,
                             training: batchStatisticsMode, eps: eps, reducer: reducer, source: typeName)
    }
}

/// Batch normalization over (N, C) or (N, C, L) input, like `torch.nn.BatchNorm1d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// per channel, with E and the biased Var over the batch (and length). In training the batch's
/// statistics normalize and the running statistics are updated
/// (`running = (1 − momentum)·running + momentum·batch`, unbiased variance; `momentum: nil`
/// gives the cumulative average over ``NormBase/numBatchesTracked`` batches). In evaluation the
/// running statistics normalize (or the batch's, when `trackRunningStats` is false).
///
/// ```swift
/// let bn = BatchNorm1d(128)
/// let y = bn(Tensor.randn([32, 128]))     // training mode: batch statistics
/// bn.eval()
/// let z = bn(Tensor.randn([4, 128]))      // running statistics
/// ```
public final class BatchNorm1d: BatchNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }

    override public func checkInputDim(_ input: Tensor) throws(UsageError) {
        if input.rank != 2 && input.rank != 3 {
            throw UsageError(typeName, "expected 2D or 3D input (got \(input.rank)D input)")
        }
    }
}

/// Batch normalization over (N, C, H, W) input, like `torch.nn.BatchNorm2d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// per channel, with E and the biased Var over N, H and W. See ``BatchNorm1d`` for the running
/// statistics.
///
/// ```swift
/// let bn = BatchNorm2d(64, momentum: 0.01)
/// let y = bn(Tensor.randn([8, 64, 32, 32]))
/// bn.description   // BatchNorm2d(64, eps=1e-05, momentum=0.01, affine=True, bias=True, track_running_stats=True)
/// BatchNorm2d(64, bias: false)   // before a layer with its own shift: weight only, no `bias` key
/// ```
public final class BatchNorm2d: BatchNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }

    override public func checkInputDim(_ input: Tensor) throws(UsageError) {
        if input.rank != 4 {
            throw UsageError(typeName, "expected 4D input (got \(input.rank)D input)")
        }
    }
}

/// Batch normalization over (N, C, D, H, W) input, like `torch.nn.BatchNorm3d`:
///
///     y = (x − E[x]) / sqrt(Var[x] + eps) · γ + β
///
/// per channel, with E and the biased Var over N, D, H and W. See ``BatchNorm1d`` for the
/// running statistics.
///
/// ```swift
/// let bn = BatchNorm3d(32)
/// let y = bn(Tensor.randn([2, 32, 4, 8, 8]))
/// ```
public final class BatchNorm3d: BatchNormBase {
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true, bias: Bool = true) {
        super.init(numFeatures: numFeatures, eps: eps, momentum: momentum, affine: affine, trackRunningStats: trackRunningStats,
                   bias: bias)
    }

    override public func checkInputDim(_ input: Tensor) throws(UsageError) {
        if input.rank != 5 {
            throw UsageError(typeName, "expected 5D input (got \(input.rank)D input)")
        }
    }
}
