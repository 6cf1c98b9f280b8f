import Testing
import TensorCore
import Autograd

/// Post-accumulate gradient hooks and end-of-backward callbacks (what data-parallel training
/// builds on), with PyTorch's behaviour.
@Suite struct GradHookTests {
    @Test("a hook sees the complete gradient, once per pass, even for a leaf used several times")
    func firesOnceAfterLastContribution() {
        let w = Tensor([1, 2, 3] as [Float], requiresGrad: true)
        var seen: [[Float]] = []
        w.registerPostAccumulateGradHook { t in seen.append(t.grad!.scalars) }
        // w feeds three nodes (x*x counts twice): the hook runs after all of them.
        let y = (w * w).sum() + (w * 3).sum() + w.exp().sum() * 0
        y.backward()
        #expect(seen == [[5, 7, 9]])
        // A second pass accumulates on top; the hook reports the accumulated gradient.
        (w * 2).sum().backward()
        #expect(seen == [[5, 7, 9], [7, 9, 11]])
    }

    @Test("leaves the pass does not reach are not reported; a leaf root is")
    func unreachedLeavesAndLeafRoot() {
        let a = Tensor([1, 2] as [Float], requiresGrad: true)
        let b = Tensor([3, 4] as [Float], requiresGrad: true)
        var order: [String] = []
        a.registerPostAccumulateGradHook { _ in order.append("a") }
        b.registerPostAccumulateGradHook { _ in order.append("b") }
        (a * 2).sum().backward()
        #expect(order == ["a"])
        let s = Tensor([5] as [Float], shape: [], requiresGrad: true)
        var rootSeen = false
        s.registerPostAccumulateGradHook { t in rootSeen = t.grad?.scalars == [1] }
        s.backward()
        #expect(rootSeen)
    }

    @Test("hooks run in the order gradients complete: the layer nearest the loss first")
    func orderFollowsTheGraph() {
        let w1 = Tensor([0.5] as [Double], requiresGrad: true)
        let w2 = Tensor([2] as [Double], requiresGrad: true)
        var order: [String] = []
        w1.registerPostAccumulateGradHook { _ in order.append("w1") }
        w2.registerPostAccumulateGradHook { _ in order.append("w2") }
        let x = Tensor([3] as [Double])
        ((x * w1).exp() * w2).sum().backward()
        #expect(order == ["w2", "w1"])
    }

    @Test func removedHookIsNotCalled() {
        let w = Tensor([1] as [Float], requiresGrad: true)
        var calls = 0
        let h = w.registerPostAccumulateGradHook { _ in calls += 1 }
        (w * 2).sum().backward()
        h.remove()
        h.remove()
        (w * 2).sum().backward()
        #expect(calls == 1)
        #expect(w.postAccumulateGradHooks == nil)
    }

    @Test("callbacks queued during backward run after the whole pass")
    func queuedCallbacksRunAtTheEnd() {
        let w1 = Tensor([1] as [Float], requiresGrad: true)
        let w2 = Tensor([2] as [Float], requiresGrad: true)
        var log: [String] = []
        #expect(!Autograd.isInBackward)
        w2.registerPostAccumulateGradHook { _ in
            #expect(Autograd.isInBackward)
            log.append("w2")
            Autograd.queueCallback {
                log.append("end: w1.grad \(w1.grad?.scalars ?? [])")
                Autograd.queueCallback { log.append("queued by a callback") }
            }
        }
        w1.registerPostAccumulateGradHook { _ in log.append("w1") }
        ((w1 * 3).exp() * w2).sum().backward()
        #expect(log.count == 4)
        #expect(Array(log.prefix(2)) == ["w2", "w1"])
        #expect(log[2].hasPrefix("end: w1.grad [") && log[3] == "queued by a callback")
        #expect(!Autograd.isInBackward)
    }
}
