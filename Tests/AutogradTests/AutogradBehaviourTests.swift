import Testing
import TensorCore
import Autograd

@Suite struct AutogradBehaviourTests {
    @Test func gradAccumulatesAcrossBackwardCalls() {
        let w = Tensor([1, 2, 3] as [Float], requiresGrad: true)
        (w * w).sum().backward()
        #expect(w.grad?.scalars == [2, 4, 6])
        (w * 3).sum().backward()
        #expect(w.grad?.scalars == [5, 7, 9])
    }

    @Test func backwardWithGradientOnNonScalar() {
        let x = Tensor([1, 2, 3, 4] as [Double], shape: [2, 2], requiresGrad: true)
        let y = x * x
        y.backward(Tensor([1, 0, 0.5, 2] as [Double], shape: [2, 2]))
        #expect(x.grad?.toArray(of: Double.self) == [2, 0, 3, 16])
    }

    @Test func detachAndNoGradRecordNothing() {
        let x = Tensor([1, 2] as [Float], requiresGrad: true)
        let d = x.detach()
        #expect(!d.requiresGrad && d.isLeaf && d.sharesStorage(with: x))
        let y = withNoGrad { (x * 2).exp().sum() }
        #expect(!y.requiresGrad && y.gradNode == nil)
        let z = x * 2
        #expect(z.requiresGrad && z.gradFunctionName == "mul")
    }

    @Test func graphIsFreedAfterBackward() async {
        await #expect(processExitsWith: .failure) {
            let x = Tensor([1, 2] as [Float], requiresGrad: true)
            let y = (x * x).sum()
            y.backward()
            y.backward()
        }
    }

    @Test func retainGraphAllowsASecondBackward() {
        let x = Tensor([1, 2] as [Float], requiresGrad: true)
        let y = (x * x).sum()
        y.backward(retainGraph: true)
        y.backward()
        #expect(x.grad?.scalars == [4, 8])
    }

    @Test func nonFloatResultsCarryNoGraph() {
        let x = Tensor([1, -2] as [Float], requiresGrad: true)
        let m = x.gt(0)
        #expect(m.dtype == .bool && !m.requiresGrad)
        #expect(x.argmax(dim: 0).dtype == .int64)
    }

    @Test func mixedPrecisionGradientsKeepInputDtypes() {
        let a = Tensor([1, 2] as [Float], requiresGrad: true)
        let b = Tensor([3, 4] as [Double], requiresGrad: true)
        let c = a * b
        #expect(c.dtype == .float64)
        c.sum().backward()
        #expect(a.grad?.dtype == .float32 && a.grad?.scalars == [3, 4])
        #expect(b.grad?.dtype == .float64 && b.grad?.toArray(of: Double.self) == [1, 2])
    }
}
