/// One finding of ``Doctor``: which check fired, how serious it is, where in the model, and what
/// to do about it.
public struct Diagnosis: Equatable, Sendable, CustomStringConvertible {
    /// How serious a finding is.
    public enum Severity: Int, Comparable, Sendable, CustomStringConvertible {
        /// Works, but there is a better way.
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
    public enum Check: String, CaseIterable, Sendable {
        case trainModeForEvaluation = "train-mode-for-evaluation"
        case evalModeForTraining = "eval-mode-for-training"
        case batchNormLeftInEval = "batchnorm-left-in-eval"
        case frozenButTrainable = "frozen-but-trainable"
        case batchOfOne = "batch-of-one"
        case smallBatchForBatchNorm = "small-batch-for-batchnorm"
        case kerasStyleMomentum = "keras-style-momentum"
        case initialRunningStatistics = "initial-running-statistics"
        case badRunningStatistics = "bad-running-statistics"
        case biasBeforeBatchNorm = "bias-before-batchnorm"
        case dropoutBeforeBatchNorm = "dropout-before-batchnorm"
        case alphaDropoutWithoutSELU = "alpha-dropout-without-selu"
        case dropoutDropsEverything = "dropout-drops-everything"
        case nonFiniteWeights = "non-finite-weights"
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
