import Testing
@testable import NN
import TensorCore
import Autograd

@Suite("Layers: Linear, activations, Flatten")
struct ModuleLayerTests {
    @Test func linearShapesKeysAndDescription() {
        let fc = Linear(784, 512)
        #expect(fc.weight.shape == [512, 784])
        #expect(fc.bias!.shape == [512])
        #expect(fc.stateDict().keys == ["weight", "bias"])
        #expect(fc.parameterCount == 784 * 512 + 512)
        #expect(fc.description == "Linear(in_features=784, out_features=512, bias=True)")
        let nb = Linear(3, 2, bias: false)
        #expect(nb.bias == nil && nb.stateDict().keys == ["weight"])
        #expect(nb.description == "Linear(in_features=3, out_features=2, bias=False)")
    }

    @Test func linearDefaultInitIsUniformOneOverSqrtFanIn() {
        let fc = Linear(100, 300, generator: Generator(seed: 11))
        let bound: Float = 0.1
        #expect(fc.weight.scalars.allSatisfy { abs($0) <= bound })
        #expect(fc.bias!.scalars.allSatisfy { abs($0) <= bound })
        #expect(fc.weight.scalars.max()! > 0.095)
        #expect(fc.bias!.scalars.min()! < -0.08)
    }

    @Test func linearForwardAndBackwardMatchTheFormulas() {
        let fc = Linear(3, 2, dtype: .float64)
        fc.weight.copyData(from: Tensor([1, 2, 3, -1, 0, 2] as [Double], shape: [2, 3]))
        fc.bias!.copyData(from: Tensor([0.5, -0.5] as [Double], shape: [2]))
        let x = Tensor([1, 0, 2, -1, 1, 1] as [Double], shape: [2, 3], requiresGrad: true)
        let y = fc(x)
        #expect(y.shape == [2, 2])
        #expect(y.toArray(of: Double.self) == [7.5, 2.5, 4.5, 2.5])
        y.backward(Tensor([1, 2, 3, 4] as [Double], shape: [2, 2]))
        // dx = g·W, dW = gᵀ·x, db = Σ rows of g
        #expect(x.grad!.toArray(of: Double.self) == [-1, 2, 7, -1, 6, 17])
        #expect(fc.weight.grad!.toArray(of: Double.self) == [-2, 3, 5, -2, 4, 8])
        #expect(fc.bias!.grad!.toArray(of: Double.self) == [4, 6])
    }

    @Test func linearAcceptsLeadingDimensions() {
        let fc = Linear(4, 3)
        #expect(fc(Tensor.randn([2, 5, 4])).shape == [2, 5, 3])
        #expect(fc(Tensor.randn([4])).shape == [3])
    }

    @Test func linearRejectsWrongFeatureCount() {
        let fc = Linear(4, 3)
        #expect(throws: UsageError("Linear", "mat1 and mat2 shapes cannot be multiplied (2x5 and 4x3)")) {
            try fc.validate(Tensor.zeros([2, 5]))
        }
        #expect(throws: UsageError.self) { try fc.validate(Tensor.zeros([2, 4], dtype: .float64)) }
    }

    @Test func freezeBatchNormStaysFrozenAcrossTrain() {
        let net = Sequential { Linear(3, 4); BatchNorm1d(4); ReLU(); Linear(4, 2) }
        let bn = net[1] as! BatchNorm1d
        let all = net.parameterCount
        freezeBatchNorm(net)
        net.train()
        #expect(!bn.isTraining && net.isTraining && net[0].isTraining)
        #expect(net.parameterCount == all - 8)
        let before = bn.runningMean!.scalars
        net(Tensor.randn([5, 3])).sum().backward()
        #expect(bn.runningMean!.scalars == before)
        #expect(bn.numBatchesTracked == 0)
        #expect(bn.weight!.grad == nil && net[0].parameters()[0].grad != nil)
        unfreezeBatchNorm(net)
        #expect(bn.isTraining && bn.weight!.requiresGrad && net.parameterCount == all)
        net.eval()
        freezeBatchNorm(net)
        unfreezeBatchNorm(net)
        #expect(!bn.isTraining)
    }
}
