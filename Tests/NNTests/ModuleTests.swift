import Testing
import Foundation
@testable import NN
import TensorCore
import Autograd

// Small modules built from Parameters and buffers only, so these tests need no layer.
private final class Leaf: Module {
    let weight: Parameter
    let bias: Parameter?
    var runningMean: Buffer
    var cache: Buffer? = nil
    let numBatchesTracked = Buffer(Tensor(scalar: Int64(0)))
    init(_ n: Int, bias: Bool = true) {
        weight = Parameter(Tensor.ones([n, 2]))
        self.bias = bias ? Parameter(Tensor.zeros([n])) : nil
        runningMean = Buffer(Tensor.zeros([n]))
        super.init()
    }
    override class var stateKeyOverrides: [String: String] { ["cache": ""] }
    override class var optionalStateKeys: Set<String> { ["num_batches_tracked"] }
    override func fillMissingStateKey(_ key: String) { numBatchesTracked.fill(0) }
    override var extraDescription: String { "\(weight.shape[0]), bias=\(PyRepr.bool(bias != nil))" }
    override func forward(_ x: Tensor) -> Tensor { x }
}

private class Base: Module {
    let first = Leaf(2)
    override init() { super.init() }
}

private final class Derived: Base {
    let scale = Parameter(Tensor.ones([1]))
    let _hidden = Leaf(3, bias: false)
    let blocks: [Module] = [Leaf(1), Leaf(1)]
    let optionalChild: Module? = nil
    let seq = Sequential([Leaf(4), Leaf(5)])
    override init() { super.init() }
}

/// A wrapper whose child is a property named `module` (as PyTorch wrappers often have).
private final class Wrapper: Module {
    let module: Module
    init(_ m: Module) {
        module = m
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { module(x) }
}

/// ModuleList / ParameterList style properties.
private final class Lists: Module {
    let stages: [any Layer] = [Leaf(1), Sequential([Leaf(2)])]
    let scales: [Parameter] = [Parameter(Tensor.ones([2])), Parameter(Tensor.zeros([3]))]
    let empty: [Module] = []
    override init() { super.init() }
}

@Suite("Module reflection and state dict")
struct ModuleTests {
    @Test func snakeCase() {
        #expect(snakeCaseKey("runningMean") == "running_mean")
        #expect(snakeCaseKey("inProjWeight") == "in_proj_weight")
        #expect(snakeCaseKey("outProj") == "out_proj")
        #expect(snakeCaseKey("_weight") == "weight")
        #expect(snakeCaseKey("fc1") == "fc1")
        #expect(snakeCaseKey("norm2") == "norm2")
        #expect(snakeCaseKey("numBatchesTracked") == "num_batches_tracked")
    }

    @Test func keysFollowPyTorchOrder() {
        let m = Derived()
        #expect(m.stateDict().keys == [
            "scale",
            "first.weight", "first.bias", "first.running_mean", "first.num_batches_tracked",
            "hidden.weight", "hidden.running_mean", "hidden.num_batches_tracked",
            "blocks.0.weight", "blocks.0.bias", "blocks.0.running_mean", "blocks.0.num_batches_tracked",
            "blocks.1.weight", "blocks.1.bias", "blocks.1.running_mean", "blocks.1.num_batches_tracked",
            "seq.0.weight", "seq.0.bias", "seq.0.running_mean", "seq.0.num_batches_tracked",
            "seq.1.weight", "seq.1.bias", "seq.1.running_mean", "seq.1.num_batches_tracked",
        ])
        #expect(m.namedParameters().map(\.0) == [
            "scale", "first.weight", "first.bias", "hidden.weight", "blocks.0.weight", "blocks.0.bias",
            "blocks.1.weight", "blocks.1.bias", "seq.0.weight", "seq.0.bias", "seq.1.weight", "seq.1.bias",
        ])
        #expect(m.namedBuffers().map(\.0).first == "first.running_mean")
        #expect(m.namedModules().map(\.0) == ["", "first", "hidden", "blocks.0", "blocks.1", "seq", "seq.0", "seq.1"])
        #expect(m.children().count == 5)
        #expect(m.stateDict()["seq.1.num_batches_tracked"]?.dtype == .int64)
        #expect(m.stateDict()["seq.1.num_batches_tracked"]?.shape == [])
    }

    @Test func parameterCountAndFreezing() {
        let m = Derived()
        // scale 1 + first 4+2 + hidden 6 + blocks 2×(2+1) + seq (8+4) + (10+5)
        #expect(m.parameterCount == 1 + 6 + 6 + 6 + 12 + 15)
        m.first.weight.requiresGrad = false
        #expect(m.parameterCount == 46 - 4)
        #expect(m.parameters().count == 12)
    }

    @Test func stateDictSharesDataAndClonedDoesNot() {
        let m = Leaf(2)
        let sd = m.stateDict(), copy = sd.cloned()
        #expect(sd["weight"]!.requiresGrad == false)
        #expect(!(sd["weight"]! is Parameter))
        m.weight.fill(7)
        #expect(sd["weight"]!.scalars == [7, 7, 7, 7])
        #expect(copy["weight"]!.scalars == [1, 1, 1, 1])
    }

    @Test func trainEvalRecurse() {
        let m = Derived()
        #expect(m.isTraining)
        m.eval()
        #expect(m.modules().allSatisfy { !$0.isTraining })
        m.train()
        #expect(m.modules().allSatisfy { $0.isTraining })
        m.seq.isFrozen = true
        #expect(!m.seq.isTraining && !m.seq[0].isTraining)
        m.train()
        #expect(m.isTraining && m.first.isTraining)
        #expect(!m.seq.isTraining && !m.seq[1].isTraining)
        m.seq.isFrozen = false
        m.train(true)
        #expect(m.seq[1].isTraining)
    }

    @Test func applyAndZeroGrad() {
        let m = Derived()
        var names: [String] = []
        m.apply { names.append($0.typeName) }
        #expect(names.last == "Derived")
        #expect(names.count == m.modules().count)
        m.scale.grad = Tensor.ones([1])
        m.zeroGrad()
        #expect(m.scale.grad == nil)
    }

    @Test func roundTrip() throws {
        let a = Derived(), b = Derived()
        for (i, p) in a.parameters().enumerated() { p.fill(Double(i) + 0.5) }
        a.seq[1].stateDict()["num_batches_tracked"]!.fill(9)
        let pb = b.parameters()
        let r = try b.loadStateDict(a.stateDict())
        #expect(r.isComplete)
        for ((k, x), (_, y)) in zip(a.stateDict(), b.stateDict()) {
            #expect(x.scalars == y.scalars, "\(k)")
        }
        // In place: the same Parameter objects now hold the values.
        #expect(pb[0] === b.parameters()[0])
        #expect(pb[0].scalars == [0.5])
    }

    @Test func strictErrorListsEverything() {
        let m = Leaf(2)
        var sd = m.stateDict().cloned()
        sd["bias"] = nil
        sd["running_mean"] = nil
        sd["weight"] = Tensor.ones([3, 2])
        sd["extra"] = Tensor.ones([1])
        sd["more"] = Tensor.ones([1])
        m.weight.fill(5)
        do {
            try m.loadStateDict(sd)
            Issue.record("expected an error")
        } catch {
            #expect(error.missingKeys == ["bias", "running_mean"])
            #expect(error.unexpectedKeys == ["extra", "more"])
            #expect(error.mismatchedKeys == ["weight"])
            #expect(error.description == """
                Error(s) in loading state_dict for Leaf:
                \tMissing key(s) in state_dict: "bias", "running_mean".
                \tUnexpected key(s) in state_dict: "extra", "more".
                \tsize mismatch for weight: copying a param with shape [3, 2] from checkpoint, the shape in current model is [2, 2].
                """)
        }
        #expect(m.weight.scalars == [5, 5, 5, 5])   // nothing written
    }

    @Test func nonStrictReturnsKeysAndLoadsTheRest() throws {
        let m = Leaf(2)
        var sd = StateDict()
        sd["weight"] = Tensor([1, 2, 3, 4] as [Double], shape: [2, 2])   // converted to float32
        sd["extra"] = Tensor.ones([1])
        let r = try m.loadStateDict(sd, strict: false)
        #expect(r.missingKeys == ["bias", "running_mean"])
        #expect(r.unexpectedKeys == ["extra"])
        #expect(m.weight.scalars == [1, 2, 3, 4])
        #expect(m.weight.dtype == .float32)
        // A shape mismatch is an error even when not strict, as in PyTorch.
        sd["weight"] = Tensor.ones([4])
        #expect(throws: StateDictError.self) { try m.loadStateDict(sd, strict: false) }
    }

    @Test func optionalKeyIsFilled() throws {
        let m = Leaf(2)
        m.numBatchesTracked.fill(4)
        var sd = m.stateDict().cloned()
        sd["num_batches_tracked"] = nil
        let r = try m.loadStateDict(sd)
        #expect(r.isComplete)
        #expect(m.numBatchesTracked.doubleValue(at: 0) == 0)
    }

    @Test func descriptionIsPyTorchRepr() {
        let s = Sequential([Leaf(4), Sequential { Leaf(2, bias: false) }])
        #expect(s.description == """
            Sequential(
              (0): Leaf(4, bias=True)
              (1): Sequential(
                (0): Leaf(2, bias=False)
              )
            )
            """)
        #expect(Sequential([]).description == "Sequential()")
    }

    @Test func sequentialBuilderAndArray() {
        let useThird = true
        var layers: [any Layer] = [Leaf(1), Leaf(2)]
        layers.append(Leaf(3))
        let a = Sequential(layers)
        let b = Sequential {
            Leaf(1)
            Leaf(2)
            if useThird { Leaf(3) }
            for _ in 0..<2 { Leaf(4) }
        }
        #expect(a.count == 3 && b.count == 5)
        #expect(a.stateDict().keys.count == 12)
        #expect(b[-1].stateDict()["weight"]!.shape == [4, 2])
        let x = Tensor.ones([2])
        #expect(a(x) === x)
    }

    @Test func wrapperPropertyNamedModule() {
        let w = Wrapper(Leaf(2))
        #expect(w.stateDict().keys == ["module.weight", "module.bias", "module.running_mean", "module.num_batches_tracked"])
        #expect(Sequential([w]).stateDict().keys.first == "0.module.weight")
    }

    @Test func layerAndParameterArrays() {
        let m = Lists()
        #expect(m.stateDict().keys == [
            "scales.0", "scales.1",
            "stages.0.weight", "stages.0.bias", "stages.0.running_mean", "stages.0.num_batches_tracked",
            "stages.1.0.weight", "stages.1.0.bias", "stages.1.0.running_mean", "stages.1.0.num_batches_tracked",
        ])
        #expect(m.parameterCount == 5 + 3 + 6)
    }

    @Test func unconvertibleDTypeIsReported() {
        let m = Leaf(1)
        var sd = m.stateDict().cloned()
        sd["running_mean"] = Tensor([1] as [Int64], shape: [1])
        #expect(throws: StateDictError.self) { try m.loadStateDict(sd) }
        do { try m.loadStateDict(sd) } catch {
            #expect(error.mismatchedKeys == ["running_mean"])
            #expect(error.description.contains("dtype mismatch for running_mean: copying a param of dtype int64 from checkpoint, the dtype in current model is float32."))
        }
    }
}
