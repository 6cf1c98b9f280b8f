import Testing
import TensorCore
import Autograd

/// A leaf keeps its first incoming gradient without a copy only when nothing else can see that
/// tensor or its memory; in every shared case its `.grad` must be a private tensor, so that
/// accumulating into it (in place) changes nothing else.
@Suite struct LeafGradientStealingTests {
    /// `op(x…) = Σ inputs`, whose backward returns what `backward` gives (a custom node).
    private func node(_ inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        var sum = inputs[0].detach()
        for t in inputs.dropFirst() { sum = Kernels.binary(.add, sum, t.detach()) }
        return Autograd.record("custom", output: Kernels.binary(.add, sum, 0), inputs: inputs, backward: backward)
    }

    private func leaf(_ values: [Float]) -> Tensor { Tensor(values, requiresGrad: true) }

    @Test("a fresh gradient nothing else holds becomes .grad without a copy")
    func freshGradientIsKept() {
        let x = leaf([1, 2, 3])
        weak var returned: Tensor?
        node([x]) { _ in
            let r = Tensor([4, 5, 6] as [Float])
            returned = r
            return [r]
        }.backward(Tensor.ones([3]))
        #expect(returned != nil && x.grad === returned)
        #expect(x.grad?.scalars == [4, 5, 6])
    }

    @Test("one gradient tensor given to two leaves: each leaf's .grad is its own")
    func sameGradientForTwoLeaves() {
        let a = leaf([1, 2]), b = leaf([3, 4])
        // y + y style: add's backward passes the same tensor to both inputs.
        (a + b).backward(Tensor([1, 1] as [Float]))
        #expect(a.grad !== b.grad && !a.grad!.sharesStorage(with: b.grad!))
        a.grad!.fill(7)
        #expect(b.grad?.scalars == [1, 1])

        // A fresh tensor returned for both inputs and held by nothing else.
        let c = leaf([1, 2]), d = leaf([3, 4])
        node([c, d]) { _ in let r = Tensor([5, 6] as [Float]); return [r, r] }.backward(Tensor.ones([2]))
        #expect(c.grad !== d.grad && !c.grad!.sharesStorage(with: d.grad!))
        d.grad!.fill(0)
        #expect(c.grad?.scalars == [5, 6])
    }

    @Test("a leaf used twice sums both contributions and aliases neither")
    func leafUsedTwice() {
        let x = leaf([1, 2])
        let y = x * 1
        let seed = Tensor([1, 3] as [Float])
        (y + y + x).backward(seed)
        #expect(x.grad?.scalars == [3, 9])
        #expect(seed.scalars == [1, 3])

        let z = leaf([1, 2])
        node([z, z]) { _ in let r = Tensor([2, 5] as [Float]); return [r, r] }.backward(Tensor.ones([2]))
        #expect(z.grad?.scalars == [4, 10])
    }

    @Test("a gradient that views the caller's seed or an upstream gradient is copied")
    func viewsOfOtherGradientsAreCopied() {
        let x = Tensor([1, 2, 3, 4] as [Float], shape: [2, 2], requiresGrad: true)
        let seed = Tensor([1, 2, 3, 4] as [Float])
        x.reshaped([4]).backward(seed)        // reshape's backward returns a view of `seed`
        #expect(!x.grad!.sharesStorage(with: seed))
        seed.fill(0)
        #expect(x.grad?.scalars == [1, 2, 3, 4])
        x.grad!.fill(9)
        #expect(seed.scalars == [0, 0, 0, 0])

        // A leaf root: the seed is the caller's tensor.
        let w = leaf([1, 2])
        let g = Tensor([5, 6] as [Float])
        w.backward(g)
        #expect(w.grad !== g)
        g.fill(0)
        #expect(w.grad?.scalars == [5, 6])

        // A view of part of a fresh tensor (it does not own its whole storage).
        let v = leaf([1, 2])
        var whole: Tensor?
        node([v]) { _ in
            let r = Tensor([7, 8, 9] as [Float])
            whole = r
            return [Tensor(storage: r.storage, shape: [2], dtype: .float32, offset: 1)]
        }.backward(Tensor.ones([2]))
        #expect(v.grad?.scalars == [8, 9])
        whole!.fill(0)
        #expect(v.grad?.scalars == [8, 9])
    }

    @Test("a gradient kept by the backward function (a saved tensor, a hook's list) is copied")
    func keptGradientsAreCopied() {
        let x = leaf([1, 2])
        var kept: [Tensor] = []
        node([x]) { _ in
            let r = Tensor([3, 4] as [Float])
            kept.append(r)
            return [r]
        }.backward(Tensor.ones([2]))
        #expect(x.grad !== kept[0])
        kept[0].fill(0)
        #expect(x.grad?.scalars == [3, 4])

        // The gradient is a tensor the node saved at forward time.
        let w = leaf([1, 2])
        let saved = Tensor([5, 6] as [Float])
        node([w]) { _ in [saved] }.backward(Tensor.ones([2]))
        w.grad!.fill(0)
        #expect(saved.scalars == [5, 6])
    }

    @Test("a post-accumulate hook holding .grad sees later passes accumulate into the same tensor")
    func hookHoldingTheGradient() {
        let a = leaf([1, 2]), b = leaf([3, 4])
        var held: [Tensor] = []
        a.registerPostAccumulateGradHook { t in held.append(t.grad!) }
        node([a, b]) { _ in let r = Tensor([1, 1] as [Float]); return [r, r] }.backward(Tensor.ones([2]))
        #expect(held.count == 1 && held[0] === a.grad && held[0] !== b.grad)
        b.grad!.fill(5)
        #expect(held[0].scalars == [1, 1])
        node([a]) { _ in [Tensor([2, 2] as [Float])] }.backward(Tensor.ones([2]))
        #expect(held[1] === held[0] && held[0].scalars == [3, 3])
    }

    @Test("retainGraph: a saved tensor returned as gradient survives both passes unchanged")
    func retainGraphTwice() {
        let x = leaf([1, 2])
        let saved = Tensor([3, 4] as [Float])
        let y = node([x]) { _ in [saved] }
        y.backward(Tensor.ones([2]), retainGraph: true)
        y.backward(Tensor.ones([2]))
        #expect(x.grad?.scalars == [6, 8])
        #expect(saved.scalars == [3, 4])

        // Built-in ops: mul's backward reads the other input, which must not become x's .grad.
        let a = leaf([1, 2]), b = leaf([3, 4])
        let z = (a * b).sum()
        z.backward(retainGraph: true)
        z.backward()
        #expect(a.grad?.scalars == [6, 8] && b.grad?.scalars == [2, 4])
    }

    @Test("a gradient of another dtype is converted into a fresh tensor")
    func otherDtypeIsConverted() {
        let x = Tensor([1, 2] as [Double], requiresGrad: true)
        node([x]) { _ in [Tensor([0.5, 0.25] as [Float])] }.backward(Tensor.ones([2], dtype: .float64))
        #expect(x.grad?.dtype == .float64 && x.grad?.toArray(of: Double.self) == [0.5, 0.25])
    }
}
