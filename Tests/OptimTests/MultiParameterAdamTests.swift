import Foundation
import Testing
import SwiftNN
import TestSupport

/// `Adam.step()` updates a group's parameters with one multi-parameter kernel
/// (`Kernels.adamStep(_:_:)`), split over threads by elements across parameter boundaries. Its
/// results must be bit for bit those of one `Kernels.adamStep(_:grad:…)` per parameter, in list
/// order, at any thread count, including parameters at different steps.
@Suite struct MultiParameterAdamTests {
    /// Sizes that put thread splits inside and across parameters (the kernel's grain is 32 Ki
    /// elements), with vector tails and an empty tensor.
    static let sizes = [40_000, 3, 70_001, 16, 0, 33]

    private func values(_ n: Int, seed: UInt64, scale: Float) -> [Float] {
        var s = seed
        return (0..<n).map { _ in
            s = s &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(s >> 40) / Float(1 << 24) - 0.5) * scale
        }
    }

    /// The per-parameter reference: PyTorch's Adam, one parameter at a time, in list order
    /// (state, step count and bias corrections as `Adam.step()` keeps them).
    private final class Reference {
        var state: [ObjectIdentifier: (Tensor, Tensor, Double)] = [:]
        let lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 1e-2

        func step(_ params: [Tensor]) {
            for p in params {
                guard let grad = p.grad else { continue }
                let key = ObjectIdentifier(p)
                let (avg, avgSq, previous) = state[key] ?? (Tensor.zeros(p.shape), Tensor.zeros(p.shape), 0)
                let count = Double(Float(previous) + 1)  // PyTorch counts steps in float32
                state[key] = (avg, avgSq, count)
                let h = AdamStep(lr: lr, beta1: beta1, beta2: beta2, eps: eps, weightDecay: weightDecay, decoupled: true,
                                 maximize: false, biasCorrection1: 1 - pow(beta1, count),
                                 biasCorrection2Sqrt: (1 - pow(beta2, count)).squareRoot())
                Kernels.adamStep(p, grad: grad, expAvg: avg, expAvgSq: avgSq, maxExpAvgSq: nil, h)
            }
        }
    }

    /// Runs `steps` steps on two identical parameter sets, one through `AdamW`, one through the
    /// reference; `list` orders the parameters in the group and `hasGrad` says which get a
    /// gradient at a step.
    private func compare(threads: Int, steps: Int, list: ([Tensor]) -> [Tensor],
                         hasGrad: (_ step: Int, _ index: Int) -> Bool = { _, _ in true }) {
        Parallel.withThreadCount(threads) {
            let make = { Self.sizes.enumerated().map { i, n in Parameter(Tensor(values(n, seed: UInt64(i + 1), scale: 2), shape: [n])) } }
            let fused = make(), single = make()
            let opt = AdamW(list(fused), lr: 1e-3, weightDecay: 1e-2)
            let reference = Reference()
            for step in 0..<steps {
                for (i, (a, b)) in zip(fused, single).enumerated() {
                    if hasGrad(step, i) {
                        let g = values(a.count, seed: UInt64(100 * step + i + 7), scale: 0.2)
                        a.grad = Tensor(g, shape: a.shape)
                        b.grad = Tensor(g, shape: b.shape)
                    } else {
                        a.grad = nil
                        b.grad = nil
                    }
                }
                opt.step()
                reference.step(list(single))
            }
            for (i, (a, b)) in zip(fused, single).enumerated() {
                #expect(a.scalars.map(\.bitPattern) == b.scalars.map(\.bitPattern),
                        "parameter \(i) (\(a.count) elements), \(threads) thread(s)")
                #expect(a.count == 0 || a.scalars != values(a.count, seed: UInt64(i + 1), scale: 2), "parameter \(i) moved")
            }
        }
    }

    @Test("one kernel for the group equals one update per parameter", arguments: [1, 2])
    func matchesPerParameterUpdates(threads: Int) {
        compare(threads: threads, steps: 3, list: { $0 })
    }

    @Test("parameters at different steps (gradients that skipped steps) keep their own bias corrections",
          arguments: [1, 2])
    func parametersAtDifferentSteps(threads: Int) {
        compare(threads: threads, steps: 4, list: { $0 }, hasGrad: { step, i in i % 2 == 0 || step >= 2 })
    }

    @Test func kernelTakesEmptyAndSingleLists() {
        let p = Tensor([1, 2, 3] as [Float]), g = Tensor([0.5, -0.5, 1] as [Float])
        let m = Tensor.zeros([3]), v = Tensor.zeros([3])
        let h = AdamStep(lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: true, maximize: false,
                         biasCorrection1: 0.1, biasCorrection2Sqrt: 0.001.squareRoot())
        Kernels.adamStep([], h)
        Kernels.adamStep([AdamOperands(param: p, grad: g, expAvg: m, expAvgSq: v)], h)
        // First Adam step: p − lr · sign(g) (up to eps).
        #expect(allClose(p.scalars, [0.9, 2.1, 2.9], atol: 1e-6, rtol: 0))
    }
}
