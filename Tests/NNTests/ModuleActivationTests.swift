import Testing
@testable import NN
import TensorCore
import Autograd

@Suite("Activation modules, Flatten, gradchecks of the module layers")
struct ModuleActivationTests {
    @Test func descriptions() {
        #expect(ReLU().description == "ReLU()")
        #expect(GELU().description == "GELU(approximate='none')")
        #expect(GELU(approximate: .tanh).description == "GELU(approximate='tanh')")
        #expect(SELU().description == "SELU()")
        #expect(ELU().description == "ELU(alpha=1.0)")
        #expect(ELU(alpha: 0.5).description == "ELU(alpha=0.5)")
        #expect(Sigmoid().description == "Sigmoid()")
        #expect(Tanh().description == "Tanh()")
        #expect(Softmax(dim: 1).description == "Softmax(dim=1)")
        #expect(SiLU().description == "SiLU()" && SiLU(inplace: true).description == "SiLU(inplace=True)")
        #expect(LeakyReLU().description == "LeakyReLU(negative_slope=0.01)")
        #expect(LeakyReLU(negativeSlope: 0.2, inplace: true).description == "LeakyReLU(negative_slope=0.2, inplace=True)")
        #expect(Hardtanh().description == "Hardtanh(min_val=-1.0, max_val=1.0)")
        #expect(Hardtanh(minVal: -2.5, maxVal: 3, inplace: true).description == "Hardtanh(min_val=-2.5, max_val=3.0, inplace=True)")
        #expect(ReLU6().description == "ReLU6()" && ReLU6(inplace: true).description == "ReLU6(inplace=True)")
        #expect(Hardswish(inplace: true).description == "Hardswish()" && Hardsigmoid().description == "Hardsigmoid()")
        #expect(Flatten().description == "Flatten(start_dim=1, end_dim=-1)")
        #expect(Identity().description == "Identity()")
        let net = Sequential { Linear(4, 8); ReLU(); Flatten() }
        #expect(net.description == """
            Sequential(
              (0): Linear(in_features=4, out_features=8, bias=True)
              (1): ReLU()
              (2): Flatten(start_dim=1, end_dim=-1)
            )
            """)
    }

    @Test func activationsMatchTheOps() {
        let x = Tensor([-2, -0.5, 0, 0.5, 3] as [Float], shape: [5])
        #expect(ReLU()(x).scalars == x.relu().scalars)
        #expect(GELU()(x).scalars == x.gelu().scalars)
        #expect(GELU(approximate: .tanh)(x).scalars == x.gelu(approximate: .tanh).scalars)
        #expect(SELU()(x).scalars == x.selu().scalars)
        #expect(ELU(alpha: 0.7)(x).scalars == x.elu(alpha: 0.7).scalars)
        #expect(Sigmoid()(x).scalars == x.sigmoid().scalars)
        #expect(Tanh()(x).scalars == x.tanh().scalars)
        #expect(ReLU()(x).scalars == [0, 0, 0, 0.5, 3])
        #expect(SiLU()(x).scalars == x.silu().scalars)
        #expect(LeakyReLU(negativeSlope: 0.1)(x).scalars == [-0.2, -0.05, 0, 0.5, 3])
        #expect(Hardtanh()(x).scalars == [-1, -0.5, 0, 0.5, 1])
        #expect(ReLU6()(x * 3).scalars == [0, 0, 0, 1.5, 6])
        #expect(Hardswish()(x).scalars == x.hardswish().scalars && Hardswish()(x).scalars[4] == 3)
        #expect(Hardsigmoid()(x).scalars == x.hardsigmoid().scalars && Hardsigmoid()(x).scalars[2] == 0.5)
        let probs = Softmax(dim: 1)(Tensor([1, 1, 1, 1] as [Float], shape: [2, 2]))
        #expect(probs.scalars == [0.5, 0.5, 0.5, 0.5])
    }

    @Test("SiLU, LeakyReLU, Hardtanh, ReLU6, Hardswish, Hardsigmoid with inplace: true follow ReLU's rules")
    func inPlaceActivations() {
        let x = Tensor([-4, -2, -0.5, 0, 0.5, 3, 7] as [Float], shape: [7])
        let cases: [(Module, (Tensor) -> Tensor)] = [
            (SiLU(inplace: true), { $0.silu() }), (LeakyReLU(negativeSlope: 0.2, inplace: true), { $0.leakyReLU(negativeSlope: 0.2) }),
            (Hardtanh(minVal: -1, maxVal: 2, inplace: true), { $0.hardtanh(min: -1, max: 2) }), (ReLU6(inplace: true), { $0.relu6() }),
            (Hardswish(inplace: true), { $0.hardswish() }), (Hardsigmoid(inplace: true), { $0.hardsigmoid() }),
        ]
        for (layer, op) in cases {
            // Nothing recorded: the input's own storage is overwritten and returned.
            let copy = x.clonedData()
            let y = withNoGrad { layer(copy) }
            #expect(y === copy && y.scalars == op(x).scalars, "\(layer)")
            // An intermediate of a recorded graph: the values and gradients of the out-of-place op.
            let z = Tensor([-4, -2, -0.5, 0.5, 3, 7] as [Double], shape: [6], requiresGrad: true)
            let h = z * 1
            let out = layer(h)
            out.sum().backward()
            let z2 = Tensor([-4, -2, -0.5, 0.5, 3, 7] as [Double], shape: [6], requiresGrad: true)
            op(z2 * 1).sum().backward()
            #expect(out.scalars == op(z2).scalars && z.grad?.scalars == z2.grad?.scalars, "\(layer)")
        }
    }

    @Test func flattenShapes() {
        let x = Tensor.zeros([2, 3, 4, 5])
        #expect(Flatten()(x).shape == [2, 60])
        #expect(Flatten(startDim: 0)(x).shape == [120])
        #expect(Flatten(startDim: 1, endDim: 2)(x).shape == [2, 12, 5])
        #expect(Identity()(x) === x)
    }

    @Test func gradcheckActivationModules() {
        let layers: [Module] = [GELU(), GELU(approximate: .tanh), SELU(), ELU(alpha: 0.8), Sigmoid(), Tanh(),
                                Softmax(dim: 1), LogSoftmax(dim: 0), Flatten(), ReLU(), SiLU(), LeakyReLU(negativeSlope: 0.3),
                                Hardtanh(minVal: -0.05, maxVal: 2), ReLU6(), Hardswish(), Hardsigmoid()]
        for layer in layers {
            // Away from ReLU's kink at 0: values in ±[0.1, 1.1].
            let base = Tensor.uniform([3, 4], low: 0.1, high: 1.1, dtype: .float64, generator: Generator(seed: 5))
            let sign = Tensor((0..<12).map { $0 % 3 == 0 ? -1.0 : 1.0 }, shape: [3, 4])
            let x = withNoGrad { base * sign }
            x.requiresGrad = true
            #expect(gradcheck({ layer($0[0]) }, inputs: [x], name: layer.description), "\(layer)")
        }
    }

    @Test func gradcheckLinear() {
        let fc = Linear(5, 3, dtype: .float64)
        let x = Tensor.randn([4, 5], dtype: .float64, requiresGrad: true)
        #expect(gradcheck({ fc($0[0]) }, inputs: [x, fc.weight, fc.bias!]))
        let x3 = Tensor.randn([2, 3, 5], dtype: .float64, requiresGrad: true)
        let nb = Linear(5, 2, bias: false, dtype: .float64)
        #expect(gradcheck({ nb($0[0]) }, inputs: [x3, nb.weight]))
    }

    @Test func gradcheckEmbedding() {
        let emb = Embedding(6, 4, dtype: .float64)
        let idx = Tensor([0, 5, 2, 2, 1, 0] as [Int64], shape: [3, 2])
        #expect(gradcheck({ _ in emb(idx) }, inputs: [emb.weight]))
    }
}
