import Foundation
import TensorCore
import NN
import Optim

extension TrainingCheckpoint {
    /// Captures a live training run: the model's weights and buffers, the optimizer's and
    /// scheduler's state, and the generators' states (all copied, so training on does not change
    /// the checkpoint).
    ///
    /// ```swift
    /// let ckpt = TrainingCheckpoint(model: model, optimizer: optimizer, scheduler: scheduler,
    ///                               generators: ["default": .default, "loader": loader.generator],
    ///                               epoch: epoch + 1, bestMetric: bestAccuracy,
    ///                               architecture: #"{"model": "mlp"}"#)
    /// try ckpt.save(to: outDir.appendingPathComponent("last.safetensors"))
    /// ```
    public init(model: Module, optimizer: Optimizer? = nil, scheduler: LRScheduler? = nil,
                generators: [String: Generator] = ["default": .default], epoch: Int, bestMetric: Double? = nil,
                architecture: String? = nil, userMetadata: [String: String] = [:]) {
        self.init(model: model.stateDict().cloned(), optimizer: optimizer?.stateDict().cloned(),
                  scheduler: scheduler?.stateDict().cloned(), generators: generators.mapValues(\.state),
                  epoch: epoch, bestMetric: bestMetric, architecture: architecture, userMetadata: userMetadata)
    }

    /// Puts the saved state back into a live run built with the same arguments: model weights and
    /// buffers, optimizer state and hyperparameters (including the scheduled learning rate),
    /// scheduler counters, and the generators' states — so that training continues exactly as if
    /// it had never stopped.
    ///
    /// All or nothing: if any part does not fit (missing or mis-shaped keys, another optimizer
    /// type, a part the checkpoint does not hold), nothing is changed and the error says why.
    ///
    /// ```swift
    /// let ckpt = try TrainingCheckpoint(contentsOf: resumeURL)
    /// try ckpt.restore(into: model, optimizer: optimizer, scheduler: scheduler,
    ///                  generators: ["default": .default, "loader": loader.generator])
    /// for epoch in ckpt.epoch..<epochs { … }
    /// ```
    public func restore(into model: Module, optimizer: Optimizer? = nil, scheduler: LRScheduler? = nil,
                        generators: [String: Generator] = ["default": .default]) throws(CheckpointError) {
        // Check what can be checked without touching anything.
        if optimizer != nil && self.optimizer == nil { throw .missingPart("optimizer") }
        if scheduler != nil && self.scheduler == nil { throw .missingPart("scheduler") }
        for name in generators.keys.sorted() where self.generators[name] == nil {
            throw .missingPart("generator '\(name)'")
        }
        // Snapshots to roll back to if a later part fails (each loader checks before it writes).
        let modelBackup = model.stateDict().cloned()
        let optimizerBackup = optimizer?.stateDict().cloned()
        do throws(StateDictError) {
            try model.loadStateDict(self.model, strict: true)
        } catch {
            throw .stateDict(error)
        }
        do throws(OptimizerStateError) {
            if let optimizer, let saved = self.optimizer { try optimizer.loadStateDict(saved) }
            if let scheduler, let saved = self.scheduler { try scheduler.loadStateDict(saved) }
        } catch {
            _ = try? model.loadStateDict(modelBackup, strict: true)
            if let optimizer, let optimizerBackup { try? optimizer.loadStateDict(optimizerBackup) }
            throw .optimizerState(error.description)
        }
        for (name, g) in generators { g.state = self.generators[name]! }
    }
}
