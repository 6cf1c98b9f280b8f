import Foundation
import SwiftNN

/// Rebuilds the model a checkpoint's metadata describes and loads its weights and buffers
/// (plain weights like best.safetensors, or the model part of a training checkpoint).
///
/// The file is outside data: its header is checked against the architecture (every tensor's key
/// and shape) before the model is built, so the model can never be larger than what the file
/// holds. With `requireFinite`, NaN or infinite weights are refused. Every failure is a one-line
/// ``CLIError``.
func loadCheckpointModel(_ url: URL, requireFinite: Bool = false) throws -> (spec: ModelSpec, model: Module) {
    let path = url.path
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw CLIError("\(path): file not found") }
    guard !isDir.boolValue, (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular else {
        throw CLIError("\(path): not a regular file")
    }
    let bytes: Foundation.Data
    do { bytes = try Foundation.Data(contentsOf: url, options: .mappedIfSafe) } catch {
        throw CLIError("\(path): cannot read file (\(error.localizedDescription))")
    }
    return try loadCheckpointModel(bytes: bytes, path: path, requireFinite: requireFinite)
}

/// ``loadCheckpointModel(_:requireFinite:)`` on a file's bytes (`path` labels errors); the
/// fuzz target `FuzzCheckpointModel` feeds it crafted files. `spec` replaces the file's
/// architecture metadata (weights saved elsewhere, see `loadZooCheckpoint`).
func loadCheckpointModel(bytes: Foundation.Data, path: String, requireFinite: Bool = false, spec given: ModelSpec? = nil) throws -> (spec: ModelSpec, model: Module) {
    let header: SafetensorsHeader
    do { header = try Safetensors.header(of: bytes) } catch { throw CLIError("\(path): \(error)") }
    let spec = try given ?? ModelSpec(metadata: header.metadata, source: path)
    let isTraining = header.metadata["format"] == "swiftnn.training_checkpoint"
    var fileShapes: [String: [Int]] = [:]
    for e in header.entries {
        if isTraining {
            guard e.name.hasPrefix("model.") else { continue }
            fileShapes[String(e.name.dropFirst(6))] = e.shape
        } else {
            fileShapes[e.name] = e.shape
        }
    }
    let expected = spec.expectedStateShapes
    for (key, shape) in expected {
        guard let found = fileShapes[key] else { throw CLIError("\(path): the architecture needs tensor '\(key)' \(shape), which the file lacks") }
        guard found == shape else { throw CLIError("\(path): tensor '\(key)' has shape \(found), but the architecture needs \(shape)") }
    }
    if fileShapes.count != expected.count {
        let known = Set(expected.map(\.key))
        let extra = fileShapes.keys.filter { !known.contains($0) }.sorted()
        throw CLIError("\(path): tensors not in the architecture: \(extra.prefix(5).joined(separator: ", "))\(extra.count > 5 ? " …" : "")")
    }
    let model = try spec.build()
    do {
        let sd = try StateDict(safetensorsData: bytes, convertingHalfPrecision: true)
        _ = try model.loadStateDict(isTraining ? sd.scoped("model") : sd, strict: true)
    } catch {
        throw CLIError("\(path): \(error)")
    }
    if requireFinite, let (key, v) = firstNonFiniteState(model) {
        throw CLIError("\(path): \(key) holds \(describeValue(Double(v))); the weights are not usable (did the training diverge?)")
    }
    return (spec, model)
}
