import Foundation
import SwiftNN

/// `swiftnn bench dropout`: the dropout family against a copy of the same tensor, measured in the
/// same run at 1 and 2 threads. The floor is the time to move the bytes (read the input, write the
/// output) at the bandwidth the copy reaches, so `ratio` is time ÷ copy time.
enum BenchDropout {
    /// Median wall time of each case in milliseconds; the cases run interleaved, one rep of each
    /// in turn, so that the machine's load drifts affect them alike.
    static func medians(_ reps: Int, _ cases: [() -> Void]) -> [Double] {
        for c in cases { c() }    // warm: output blocks come from the storage cache afterwards
        var times = Array(repeating: [Double](), count: cases.count)
        for _ in 0..<reps {
            for (k, c) in cases.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                c()
                times[k].append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
            }
        }
        return times.map { $0.sorted()[$0.count / 2] }
    }

    static func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, w - s.count))
        return left ? s + fill : fill + s
    }

    /// Allocates an output like every op does and copies into it with the same threads.
    static func copy(_ x: Tensor) -> Tensor {
        let out = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let s = x.pointer(as: Float.self), d = out.pointer(as: Float.self)
        Parallel.forRange(0..<x.count, grain: 1 << 17) { r in
            (d + r.lowerBound).update(from: s + r.lowerBound, count: r.count)
        }
        return out
    }

    static func run(reps: Int = 31) -> String {
        let n = 6_400_000
        Tensor.manualSeed(0)
        let x = Tensor.randn([n])
        let x4 = x.viewData([32, 200, 25, 40])
        let g = Tensor.randn([n])
        let savedThreads = Parallel.threadCount
        defer { Parallel.threadCount = savedThreads }
        let gen = Generator(seed: 1)
        let bytes = Double(2 * 4 * n)
        var lines: [String] = []
        lines.append("dropout on 6.4M float32 (25.6 MB in, 25.6 MB out); floor = bytes / copy bandwidth of this run")
        lines.append(pad("op", 38, left: true) + pad("threads", 8) + pad("median ms", 10) + pad("floor ms", 10) + pad("ratio", 7))
        for threads in [1, 2] where threads <= Parallel.maxThreadCount {
            Parallel.threadCount = threads
            let d = DropoutDecisions(stream: gen.nextStream(), p: 0.5)
            let xg = x.clonedData()
            xg.requiresGrad = true
            let cases: [(String, () -> Void)] = [
                ("copy", { _ = copy(x) }),
                ("Dropout(0.5) train forward", { _ = dropout(x, p: 0.5, generator: gen) }),
                ("Dropout(0.5) backward (mask regenerated)", { _ = DropoutKernels.backward(g, decisions: d, kind: .inverted) }),
                ("Dropout(0.1) train forward", { _ = dropout(x, p: 0.1, generator: gen) }),
                ("dropout p=0.001 (exact 31-bit path)", { _ = dropout(x, p: 0.001, generator: gen) }),
                ("Dropout2d(0.5) forward (32,200,25,40)", { _ = dropout2d(x4, p: 0.5, generator: gen) }),
                ("AlphaDropout(0.5) train forward", { _ = alphaDropout(x, p: 0.5, training: true, generator: gen) }),
                ("Dropout(0.5) fwd + autograd bwd", {
                    let y = dropout(xg, p: 0.5, generator: gen)
                    y.backward(g)
                    xg.grad = nil
                }),
            ]
            let t = medians(reps, cases.map { $0.1 })
            let tCopy = t[0]
            for (k, c) in cases.enumerated() {
                var name = c.0
                if k == 0 { name += String(format: " (%.1f GB/s)", bytes / (tCopy * 1e-3) / 1e9) }
                lines.append(pad(name, 38, left: true) + pad("\(threads)", 8) + pad(String(format: "%.3f", t[k]), 10)
                             + pad(String(format: "%.3f", tCopy), 10) + pad(String(format: "%.2f", t[k] / tCopy), 7))
            }
        }
        return lines.joined(separator: "\n")
    }
}
