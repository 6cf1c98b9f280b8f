import Foundation
import Testing
import TestSupport
@testable import NN
import TensorCore
import Autograd

/// `Block` and `Net` of scripts/reference/module_hooks.py, written as a user ports them.
private final class HookBlock: Module {
    var fc = Linear(3, 4)
    var act = ReLU()
    override func forward(_ x: Tensor) -> Tensor { act(fc(x)) }
}

private final class HookNet: Module {
    var block = HookBlock()
    var head = Sequential { Linear(4, 2) }
    override func forward(_ x: Tensor) -> Tensor { head(block(x)) }
}

private struct HookCases: Decodable {
    struct Case: Decodable {
        var input_requires_grad: Bool
        var input: [Double]
        var upstream: [Double]
        var output: [Double]
        var parameters: [String: [Double]]
        var events: [[String]]
        var grads: [String: [String: [Double]?]]
        var input_grad: [Double]?
    }
    var cases: [Case]
}

@Suite struct ModuleHookTests {
    /// Hook order and the gradients backward hooks receive, against PyTorch on a nested model of
    /// custom modules and a Sequential.
    @Test(arguments: [true, false]) func nestedHooksMatchPyTorch(inputRequiresGrad: Bool) throws {
        let all = try JSONDecoder().decode(HookCases.self, from: Data(contentsOf: Fixtures.url("hooks/nested_hooks.json")))
        let c = try #require(all.cases.first { $0.input_requires_grad == inputRequiresGrad })
        let net = HookNet()
        var sd = StateDict()
        for (k, v) in net.stateDict().entries { sd[k] = Tensor(c.parameters[k]!.map(Float.init), shape: v.shape) }
        try net.loadStateDict(sd)
        var events: [[String]] = []
        var grads: [String: (Tensor?, Tensor)] = [:]
        var handles: [RemovableHandle] = []
        for (path, m) in net.namedModules() {
            let name = path.isEmpty ? "model" : path
            handles.append(m.registerForwardPreHook { _, _ in events.append(["forward_pre", name]) })
            handles.append(m.registerForwardHook { _, _, _ in events.append(["forward", name]) })
            handles.append(m.registerFullBackwardPreHook { _, _ in events.append(["backward_pre", name]) })
            handles.append(m.registerFullBackwardHook { _, gi, go in
                events.append(["backward", name])
                grads[name] = (gi, go)
            })
        }
        let x = Tensor(c.input.map(Float.init), shape: [2, 3], requiresGrad: inputRequiresGrad)
        let y = net(x)
        #expect(allClose(y.scalars, c.output))
        y.backward(Tensor(c.upstream.map(Float.init), shape: [2, 2]))
        #expect(events == c.events)
        for (name, want) in c.grads {
            let got = try #require(grads[name], "no backward hook call for \(name)")
            #expect(allClose(got.1.scalars, want["grad_output"]!!), "grad_output of \(name)")
            if let wantInput = want["grad_input"] ?? nil {
                let gi = try #require(got.0, "grad_input of \(name) missing")
                #expect(allClose(gi.scalars, wantInput), "grad_input of \(name)")
            } else {
                #expect(got.0 == nil, "grad_input of \(name) should be nil (input needs no gradient)")
            }
        }
        if let want = c.input_grad { #expect(allClose(try #require(x.grad).scalars, want)) }
        // Removing every handle restores the hook-free path.
        for h in handles { h.remove() }
        #expect(net.namedModules().allSatisfy { !$0.1.hasHooks })
        events = []
        _ = net(x)
        #expect(events.isEmpty)
    }

    @Test func hooksCanReplaceInputsOutputsAndGradients() {
        let lin = Linear(2, 2)
        Init.constant(lin.weight, 1)
        Init.zeros(lin.bias!)
        let x = Tensor([1, 2] as [Float], shape: [1, 2], requiresGrad: true)
        let pre = lin.registerForwardPreHook(replacingInput: { _, input in input * 2 })
        #expect(lin(x).scalars == [6, 6])
        pre.remove()
        let post = lin.registerForwardHook(replacingOutput: { _, _, output in output + 1 })
        #expect(lin(x).scalars == [4, 4])
        post.remove()
        // The gradient reaching the layers before is what the hook returns.
        let zeroing = lin.registerFullBackwardHook(replacingGradInput: { _, gradInput, _ in gradInput.map { $0 * 0 } })
        lin(x).sum().backward()
        #expect(x.grad!.scalars == [0, 0])
        #expect(lin.weight.grad!.scalars == [1, 2, 1, 2])
        zeroing.remove()
        // A replaced output gradient flows into the module's own parameters.
        lin.zeroGrad(); x.grad = nil
        let scaling = lin.registerFullBackwardPreHook(replacingGradOutput: { _, g in g * 3 })
        lin(x).sum().backward()
        #expect(lin.weight.grad!.scalars == [3, 6, 3, 6])
        #expect(x.grad!.scalars == [6, 6])
        scaling.remove()
        #expect(!lin.hasHooks)
    }

    /// The API's spelling: a trailing closure with three arguments and no return value.
    @Test func forwardHookSpelledAsInTheAPI() {
        let model = Sequential { Linear(4, 3); ReLU(); Linear(3, 2) }
        var shapes: [[Int]] = []
        let handle = model.registerForwardHook { module, input, output in
            shapes.append(input.shape)
            shapes.append(output.shape)
        }
        _ = model(Tensor.randn([5, 4]))
        handle.remove()
        handle.remove()   // twice: nothing happens
        _ = model(Tensor.randn([5, 4]))
        #expect(shapes == [[5, 4], [5, 2]])
    }

    /// A hook may register or remove hooks while it runs; the running call uses the hooks that
    /// were registered when it started.
    @Test func hooksMayChangeHooksWhileRunning() {
        let relu = ReLU()
        var calls = 0
        var inner: RemovableHandle?
        var outer: RemovableHandle!
        outer = relu.registerForwardHook { m, _, _ in
            calls += 1
            inner = m.registerForwardHook { _, _, _ in calls += 10 }
            outer.remove()
        }
        _ = relu(Tensor.ones([2]))
        #expect(calls == 1)
        _ = relu(Tensor.ones([2]))
        #expect(calls == 11)
        inner?.remove()
        #expect(!relu.hasHooks)
    }

    /// MultiheadAttention's three-argument call runs its hooks once, with the query as input; the
    /// module called as `attn(x)` does too.
    @Test func attentionRunsItsHooksOnce() {
        let attn = MultiheadAttention(embedDim: 8, numHeads: 2, batchFirst: true)
        var seen: [([Int], [Int])] = []
        let h = attn.registerForwardHook { _, input, output in seen.append((input.shape, output.shape)) }
        let x = Tensor.randn([2, 5, 8])
        let (out, weights) = attn(x, x, x)
        #expect(out.shape == [2, 5, 8] && weights?.shape == [2, 5, 5])
        _ = attn(x)
        #expect(seen.count == 2)
        #expect(seen.allSatisfy { $0.0 == [2, 5, 8] && $0.1 == [2, 5, 8] })
        h.remove()
    }
}
