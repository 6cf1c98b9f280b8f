import Foundation
import Testing
import SwiftNN
import TestSupport

/// Layers are written as PyTorch code writes them: required arguments positional, the rest
/// labelled with PyTorch's keyword. Each Swift spelling below must build the layer PyTorch builds
/// from the same call (its repr, printed by PyTorch into fixtures/tensor_api/layers.json).
@Suite struct LayerConstructionTests {
    let reference = try! JSONFixture.load("tensor_api/layers.json")

    @Test func positionalFormsBuildPyTorchsLayers() throws {
        let reprs = try #require(reference["reprs"] as? [String: String])
        let built: [(String, Module)] = [
            ("ReLU(inplace=True)", ReLU(inplace: true)), ("ReLU()", ReLU()),
            ("Conv1d(16, 33, 3, stride=2)", Conv1d(16, 33, 3, stride: 2)),
            ("Conv2d(3, 64, 3, padding=1)", Conv2d(3, 64, 3, padding: 1)),
            ("Conv2d(3, 64, 7, stride=2, padding=3, bias=False)", Conv2d(3, 64, 7, stride: 2, padding: 3, bias: false)),
            ("Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))", Conv2d(16, 33, (3, 5), stride: (2, 1), padding: (4, 2))),
            ("Conv3d(4, 8, 3, padding=1)", Conv3d(4, 8, 3, padding: 1)),
            ("Conv3d(4, 8, (3, 3, 1), padding=(1, 1, 0))", Conv3d(4, 8, (3, 3, 1), padding: (1, 1, 0))),
            ("Linear(784, 512)", Linear(784, 512)),
            ("Dropout(0.25)", Dropout(0.25)), ("Dropout1d(0.3)", Dropout1d(0.3)), ("Dropout2d(0.1)", Dropout2d(0.1)),
            ("Dropout3d(0.4)", Dropout3d(0.4)), ("AlphaDropout(0.2)", AlphaDropout(0.2)),
            ("FeatureAlphaDropout(0.2)", FeatureAlphaDropout(0.2)),
            ("MaxPool2d(2)", MaxPool2d(2)), ("AdaptiveAvgPool2d(1)", AdaptiveAvgPool2d(1)), ("Embedding(10, 3)", Embedding(10, 3)),
        ]
        for (call, module) in built {
            #expect(module.description == reprs[call], "\(call)")
        }
        // The labelled spellings build the same layers.
        #expect(Conv2d(3, 64, kernelSize: 3, padding: 1).description == reprs["Conv2d(3, 64, 3, padding=1)"])
        #expect(Conv2d(16, 33, kernelSize: [3, 5], stride: [2, 1], padding: [4, 2]).description
                == reprs["Conv2d(16, 33, (3, 5), stride=(2, 1), padding=(4, 2))"])
        #expect(Conv1d(16, 33, kernelSize: 3, stride: 2).description == reprs["Conv1d(16, 33, 3, stride=2)"])
        #expect(Conv3d(4, 8, kernelSize: 3, padding: 1).description == reprs["Conv3d(4, 8, 3, padding=1)"])
        // Norm layers' reprs gain PyTorch's `bias=` field with the norm-bias work; their positional
        // arguments are checked field by field here.
        #expect(LayerNorm(512).normalizedShape == [512])
        // GroupNorm and MultiheadAttention: positional as in PyTorch, labelled forms kept.
        let gn = GroupNorm(32, 256), labelled = GroupNorm(numGroups: 32, numChannels: 256)
        #expect(gn.numGroups == 32 && gn.numChannels == 256 && gn.eps == labelled.eps && gn.affine)
        let gn2 = GroupNorm(4, 8, eps: 1e-3, affine: false)
        #expect(gn2.numGroups == 4 && gn2.eps == 1e-3 && gn2.weight == nil)
        let mha = MultiheadAttention(512, 8, batchFirst: true)
        #expect(mha.embedDim == 512 && mha.numHeads == 8 && mha.batchFirst)
        #expect(mha.stateDict().keys == MultiheadAttention(embedDim: 512, numHeads: 8).stateDict().keys)
    }

    @Test func everyDropoutClassHasTheSameThreeForms() throws {
        let classes: [DropoutLayer.Type] = [Dropout.self, Dropout1d.self, Dropout2d.self, Dropout3d.self,
                                           AlphaDropout.self, FeatureAlphaDropout.self]
        for cls in classes {
            let name = String(describing: cls)
            let a = cls.init(p: 0.3), b = cls.init(0.3), c = try cls.init(validating: 0.3, inplace: true)
            #expect(a.p == 0.3 && b.p == 0.3 && c.p == 0.3 && c.inplace)
            #expect(a.variant == cls.variantApplied && a.variant.moduleName == name)
            #expect(a.description == "\(name)(p=0.3, inplace=False)")
            #expect(cls.init().p == 0.5)
            #expect(throws: UsageError.self) { try cls.init(validating: 1.5) }
        }
    }

    @Test func reluInPlaceWritesInPlaceWithoutGradients() {
        let x = Tensor([-1, 2, -3, 4] as [Float], shape: [4])
        let y = ReLU(inplace: true)(x)
        #expect(y === x && x.scalars == [0, 2, 0, 4])
        let w = Tensor([-1, 5] as [Float], shape: [2], requiresGrad: true)
        let z = withNoGrad { ReLU(inplace: true)(w) }          // allowed on a leaf under no_grad, as in PyTorch
        #expect(z === w && w.scalars == [0, 5])
        let v = Tensor([-2, 3] as [Float], shape: [2])
        inferenceMode { _ = Sequential(Identity(), ReLU(inplace: true))(v) }
        #expect(v.scalars == [0, 3])
    }

    @Test func reluInPlaceGivesPyTorchsGradients() throws {
        // Linear → ReLU(inplace=True), float64, against PyTorch's values.
        let r = try #require(reference["linear_relu"] as? [String: Any])
        let lin = Linear(3, 5, dtype: .float64)
        lin.weight.copyData(from: Tensor(JSONFixture.doubles(r["weight"]), shape: [5, 3]))
        lin.bias!.copyData(from: Tensor(JSONFixture.doubles(r["bias"]), shape: [5]))
        let x = Tensor(JSONFixture.doubles(r["x"]), shape: [4, 3])
        let y = Sequential(lin, ReLU(inplace: true))(x)
        #expect(allClose(y, Tensor(JSONFixture.doubles(r["output"]), shape: [4, 5])))
        y.sum().backward()
        #expect(allClose(try #require(lin.weight.grad), Tensor(JSONFixture.doubles(r["grad_weight"]), shape: [5, 3])))
        #expect(allClose(try #require(lin.bias?.grad), Tensor(JSONFixture.doubles(r["grad_bias"]), shape: [5])))
        // Where PyTorch fails at backward (sigmoid's output overwritten), the values are kept and
        // the gradients are right.
        #expect((reference["saved_error"] as? String)?.contains("modified by an inplace operation") == true)
        let z = Tensor([-1, 0.5] as [Double], shape: [2], requiresGrad: true)
        let s = z.sigmoid()
        let t = s.relu_()
        t.sum().backward()
        let sig = [-1.0, 0.5].map { 1 / (1 + exp(-$0)) }
        #expect(allClose(try #require(z.grad), Tensor(sig.map { $0 * (1 - $0) }, shape: [2])))
    }

    @Test func reluInPlaceRefusesALeafThatRequiresGrad() async throws {
        let message = try #require(reference["leaf_error"] as? String)
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let w = Tensor([-1, 5] as [Float], shape: [2], requiresGrad: true)
            _ = ReLU(inplace: true)(w)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains(message))
    }

    @Test func inPlaceActivationsRefuseALeafThatRequiresGrad() async throws {
        let message = try #require(reference["leaf_error"] as? String)
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            let w = Tensor([-1, 5] as [Float], shape: [2], requiresGrad: true)
            _ = SiLU(inplace: true)(w)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains(message) && stderr.contains("silu_"))
    }

    @Test func hardtanhNeedsMaxAboveMin() async throws {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Hardtanh(minVal: 1, maxVal: 1)
        }
        let stderr = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(stderr.contains("max_val (1.0) must be greater than min_val (1.0)"))
    }

    @Test func parameterPrintsAsInPyTorch() {
        let p = Parameter(Tensor([1, 2] as [Float], shape: [2]))
        #expect(p.description == "Parameter containing:\ntensor([1., 2.], requires_grad=True)")
        let y = p * 2
        #expect(y.description == "tensor([2., 4.], grad_fn=<MulBackward0>)")
        #expect(Buffer(Tensor([3] as [Int64], shape: [1])).description == "tensor([3])")
    }
}
