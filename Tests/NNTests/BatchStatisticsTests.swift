import Foundation
import Testing
import SwiftNN

/// A stand-in for the other processes of a data-parallel job: the parts of one batch, run one
/// after another in this process. Part `me`'s reducer merges its statistics with the other
/// parts' (in part order, as an all-gather would) and adds their gradient sums, computed with
/// the whole batch's statistics.
final class PartsReducer: BatchNormReducer {
    let parts: [(x: Tensor, dy: Tensor)]
    let me: Int
    let eps: Double
    private var whole: ChannelStatistics?

    init(parts: [(x: Tensor, dy: Tensor)], me: Int, eps: Double = 1e-5) {
        self.parts = parts
        self.me = me
        self.eps = eps
    }

    func combine(_ local: ChannelStatistics) -> ChannelStatistics {
        var all = ChannelStatistics.empty(channels: local.channels)
        for (i, p) in parts.enumerated() { all = all.merged(with: i == me ? local : Kernels.batchNormStatistics(p.x)) }
        whole = all
        return all
    }

    func combine(_ local: ChannelGradientSums) -> ChannelGradientSums {
        let w = whole!
        var all = ChannelGradientSums(count: 0, sumDy: [Double](repeating: 0, count: local.channels),
                                      sumDyXhat: [Double](repeating: 0, count: local.channels))
        for (i, p) in parts.enumerated() {
            all = all.merged(with: i == me ? local
                : Kernels.batchNormBackwardReduce(p.x, gradOutput: p.dy, mean: w.mean, invstd: w.invstd(eps: eps)))
        }
        return all
    }
}

@Suite("Batch statistics: split, merged and running")
struct BatchStatisticsTests {
    static func data(_ shape: [Int], seed: UInt64, offset: Double = 0, dtype: DType = .float64) -> Tensor {
        Kernels.cast(Tensor(NormTest.values(shape.reduce(1, *), seed: seed).map { $0 * 3 + offset }, shape: shape), to: dtype)
    }

    /// A BatchNorm1d(3, momentum: 0.3) of `dtype` with a non-trivial weight and bias.
    static func layer(_ dtype: DType) -> BatchNorm1d {
        let l = BatchNorm1d(3, momentum: 0.3)
        l.weight = Parameter(Kernels.cast(Tensor([1.5, 0.5, -1] as [Double], shape: [3]), to: dtype))
        l.bias = Parameter(Kernels.cast(Tensor([0.1, 0.2, 0.3] as [Double], shape: [3]), to: dtype))
        l.runningMean = Tensor.zeros([3], dtype: dtype)
        l.runningVar = Tensor.ones([3], dtype: dtype)
        return l
    }

    static func close(_ a: [Double], _ b: [Double], _ tol: Double) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol * (1 + abs($1)) }
    }

    @Test("Chan's merge of uneven parts (sizes 0, 1, 5, 11) equals the statistics of the whole batch")
    func chanMerge() {
        let x = Self.data([17, 3, 4], seed: 1, offset: 1000)
        let whole = Kernels.batchNormStatistics(x)
        var merged = ChannelStatistics.empty(channels: 3)
        var start = 0
        for size in [0, 1, 5, 11] {
            merged = merged.merged(with: Kernels.batchNormStatistics(Kernels.slice(x, dim: 0, start: start, end: start + size)))
            start += size
        }
        #expect(merged.count == whole.count && whole.count == 17 * 4)
        #expect(Self.close(merged.mean, whole.mean, 1e-13))
        #expect(Self.close(merged.m2, whole.m2, 1e-11))
        // Against a plain two-pass computation.
        let v = x.doubleScalars
        for c in 0..<3 {
            let xs = (0..<17).flatMap { n in (0..<4).map { v[(n * 3 + c) * 4 + $0] } }
            let mean = xs.reduce(0, +) / Double(xs.count)
            let m2 = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
            #expect(abs(whole.mean[c] - mean) < 1e-10 && abs(whole.m2[c] - m2) < 1e-8 * m2)
        }
        #expect(merged.unbiasedVariance.count == 3 && ChannelStatistics.empty(channels: 2).merged(with: .empty(channels: 2)).count == 0)
    }

    @Test("packed buffers round-trip; a buffer of the wrong length is refused")
    func packing() {
        let s = ChannelStatistics(count: 9, mean: [1, 2], m2: [3, 4])
        #expect(ChannelStatistics(packed: s.packed) == s)
        #expect(ChannelStatistics(packed: [9, 1, 2, 3]) == nil)
        #expect(ChannelStatistics(packed: [-1, 0, 0]) == nil)
        #expect(ChannelStatistics(packed: [0]) == .empty(channels: 0))
        let g = ChannelGradientSums(count: 4, sumDy: [1], sumDyXhat: [-2])
        #expect(ChannelGradientSums(packed: g.packed) == g)
        #expect(g.merged(with: g) == ChannelGradientSums(count: 8, sumDy: [2], sumDyXhat: [-4]))
    }

    @Test("split forward and backward (reduce, then apply) equal the fused kernels",
          arguments: [[6, 5], [4, 3, 7], [2, 3, 4, 5], [64, 1, 4096]])
    func splitEqualsFused(shape: [Int]) {
        for dtype in [DType.float32, .float64] {
            let x = Self.data(shape, seed: 2, offset: 50, dtype: dtype), dy = Self.data(shape, seed: 3, dtype: dtype)
            let c = shape[1]
            let w = Self.data([c], seed: 4, offset: 1, dtype: dtype), b = Self.data([c], seed: 5, dtype: dtype)
            let (fused, stats) = Kernels.batchNormTrainingForward(x, weight: w, bias: b, eps: 1e-5)
            let split = Kernels.batchNormStatistics(x)
            #expect(Self.close(split.mean, stats.mean, 1e-12) && Self.close(split.m2, stats.m2, 1e-9), "\(shape) \(dtype)")
            let y = Kernels.batchNormApply(x, mean: split.mean, invstd: split.invstd(eps: 1e-5), weight: w, bias: b)
            #expect(NormTest.mismatches(y, fused, atol: 1e-6, rtol: 1e-6).isEmpty, "\(shape) \(dtype)")

            let invstd = stats.invstd(eps: 1e-5)
            let g = Kernels.batchNormBackward(x, gradOutput: dy, mean: stats.mean, invstd: invstd, weight: w, batchStatistics: true)
            let sums = Kernels.batchNormBackwardReduce(x, gradOutput: dy, mean: stats.mean, invstd: invstd)
            let dx = Kernels.batchNormBackwardApply(x, gradOutput: dy, mean: stats.mean, invstd: invstd, weight: w, sums: sums)
            #expect(sums.count == stats.count)
            #expect(Self.close(sums.sumDy, g.sums!.sumDy, 1e-9) && Self.close(sums.sumDyXhat, g.sums!.sumDyXhat, 1e-9))
            #expect(NormTest.mismatches(dx, g.input!, atol: 1e-6, rtol: 1e-5).isEmpty, "\(shape) \(dtype)")
            // Running statistics normalized: no sums, dx = w·invstd·dy.
            let evalDx = Kernels.batchNormBackwardApply(x, gradOutput: dy, mean: stats.mean, invstd: invstd, weight: w, sums: nil)
            let fusedEval = Kernels.batchNormBackward(x, gradOutput: dy, mean: stats.mean, invstd: invstd, weight: w,
                                                      batchStatistics: false, needSums: false)
            #expect(fusedEval.sums == nil)
            #expect(NormTest.mismatches(evalDx, fusedEval.input!, atol: 1e-6, rtol: 1e-6).isEmpty)
        }
    }

    @Test("parts combined by a reducer (sizes 3+4, 1+6, 0+7, 2+2+3) give the whole batch's output, input gradient, running statistics and summed parameter gradients",
          arguments: [[3, 4], [1, 6], [0, 7], [2, 2, 3]])
    func reducerEqualsWholeBatch(sizes: [Int]) {
        for dtype in [DType.float64, .float32] {
            let shape = [7, 3, 5]
            let x = Self.data(shape, seed: 6, offset: 2, dtype: dtype), dy = Self.data(shape, seed: 7, dtype: dtype)
            let tol: Double = dtype == .float64 ? 1e-10 : 2e-5

            // The whole batch through a BatchNorm1d layer.
            let full = Self.layer(dtype)
            let xf = x.clonedData(); xf.requiresGrad = true
            let yFull = full(xf)
            yFull.backward(dy)

            // Each part through its own copy of the layer, statistics combined.
            var starts: [Int] = [0]
            for s in sizes { starts.append(starts.last! + s) }
            let parts = sizes.indices.map { i in
                (x: Kernels.slice(x, dim: 0, start: starts[i], end: starts[i + 1]),
                 dy: Kernels.slice(dy, dim: 0, start: starts[i], end: starts[i + 1]))
            }
            var gw = [Double](repeating: 0, count: 3), gb = gw
            for (i, p) in parts.enumerated() {
                let layer = Self.layer(dtype)
                let xp = p.x.clonedData(); xp.requiresGrad = true
                let y = layer.forward(xp, reducer: PartsReducer(parts: parts, me: i))
                y.backward(p.dy)
                // Output and input gradient of this part are the whole batch's rows.
                let rows = { (t: Tensor) in Kernels.slice(t, dim: 0, start: starts[i], end: starts[i + 1]) }
                #expect(NormTest.mismatches(y, rows(yFull), atol: tol, rtol: tol).isEmpty, "y part \(i) \(sizes) \(dtype)")
                #expect(NormTest.mismatches(xp.grad, rows(xf.grad!), atol: tol, rtol: tol).isEmpty, "dx part \(i) \(sizes) \(dtype)")
                gw = zip(gw, layer.weight!.grad!.doubleScalars).map { $0 + $1 }
                gb = zip(gb, layer.bias!.grad!.doubleScalars).map { $0 + $1 }
                #expect(Self.close(layer.runningMean!.doubleScalars, full.runningMean!.doubleScalars, tol), "running mean \(sizes)")
                #expect(Self.close(layer.runningVar!.doubleScalars, full.runningVar!.doubleScalars, tol), "running var \(sizes)")
                #expect(layer.numBatchesTracked == 1)
            }
            #expect(Self.close(gw, full.weight!.grad!.doubleScalars, tol), "weight grad \(sizes) \(dtype)")
            #expect(Self.close(gb, full.bias!.grad!.doubleScalars, tol), "bias grad \(sizes) \(dtype)")
        }
    }

    @Test("outputs of parts combined by a reducer are the whole batch's rows")
    func reducerOutputs() {
        let x = Self.data([6, 2, 3], seed: 8, offset: -4)
        let whole = batchNorm(x, runningMean: nil, runningVar: nil, training: true)
        let parts = [(x: Kernels.slice(x, dim: 0, start: 0, end: 2), dy: Tensor.zeros([2, 2, 3], dtype: .float64)),
                     (x: Kernels.slice(x, dim: 0, start: 2, end: 6), dy: Tensor.zeros([4, 2, 3], dtype: .float64))]
        let y0 = batchNorm(parts[0].x, runningMean: nil, runningVar: nil, training: true, reducer: PartsReducer(parts: parts, me: 0))
        let y1 = batchNorm(parts[1].x, runningMean: nil, runningVar: nil, training: true, reducer: PartsReducer(parts: parts, me: 1))
        #expect(NormTest.mismatches(Kernels.concat([y0, y1], dim: 0), whole, atol: 1e-12, rtol: 1e-12).isEmpty)
    }

    @Test("the reducer path's backward is the derivative (gradcheck with a constant other part)")
    func reducerGradcheck() {
        let other = Self.data([3, 2, 4], seed: 9, offset: 1)
        final class ConstantOther: BatchNormReducer {
            let other: Tensor
            init(_ other: Tensor) { self.other = other }
            func combine(_ local: ChannelStatistics) -> ChannelStatistics { local.merged(with: Kernels.batchNormStatistics(other)) }
            // The loss depends on this part only: the other part's dy is zero, its sums too.
            func combine(_ local: ChannelGradientSums) -> ChannelGradientSums {
                local.merged(with: ChannelGradientSums(count: other.shape[0] * 4, sumDy: [0, 0], sumDyXhat: [0, 0]))
            }
        }
        let x = Tensor(NormTest.values(2 * 2 * 4, seed: 10).map { $0 * 2 }, shape: [2, 2, 4], requiresGrad: true)
        let w = Tensor([1.3, 0.7], shape: [2], requiresGrad: true), b = Tensor([0.1, -0.2], shape: [2], requiresGrad: true)
        let reducer = ConstantOther(other)
        #expect(gradcheck({ batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true,
                                      reducer: reducer) }, inputs: [x, w, b]))
        // A part of one element is fine when the parts together have more.
        let one = Tensor([0.5, -1.0], shape: [1, 2], requiresGrad: true)
        let y = batchNorm(one, runningMean: nil, runningVar: nil, training: true, reducer: ConstantOther(Self.data([3, 2], seed: 11)))
        #expect(y.shape == [1, 2] && y.doubleScalars.allSatisfy(\.isFinite))
    }

    @Test("running statistics: empty batches (BatchNorm counts and keeps values, InstanceNorm gives NaN like PyTorch)")
    func runningRules() {
        let bn = BatchNorm1d(3, momentum: nil)
        _ = bn(Tensor.zeros([0, 3]))
        #expect(bn.numBatchesTracked == 1 && bn.runningMean!.scalars == [0, 0, 0] && bn.runningVar!.scalars == [1, 1, 1])
        _ = bn(Tensor.full([4, 3], 2))
        // Cumulative average over two counted batches: the empty one weighs nothing but counts.
        #expect(bn.numBatchesTracked == 2 && bn.runningMean!.scalars == [1, 1, 1])

        // torch.nn.InstanceNorm1d(3, track_running_stats=True)(torch.zeros(0, 3, 5)):
        // running_mean and running_var become NaN, num_batches_tracked stays 0.
        let inorm = InstanceNorm1d(3, trackRunningStats: true)
        _ = inorm(Tensor.zeros([0, 3, 5]))
        #expect(inorm.runningMean!.scalars.allSatisfy(\.isNaN) && inorm.runningVar!.scalars.allSatisfy(\.isNaN))
        #expect(inorm.numBatchesTracked == 0)

        // The owner's factor: momentum, else 1/count when counted, else 0 (frozen).
        let mean = Tensor.zeros([1]), variance = Tensor.ones([1])
        RunningStatistics(mean: mean, variance: variance, batchesTracked: nil, momentum: nil)
            .update(with: ChannelStatistics(count: 2, mean: [4], m2: [8]))
        #expect(mean.scalars == [0] && variance.scalars == [1])
        RunningStatistics(mean: mean, variance: variance, batchesTracked: nil, momentum: 0.5)
            .update(with: ChannelStatistics(count: 2, mean: [4], m2: [8]))
        #expect(mean.scalars == [2] && variance.scalars == [4.5])
    }
}
