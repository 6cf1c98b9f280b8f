import TensorCore
import NN

/// Finds the classic BatchNorm and Dropout mistakes in a model before they cost a training run:
/// evaluating in training mode, a batch too small for BatchNorm, Keras's momentum convention,
/// running statistics never updated, a redundant bias before BatchNorm, Dropout feeding
/// BatchNorm, AlphaDropout without SELU, and more. PyTorch accepts all of these silently.
///
/// ```swift
/// let model = MLPClassifier(inDim: 784, hiddenDims: [512], numClasses: 10)
/// for d in Doctor.examine(model, purpose: .evaluation, batchSize: 64) { print(d) }
/// // error [train-mode-for-evaluation] net.1: BatchNorm1d is in training mode … Fix: call model.eval() …
/// ```
public enum Doctor {
    /// What the model is about to be used for; some checks only make sense for one of them.
    public enum Purpose: Sendable {
        case training, evaluation, unspecified
    }

    /// Runs every check on `model` and returns the findings, most serious first.
    /// - Parameters:
    ///   - purpose: what the model is about to do (mode checks need it).
    ///   - batchSize: the training batch size, if known (batch-size checks need it).
    public static func examine(_ model: Module, purpose: Purpose = .unspecified, batchSize: Int? = nil) -> [Diagnosis] {
        let modules = model.namedModules()
        var found: [Diagnosis] = []
        found += ModeChecks.run(modules, purpose: purpose)
        found += StatisticsChecks.run(modules, purpose: purpose, batchSize: batchSize)
        found += ArchitectureChecks.run(modules)
        found += WeightChecks.run(modules)
        // Stable order: severity first, then where in the model.
        let order = Dictionary(uniqueKeysWithValues: modules.enumerated().map { ($0.element.0.isEmpty ? "model" : $0.element.0, $0.offset) })
        return found.enumerated().sorted { a, b in
            if a.element.severity != b.element.severity { return a.element.severity > b.element.severity }
            let pa = order[a.element.path] ?? 0, pb = order[b.element.path] ?? 0
            return pa != pb ? pa < pb : a.offset < b.offset
        }.map(\.element)
    }

    /// A printable report: one finding per line, or a line saying all is well.
    public static func report(_ diagnoses: [Diagnosis]) -> String {
        if diagnoses.isEmpty { return "No BatchNorm or Dropout problems found." }
        return diagnoses.map(\.description).joined(separator: "\n")
    }
}

/// Module kinds the checks reason about.
enum Kind {
    static func isBatchNorm(_ m: Module) -> Bool { m is BatchNormBase }
    static func isModeDependent(_ m: Module) -> Bool { m is BatchNormBase || m is DropoutLayer || m is InstanceNormBase }
    static func isDropout(_ m: Module) -> Bool { m is DropoutLayer }
    static func isAlphaDropout(_ m: Module) -> Bool { m is AlphaDropout || m is FeatureAlphaDropout }
    static func name(_ m: Module) -> String { m.typeName }
    /// Layers that act on each value alone (they keep Dropout's zeros where they are); each
    /// layer says so itself (``Module/isElementwise``), so user-defined activations count too.
    static func isPointwise(_ m: Module) -> Bool { m.isElementwise }
}
