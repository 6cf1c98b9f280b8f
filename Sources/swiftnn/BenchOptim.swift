import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench optim`: one optimizer step over 4M float32 parameters (SGD with Nesterov
/// momentum and weight decay, Adam, AdamW) and the fused cross-entropy forward + backward.
/// `floor` is the bytes the update must move (SGD: p, grad, buffer read + p, buffer written; Adam:
/// p, grad, m, v read + p, m, v written; cross entropy: logits read, gradient written) at the
/// bandwidth measured in the same run.
struct BenchOptim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optim",
        abstract: "Optimizer steps on 4M parameters and fused cross entropy, against the memory-bandwidth floor.")

    @OptionGroup var options: BenchOptions

    func run() throws {
        print(buildNote())
        let n = 4 << 20
        let grad = Tensor.randn([n], generator: Generator(seed: 1))
        func parameter() -> Parameter {
            let p = Parameter(Tensor.randn([n], generator: Generator(seed: 0)))
            p.grad = grad
            return p
        }
        let sgdParam = parameter(), adamParam = parameter(), adamwParam = parameter()
        let sgd = SGD([sgdParam], lr: 1e-6, momentum: 0.9, weightDecay: 5e-4, nesterov: true)
        let adam = Adam([adamParam], lr: 1e-6)
        let adamw = AdamW([adamwParam], lr: 1e-6, weightDecay: 1e-4)
        sgd.step(); adam.step(); adamw.step()   // state buffers exist before timing

        let (rows, classes) = (4096, 1000)
        let logits = Tensor.randn([rows, classes], generator: Generator(seed: 2))
        logits.requiresGrad = true
        var labels = [Int64](repeating: 0, count: rows)
        for i in 0..<rows { labels[i] = Int64((i * 7919) % classes) }
        let targets = Tensor(labels, shape: [rows])
        let criterion = CrossEntropyLoss(labelSmoothing: 0.1)

        var table = BenchTable.standard()
        for t in options.threadCounts {
            let cases: [(String, Int, () -> Void)] = [
                ("SGD step (nesterov, wd), 4M params", 5 * 4 * n, { sgd.step() }),
                ("Adam step, 4M params", 7 * 4 * n, { adam.step() }),
                ("AdamW step, 4M params", 7 * 4 * n, { adamw.step() }),
                ("cross entropy fwd+bwd (4096, 1000), ls 0.1", 2 * 4 * rows * classes, {
                    criterion(logits, targets: targets).backward()
                    logits.grad = nil
                }),
            ]
            for (name, bytes, body) in cases {
                let result = withThreads(t) { BenchTimer.measure(repeats: options.repeats, body) }
                table.add(case: name, threads: t, result: result, floor: Bandwidth.floor(bytes: bytes, threads: t))
            }
        }
        table.print()
    }
}
