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

    @Flag(help: "Also time the transposed variants (Aᵀ·B, A·Bᵀ) that backward passes use.")
    var transposes = false

    func run() throws {
        let ns = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !ns.isEmpty, ns.allSatisfy({ $0 >= 1 }) else {
            throw ValidationError("--sizes expects positive integers separated by commas, got '\(sizes)'")
        }
        print(buildNote())
        var table = BenchTable(["case", "threads", "median", "fastest", "GFLOP/s", "best GFLOP/s"])
        let variants: [(String, Bool, Bool)] = transposes
            ? [("A·B", false, false), ("Aᵀ·B", true, false), ("A·Bᵀ", false, true)]
            : [("A·B", false, false)]
        for n in ns {
            Tensor.manualSeed(0)
            let a = Tensor.randn([n, n]), b = Tensor.randn([n, n]), c = Tensor.zeros([n, n])
            let flops = 2 * Double(n) * Double(n) * Double(n)
            for (name, ta, tb) in variants {
                for t in options.threadCounts {
                    let r = withThreads(t) {
                        BenchTimer.measure(repeats: options.repeats) {
                            Kernels.gemm(a, b, transA: ta, transB: tb, beta: 0, into: c)
                        }
                    }
                    table.add(["\(name) \(n)³", "\(t)", formatTime(r.median), formatTime(r.fastest),
                               String(format: "%.1f", flops / r.median / 1e9),
                               String(format: "%.1f", flops / r.fastest / 1e9)])
                }
            }
        }
        table.print()
    }
}
