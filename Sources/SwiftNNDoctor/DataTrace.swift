import TensorCore
import Autograd
import NN

/// One forward pass recorded with hooks: every module call in the order it ran, what went in and
/// what came out, and who produced each input — through custom modules, nested containers and
/// functional operations between them. The doctor and the training monitor read the real order of
/// operations from it instead of guessing it from declaration order.
///
/// ```swift
/// let trace = DataTrace.record(model, input: Tensor.randn([4, 784]))
/// for call in trace.calls where call.isAtomic { print(call.path, call.module.typeName) }
/// ```
public final class DataTrace {
    /// One call of a module.
    public struct Call {
        /// Position in the order calls started.
        public let index: Int
        /// State-dict prefix of the module (`net.1`); `""` for the root.
        public let path: String
        public let module: Module
        /// The call this one ran inside, if any.
        public let parent: Int?
        /// Calls made from inside this one.
        public internal(set) var children: [Int] = []
        public let input: Tensor
        public internal(set) var output: Tensor?
        /// Position in the order calls finished.
        public internal(set) var finishOrder: Int = -1
        /// A call that ran no module inside it (a layer such as Linear or BatchNorm, or a module
        /// doing everything itself, like MultiheadAttention).
        public var isAtomic: Bool { children.isEmpty }
    }

    /// Every call, in the order they started.
    public private(set) var calls: [Call] = []
    private var stack: [Int] = []
    private var finished = 0
    private var handles: [RemovableHandle] = []
    private var pathOf: [ObjectIdentifier: String] = [:]

    /// Starts recording every call of `model` and its descendants (until ``stop()``).
    public init(attachingTo model: Module) {
        for (path, m) in model.namedModules() {
            pathOf[ObjectIdentifier(m)] = path
            handles.append(m.registerForwardPreHook { [unowned self] module, input in self.begin(module, input) })
            handles.append(m.registerForwardHook { [unowned self] module, _, output in self.end(module, output) })
        }
    }

    deinit { stop() }

    /// Stops recording (removes the hooks); the calls recorded stay.
    public func stop() {
        for h in handles { h.remove() }
        handles = []
    }

    private func begin(_ module: Module, _ input: Tensor) {
        let index = calls.count
        calls.append(Call(index: index, path: pathOf[ObjectIdentifier(module)] ?? "?", module: module, parent: stack.last, input: input))
        if let p = stack.last { calls[p].children.append(index) }
        stack.append(index)
    }

    private func end(_ module: Module, _ output: Tensor) {
        producerIndex = nil
        // Hooks run innermost first, so the call ending is the top of the stack; a module that
        // runs its hooks without a matching pre-hook (not expected) is ignored.
        guard let top = stack.last, calls[top].module === module else { return }
        stack.removeLast()
        calls[top].output = output
        calls[top].finishOrder = finished
        finished += 1
    }

    /// Runs `model` once on `input`, in the modes its modules are in, with recording on. The pass
    /// records the autograd graph (the input is made to require grad) so that functional
    /// operations between modules can be followed; no backward runs, and random operations draw
    /// from a private generator so the caller's random sequence is untouched. BatchNorm layers in
    /// training mode update their running statistics as in any forward pass (``Doctor`` puts them
    /// back).
    ///
    /// Layers whose expected input shape is known get a shape check first: a sample that does not
    /// fit one of them is recorded in ``shapeMismatches`` and replaced by zeros that fit, instead
    /// of stopping the program.
    public static func record(_ model: Module, input: Tensor, seed: UInt64 = 0x5EED) -> DataTrace {
        let guardHooks = ShapeGuard(model)
        let trace = DataTrace(attachingTo: model)
        let x = input.detach()
        if x.dtype.isFloatingPoint { x.requiresGrad = true }
        let output = Generator.withDefault(Generator(seed: seed)) { withGrad { model(x) } }
        trace.stop()
        guardHooks.remove()
        trace.modelOutput = output
        trace.shapeMismatches = guardHooks.mismatches.map { ($0.path, $0.got, $0.expected) }
        return trace
    }

    /// Layers the recorded sample did not fit: path, the shape that arrived, what the layer takes.
    public private(set) var shapeMismatches: [(path: String, got: [Int], expected: String)] = []

    /// The output of the recorded pass (``record(_:input:seed:)`` only).
    public private(set) var modelOutput: Tensor?

    /// One step on the way back from a tensor to where it came from.
    public enum Step {
        /// A module call produced it.
        case module(Call)
        /// A functional operation produced it: the autograd node's name (`relu`, `view`,
        /// `dropout` …) and how many of its inputs carry data (require grad).
        case operation(String, dataInputs: Int)
    }

    /// Accepts steps that act on each element alone (modules that say they are elementwise,
    /// activations and scalings as operations): for walks that follow positions, such as
    /// Dropout's zeros or a BatchNorm's output into its ReLU.
    public static func throughElementwise(_ step: Step) -> Bool { Kind.passesElementwise(step) }

    /// Walks back from `tensor` (as consumed by the call `consumer`) through every step `through`
    /// accepts, and returns the steps walked and the first one it did not accept (nil when the
    /// walk reached the model's input or an unrecorded value).
    public func origin(of tensor: Tensor, consumedBy consumer: Int, through: (Step) -> Bool) -> (passed: [Step], source: Step?) {
        var passed: [Step] = []
        var t = tensor
        var before = consumer
        for _ in 0..<10_000 {
            let step: Step
            let next: Tensor?
            if let producer = latestAtomicCall(producing: t, startedBefore: before) {
                step = .module(calls[producer])
                next = calls[producer].input
                before = producer
            } else if let name = t.gradFunctionName {
                // Follow the one input that carries data through the graph (a constant operand
                // such as a scale does not require grad); with two (a residual sum), stop.
                let inputs = t.gradFunctionInputs.filter { $0.requiresGrad }
                step = .operation(name, dataInputs: inputs.count)
                next = inputs.count == 1 ? inputs[0] : nil
            } else {
                return (passed, nil)
            }
            guard through(step) else { return (passed, step) }
            passed.append(step)
            guard let n = next else { return (passed, nil) }
            t = n
        }
        return (passed, nil)
    }

    /// The atomic call that last produced exactly this tensor before call `index` started.
    private func latestAtomicCall(producing t: Tensor, startedBefore index: Int) -> Int? {
        if producerIndex == nil {
            var map: [ObjectIdentifier: [Int]] = [:]
            for c in calls where c.isAtomic { if let o = c.output { map[ObjectIdentifier(o), default: []].append(c.index) } }
            producerIndex = map
        }
        // The latest to finish: identity layers (Dropout in eval mode) return their input
        // itself, so a tensor can come out of several calls in a row.
        return producerIndex![ObjectIdentifier(t)]?.filter { $0 < index }.max { calls[$0].finishOrder < calls[$1].finishOrder }
    }

    /// Atomic calls by the identity of their output (the calls keep the outputs alive, so the
    /// identities stay unique).
    private var producerIndex: [ObjectIdentifier: [Int]]?

    /// Atomic calls whose input came (through steps `through` accepts) from `call`'s output.
    public func consumers(of call: Int, through: (Step) -> Bool) -> [Int] {
        calls.filter { $0.isAtomic && $0.index > call }.compactMap { c in
            let (passed, source) = origin(of: c.input, consumedBy: c.index, through: through)
            if case .module(let src)? = source, src.index == call { return c.index }
            // Reached the call itself as an accepted step (it is elementwise, for instance).
            for s in passed { if case .module(let src) = s, src.index == call { return c.index } }
            return nil
        }
    }
}
