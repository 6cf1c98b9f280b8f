import TensorCore

/// A state dict that does not fit a model: every missing, unexpected and mis-shaped key, in
/// PyTorch's words.
///
/// ```
/// Error(s) in loading state_dict for MLPClassifier:
///     Missing key(s) in state_dict: "net.0.bias".
///     Unexpected key(s) in state_dict: "net.0.extra".
///     size mismatch for net.0.weight: copying a param with shape [3, 4] from checkpoint, the shape in current model is [4, 4].
/// ```
public struct StateDictError: Error, CustomStringConvertible, Equatable, Sendable {
    public struct Mismatch: Equatable, Sendable {
        public var key: String
        public var checkpointShape: [Int]
        public var modelShape: [Int]
        /// Set when the dtypes cannot be converted (e.g. int64 into float32).
        public var checkpointDType: DType?
        public var modelDType: DType?
        public init(key: String, checkpointShape: [Int], modelShape: [Int], checkpointDType: DType? = nil, modelDType: DType? = nil) {
            self.key = key
            self.checkpointShape = checkpointShape
            self.modelShape = modelShape
            self.checkpointDType = checkpointDType
            self.modelDType = modelDType
        }
    }

    /// The model's class name.
    public var modelName: String
    public var missingKeys: [String]
    public var unexpectedKeys: [String]
    /// Keys whose shape (or dtype) differs.
    public var mismatched: [Mismatch]
    /// The mis-shaped keys.
    public var mismatchedKeys: [String] { mismatched.map(\.key) }

    public init(modelName: String, missingKeys: [String], unexpectedKeys: [String], mismatched: [Mismatch]) {
        self.modelName = modelName
        self.missingKeys = missingKeys
        self.unexpectedKeys = unexpectedKeys
        self.mismatched = mismatched
    }

    public var description: String {
        var lines = ["Error(s) in loading state_dict for \(modelName):"]
        func quoted(_ ks: [String]) -> String { ks.map { "\"\($0)\"" }.joined(separator: ", ") }
        if !missingKeys.isEmpty { lines.append("\tMissing key(s) in state_dict: \(quoted(missingKeys)).") }
        if !unexpectedKeys.isEmpty { lines.append("\tUnexpected key(s) in state_dict: \(quoted(unexpectedKeys)).") }
        for m in mismatched {
            if let cd = m.checkpointDType, let md = m.modelDType {
                lines.append("\tdtype mismatch for \(m.key): copying a param of dtype \(cd) from checkpoint, the dtype in current model is \(md).")
            } else {
                lines.append("\tsize mismatch for \(m.key): copying a param with shape \(shapeString(m.checkpointShape)) from checkpoint, the shape in current model is \(shapeString(m.modelShape)).")
            }
        }
        return lines.joined(separator: "\n")
    }
}
