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
        let probs = Softmax(dim: 1)(Tensor([1, 1, 1, 1] as [Float], shape: [2, 2]))
        #expect(probs.scalars == [0.5, 0.5, 0.5, 0.5])
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
                                Softmax(dim: 1), LogSoftmax(dim: 0), Flatten(), ReLU()]
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
