import Foundation
import Testing
import SwiftNN

// Statistical checks with fixed seeds and honest bounds: every count is compared with its
// binomial (or sample) expectation within 5 standard deviations, over ≥ 10⁵ elements or 10⁴
// channels. A correct implementation fails one such check with probability below 6·10⁻⁷.

/// Positive, non-zero inputs (so "dropped" is exactly "output == 0"), with varied values.
func dropoutTestInput(_ shape: [Int], dtype: DType = .float32) -> Tensor {
    let n = shape.reduce(1, *)
    let values = (0..<n).map { i in 0.5 + Double((i &* 7919) % 1000) / 1000 }
    return dtype == .float32 ? Tensor(values.map { Float($0) }, shape: shape) : Tensor(values, shape: shape)
}

/// |observed fraction − p| within 5 binomial standard deviations.
func fitsBinomial(_ hits: Int, of n: Int, p: Double) -> Bool {
    let sigma = (p * (1 - p) / Double(n)).squareRoot()
    return abs(Double(hits) / Double(n) - p) <= 5 * sigma
}

@Suite struct DropoutStatisticsTests {
    static let n = 100_000

    @Test(arguments: [0.1, 0.5, 0.9])
    func dropFractionKeptValuesAndMean(p: Double) {
        let x = dropoutTestInput([Self.n])
        let y = dropout(x, p: p, generator: Generator(seed: 11))
        let xs = x.scalars, ys = y.scalars
        let scale = Float(1 / (1 - p))
        var dropped = 0, wrongKept = 0
        var sumX = 0.0, sumY = 0.0, varOfMean = 0.0
        for i in 0..<Self.n {
            if ys[i] == 0 { dropped += 1 } else if ys[i] != xs[i] * scale { wrongKept += 1 }
            sumX += Double(xs[i]); sumY += Double(ys[i])
            varOfMean += Double(xs[i]) * Double(xs[i]) * p / (1 - p)
        }
        #expect(fitsBinomial(dropped, of: Self.n, p: p), "dropped \(dropped) of \(Self.n) at p = \(p)")
        #expect(wrongKept == 0)
        // E[y_i] = x_i and Var[y_i] = x_i² p / (1 − p): the mean is preserved within 5σ.
        let sigmaMean = varOfMean.squareRoot() / Double(Self.n)
        #expect(abs(sumY - sumX) / Double(Self.n) <= 5 * sigmaMean)
    }

    /// The fast path draws two elements (i and i + 16 of each block of 32) from one hash: their
    /// decisions must be independent, and so must neighbours.
    @Test(arguments: [0.1, 0.5, 0.9])
    func pairedDecisionsAreIndependent(p: Double) {
        let n = 2 * Self.n
        let m = Kernels.dropoutMask(count: n, decisions: DropoutDecisions(stream: Generator(seed: 3).nextStream(), p: p)).scalars
        var bothHalves = 0, halfPairs = 0
        var block = 0
        while block + 32 <= n {
            for l in 0..<16 {
                halfPairs += 1
                if m[block + l] == 0 && m[block + l + 16] == 0 { bothHalves += 1 }
            }
            block += 32
        }
        var bothNeighbours = 0
        for i in stride(from: 0, to: n - 1, by: 2) where m[i] == 0 && m[i + 1] == 0 { bothNeighbours += 1 }
        #expect(fitsBinomial(bothHalves, of: halfPairs, p: p * p))
        #expect(fitsBinomial(bothNeighbours, of: n / 2, p: p * p))
    }

    /// A `p` whose 2⁻¹⁶ rounding would be off by more than 0.1 % takes the exact 31-bit path.
    @Test func exactPathDropFraction() {
        for p in [0.001, 0.0003, 0.9995] {
            let d = DropoutDecisions(stream: Generator(seed: 5).nextStream(), p: p)
            #expect(!d.usesFastPath)
            #expect(abs(d.effectiveDropProbability - p) < 1e-9)
            let m = Kernels.dropoutMask(count: Self.n, decisions: d).scalars
            #expect(fitsBinomial(m.count { $0 == 0 }, of: Self.n, p: p), "p = \(p)")
        }
        for p in [0.1, 0.123457, 0.5, 0.9, 0.99] {
            let fast = DropoutDecisions(stream: Generator(seed: 5).nextStream(), p: p)
            #expect(fast.usesFastPath)
            #expect(abs(fast.effectiveDropProbability - p) <= 1.0 / 131_072)
        }
    }

    @Test(arguments: [0.1, 0.5, 0.9])
    func channelVariantsDropWholeChannels(p: Double) {
        // (shape, channel length) per variant: 10⁴ channels each.
        let cases: [(String, [Int], Int, (Tensor) -> Tensor)] = [
            ("dropout1d", [50, 200, 10], 10, { dropout1d($0, p: p, generator: Generator(seed: 21)) }),
            ("dropout1d unbatched", [10_000, 10], 10, { dropout1d($0, p: p, generator: Generator(seed: 22)) }),
            ("dropout2d", [100, 100, 2, 5], 10, { dropout2d($0, p: p, generator: Generator(seed: 23)) }),
            ("dropout3d", [100, 100, 2, 1, 5], 10, { dropout3d($0, p: p, generator: Generator(seed: 24)) }),
            ("dropout3d unbatched", [10_000, 2, 1, 5], 10, { dropout3d($0, p: p, generator: Generator(seed: 25)) }),
        ]
        let scale = Float(1 / (1 - p))
        for (name, shape, length, f) in cases {
            let x = dropoutTestInput(shape)
            let y = f(x)
            #expect(y.shape == shape)
            let xs = x.scalars, ys = y.scalars
            let channels = xs.count / length
            var dropped = 0, mixed = 0, wrongKept = 0
            var droppedChannel = [Bool](repeating: false, count: channels)
            for c in 0..<channels {
                let base = c * length
                let zeros = (0..<length).count { ys[base + $0] == 0 }
                if zeros == length { dropped += 1; droppedChannel[c] = true } else if zeros != 0 { mixed += 1 }
                if zeros == 0 { wrongKept += (0..<length).count { ys[base + $0] != xs[base + $0] * scale } }
            }
            #expect(mixed == 0, "\(name): channels partly dropped")
            #expect(wrongKept == 0, "\(name)")
            #expect(fitsBinomial(dropped, of: channels, p: p), "\(name): dropped \(dropped) of \(channels) channels at p = \(p)")
            // Each channel has its own decision: neighbours are both dropped with probability p²
            // (a kernel that took two channels for one row would drop them together, p).
            let bothDropped = stride(from: 0, to: channels - 1, by: 2).count { droppedChannel[$0] && droppedChannel[$0 + 1] }
            #expect(fitsBinomial(bothDropped, of: channels / 2, p: p * p),
                    "\(name): \(bothDropped) of \(channels / 2) neighbouring channel pairs both dropped at p = \(p)")
        }
    }

    @Test(arguments: [0.1, 0.5, 0.9])
    func alphaDropoutKeepsMeanAndVariance(p: Double) {
        let x = Tensor.randn([Self.n], generator: Generator(seed: 31))
        let y = alphaDropout(x, p: p, training: true, generator: Generator(seed: 32))
        let ys = y.scalars.map(Double.init)
        let n = Double(Self.n)
        let mean = ys.reduce(0, +) / n
        let m2 = ys.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / n
        let m4 = ys.reduce(0) { $0 + pow($1 - mean, 4) } / n
        // Standard errors from the sample's own moments: mean σ/√n, variance √((m4 − m2²)/n).
        #expect(abs(mean) <= 5 * (m2 / n).squareRoot(), "mean \(mean)")
        #expect(abs(m2 - 1) <= 5 * ((m4 - m2 * m2) / n).squareRoot(), "variance \(m2)")
        // The transform itself, in PyTorch's float order of operations.
        let alpha = 1.7580993408473766
        let a = 1 / ((alpha * alpha * p + 1) * (1 - p)).squareRoot()
        let keepAdd = Float(alpha * a * p)
        let dropAdd = Float(-1) * Float(alpha * a) + keepAdd
        let xs = x.scalars
        var dropped = 0, wrong = 0
        for i in 0..<Self.n {
            let kept = xs[i] * Float(a) + keepAdd
            if ys[i] == Double(dropAdd) && kept != dropAdd { dropped += 1 } else if Float(ys[i]) != kept { wrong += 1 }
        }
        #expect(wrong == 0)
        #expect(fitsBinomial(dropped, of: Self.n, p: p))
        #expect(abs(Double(dropAdd) - alpha * a * (p - 1)) < 1e-6)
    }

    @Test func alphaDropoutDroppedValueAtHalf() {
        let y = alphaDropout(Tensor.ones([1000]), p: 0.5, training: true, generator: Generator(seed: 1)).scalars
        let low = y.filter { $0 < 0 }
        #expect(!low.isEmpty)
        #expect(low.allSatisfy { abs($0 - -0.779194) < 1e-6 })
    }

    @Test func featureAlphaDropoutDropsWholeChannels() {
        let p = 0.5
        let x = Tensor.randn([100, 100, 10], generator: Generator(seed: 41))
        let y = featureAlphaDropout(x, p: p, training: true, generator: Generator(seed: 42)).scalars
        let alpha = 1.7580993408473766
        let a = 1 / ((alpha * alpha * p + 1) * (1 - p)).squareRoot()
        let dropAdd = Float(-1) * Float(alpha * a) + Float(alpha * a * p)
        var dropped = 0, mixed = 0
        for c in 0..<10_000 {
            let d = (0..<10).count { y[c * 10 + $0] == dropAdd }
            if d == 10 { dropped += 1 } else if d != 0 { mixed += 1 }
        }
        #expect(mixed == 0)
        #expect(fitsBinomial(dropped, of: 10_000, p: p))
    }
}
