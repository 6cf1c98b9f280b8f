import Foundation
import NN

/// Why a checkpoint could not be loaded into a model (or a training run restored).
///
/// ```swift
/// do {
///     try model.load(contentsOf: url)
/// } catch {
///     print(error)    // one line per problem: bad file, missing keys, wrong shapes …
/// }
/// ```
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file is unreadable or not valid safetensors.
    case file(SafetensorsError)
    /// The weights do not fit the model (missing, unexpected or mis-shaped keys).
    case stateDict(StateDictError)
    /// The file is valid safetensors but not a training checkpoint, or one this version cannot read.
    case notATrainingCheckpoint(String)
    /// A training checkpoint whose metadata field `key` is missing or unreadable.
    case invalidField(key: String, reason: String)
    /// Restoring asked for a part (optimizer, scheduler, generator) the checkpoint does not hold.
    case missingPart(String)
    /// The saved optimizer or scheduler state does not fit the one being restored.
    case optimizerState(String)

    public var description: String {
        switch self {
        case .file(let e): e.description
        case .stateDict(let e): e.description
        case .notATrainingCheckpoint(let why): "checkpoint: not a SwiftNN training checkpoint: \(why)"
        case .invalidField(let key, let why): "checkpoint: metadata '\(key)' \(why)"
        case .missingPart(let part): "checkpoint: the checkpoint holds no \(part) state"
        case .optimizerState(let why): "checkpoint: \(why)"
        }
    }
}
