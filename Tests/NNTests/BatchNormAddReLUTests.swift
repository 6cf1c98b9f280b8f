import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

@Suite("Fused residual tail relu(batchNorm(x) + residual)")
struct BatchNormAddReLUTests {
    /// "" when `a` and `b` hold the same bits, else how many elements differ and the first one (a
    /// short message: comparing large arrays with `==` inside #expect diffs them when they differ).
    static func bitDifference(_ a: Tensor?, _ b: Tensor?) -> String {
        guard let a, let b else { return "missing tensor" }
        guard a.shape == b.shape else { return "shape \(a.shape) != \(b.shape)" }
        let x = a.scalars, y = b.scalars
        let differ = x.indices.filter { x[$0].bitPattern != y[$0].bitPattern }
        guard let first = differ.first else { return "" }
        return "\(differ.count) of \(x.count) differ, first [\(first)]: \(x[first]) vs \(y[first])"
    }

    /// The same values, gradients and running statistics as the three operations; float32 to the bit
    /// (the fused sweep rounds the affine, the add and the ReLU as they do, with the same constants).
    @Test("functional batchNormAddReLU equals (batchNorm(…) + residual).relu(): (N, C), (N, C, H, W), train and eval, 1 and 2 threads",
          arguments: [1, 2])
    func functional(_ threads: Int) {
        // [8, 32, 40, 40] is large enough for batch norm's blocked sweeps and the threads.
        for shape in [[6, 5], [2, 3, 4, 5], [1, 4, 3, 3], [8, 32, 40, 40]] {
            let c = shape[1]
            let g = Generator(seed: UInt64(shape.count + 10 * shape[0]))
            let x = Tensor.randn(shape, mean: 0.2, std: 1.3, generator: g), r = Tensor.randn(shape, generator: g)
            let w = Tensor.randn([c], mean: 1, std: 0.4, generator: g), b = Tensor.randn([c], generator: g)
            for training in [true, false] {
                let rm1 = Tensor.randn([c], generator: Generator(seed: 1)), rv1 = Tensor.rand([c], generator: Generator(seed: 2)) + 0.5
                let rm2 = rm1.clonedData(), rv2 = rv1.clonedData()
                let xa = x.clonedData(), xb = x.clonedData(), ra = r.clonedData(), rb = r.clonedData()
                let wa = w.clonedData(), wb = w.clonedData(), ba = b.clonedData(), bb = b.clonedData()
                for t in [xa, xb, ra, rb, wa, wb, ba, bb] { t.requiresGrad = true }
                let context = "\(shape) training \(training) threads \(threads)"
                Parallel.withThreadCount(threads) {
                    let ya = batchNormAddReLU(xa, residual: ra, runningMean: rm1, runningVar: rv1, weight: wa, bias: ba,
                                              training: training, momentum: 0.3)
                    let yb = (batchNorm(xb, runningMean: rm2, runningVar: rv2, weight: wb, bias: bb, training: training,
                                        momentum: 0.3) + rb).relu()
                    #expect(ya.gradFunctionName == "batch_norm_add_relu")
                    let d = Self.bitDifference(ya, yb)
                    #expect(d.isEmpty, "\(context) output: \(d)")
                    let gy = Tensor.randn(ya.shape, generator: g)
                    ya.backward(gy)
                    yb.backward(gy)
                }
                #expect(Self.bitDifference(xa.grad, xb.grad).isEmpty, "\(context) dx: \(Self.bitDifference(xa.grad, xb.grad))")
                #expect(Self.bitDifference(ra.grad, rb.grad).isEmpty, "\(context) dresidual: \(Self.bitDifference(ra.grad, rb.grad))")
                #expect(Self.bitDifference(wa.grad, wb.grad).isEmpty, "\(context) dweight: \(Self.bitDifference(wa.grad, wb.grad))")
                #expect(Self.bitDifference(ba.grad, bb.grad).isEmpty, "\(context) dbias: \(Self.bitDifference(ba.grad, bb.grad))")
                #expect(Self.bitDifference(rm1, rm2).isEmpty && Self.bitDifference(rv1, rv2).isEmpty, "\(context) running statistics")
            }
        }
    }

    @Test("the input as its own residual: both gradients reach it, as with the three operations")
    func inputAsResidual() {
        let x = Tensor.randn([3, 4, 5, 5], mean: 0.5, generator: Generator(seed: 8))
        let xa = x.clonedData(), xb = x.clonedData()
        xa.requiresGrad = true
        xb.requiresGrad = true
        let ya = batchNormAddReLU(xa, residual: xa, runningMean: nil, runningVar: nil, training: true)
        let yb = (batchNorm(xb, runningMean: nil, runningVar: nil, training: true) + xb).relu()
        #expect(Self.bitDifference(ya, yb).isEmpty, "\(Self.bitDifference(ya, yb))")
        let gy = Tensor.randn(ya.shape, generator: Generator(seed: 9))
        ya.backward(gy)
        yb.backward(gy)
        #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "dx: \(NormTest.mismatches(xa.grad, xb.grad!).prefix(3))")
    }

    @Test("a residual that broadcasts or has another dtype takes the three operations; shape errors are batchNorm's")
    func fallbacks() async {
        let x = Tensor.randn([2, 3, 4, 4], generator: Generator(seed: 3))
        let bias = Tensor.randn([1, 3, 1, 1], generator: Generator(seed: 4))
        let y = batchNormAddReLU(x, residual: bias, runningMean: nil, runningVar: nil, training: true)
        let want = (batchNorm(x, runningMean: nil, runningVar: nil, training: true) + bias).relu()
        #expect(Self.bitDifference(y, want).isEmpty, "\(Self.bitDifference(y, want))")
        await #expect(processExitsWith: .failure) {
            _ = batchNormAddReLU(Tensor.randn([2, 3, 4, 4]), residual: Tensor.randn([2, 3, 4, 4]),
                                 runningMean: Tensor.zeros([5]), runningVar: Tensor.ones([5]), training: true)
        }
    }

    @Test("gradcheck: batchNormAddReLU in training and evaluation, every input (float64)")
    func gradcheckTail() {
        for (i, shape) in [[4, 3], [2, 3, 3, 2], [1, 2, 3, 3]].enumerated() {
            let c = shape[1], n = shape.reduce(1, *)
            let x = Tensor(NormTest.values(n, seed: UInt64(60 + i)).map { $0 * 2 + 0.3 }, shape: shape, requiresGrad: true)
            let r = Tensor(NormTest.values(n, seed: UInt64(70 + i)).map { $0 * 0.7 }, shape: shape, requiresGrad: true)
            let w = Tensor(NormTest.values(c, seed: 50).map { $0 + 1 }, shape: [c], requiresGrad: true)
            let b = Tensor(NormTest.values(c, seed: 51).map { $0 * 0.5 }, shape: [c], requiresGrad: true)
            #expect(gradcheck({ batchNormAddReLU($0[0], residual: $0[1], runningMean: nil, runningVar: nil, weight: $0[2], bias: $0[3],
                                                 training: true) }, inputs: [x, r, w, b]), "train \(shape)")
            let rm = Tensor(NormTest.values(c, seed: 52), shape: [c])
            let rv = Tensor(NormTest.values(c, seed: 53).map { 1.5 + $0 }, shape: [c])
            #expect(gradcheck({ batchNormAddReLU($0[0], residual: $0[1], runningMean: rm, runningVar: rv, weight: $0[2], bias: $0[3],
                                                 training: false) }, inputs: [x, r, w, b]), "eval \(shape)")
        }
    }

    @Test("the module form: fused without hooks (ReLU output observers see the output), the layers with a BatchNorm hook, in their order")
    func moduleForm() throws {
        let bn = BatchNorm2d(3), relu = ReLU(inplace: true)
        let x = Tensor.randn([2, 3, 4, 4], generator: Generator(seed: 5)), r = Tensor.randn([2, 3, 4, 4], generator: Generator(seed: 6))
        x.requiresGrad = true
        var observed: Tensor?
        let observer = relu.registerOutputObserver { _, out in observed = out }
        var order: [String] = []
        let y = batchNormAddReLU(x, residual: { order.append("residual"); return r }(), batchNorm: bn, relu: relu)
        #expect(y.gradFunctionName == "batch_norm_add_relu")
        #expect(observed === y)
        #expect(bn.numBatchesTracked == 1)
        observer.remove()
        // A hook on the BatchNorm: the layers, the BatchNorm before the residual (relu(bn(x) + downsample(input))).
        order = []
        let hook = bn.registerForwardHook { _, _, _ in order.append("bn") }
        let unfused = batchNormAddReLU(x, residual: { order.append("residual"); return r }(), batchNorm: bn, relu: relu)
        #expect(unfused.gradFunctionName == "relu")
        #expect(order == ["bn", "residual"])
        #expect(bn.numBatchesTracked == 2)
        hook.remove()
        // Evaluation with running statistics: the layers' values.
        bn.eval()
        let fusedEval = batchNormAddReLU(x, residual: r, batchNorm: bn, relu: relu)
        let layersEval = (bn(x) + r).relu()
        #expect(fusedEval.gradFunctionName == "batch_norm_add_relu")
        #expect(Self.bitDifference(fusedEval, layersEval).isEmpty, "\(Self.bitDifference(fusedEval, layersEval))")
    }
}
