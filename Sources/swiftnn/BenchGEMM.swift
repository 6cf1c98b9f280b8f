import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench gemm`: float32 GEMM throughput at square sizes, 1 and 2 threads.
struct BenchGEMM: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "float32 matrix multiply (C = A·B, packed SIMD kernel): GFLOP/s at 256³, 512³, 1024³.")

    @OptionGroup var options: BenchOptions

    @Option(help: "Comma-separated square sizes.")
    var sizes: String = "256,512,1024"

    @Option(help: "Rectangular products instead of squares: 'MxNxK' items separated by commas (e.g. 64x588x288).")
    var shapes: String?

    @Flag(help: "Also time the transposed variants (Aᵀ·B, A·Bᵀ) that backward passes use.")
    var transposes = false

    func run() throws {
        var dims: [(Int, Int, Int)]
        if let shapes {
            dims = []
            for item in shapes.split(separator: ",") {
                let v = item.split(separator: "x").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard v.count == 3, v.allSatisfy({ $0 >= 1 }) else {
                    throw ValidationError("--shapes expects MxNxK items separated by commas, got '\(item)'")
                }
                dims.append((v[0], v[1], v[2]))
            }
        } else {
            let ns = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !ns.isEmpty, ns.allSatisfy({ $0 >= 1 }) else {
                throw ValidationError("--sizes expects positive integers separated by commas, got '\(sizes)'")
            }
            dims = ns.map { ($0, $0, $0) }
        }
        print(buildNote())
        var table = BenchTable(["case", "threads", "median", "fastest", "GFLOP/s", "best GFLOP/s", "per CPU-s"])
        let variants: [(String, Bool, Bool)] = transposes
            ? [("A·B", false, false), ("Aᵀ·B", true, false), ("A·Bᵀ", false, true)]
            : [("A·B", false, false)]
        for (m, n, k) in dims {
            Tensor.manualSeed(0)
            let c = Tensor.zeros([m, n])
            let flops = 2 * Double(m) * Double(n) * Double(k)
            let label = m == n && n == k ? "\(n)³" : "\(m)×\(n)×\(k)"
            for (name, ta, tb) in variants {
                let a = Tensor.randn(ta ? [k, m] : [m, k]), b = Tensor.randn(tb ? [n, k] : [k, n])
                for t in options.threadCounts {
                    let r = withThreads(t) {
                        BenchTimer.measure(repeats: options.repeats) {
                            Kernels.gemm(a, b, transA: ta, transB: tb, beta: 0, into: c)
                        }
                    }
                    table.add(["\(name) \(label)", "\(t)", formatTime(r.median), formatTime(r.fastest),
                               String(format: "%.1f", flops / r.median / 1e9),
                               String(format: "%.1f", flops / r.fastest / 1e9),
                               String(format: "%.1f", flops / max(r.cpu, 1e-9) / 1e9)])
                }
            }
        }
        table.print()
    }
}
