import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench dropout`: the dropout family on 6.4M floats against a copy of the same tensor
/// (allocate the output, copy into it with the same threads), measured interleaved in the same
/// run at each thread count. `floor` is the bytes moved (input read + output written) at the
/// 256 MiB copy bandwidth of this run; `vs copy` (time ÷ the faster of the two copies) is the
/// target figure (≤ 1.3×). The fastest run is shown too: on a loaded machine medians include
/// preemptions, the fastest runs compare the kernels themselves.
struct BenchDropout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dropout",
        abstract: "Dropout family train forward/backward on 6.4M floats vs a copy of the same tensor.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Only the cases whose name contains this text (the copies always run).")
    var only: String?

    /// Median and fastest seconds of each case; the cases run interleaved (one rep of each in
    /// turn) so that load drifts on a shared machine hit them alike.
    static func measure(_ reps: Int, _ cases: [() -> Void]) -> [(median: Double, fastest: Double)] {
        for c in cases { c(); c() }    // warm: output blocks then come from the storage cache
        var times = Array(repeating: [Double](), count: cases.count)
        for _ in 0..<reps {
            for (k, c) in cases.enumerated() {
                let t0 = ContinuousClock.now
                c()
                let d = ContinuousClock.now - t0
                times[k].append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
            }
        }
        return times.map { t in let s = t.sorted(); return (s[s.count / 2], s[0]) }
    }

    /// What every op does to produce a new tensor: allocate it and fill it, here by copying.
    static func copy(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let s = x.pointer(as: Float.self), d = out.pointer(as: Float.self)
        Parallel.forRange(0..<x.count, grain: 1 << 17) { r in
            (d + r.lowerBound).update(from: s + r.lowerBound, count: r.count)
        }
        return out
    }

    /// The same copy as a SIMD16 loop in Swift (the dropout kernels' own load/store pattern).
    static func simdCopy(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let s = UnsafeRawPointer(x.pointer(as: Float.self)), d = UnsafeMutableRawPointer(out.pointer(as: Float.self))
        Parallel.forRange(0..<x.count, grain: 1 << 17, alignment: 16) { r in
            var i = r.lowerBound
            while i + 16 <= r.upperBound {
                d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self), toByteOffset: i &* 4, as: SIMD16<Float>.self)
                i &+= 16
            }
            while i < r.upperBound { d.storeBytes(of: s.load(fromByteOffset: i &* 4, as: Float.self), toByteOffset: i &* 4, as: Float.self); i += 1 }
        }
        return out
    }

    /// The alternative to regenerating the mask in backward: one bit per element stored by
    /// forward (n/8 bytes), read back here. Measured to justify the choice (see the table).
    static func packBits(_ d: DropoutDecisions, count n: Int) -> [UInt32] {
        var words = [UInt32](repeating: 0, count: (n + 31) / 32)
        let m = Kernels.dropout(Tensor.ones([n]), decisions: d).scalars
        for i in 0..<n where m[i] != 0 { words[i >> 5] |= 1 << UInt32(i & 31) }
        return words
    }

    static func backwardFromBits(_ g: Tensor, _ words: UnsafePointer<UInt32>, scale: Float) -> Tensor {
        let out = Tensor(uninitializedShape: g.shape, dtype: g.dtype)
        let s = UnsafeRawPointer(g.pointer(as: Float.self)), o = UnsafeMutableRawPointer(out.pointer(as: Float.self))
        let n = g.count
        let scaleBits = SIMD16<UInt32>(repeating: scale.bitPattern)
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        Parallel.forRange(0..<n, grain: 1 << 17, alignment: 32) { r in
            var i = r.lowerBound
            while i + 32 <= r.upperBound {
                let w = words[i >> 5]
                let lo = SIMD16<UInt32>(repeating: w) &>> lanes, hi = SIMD16<UInt32>(repeating: w >> 16) &>> lanes
                let m0 = unsafeBitCast(scaleBits & (SIMD16<UInt32>() &- (lo & 1)), to: SIMD16<Float>.self)
                let m1 = unsafeBitCast(scaleBits & (SIMD16<UInt32>() &- (hi & 1)), to: SIMD16<Float>.self)
                o.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD16<Float>.self) * m0, toByteOffset: i &* 4, as: SIMD16<Float>.self)
                o.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self) * m1, toByteOffset: i &* 4 &+ 64, as: SIMD16<Float>.self)
                i &+= 32
            }
            while i < r.upperBound {
                let keep = (words[i >> 5] >> UInt32(i & 31)) & 1 == 1
                o.storeBytes(of: s.load(fromByteOffset: i &* 4, as: Float.self) * (keep ? scale : 0), toByteOffset: i &* 4, as: Float.self)
                i += 1
            }
        }
        return out
    }

    func run() throws {
        print(buildNote())
        let n = 6_400_000
        let x = Tensor.randn([n], generator: Generator(seed: 0))
        let x4 = x.viewData([32, 200, 25, 40])
        let g = Tensor.randn([n], generator: Generator(seed: 1))
        let gen = Generator(seed: 2)
        let bytes = 2 * 4 * n
        var table = BenchTable(["case", "threads", "median", "floor", "ratio", "vs copy", "fastest", "vs copy"])
        let reps = max(options.repeats, 15)
        for t in options.threadCounts {
            let floor = Bandwidth.floor(bytes: bytes, threads: t)
            let drop = Dropout(p: 0.5, generator: gen)
            let drop2d = Dropout2d(p: 0.5, generator: gen)
            let alpha = AlphaDropout(p: 0.5, generator: gen)
            let d = DropoutDecisions(stream: gen.nextStream(), p: 0.5)
            let words = Self.packBits(d, count: n)
            let fromBits = words.withUnsafeBufferPointer { Self.backwardFromBits(g, $0.baseAddress!, scale: 2) }
            precondition(fromBits.scalars == Kernels.dropoutBackward(g, decisions: d, kind: .inverted).scalars,
                         "bench dropout: the stored-bits backward disagrees with the regenerated mask")
            let xg = x.clonedData()
            xg.requiresGrad = true
            let cases: [(String, () -> Void)] = [
                ("copy (memcpy)", { _ = Self.copy(x) }),
                ("copy (SIMD16 loop)", { _ = Self.simdCopy(x) }),
                ("Dropout(0.5) train forward", { _ = drop(x) }),
                ("Dropout(0.5) backward (mask regenerated)", { _ = Kernels.dropoutBackward(g, decisions: d, kind: .inverted) }),
                ("Dropout(0.5) backward (stored bit mask)", {
                    _ = words.withUnsafeBufferPointer { Self.backwardFromBits(g, $0.baseAddress!, scale: 2) }
                }),
                ("Dropout(0.1) train forward", { _ = dropout(x, p: 0.1, generator: gen) }),
                ("dropout p=0.001 (exact 31-bit path)", { _ = dropout(x, p: 0.001, generator: gen) }),
                ("Dropout2d(0.5) forward (32,200,25,40)", { _ = drop2d(x4) }),
                ("AlphaDropout(0.5) train forward", { _ = alpha(x) }),
                ("Dropout(0.5) fwd + autograd backward", {
                    let y = drop(xg)
                    y.backward(g)
                    xg.grad = nil
                }),
            ]
            let selected = cases.enumerated().filter { k, c in k < 2 || only.map { c.0.localizedCaseInsensitiveContains($0) } ?? true }.map(\.element)
            let times = withThreads(t) { Self.measure(reps, selected.map { $0.1 }) }
            // The faster of the two copies is the reference, for the median and for the fastest run.
            let copyMedian = min(times[0].median, times[1].median), copyFastest = min(times[0].fastest, times[1].fastest)
            for (k, c) in selected.enumerated() {
                table.add([c.0, "\(t)", formatTime(times[k].median), formatTime(floor),
                           String(format: "%.2f×", times[k].median / floor), String(format: "%.2f×", times[k].median / copyMedian),
                           formatTime(times[k].fastest), String(format: "%.2f×", times[k].fastest / copyFastest)])
            }
        }
        table.print()
        print("floor = 51.2 MB (read + write) at the 256 MiB copy bandwidth; the autograd row moves 3× that: forward, backward, and the engine's copy of the gradient into .grad.")
    }
}
