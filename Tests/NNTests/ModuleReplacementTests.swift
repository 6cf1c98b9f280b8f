import Testing
@testable import NN
import TensorCore
import Autograd
import Models

// Replacing children, parameters and buffers after construction (PyTorch's `model.fc = …`), the
// reflection cache that must notice it, explicit buffers, and typed access to layers.

private final class Head: Module {
    var body = Sequential(Linear(4, 8), ReLU())
    var fc = Linear(8, 2)
    var extra: Module? = nil
    var blocks: [Module] = [Linear(2, 2)]
    var stages: [any Layer] = [ReLU()]
    override func forward(_ x: Tensor) -> Tensor { fc(body(x)) }
}

/// A property typed `Any` cannot be watched: the module must still see every change.
private final class Opaque: Module {
    var anything: Any = Linear(2, 3)
    override func forward(_ x: Tensor) -> Tensor { x }
}

/// Weak and unowned references are compared as words, never dereferenced.
private final class WithWeak: Module {
    weak var parent: Module?
    var fc = Linear(1, 1)
    init(parent: Module?) {
        self.parent = parent
        super.init()
    }
}

private final class Stats: Module {
    var mean = Buffer(Tensor.zeros([3]))
    var scratch = Buffer(Tensor.ones([2]), persistent: false)
    var plain = Tensor.ones([4])              // an attribute, not state
    var optionalBuffer: Buffer? = nil
    override func forward(_ x: Tensor) -> Tensor { x }
}

@Suite("Module: replaceable children, reflection cache, buffers, typed access")
struct ModuleReplacementTests {
    @Test func reflectionRunsOncePerModule() {
        let m = Head()
        _ = m.parameters()
        let passes = m.modules().map(\.reflectionPasses)
        _ = m.parameters(); _ = m.stateDict(); _ = m.namedBuffers(); _ = m.description; m.train(); m.eval()
        #expect(m.modules().map(\.reflectionPasses) == passes)
        #expect(passes.allSatisfy { $0 == 1 })
    }

    @Test func replacingAChildIsSeen() throws {
        let m = Head()
        #expect(m.stateDict()["fc.weight"]?.shape == [2, 8])
        let passes = m.reflectionPasses
        m.fc = Linear(8, 10)
        #expect(m.stateDict()["fc.weight"]?.shape == [10, 8])
        #expect(m.parameters().contains { $0 === m.fc.weight })
        #expect(m.reflectionPasses == passes + 1)
        #expect(m(Tensor.randn([3, 4])).shape == [3, 10])
        // A model loads a state dict made for the new head.
        let other = Head()
        other.fc = Linear(8, 10)
        try other.loadStateDict(m.stateDict())
        #expect(other.fc.weight.scalars == m.fc.weight.scalars)
    }

    @Test func optionalChildAndArrayChangesAreSeen() {
        let m = Head()
        #expect(!m.stateDict().keys.contains("extra.weight"))
        m.extra = Linear(3, 3)
        #expect(m.stateDict().keys.contains("extra.weight"))
        m.extra = nil
        #expect(!m.stateDict().keys.contains("extra.weight"))
        // In-place element assignment keeps the array's buffer; it must still be noticed.
        m.blocks[0] = Linear(2, 5)
        #expect(m.stateDict()["blocks.0.weight"]?.shape == [5, 2])
        m.blocks.append(Linear(5, 1))
        #expect(m.stateDict()["blocks.1.weight"]?.shape == [1, 5])
        m.stages[0] = Linear(7, 7)
        #expect(m.stateDict()["stages.0.weight"]?.shape == [7, 7])
    }

    @Test func replacingAParameterIsSeenAndTiedWeightsAreListedOnce() {
        let a = Linear(4, 4), b = Linear(4, 4)
        let seq = Sequential(a, b)
        #expect(seq.parameters().count == 4)
        b.weight = a.weight                   // weight tying, as `b.weight = a.weight` in PyTorch
        #expect(seq.parameters().count == 3)
        #expect(seq.namedParameters().map(\.0) == ["0.weight", "0.bias", "1.bias"])
        #expect(seq.stateDict().keys == ["0.weight", "0.bias", "1.weight", "1.bias"])   // state dict keeps both keys
        b.bias = nil
        #expect(seq.stateDict().keys == ["0.weight", "0.bias", "1.weight"])
    }

    @Test func unwatchablePropertyStillSeesChanges() {
        let m = Opaque()
        #expect(m.stateDict().keys == ["anything.weight", "anything.bias"])
        m.anything = Linear(2, 9)
        #expect(m.stateDict()["anything.weight"]?.shape == [9, 2])
        m.anything = 3
        #expect(m.stateDict().isEmpty)
    }

    @Test func weakPropertyIsSafe() {
        var owner: Module? = Linear(2, 2)
        let m = WithWeak(parent: owner)
        #expect(m.stateDict().keys.count == 4)   // parent.weight, parent.bias, fc.weight, fc.bias
        owner = nil
        m.parent = nil
        #expect(m.stateDict().keys == ["fc.weight", "fc.bias"])
        do {
            let gone = Identity()  // the weak reference outlives it
            m.parent = gone
        }
        _ = m.parameters()
        withExtendedLifetime(owner) {}
    }

    @Test func buffersAreExplicit() throws {
        let m = Stats()
        #expect(m.namedBuffers().map(\.0) == ["mean", "scratch"])
        #expect(m.stateDict().keys == ["mean"])              // scratch is not persistent, plain is no state
        m.optionalBuffer = Buffer(Tensor.zeros([1]))
        #expect(m.stateDict().keys == ["mean", "optional_buffer"])
        let sd = m.stateDict().cloned()
        sd["mean"]!.fill(2)
        try m.loadStateDict(sd)                              // strict: scratch is not expected
        #expect(m.mean.scalars == [2, 2, 2])
        m.mean = Buffer(Tensor.ones([5]))
        #expect(m.stateDict()["mean"]?.shape == [5])
        #expect(!(m.mean.requiresGrad))
        let shared = Tensor.zeros([2])
        let b = Buffer(shared)
        shared.fill(3)
        #expect(b.scalars == [3, 3])                         // shares storage
    }

    @Test func batchNormBuffersAcceptTensors() {
        let bn = BatchNorm1d(3)
        #expect(bn.namedBuffers().map(\.0) == ["running_mean", "running_var", "num_batches_tracked"])
        bn.runningMean = Tensor.full([3], 0.5)
        #expect(bn.runningMean is Buffer)
        #expect(bn.stateDict()["running_mean"]?.scalars == [0.5, 0.5, 0.5])
        let ce = CrossEntropyLoss(weight: Tensor([1, 2] as [Float], shape: [2]))
        #expect(ce.stateDict().keys == ["weight"])
        ce.weight = nil
        #expect(ce.stateDict().isEmpty)
    }

    @Test func sequentialElementsAreAssignable() {
        let seq = Sequential(Linear(4, 8), ReLU(), Linear(8, 2))
        seq[2] = Linear(8, 3)
        #expect(seq(Tensor.randn([5, 4])).shape == [5, 3])
        #expect(seq.stateDict()["2.weight"]?.shape == [3, 8])
        seq[-1] = Linear(8, 6)
        #expect(seq.stateDict()["2.weight"]?.shape == [6, 8])
        seq.insert(Dropout(p: 0.1), at: 2)
        #expect(seq.map(\.typeName) == ["Linear", "ReLU", "Dropout", "Linear"])
        #expect(seq.stateDict().keys == ["0.weight", "0.bias", "3.weight", "3.bias"])
        let removed = seq.remove(at: -2)
        #expect(removed is Dropout)
        seq.append(contentsOf: [ReLU(), Linear(6, 1)])
        #expect(seq.count == 5 && seq.stateDict().keys.last == "4.bias")
        let body = seq[0..<2]
        #expect(body.count == 2 && body[0] === seq[0])
        #expect(seq[..<3].count == 3)
        // PyTorch's nn.Sequential(*list(model.children())[:-1]):
        #expect(Sequential(Array(seq.children().dropLast())).count == 4)
    }

    @Test func typedElementAccess() {
        let model = MLPLike()
        let bn = model.net[1, as: BatchNorm1d.self]
        #expect(bn.numFeatures == 8)
        let fc: Linear = model.net[0]
        #expect(fc.outFeatures == 8)
        let last: Linear = model.net[-1]
        #expect(last.outFeatures == 3)
        #expect(model.submodule("net.1", as: BatchNorm1d.self) === bn)
        #expect(model.submodule("net.1", as: Linear.self) == nil)
        #expect(model.submodule("net.9") == nil)
        #expect(model.submodule("") === model)
    }

    @Test func submoduleFollowsArrayKeys() {
        let m = Head()
        #expect(m.submodule("blocks.0") === m.blocks[0])
        #expect(m.submodule("body.1") is ReLU)
        #expect(m.submodule("blocks") == nil)
    }

    @Test func zooModelsTakeANewHead() {
        let cnn = SmallCNN(inChannels: 1, numClasses: 10)
        for p in cnn.parameters() { p.requiresGrad = false }
        cnn.classifier[-1] = Linear(128, 3)                  // model.classifier[-1] = nn.Linear(128, 3)
        cnn.eval()
        #expect(cnn(Tensor.randn([2, 1, 8, 8])).shape == [2, 3])
        #expect(cnn.namedParameters().filter { $0.1.requiresGrad }.map(\.0) == ["classifier.4.weight", "classifier.4.bias"])
        let mlp = MLPClassifier(inDim: 4, hiddenDims: [8], numClasses: 2)
        mlp.net = Sequential(Linear(4, 2))
        #expect(mlp.stateDict().keys == ["net.0.weight", "net.0.bias"])
        let block = TransformerBlock(embedDim: 8, numHeads: 2, ffDim: 16)
        block.norm2 = LayerNorm(8, eps: 1e-3)
        #expect(block.submodule("norm2", as: LayerNorm.self)?.eps == 1e-3)
    }

    @Test func sharedModuleAndCycleAreWalkedSafely() {
        let shared = Linear(2, 2)
        let seq = Sequential(shared, shared)
        #expect(seq.namedModules().map(\.0) == ["", "0"])
        #expect(seq.stateDict().keys == ["0.weight", "0.bias", "1.weight", "1.bias"])
        let loop = Sequential(Linear(1, 1))
        loop.append(loop)                                    // contains itself
        #expect(loop.stateDict().keys == ["0.weight", "0.bias"])
        #expect(loop.modules().count == 2)
        loop.remove(at: 1)                                   // break the cycle
    }
}

private final class MLPLike: Module {
    var net = Sequential(Linear(4, 8), BatchNorm1d(8), ReLU(), Linear(8, 3))
    override func forward(_ x: Tensor) -> Tensor { net(x) }
}
