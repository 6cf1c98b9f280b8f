import TensorCore

/// One recorded operation: the tensors it read and how to turn the gradient of its output into
/// gradients for them.
public final class GradNode {
    /// The operation's name, as shown in errors and `gradFunctionName`.
    public let name: String
    /// The inputs, kept alive until backward has run.
    var inputs: [Tensor]
    /// Maps the output's gradient to one gradient per input (nil where an input needs none).
    var backward: ((Tensor) -> [Tensor?])?

    init(name: String, inputs: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
    }

    /// Drops the saved tensors and the closure: the graph is freed after backward.
    func release() {
        inputs = []
        backward = nil
    }
}

extension Tensor {
    /// The name of the operation that produced this tensor (`"mul"`, `"batch_norm"` …), nil for leaves.
    public var gradFunctionName: String? { (gradNode as? GradNode)?.name }

    /// The tensors the operation that produced this tensor read, in order (empty for leaves and
    /// after backward freed the graph), like following `grad_fn.next_functions` in PyTorch. Tools
    /// that follow the data through a model (the doctor) walk the graph with it.
    public var gradFunctionInputs: [Tensor] { (gradNode as? GradNode)?.inputs ?? [] }

    /// A tensor sharing this one's data, cut off from the graph (`requiresGrad` false).
    public func detach() -> Tensor {
        Tensor(storage: storage, shape: shape, dtype: dtype, offset: storageOffset)
    }

    /// Whether an operation reading this tensor must be recorded.
    @inlinable public var needsGradient: Bool { requiresGrad && GradMode.isEnabled }
}

/// Records differentiable operations. Every op and layer builds its output with its own kernels and
/// then calls ``record(_:output:inputs:backward:)`` once.
public enum Autograd {
    /// Attaches a graph node to `output` when recording is on and any input requires grad.
    /// `backward` receives the gradient of `output` and returns one gradient per input, in order,
    /// each of the input's shape (or nil for inputs that do not require grad).
    @discardableResult
    public static func record(_ name: String, output: Tensor, inputs: [Tensor],
                              backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.gradNode = GradNode(name: name, inputs: inputs, backward: backward)
        output.requiresGrad = true
        return output
    }

    /// Whether `record` would attach a node for these inputs (lets an op skip saving state).
    @inlinable public static func isRecording(_ inputs: Tensor...) -> Bool {
        GradMode.isEnabled && inputs.contains { $0.requiresGrad }
    }

    /// Runs reverse-mode differentiation from `root`, seeding it with `seed`.
    static func runBackward(from root: Tensor, seed: Tensor, retainGraph: Bool) {
        let context = BackwardContext()
        $currentBackward.withValue(context) {
            propagate(from: root, seed: seed, retainGraph: retainGraph)
            // Still inside the pass: a callback may queue another one.
            context.runCallbacks()
        }
    }

    private static func propagate(from root: Tensor, seed: Tensor, retainGraph: Bool) {
        // Topological order over the tensors that carry nodes (iterative DFS: graphs can be deep).
        var order: [Tensor] = []
        var visited = Set<ObjectIdentifier>()
        var stack: [(Tensor, Bool)] = [(root, false)]
        // Leaves with post-accumulate hooks: how many graph edges still lead to each, so that its
        // hooks run once, after its last contribution (PyTorch accumulates a leaf once per pass).
        var hookedEdges: [ObjectIdentifier: Int] = [:]
        while let (t, expanded) = stack.popLast() {
            if expanded { order.append(t); continue }
            guard let node = t.gradNode as? GradNode else { continue }
            if !visited.insert(ObjectIdentifier(t)).inserted { continue }
            stack.append((t, true))
            for input in node.inputs where input.requiresGrad {
                if input.gradNode is GradNode {
                    if !visited.contains(ObjectIdentifier(input)) { stack.append((input, false)) }
                } else if input.postAccumulateGradHooks != nil {
                    hookedEdges[ObjectIdentifier(input), default: 0] += 1
                }
            }
        }
        var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(root): seed]
        if root.gradNode == nil {
            var seed = seed
            accumulateLeafGradient(root, &seed)
            runPostAccumulateGradHooks(root)
            return
        }
        var received = Set<ObjectIdentifier>()
        /// One edge into a hooked leaf is done; its hooks run when it was the last one.
        func settle(_ leaf: Tensor) {
            guard !hookedEdges.isEmpty, leaf.postAccumulateGradHooks != nil, leaf.gradNode == nil, leaf.requiresGrad else { return }
            let key = ObjectIdentifier(leaf)
            guard let left = hookedEdges[key] else { return }
            if left > 1 { hookedEdges[key] = left - 1; return }
            hookedEdges[key] = nil
            if received.contains(key) { runPostAccumulateGradHooks(leaf) }
        }
        for t in order.reversed() {
            guard let node = t.gradNode as? GradNode else { continue }
            guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else {
                // No gradient reached this node: its edges into hooked leaves are done anyway.
                for input in node.inputs { settle(input) }
                continue
            }
            guard let backward = node.backward else {
                usageFailure(UsageError("backward", "trying to backward through the graph a second time (\(node.name)); its saved tensors were freed after the first backward. Pass retainGraph: true the first time."))
            }
            var inputGrads: [Tensor?]
            if let profile = BackwardProfile.current {
                let t0 = ContinuousClock.now
                inputGrads = backward(g)
                profile.add(node.name, shape: t.shape, since: t0)
            } else {
                inputGrads = backward(g)
            }
            precondition(inputGrads.count == node.inputs.count, "autograd: \(node.name) returned \(inputGrads.count) gradients for \(node.inputs.count) inputs")
            for (i, input) in node.inputs.enumerated() {
                // Taken out of the array: a leaf may keep the gradient only if nothing else holds it.
                guard var ig = inputGrads[i].take(), input.requiresGrad else { settle(input); continue }
                precondition(ig.shape == input.shape,
                             "autograd: \(node.name) returned a gradient of shape \(shapeString(ig.shape)) for an input of shape \(shapeString(input.shape))")
                if input.gradNode is GradNode {
                    let key = ObjectIdentifier(input)
                    if let existing = grads[key] {
                        grads[key] = GradientMath.sum(existing, ig)
                    } else {
                        grads[key] = ig
                    }
                } else {
                    accumulateLeafGradient(input, &ig)
                    if input.postAccumulateGradHooks != nil { received.insert(ObjectIdentifier(input)) }
                    settle(input)
                }
            }
            if !retainGraph { node.release() }
        }
    }

    /// Adds `g` to `leaf.grad`. A first gradient is kept without a copy when `g` is the only
    /// reference to a plain tensor that alone views all of its memory, like PyTorch's
    /// AccumulateGrad stealing the incoming gradient; otherwise `.grad` (accumulated in place
    /// later) gets a private copy, since `g` may be shared: the same tensor given to two inputs, a
    /// view of an upstream gradient or of the caller's seed, a node's saved tensor, a tensor a
    /// backward function kept.
    static func accumulateLeafGradient(_ leaf: Tensor, _ g: inout Tensor) {
        if let existing = leaf.grad {
            GradientMath.addInPlace(existing, g)
        } else if g.dtype != leaf.dtype {
            leaf.grad = GradientMath.converted(g, to: leaf.dtype)
        } else if type(of: g) == Tensor.self && g.gradNode == nil && !g.requiresGrad
                    && isKnownUniquelyReferenced(&g) && g.isSoleViewOfStorage {
            leaf.grad = g
        } else {
            leaf.grad = g.clonedData()
        }
    }
}

extension Tensor {
    /// Computes the gradient of this scalar with respect to every leaf that requires grad and adds
    /// it to their `.grad`. The graph is freed afterwards unless `retainGraph` is true.
    ///
    /// ```swift
    /// let w = Tensor.randn([3], requiresGrad: true)
    /// (w * w).sum().backward()      // w.grad == 2 * w
    /// ```
    public func backward(retainGraph: Bool = false) {
        usageCheck(count == 1, "backward", "grad can be implicitly created only for scalar outputs (got shape \(shapeString(shape)))")
        usageCheck(requiresGrad, "backward", "element 0 of tensors does not require grad and does not have a grad_fn")
        Autograd.runBackward(from: self, seed: Tensor.ones(shape, dtype: dtype), retainGraph: retainGraph)
    }

    /// Backward from a non-scalar tensor, given the gradient of some scalar with respect to it.
    public func backward(_ gradient: Tensor, retainGraph: Bool = false) {
        usageCheck(gradient.shape == shape, "backward",
                   "Mismatch in shape: grad_output[0] has a shape of \(shapeString(gradient.shape)) and output[0] has a shape of \(shapeString(shape))")
        usageCheck(requiresGrad, "backward", "element 0 of tensors does not require grad and does not have a grad_fn")
        Autograd.runBackward(from: self, seed: gradient, retainGraph: retainGraph)
    }
}

/// The few elementwise operations the engine itself needs to accumulate gradients.
enum GradientMath {
    /// `a + b` in one parallel pass (a copy of `a` then `+= b` took two, the copy on one thread:
    /// ResNet-50's residual gradients spent 20 ms of a 2-thread step in the engine).
    static func sum(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.count == b.count, "autograd: gradient shapes \(shapeString(a.shape)) and \(shapeString(b.shape)) differ")
        if a.dtype == b.dtype && a.shape == b.shape { return Kernels.add(a, b) }
        let out = a.clonedData()
        addInPlace(out, b)
        return out
    }

    static func addInPlace(_ a: Tensor, _ b: Tensor) {
        precondition(a.count == b.count, "autograd: gradient shapes \(shapeString(a.shape)) and \(shapeString(b.shape)) differ")
        Kernels.accumulate(b, into: a)
    }

    /// A copy of `t` in `dtype` (a different one: a fresh tensor).
    static func converted(_ t: Tensor, to dtype: DType) -> Tensor {
        Kernels.cast(t, to: dtype)
    }
}
