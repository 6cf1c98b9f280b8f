import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench dropout`: the dropout family on 6.4M floats against a copy of the same tensor
/// (allocate the output, copy into it with the same threads), measured interleaved in the same
/// run at each thread count. `floor` is the bytes moved (input read + output written) at the
/// 256 MiB copy bandwidth of this run; `vs copy` is the target figure (≤ 1.3×).
struct BenchDropout: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dropout",
        abstract: "Dropout family train forward/backward on 6.4M floats vs a copy of the same tensor.")

    @OptionGroup var options: BenchOptions

    /// Median seconds of each case; the cases run interleaved (one rep of each in turn) so that
    /// load drifts on a shared machine hit them alike.
    static func medians(_ reps: Int, _ cases: [() -> Void]) -> [Double] {
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
        return times.map { $0.sorted()[$0.count / 2] }
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

    func run() throws {
        print(buildNote())
        let n = 6_400_000
        let x = Tensor.randn([n], generator: Generator(seed: 0))
        let x4 = x.viewData([32, 200, 25, 40])
        let g = Tensor.randn([n], generator: Generator(seed: 1))
        let gen = Generator(seed: 2)
        let bytes = 2 * 4 * n
        var table = BenchTable(["case", "threads", "median", "floor", "ratio", "vs copy"])
        let reps = max(options.repeats, 15)
        for t in options.threadCounts {
            let floor = Bandwidth.floor(bytes: bytes, threads: t)
            let drop = Dropout(p: 0.5, generator: gen)
            let drop2d = Dropout2d(p: 0.5, generator: gen)
            let alpha = AlphaDropout(p: 0.5, generator: gen)
            let d = DropoutDecisions(stream: gen.nextStream(), p: 0.5)
            let xg = x.clonedData()
            xg.requiresGrad = true
            let cases: [(String, () -> Void)] = [
                ("copy (same tensor)", { _ = Self.copy(x) }),
                ("Dropout(0.5) train forward", { _ = drop(x) }),
                ("Dropout(0.5) backward (mask regenerated)", { _ = DropoutKernels.backward(g, decisions: d, kind: .inverted) }),
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
            let times = withThreads(t) { Self.medians(reps, cases.map { $0.1 }) }
            for (k, c) in cases.enumerated() {
                table.add([c.0, "\(t)", formatTime(times[k]), formatTime(floor),
                           String(format: "%.2f×", times[k] / floor), String(format: "%.2f×", times[k] / times[0])])
            }
        }
        table.print()
        print("floor = 51.2 MB (read + write) at the 256 MiB copy bandwidth; the autograd row moves 3–4× that (forward, backward, and the engine's copy into .grad).")
    }
}
