import Foundation
import TensorCore
import NN

extension Module {
    /// Loads weights from a safetensors file into this model, in place.
    ///
    /// Accepts a plain state dict (as written by ``save(to:metadata:)`` or by PyTorch's
    /// `safetensors.torch.save_file(model.state_dict())`) or a ``TrainingCheckpoint`` (its `model.`
    /// part is used). F16/BF16 weights are widened to float32. With `strict: true` every key must
    /// match; with `strict: false` the missing and unexpected keys are returned. Shapes must always
    /// match, and on any error the model is left unchanged.
    ///
    /// ```swift
    /// let model = MLPClassifier(inDim: 784, hiddenDims: [512, 256, 128], numClasses: 10)
    /// try model.load(contentsOf: URL(fileURLWithPath: "best.safetensors"))
    /// model.eval()
    /// ```
    @discardableResult
    public func load(contentsOf url: URL, strict: Bool = true) throws(CheckpointError) -> LoadResult {
        let file: StateDict
        do throws(SafetensorsError) {
            file = try StateDict(contentsOf: url, convertingHalfPrecision: true)
        } catch {
            throw .file(error)
        }
        let weights = TrainingCheckpoint.isTrainingCheckpoint(file) ? file.scoped(TrainingCheckpoint.modelPrefix) : file
        do throws(StateDictError) {
            return try loadStateDict(weights, strict: strict)
        } catch {
            throw .stateDict(error)
        }
    }

    /// Writes this model's state dict (PyTorch's keys and order) as a safetensors file, atomically,
    /// with `metadata` in its `__metadata__` (e.g. the architecture, so the file can be evaluated
    /// without repeating the flags). PyTorch loads it with `load_state_dict(load_file(path))`.
    ///
    /// ```swift
    /// try model.save(to: URL(fileURLWithPath: "best.safetensors"),
    ///                metadata: ["architecture": #"{"model": "mlp", "hidden": [512, 256, 128]}"#])
    /// ```
    public func save(to url: URL, metadata: [String: String] = [:]) throws(SafetensorsError) {
        var sd = stateDict()
        sd.metadata = metadata
        try sd.save(to: url)
    }
}
