import Foundation
import TensorCore
import Autograd
import NN

/// The monitor's hooks on one BatchNorm layer (and the ReLU after it). On a sampled training step
/// it summarizes the layer's input — percentiles of channel 0 and of all channels, batch mean and
/// variance — its running statistics after the update, their distance from the batch, and the
/// dead units of the ReLU. On every other call it only counts: calls in training mode without
/// gradients (an evaluation that forgot `model.eval()`) and the smallest batch it saw.
///
/// The probe never needs the layer's output, so a fused Conv2d → BatchNorm2d → ReLU keeps running
/// fused, sampled steps included: a forward pre-hook sees the layer's input, the running
/// statistics are read when the step is recorded (only the forward pass changes them), and an
/// output observer on the ReLU sees the ReLU's output, which the fused path makes.
///
/// With a ReLU after the layer that no other layer uses, the input itself is only needed on
/// sampled steps: the counting of the other steps reads the ReLU output's shape (the layer's input
/// shape) instead, and the forward pre-hook is attached while the probe is armed alone. A first
/// layer whose convolution the fused path recomputes instead of storing (its output is never
/// materialized) so stays on that path on every step but the sampled ones. A ReLU module called
/// more often than the layer (ResNet's blocks share one) would be counted once per call, with
/// other layers' shapes, so there the pre-hook keeps counting.
final class BatchNormProbe {
    let path: String
    let bn: BatchNormBase
    private(set) var reluPath: String?
    var trace: BatchNormTrace
    /// Set by the monitor for the next training forward pass; hooks the layer's input (when a ReLU
    /// does the counting) and observes the ReLU's output while set.
    var armed = false {
        didSet {
            guard armed != oldValue else { return }
            if armed { attachSampling() } else { detachSampling() }
        }
    }
    /// The sample of the current step, completed by the hooks as the forward pass goes.
    var pending: BatchNormSample?
    /// A bounded sample of the input's values (for a TensorBoard histogram).
    private(set) var pooledValues: [Double] = []
    /// Forward calls in training mode while gradients were off (validation without eval()).
    var trainingModeWithoutGrad = 0
    /// The fewest values per channel a training batch gave it.
    private(set) var smallestBatch = Int.max
    /// Running statistics at the start of the epoch.
    var epochStart: (mean: [Double], variance: [Double])?
    private var batchMeans: [Double] = []
    /// The hook that counts every call: a forward pre-hook on the layer, or, once a ReLU is
    /// attached, an output observer on the ReLU.
    private var countingHandles: [RemovableHandle] = []
    /// The hooks of a sampled step.
    private var samplingHandles: [RemovableHandle] = []
    private var relu: Module?
    let maxValues: Int

    init(path: String, bn: BatchNormBase, maxValues: Int) {
        self.path = path
        self.bn = bn
        self.maxValues = maxValues
        trace = BatchNormTrace(path: path, kind: bn.typeName, features: bn.numFeatures)
        epochStart = runningStatistics
        countingHandles.append(bn.registerForwardPreHook { [unowned self] module, input in
            self.count(input.shape)
            self.sample(input)
        })
    }

    /// Watches `relu`, the ReLU the layer's output goes through. When `countsCalls` (the ReLU runs
    /// as often as this layer, after it alone), its output (of the layer's input shape) does the
    /// counting from now on.
    func attachReLU(_ relu: Module, path: String, countsCalls: Bool) {
        detachSampling()
        reluPath = path
        trace.reluPath = path
        self.relu = relu
        if countsCalls {
            for h in countingHandles { h.remove() }
            countingHandles = [relu.registerOutputObserver { [unowned self] _, output in self.count(output.shape) }]
            countsThroughReLU = true
        }
        if armed { attachSampling() }
    }

    /// Whether the ReLU's output observer counts the calls (the pre-hook then samples alone).
    private var countsThroughReLU = false

    private func attachSampling() {
        guard let relu else { return }
        if countsThroughReLU {
            samplingHandles.append(bn.registerForwardPreHook { [unowned self] _, input in self.sample(input) })
        }
        samplingHandles.append(relu.registerOutputObserver { [unowned self] _, output in self.afterReLU(output) })
    }

    private func detachSampling() {
        for h in samplingHandles { h.remove() }
        samplingHandles = []
    }

    func detach() {
        for h in countingHandles { h.remove() }
        countingHandles = []
        detachSampling()
    }

    /// Counts one call of the layer on an input of `shape`.
    private func count(_ shape: [Int]) {
        guard bn.isTraining else { return }
        guard GradMode.isEnabled else {
            trainingModeWithoutGrad += 1
            return
        }
        if shape.count >= 2, shape[1] > 0 { smallestBatch = min(smallestBatch, shape.reduce(1, *) / shape[1]) }
    }

    /// Summarizes the input of a sampled training step.
    private func sample(_ input: Tensor) {
        guard armed, bn.isTraining, GradMode.isEnabled, input.rank >= 2, input.dtype.isFloatingPoint, input.count > 0,
              input.shape[1] == bn.numFeatures else { return }
        pending = summarize(input)
    }

    /// The sample of the step that just ended, completed with the running statistics after the
    /// step's update (nil when the step sampled nothing).
    func takeSample() -> BatchNormSample? {
        defer { pending = nil }
        guard var s = pending else { return nil }
        if s.runningMean == nil, let stats = runningStatistics {
            s.runningMean = Percentiles(of: stats.mean)
            s.runningVar = Percentiles(of: stats.variance)
        }
        return s
    }

    private func afterReLU(_ output: Tensor) {
        guard armed, GradMode.isEnabled, output.rank >= 2, var s = pending, s.deadReLU == nil else { return }
        s.deadReLU = BatchNormProbe.deadFraction(output)
        pending = s
    }

    /// Percentiles and moments of the layer's input. Moments use every value (in Double);
    /// percentiles a bounded, evenly spaced subset, so a large activation map costs no more than
    /// `maxValues` sorted values.
    private func summarize(_ x: Tensor) -> BatchNormSample {
        let n = x.shape[0], c = x.shape[1], inner = x.count / max(n * c, 1)
        let perChannel = n * inner
        var sums = [Double](repeating: 0, count: c), squares = [Double](repeating: 0, count: c)
        var unit: [Double] = [], pooled: [Double] = []
        let stride = max(1, x.count / maxValues), unitStride = max(1, perChannel / maxValues)
        func visit(_ value: (Int) -> Double) {
            for i in 0..<n {
                for ch in 0..<c {
                    let base = (i * c + ch) * inner
                    var s = 0.0, q = 0.0
                    for j in 0..<inner {
                        let v = value(base + j)
                        s += v
                        q += v * v
                    }
                    sums[ch] += s
                    squares[ch] += q
                }
            }
            var k = 0
            while k < x.count { pooled.append(value(k)); k += stride }
            var u = 0
            while u < perChannel { unit.append(value((u / inner) * c * inner + u % inner)); u += unitStride }
        }
        if x.dtype == .float32 {
            let p = x.pointer(as: Float.self)
            withExtendedLifetime(x) { visit { Double(p[$0]) } }
        } else {
            visit { x.doubleValue(at: $0) }
        }
        let count = Double(perChannel)
        batchMeans = sums.map { $0 / count }
        let variances = zip(sums, squares).map { max(0, $1 / count - ($0 / count) * ($0 / count)) }
        // How far the running statistics (before this batch's update) are from this batch.
        var drift: Double?
        if let stats = runningStatistics, stats.mean.count == c {
            var d = 0.0
            for ch in 0..<c { d += abs(batchMeans[ch] - stats.mean[ch]) / (stats.variance[ch] + bn.eps).squareRoot() }
            drift = d / Double(c)
        }
        pooledValues = pooled
        let none = Percentiles(p15: .nan, p50: .nan, p85: .nan)
        return BatchNormSample(step: 0, epoch: 0, unit: Percentiles(of: unit) ?? none, input: Percentiles(of: pooled) ?? none,
                               batchMean: batchMeans.reduce(0, +) / Double(max(c, 1)), batchVar: variances.reduce(0, +) / Double(max(c, 1)),
                               drift: drift)
    }

    /// Fraction of channels (features) that are zero for every example and position of a batch.
    static func deadFraction(_ y: Tensor) -> Double {
        let n = y.shape[0], c = y.shape[1], inner = y.count / max(n * c, 1)
        guard c > 0 else { return 0 }
        var alive = [Bool](repeating: false, count: c)
        func scan(_ value: (Int) -> Double) {
            for i in 0..<n {
                for ch in 0..<c where !alive[ch] {
                    let base = (i * c + ch) * inner
                    for j in 0..<inner where value(base + j) != 0 {
                        alive[ch] = true
                        break
                    }
                }
            }
        }
        if y.dtype == .float32 {
            let p = y.pointer(as: Float.self)
            withExtendedLifetime(y) { scan { Double(p[$0]) } }
        } else {
            scan { y.doubleValue(at: $0) }
        }
        return Double(alive.filter { !$0 }.count) / Double(c)
    }

    /// The running statistics as Doubles (nil without them).
    var runningStatistics: (mean: [Double], variance: [Double])? {
        guard let rm = bn.runningMean, let rv = bn.runningVar else { return nil }
        return ((0..<rm.count).map { rm.doubleValue(at: $0) }, (0..<rv.count).map { rv.doubleValue(at: $0) })
    }

    /// Closes the epoch: how far the running statistics moved since its start.
    func closeEpoch(_ epoch: Int) -> RunningStatisticsDrift? {
        guard let start = epochStart, let now = runningStatistics, start.mean.count == now.mean.count else {
            epochStart = runningStatistics
            return nil
        }
        var shift = 0.0, logChange = 0.0
        for ch in 0..<now.mean.count {
            shift += abs(now.mean[ch] - start.mean[ch]) / (start.variance[ch] + bn.eps).squareRoot()
            logChange += abs(log((now.variance[ch] + bn.eps) / (start.variance[ch] + bn.eps)))
        }
        epochStart = now
        let c = Double(max(now.mean.count, 1))
        let drift = RunningStatisticsDrift(epoch: epoch, meanShift: shift / c, logVarianceChange: logChange / c)
        trace.epochDrift.append(drift)
        return drift
    }
}
