import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench ops`: elementwise, reduction and layout kernels on 4M-float tensors against the
/// memory-bandwidth floor of this run (bytes read + written ÷ the 256 MiB copy bandwidth).
struct BenchOps: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "Tensor op kernels (elementwise, broadcast, reductions, softmax, transpose) vs the bandwidth floor.")

    @OptionGroup var options: BenchOptions

    func run() throws {
        print(buildNote())
        let rows = 4096, cols = 1024, n = rows * cols
        let gen = Generator(seed: 0)
        let a = Tensor.randn([rows, cols], generator: gen), b = Tensor.randn([rows, cols], generator: gen)
        let bias = Tensor.randn([cols], generator: gen)
        let sq = Tensor.randn([2048, 2048], generator: gen)
        let positive = a.abs()
        // For the backward cases: a leaf that requires grad (its gradient is dropped after each call).
        let leaf = a.detach()
        leaf.requiresGrad = true
        let ones = Tensor.ones([rows, cols])
        func backward(_ f: (Tensor) -> Tensor) { f(leaf).backward(ones); leaf.grad = nil }
        let labels = Tensor((0..<rows).map { Int64($0 * 37 % cols) }, shape: [rows])
        let f = 4 * n   // bytes of one float32 operand
        let cases: [(String, Int, () -> Void)] = [
            ("a + b (same shape)", 3 * f, { _ = a + b }),
            ("a + bias (row broadcast)", 2 * f, { _ = a + bias }),
            ("a * 2 (scalar)", 2 * f, { _ = a * 2 }),
            ("a.pow(2)", 2 * f, { _ = a.pow(2) }),
            ("relu", 2 * f, { _ = a.relu() }),
            ("sqrt", 2 * f, { _ = positive.sqrt() }),
            ("rsqrt", 2 * f, { _ = positive.rsqrt() }),
            ("exp", 2 * f, { _ = a.exp() }),
            ("sigmoid", 2 * f, { _ = a.sigmoid() }),
            ("tanh", 2 * f, { _ = a.tanh() }),
            ("gelu (erf)", 2 * f, { _ = a.gelu() }),
            ("gelu (tanh)", 2 * f, { _ = a.gelu(approximate: .tanh) }),
            ("selu", 2 * f, { _ = a.selu() }),
            ("elu", 2 * f, { _ = a.elu() }),
            ("log", 2 * f, { _ = positive.log() }),
            // Forward (x → y) then backward (g, x → dx): 5 operands.
            ("selu forward + backward", 5 * f, { backward { $0.selu() } }),
            ("gelu forward + backward", 5 * f, { backward { $0.gelu() } }),
            ("silu", 2 * f, { _ = a.silu() }),
            ("silu forward + backward", 5 * f, { backward { $0.silu() } }),
            ("sum()", f, { _ = a.sum() }),
            ("sum(dim: 0) [4096,1024]", f, { _ = a.sum(dim: 0) }),
            ("sum(dim: 1) [4096,1024]", f, { _ = a.sum(dim: 1) }),
            ("mean(dim: -1)", f, { _ = a.mean(dim: -1) }),
            ("variance(dims: [0])", 4 * f, { _ = a.variance(dims: [0]) }),
            ("softmax(dim: -1)", 2 * f, { _ = a.softmax(dim: -1) }),
            ("log_softmax forward + backward", 5 * f, { backward { $0.logSoftmax(dim: -1) } }),
            ("cross_entropy forward + backward", 2 * f, {
                let l = crossEntropy(leaf, targets: labels); l.backward(); leaf.grad = nil
            }),
            ("cross_entropy label smoothing 0.1 f + b", 2 * f, {
                let l = crossEntropy(leaf, targets: labels, labelSmoothing: 0.1); l.backward(); leaf.grad = nil
            }),
            ("max(dim: 1)", f, { _ = a.max(dim: 1) }),
            ("transposed [2048,2048]", 2 * f, { _ = sq.transposed() }),
            ("to(.float64)", 3 * f, { _ = a.to(.float64) }),
            ("where(a > 0, a, b)", 3 * f + n, { _ = Tensor.where(a.gt(0), a, b) }),
        ]
        var table = BenchTable.standard()
        for t in options.threadCounts {
            for c in cases {
                let r = withThreads(t) { BenchTimer.measure(repeats: options.repeats, c.2) }
                table.add(case: c.0, threads: t, result: r, floor: Bandwidth.floor(bytes: c.1, threads: t))
            }
        }
        table.print()
    }
}
