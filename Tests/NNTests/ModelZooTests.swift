import Testing
import Foundation
import SwiftNN
import TestSupport

/// One model's expected `state_dict()` from `model_state_dict_keys.json`.
struct ExpectedState {
    var entries: [(key: String, shape: [Int], dtype: String)]
    var trainable: Int

    static func load(_ name: String) throws -> ExpectedState {
        let data = try Data(contentsOf: Fixtures.url("model_state_dict_keys.json"))
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let model = try #require(root[name] as? [String: Any], "no entry \(name)")
        let rows = try #require(model["state_dict"] as? [[Any]])
        let entries = rows.map { row in
            (key: row[0] as! String, shape: (row[1] as! [Any]).map { ($0 as! NSNumber).intValue }, dtype: row[2] as! String)
        }
        return ExpectedState(entries: entries, trainable: (model["trainable_parameters"] as! NSNumber).intValue)
    }

    /// Compares keys (in order), shapes, dtypes and the trainable count with `model`.
    func check(_ model: Module, sourceLocation: SourceLocation = #_sourceLocation) {
        let sd = model.stateDict()
        #expect(sd.keys == entries.map(\.key), sourceLocation: sourceLocation)
        for e in entries {
            guard let t = sd[e.key] else { continue }
            #expect(t.shape == e.shape, "\(e.key)", sourceLocation: sourceLocation)
            #expect(t.dtype.rawValue == e.dtype, "\(e.key)", sourceLocation: sourceLocation)
        }
        #expect(model.parameterCount == trainable, sourceLocation: sourceLocation)
    }
}

@Suite("Model zoo")
struct ModelZooTests {
    @Test func mlpClassifierMatchesPyTorchStateDict() throws {
        let model = MLPClassifier(inDim: 784, hiddenDims: [512, 256, 128], numClasses: 10, dropout: 0.4)
        try ExpectedState.load("MLPClassifier(784,[512,256,128],10,0.4)").check(model)
    }

    @Test func selfNormalizingNetMatchesPyTorchStateDict() throws {
        try ExpectedState.load("SelfNormalizingNet(20,64,3)").check(SelfNormalizingNet(inDim: 20, hiddenDim: 64, numClasses: 3))
    }

    @Test func smallCNNMatchesPyTorchStateDict() throws {
        try ExpectedState.load("SmallCNN(10)").check(SmallCNN(inChannels: 3, numClasses: 10))
    }

    @Test func transformerBlockMatchesPyTorchStateDict() throws {
        try ExpectedState.load("TransformerBlock(512,8,2048)").check(TransformerBlock(embedDim: 512, numHeads: 8, ffDim: 2048))
    }

    /// Loads `model.<key>` from a PyTorch-written interop file and compares the eval output.
    func checkInterop(_ file: String, _ model: Module) throws {
        let sd = try StateDict(contentsOf: Fixtures.url("models/\(file).safetensors"))
        try model.loadStateDict(sd.scoped("model"))
        model.eval()
        let input = try #require(sd["input"]), want = try #require(sd["output"])
        let got = withNoGrad { model(input) }
        #expect(got.shape == want.shape)
        let g = got.scalars, w = want.scalars
        var worst = 0.0
        for (a, b) in zip(g, w) { worst = max(worst, Double(abs(a - b)) - (1e-5 + 1e-4 * Double(abs(b)))) }
        #expect(worst <= 0, "\(file): tolerance exceeded by \(worst)")
    }

    @Test func interopMLP() throws {
        try checkInterop("interop_mlp", MLPClassifier(inDim: 20, hiddenDims: [16, 8], numClasses: 3, dropout: 0.3))
    }

    @Test func interopSmallCNN() throws {
        try checkInterop("interop_small_cnn", SmallCNN(inChannels: 3, numClasses: 10))
    }

    @Test func interopTransformerBlock() throws {
        try checkInterop("interop_transformer_block", TransformerBlock(embedDim: 16, numHeads: 4, ffDim: 32))
    }

    @Test func weightsOnlyFilesLoadStrictly() throws {
        let cases: [(String, Module)] = [
            ("interop_mlp", MLPClassifier(inDim: 20, hiddenDims: [16, 8], numClasses: 3, dropout: 0.3)),
            ("interop_small_cnn", SmallCNN(inChannels: 3, numClasses: 10)),
            ("interop_transformer_block", TransformerBlock(embedDim: 16, numHeads: 4, ffDim: 32)),
        ]
        for (file, model) in cases {
            let sd = try StateDict(contentsOf: Fixtures.url("models/\(file).weights.safetensors"))
            let r = try model.loadStateDict(sd)
            #expect(r.isComplete, "\(file)")
        }
    }

    @Test func nestedSequentialKeys() {
        let net = Sequential { Linear(4, 8); BatchNorm1d(8); ReLU() }
        #expect(net.stateDict().keys == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked"])
        final class Wrapper: Module {
            let net = Sequential { Linear(2, 3); BatchNorm1d(3) }
            override func forward(_ x: Tensor) -> Tensor { net(x) }
        }
        #expect(Wrapper().namedBuffers().map(\.0) == ["net.1.running_mean", "net.1.running_var", "net.1.num_batches_tracked"])
    }

    @Test func loadingWithoutNumBatchesTrackedFillsZero() throws {
        let model = MLPClassifier(inDim: 4, hiddenDims: [3], numClasses: 2)
        let bn = model.net[1] as! BatchNorm1d
        bn.numBatchesTracked = 7
        var sd = model.stateDict().cloned()
        sd["net.1.num_batches_tracked"] = nil
        let r = try model.loadStateDict(sd)
        #expect(r.isComplete)
        #expect(bn.numBatchesTracked == 0)
    }

    @Test func descriptionOfMLP() {
        let model = MLPClassifier(inDim: 784, hiddenDims: [512], numClasses: 10, dropout: 0.4)
        #expect(model.description == """
            MLPClassifier(
              (net): Sequential(
                (0): Linear(in_features=784, out_features=512, bias=True)
                (1): BatchNorm1d(512, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)
                (2): ReLU()
                (3): Dropout(p=0.4, inplace=False)
                (4): Linear(in_features=512, out_features=10, bias=True)
              )
            )
            """)
    }

    @Test func freezeBatchNormSurvivesTrain() {
        let model = MLPClassifier(inDim: 6, hiddenDims: [5, 4], numClasses: 3)
        let all = model.parameterCount
        freezeBatchNorm(model)
        model.train()
        let bns = model.modules().compactMap { $0 as? BatchNorm1d }
        #expect(bns.count == 2)
        #expect(bns.allSatisfy { !$0.isTraining && $0.weight!.requiresGrad == false && $0.bias!.requiresGrad == false })
        #expect(model.isTraining && model.net[0].isTraining && model.net[3].isTraining)
        #expect(model.parameterCount == all - 2 * (5 + 4))
        // Frozen BN neither updates its running statistics nor gets gradients.
        let before = bns[0].runningMean!.scalars
        let x = Tensor.randn([8, 6])
        model(x).sum().backward()
        #expect(bns[0].runningMean!.scalars == before)
        #expect(bns[0].numBatchesTracked == 0)
        #expect(bns[0].weight!.grad == nil)
        #expect(model.net[0].parameters()[0].grad != nil)
        unfreezeBatchNorm(model)
        #expect(bns.allSatisfy { $0.isTraining && $0.weight!.requiresGrad })
        #expect(model.parameterCount == all)
        model.eval()
        unfreezeBatchNorm(model)
        #expect(bns.allSatisfy { !$0.isTraining })
    }

    @Test func dynamicDropoutChangesEveryLayer() {
        let model = DynamicDropoutNet(inDim: 10, hiddenDims: [8, 6], numClasses: 2, dropout: 0.5)
        #expect(model.dropout == 0.5)
        model.setDropout(0.2)
        let ps = model.modules().compactMap { ($0 as? Dropout)?.p }
        #expect(ps == [0.2, 0.2])
        #expect(model.stateDict().keys == ["net.0.weight", "net.0.bias", "net.3.weight", "net.3.bias", "net.6.weight", "net.6.bias"])
        model.eval()
        let x = Tensor.randn([4, 10])
        #expect(model(x).shape == [4, 2])
    }

    @Test func smallCNNForwardShapes() {
        let cnn = SmallCNN(inChannels: 1, numClasses: 10)
        cnn.eval()
        #expect(withNoGrad { cnn(Tensor.randn([2, 1, 12, 12])) }.shape == [2, 10])
    }

    /// A training step reaches every parameter: no op on the way detaches the graph.
    @Test func everyParameterGetsAGradientInTraining() {
        let cases: [(Module, Tensor)] = [
            (MLPClassifier(inDim: 6, hiddenDims: [5, 4], numClasses: 3, dropout: 0.2), Tensor.randn([4, 6])),
            (SelfNormalizingNet(inDim: 6, hiddenDim: 5, numClasses: 3), Tensor.randn([4, 6])),
            (DynamicDropoutNet(inDim: 6, hiddenDims: [5], numClasses: 3), Tensor.randn([4, 6])),
            (SmallCNN(inChannels: 2, numClasses: 3), Tensor.randn([2, 2, 8, 8])),
            (TransformerBlock(embedDim: 8, numHeads: 2, ffDim: 16), Tensor.randn([2, 3, 8])),
        ]
        for (model, x) in cases {
            model.train()
            model(x).pow(2).mean().backward()
            for (name, p) in model.namedParameters() {
                #expect(p.grad != nil && p.grad!.shape == p.shape, "\(model.typeName).\(name)")
            }
            model.zeroGrad()
            #expect(model.parameters().allSatisfy { $0.grad == nil })
        }
    }

    @Test func transformerBlockMasksAndShapes() {
        let block = TransformerBlock(embedDim: 8, numHeads: 2, ffDim: 16)
        block.eval()
        let x = Tensor.randn([2, 4, 8])
        let pad = Tensor([false, false, false, true, false, false, true, true], shape: [2, 4])
        let y = withNoGrad { block(x, keyPaddingMask: pad) }
        #expect(y.shape == [2, 4, 8])
        // Padding keys do not influence the other positions: changing them leaves row 0 alone.
        let x2 = x.clonedData()
        for j in 0..<8 { x2.setValue(100, at: 3 * 8 + j) }
        let y2 = withNoGrad { block(x2, keyPaddingMask: pad) }
        let a = y.scalars, b = y2.scalars
        #expect((0..<8).allSatisfy { abs(a[$0] - b[$0]) < 1e-5 })
        #expect(withNoGrad { block(x) }.shape == [2, 4, 8])
    }

    @Test func descriptionOfTransformerBlock() {
        #expect(TransformerBlock(embedDim: 16, numHeads: 4, ffDim: 32).description == """
            TransformerBlock(
              (attn): MultiheadAttention(
                (out_proj): NonDynamicallyQuantizableLinear(in_features=16, out_features=16, bias=True)
              )
              (ff): Sequential(
                (0): Linear(in_features=16, out_features=32, bias=True)
                (1): GELU(approximate='none')
                (2): Linear(in_features=32, out_features=16, bias=True)
              )
              (norm1): LayerNorm((16,), eps=1e-05, elementwise_affine=True, bias=True)
              (norm2): LayerNorm((16,), eps=1e-05, elementwise_affine=True, bias=True)
              (drop): Dropout(p=0.1, inplace=False)
            )
            """)
    }
}
