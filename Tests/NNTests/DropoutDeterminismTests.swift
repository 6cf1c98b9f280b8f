import Foundation
import Testing
import SwiftNN
@testable import TensorCore

// Masks are a pure function of (seed, call counter, element index): the same on any thread count
// and chunking, different across seeds and calls, reproducible from a saved generator state.

@Suite struct DropoutDeterminismTests {
    @Test func sameMasksAtOneAndTwoThreads() {
        // Large enough for two chunks (grain 2¹⁷), with a ragged tail.
        let x = dropoutTestInput([300_007])
        var outputs: [[Float]] = []
        for threads in [1, 2] {
            // Task-local thread count: concurrently running tests keep theirs.
            Parallel.withThreadCount(threads) {
                outputs.append(dropout(x, p: 0.5, generator: Generator(seed: 9)).scalars)
                outputs.append(dropout(x, p: 0.001, generator: Generator(seed: 9)).scalars)   // exact path
            }
        }
        #expect(outputs[0] == outputs[2])
        #expect(outputs[1] == outputs[3])
    }

    /// Any split of the range into chunks (aligned or not) gives the same output: the kernel's
    /// decisions do not depend on where a thread starts. Independent of the global thread count,
    /// which other tests may change concurrently.
    @Test func anyChunkingGivesTheSameOutput() {
        let n = 5_003
        let x = dropoutTestInput([n])
        for p in [0.5, 0.1, 0.001, 0.9995] {
            for kind in [DropoutKind.inverted, .alpha] {
                let d = DropoutDecisions(stream: Generator(seed: 4).nextStream(), p: p)
                let whole = Tensor(uninitializedShape: [n])
                DropoutKernels.forward(x, into: whole, decisions: d, kind: kind)
                let pieces = Tensor(uninitializedShape: [n])
                let t = kind.floatTransform(p: p)
                var lo = 0
                for hi in [1, 17, 32, 33, 100, 1_024, 2_500, 4_999, n] {
                    DropoutKernels.elementwiseChunk(x.pointer(as: Float.self), pieces.pointer(as: Float.self), lo, hi, d, t, affine: t.affine)
                    lo = hi
                }
                #expect(whole.scalars == pieces.scalars, "p = \(p), \(kind)")
                // And every element agrees with the scalar decision function.
                let ws = whole.scalars, xs = x.scalars
                #expect((0..<n).allSatisfy { (ws[$0] == xs[$0] * 0 + t.dropAdd && !d.keeps($0)) || (ws[$0] != t.dropAdd && d.keeps($0)) })
            }
        }
    }

    /// The same for the channel-wise kernel, whose 16-blocks are aligned to the tensor rather
    /// than to rows: rows shorter than, equal to and longer than a block, split anywhere.
    @Test func channelKernelAnyChunkingAndRowLength() {
        let n = 3_000
        let x = dropoutTestInput([n])
        for rowLength in [1, 7, 16, 37, 1_000] {
            for kind in [DropoutKind.inverted, .alpha] {
                let d = DropoutDecisions(stream: Generator(seed: 6).nextStream(), p: 0.5)
                let t = kind.floatTransform(p: 0.5)
                let pieces = Tensor(uninitializedShape: [n])
                var lo = 0
                for hi in [3, 16, 45, 64, 999, 1_001, 2_048, n] {
                    DropoutKernels.rowwiseChunk(x.pointer(as: Float.self), pieces.pointer(as: Float.self), lo, hi, rowLength, d, t, affine: t.affine)
                    lo = hi
                }
                let whole = Tensor(uninitializedShape: [n])
                DropoutKernels.channelForward(x, into: whole, rowLength: rowLength, decisions: d, kind: kind)
                let ps = pieces.scalars, ws = whole.scalars, xs = x.scalars
                #expect(ps == ws, "rowLength \(rowLength), \(kind)")
                let want = (0..<n).map { i -> Float in
                    d.keeps(i / rowLength) ? (t.affine ? xs[i] * t.keepMul + t.keepAdd : xs[i] * t.keepMul)
                                           : (t.affine ? xs[i] * 0 + t.dropAdd : xs[i] * 0)
                }
                #expect(ws == want, "rowLength \(rowLength), \(kind)")
            }
        }
    }

    @Test func float32AndFloat64UseTheSameMask() {
        let x32 = dropoutTestInput([4_000]), x64 = dropoutTestInput([4_000], dtype: .float64)
        let y32 = dropout(x32, p: 0.3, generator: Generator(seed: 2)).scalars
        let y64 = dropout(x64, p: 0.3, generator: Generator(seed: 2))
        #expect((0..<4_000).allSatisfy { (y32[$0] == 0) == (y64.doubleValue(at: $0) == 0) })
        #expect(y64.doubleValue(at: 0) == 0 || y64.doubleValue(at: 0) == x64.doubleValue(at: 0) * (1 / 0.7))
    }

    @Test func differentSeedsAndSuccessiveCallsDiffer() {
        let x = dropoutTestInput([10_000])
        let g = Generator(seed: 1)
        let a = dropout(x, p: 0.5, generator: g).scalars
        let b = dropout(x, p: 0.5, generator: g).scalars
        let c = dropout(x, p: 0.5, generator: Generator(seed: 2)).scalars
        #expect(a != b)
        #expect(a != c)
        // Not just different: unrelated (agreement ≈ 1/2 within 5σ).
        let agree = (0..<10_000).count { (a[$0] == 0) == (b[$0] == 0) }
        #expect(fitsBinomial(agree, of: 10_000, p: 0.5))
        let d1 = dropout2d(dropoutTestInput([4, 64, 3, 3]), p: 0.5, generator: g).scalars
        let d2 = dropout2d(dropoutTestInput([4, 64, 3, 3]), p: 0.5, generator: g).scalars
        #expect(d1 != d2)
    }

    @Test func savedGeneratorStateReproducesARun() {
        let x = dropoutTestInput([2, 8, 16])
        let g = Generator(seed: 77)
        _ = dropout(x, p: 0.5, generator: g)
        let saved = g.state
        let first = [dropout(x, p: 0.5, generator: g).scalars, dropout1d(x, p: 0.3, generator: g).scalars,
                     alphaDropout(x, p: 0.2, training: true, generator: g).scalars]
        g.state = saved
        let again = [dropout(x, p: 0.5, generator: g).scalars, dropout1d(x, p: 0.3, generator: g).scalars,
                     alphaDropout(x, p: 0.2, training: true, generator: g).scalars]
        #expect(first == again)
        // The module's own generator, too.
        let m = Dropout(p: 0.5, generator: Generator(seed: 5))
        let s = m.generator!.state
        let y1 = m(x).scalars
        m.generator!.state = s
        #expect(m(x).scalars == y1)
    }

    /// `Tensor.manualSeed` reproduces the default generator's masks. Run in its own process:
    /// other tests draw from the default generator concurrently.
    @Test func manualSeedReproducesDefaultGeneratorMasks() async {
        await #expect(processExitsWith: .success) {
            let x = Tensor.ones([1_000])
            Tensor.manualSeed(123)
            let a = Dropout(p: 0.5)(x).scalars
            let b = dropout(x, p: 0.5).scalars
            Tensor.manualSeed(123)
            let a2 = Dropout(p: 0.5)(x).scalars
            let b2 = dropout(x, p: 0.5).scalars
            if a != a2 || b != b2 || a == b { exit(1) }
        }
    }

    @Test func noDrawsWhenNothingIsDropped() {
        // Eval mode, p = 0 and p = 1 take no stream: the next call sees the same generator state.
        let g = Generator(seed: 8)
        let before = g.state
        let x = dropoutTestInput([64])
        _ = dropout(x, p: 0.5, training: false, generator: g)
        _ = dropout(x, p: 0, generator: g)
        _ = dropout(x, p: 1, generator: g)
        #expect(g.state == before)
    }
}
