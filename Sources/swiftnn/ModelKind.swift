import SwiftNN

/// The architectures `swiftnn train` builds, as `--model` spells them and checkpoint metadata
/// stores them. Everything that differs between them is asked here, so a new architecture is
/// one new case.
enum ModelKind: String, Codable, CaseIterable {
    /// The tutorial's MLPClassifier on flattened images.
    case mlp
    /// SmallCNN on images.
    case cnn

    /// The `--model` value (any case: `--model CNN` works too), or the one-line error naming the
    /// choices.
    init(parsing argument: String) throws(CLIError) {
        guard let kind = ModelKind(rawValue: argument.lowercased()) else {
            throw CLIError("unknown model '\(argument)' (expected one of: \(ModelKind.listing))")
        }
        self = kind
    }

    /// The zoo class behind the name.
    var className: String {
        switch self {
        case .mlp: "MLPClassifier"
        case .cnn: "SmallCNN"
        }
    }

    /// The dropout of the model's recipe: 0.4 for the MLP as in the tutorial, SmallCNN's default 0.5.
    var defaultDropout: Double {
        switch self {
        case .mlp: 0.4
        case .cnn: 0.5
        }
    }

    /// Whether the model takes each example as one flat vector.
    var flattensInput: Bool { self == .mlp }

    /// `mlp (MLPClassifier), cnn (SmallCNN)`, for help texts and errors.
    static var listing: String {
        allCases.map { "\($0.rawValue) (\($0.className))" }.joined(separator: ", ")
    }
}
