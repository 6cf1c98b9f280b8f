import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import Autograd
import NN
import TestSupport

/// ReLU as a module, local to this test so it depends only on the op.
private final class ReLUStage: Module {
    override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// The tutorial's MLPClassifier(in 20, hidden [16, 8], 3 classes), written with the layers.
private final class InteropMLP: Module {
    let net: Sequential
    override init() {
        net = Sequential([Linear(20, 16), BatchNorm1d(16), ReLUStage(), Dropout(p: 0.3),
                          Linear(16, 8), BatchNorm1d(8), ReLUStage(), Dropout(p: 0.3),
                          Linear(8, 3)])
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { net(x) }
}

@Suite struct PyTorchInteropTests {
    /// A state dict PyTorch wrote with `safetensors.torch.save_file(model.state_dict())` loads
    /// strictly into the same model written in Swift, which then gives PyTorch's eval output.
    @Test func pytorchWeightsFileLoadsAndReproducesTheOutput() throws {
        let model = InteropMLP()
        let result = try model.load(contentsOf: Fixtures.url("models/interop_mlp.weights.safetensors"))
        #expect(result.isComplete)
        model.eval()
        let reference = try StateDict(contentsOf: Fixtures.url("models/interop_mlp.safetensors"))
        let input = try #require(reference["input"]), want = try #require(reference["output"])
        let got = withNoGrad { model(input) }
        #expect(got.shape == want.shape)
        let g = got.scalars, w = want.scalars
        for i in w.indices {
            #expect(abs(g[i] - w[i]) <= 1e-5 + 1e-4 * abs(w[i]), "output[\(i)]: \(g[i]) vs \(w[i])")
        }
        // The reference file's `model.` entries are the same weights.
        expectBitIdentical(reference.scoped("model"), try StateDict(contentsOf: Fixtures.url("models/interop_mlp.weights.safetensors")).reorderedLike(reference.scoped("model")))
    }

    /// What SwiftNN saves has PyTorch's keys, so a model saved here loads back into the same
    /// architecture strictly (PyTorch's `load_state_dict(strict=True)` sees the same keys).
    @Test func savedModelHasPyTorchKeys() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("best.safetensors")
        let model = InteropMLP()
        try model.load(contentsOf: Fixtures.url("models/interop_mlp.weights.safetensors"))
        try model.save(to: url)
        let saved = try StateDict(contentsOf: url)
        let pytorch = try StateDict(contentsOf: Fixtures.url("models/interop_mlp.weights.safetensors"))
        #expect(Set(saved.keys) == Set(pytorch.keys))
        expectBitIdentical(saved, pytorch.reorderedLike(saved))
    }
}

extension StateDict {
    /// The same entries in `other`'s key order (entries `other` lacks go last).
    func reorderedLike(_ other: StateDict) -> StateDict {
        let order = other.keys.filter { self[$0] != nil } + keys.filter { other[$0] == nil }
        return StateDict(order.map { ($0, self[$0]!) }, metadata: metadata)
    }
}
