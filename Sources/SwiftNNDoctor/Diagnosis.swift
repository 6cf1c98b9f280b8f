/// One finding of ``Doctor``: which check fired, how serious it is, where in the model, and what
/// to do about it.
public struct Diagnosis: Equatable, Sendable, Codable, CustomStringConvertible {
    /// How serious a finding is.
    public enum Severity: Int, Comparable, Sendable, Codable, CustomStringConvertible {
        /// Works, but there is a better way (or: would go wrong if the model were used otherwise).
        case advice
        /// Very likely a mistake that silently costs accuracy.
        case warning
        /// Wrong results or a crash ahead.
        case error

        public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
        public var description: String {
            switch self {
            case .advice: "advice"
            case .warning: "warning"
            case .error: "error"
            }
        }
    }

    /// The classic normalization and dropout mistakes Doctor knows.
    public enum Check: String, CaseIterable, Sendable, Codable {
        case trainModeForEvaluation = "train-mode-for-evaluation"
        case evalModeForTraining = "eval-mode-for-training"
        case batchNormLeftInEval = "batchnorm-left-in-eval"
        case frozenButTrainable = "frozen-but-trainable"
        /// Mistake five, first form: the weights feeding a BatchNorm are frozen, the BatchNorm
        /// still trains and its running statistics drift away from what the frozen layers saw.
        case batchNormTrainsUnderFrozenWeights = "batchnorm-trains-under-frozen-weights"
        /// Mistake five, second form: BatchNorm frozen by hand (`eval()`, `requires_grad = False`),
        /// then switched back to training by the next `model.train()`.
        case batchNormUnfrozenByTrain = "batchnorm-unfrozen-by-train"
        case batchOfOne = "batch-of-one"
        case smallBatchForBatchNorm = "small-batch-for-batchnorm"
        case kerasStyleMomentum = "keras-style-momentum"
        case initialRunningStatistics = "initial-running-statistics"
        case badRunningStatistics = "bad-running-statistics"
        case nonFiniteWeights = "non-finite-weights"
        case biasBeforeBatchNorm = "bias-before-batchnorm"
        case dropoutBeforeBatchNorm = "dropout-before-batchnorm"
        /// Dropout probability well above the tutorial's table for the layer's width and kind.
        case dropoutAboveTable = "dropout-above-table"
        case alphaDropoutWithoutSELU = "alpha-dropout-without-selu"
        case dropoutDropsEverything = "dropout-drops-everything"
        /// Attention dropout still active when the model is evaluated.
        case attentionDropoutInEvaluation = "attention-dropout-in-evaluation"
        /// A module gives different outputs for the same input in eval mode (a random operation
        /// that ignores `eval()`, such as a functional dropout called with `training: true`).
        case randomInEvaluation = "random-in-evaluation"
        /// The doctor could not run a forward pass, so the checks that follow the data did not run.
        case dataNotFollowed = "data-not-followed"
    }

    public let check: Check
    public let severity: Severity
    /// The module's state-dict prefix (`"net.1"`), or `"model"` for the root.
    public let path: String
    /// What is wrong.
    public let message: String
    /// What to do instead.
    public let fix: String

    public init(_ check: Check, _ severity: Severity, path: String, _ message: String, fix: String) {
        self.check = check
        self.severity = severity
        self.path = path.isEmpty ? "model" : path
        self.message = message
        self.fix = fix
    }

    public var description: String { "\(severity) [\(check.rawValue)] \(path): \(message) Fix: \(fix)" }
}
