import Foundation
import TensorCore
import NN

/// Everything needed to resume a training run exactly, saved atomically as one safetensors file:
/// the model's state dict, the optimizer's and scheduler's state, the random generators' states,
/// the epoch, the best validation metric so far, and a description of the architecture.
///
/// ## File layout
/// Tensors are stored under prefixes — `model.<key>` (PyTorch's state-dict keys), `optim.<key>`,
/// `scheduler.<key>` — and each part's string metadata under the same prefix in `__metadata__`.
/// The other metadata fields: `format` (`swiftnn.training_checkpoint`), `format_version` (`1`),
/// `parts` (e.g. `model,optim,scheduler`), `epoch`, `best_metric` (optional), `architecture`
/// (optional, free-form — the CLI stores JSON), `rng.<name>` (`seed:offset` of a ``Generator``),
/// and `user.<key>` for anything else.
///
/// ```swift
/// var ckpt = TrainingCheckpoint(model: model.stateDict(), epoch: 3)
/// ckpt.optimizer = optimizer.stateDict()
/// ckpt.generators["default"] = Generator.default.state
/// ckpt.bestMetric = 0.953
/// try ckpt.save(to: URL(fileURLWithPath: "last.safetensors"))
///
/// let back = try TrainingCheckpoint(contentsOf: URL(fileURLWithPath: "last.safetensors"))
/// try model.loadStateDict(back.model)
/// ```
public struct TrainingCheckpoint {
    /// The model's state dict.
    public var model: StateDict
    /// The optimizer's state dict (`optimizer.stateDict()`), if saved.
    public var optimizer: StateDict?
    /// The learning-rate scheduler's state dict (`scheduler.stateDict()`), if saved.
    public var scheduler: StateDict?
    /// Random generator states by name (`"default"` for `Generator.default`, `"loader"` for a DataLoader's …).
    public var generators: [String: Generator.State]
    /// The number of completed epochs.
    public var epoch: Int
    /// The best validation metric so far (e.g. accuracy), if any.
    public var bestMetric: Double?
    /// A description of the model architecture, so the checkpoint can be rebuilt without flags.
    public var architecture: String?
    /// Other string metadata (metrics history, command line …).
    public var userMetadata: [String: String]

    public init(model: StateDict, optimizer: StateDict? = nil, scheduler: StateDict? = nil,
                generators: [String: Generator.State] = [:], epoch: Int, bestMetric: Double? = nil,
                architecture: String? = nil, userMetadata: [String: String] = [:]) {
        self.model = model
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.generators = generators
        self.epoch = epoch
        self.bestMetric = bestMetric
        self.architecture = architecture
        self.userMetadata = userMetadata
    }

    static let formatName = "swiftnn.training_checkpoint"
    static let formatVersion = 1
    static let modelPrefix = "model"
    static let optimizerPrefix = "optim"
    static let schedulerPrefix = "scheduler"

    /// Whether `stateDict` (a loaded file) is a training checkpoint rather than a plain state dict.
    public static func isTrainingCheckpoint(_ stateDict: StateDict) -> Bool {
        stateDict.metadata["format"] == formatName
    }

    /// The whole checkpoint as one state dict (what ``save(to:)`` writes).
    public func stateDict() throws(CheckpointError) -> StateDict {
        var out = StateDict()
        var parts: [String] = []
        func add(_ sd: StateDict, _ prefix: String) {
            parts.append(prefix)
            for (k, t) in sd { out[prefix + "." + k] = t }
            for (k, v) in sd.metadata { out.metadata[prefix + "." + k] = v }
        }
        add(model, Self.modelPrefix)
        if let optimizer { add(optimizer, Self.optimizerPrefix) }
        if let scheduler { add(scheduler, Self.schedulerPrefix) }
        out.metadata["format"] = Self.formatName
        out.metadata["format_version"] = String(Self.formatVersion)
        out.metadata["parts"] = parts.joined(separator: ",")
        guard epoch >= 0 else { throw .invalidField(key: "epoch", reason: "must not be negative, got \(epoch)") }
        out.metadata["epoch"] = String(epoch)
        if let bestMetric { out.metadata["best_metric"] = "\(bestMetric)" }
        if let architecture { out.metadata["architecture"] = architecture }
        for (name, s) in generators {
            guard !name.isEmpty else { throw .invalidField(key: "rng.", reason: "generator name is empty") }
            out.metadata["rng." + name] = "\(s.seed):\(s.offset)"
        }
        for (k, v) in userMetadata { out.metadata["user." + k] = v }
        return out
    }

    /// Rebuilds a checkpoint from the state dict ``stateDict()`` made (e.g. a loaded file).
    public init(stateDict sd: StateDict) throws(CheckpointError) {
        let meta = sd.metadata
        guard let format = meta["format"] else {
            throw .notATrainingCheckpoint("its metadata has no 'format' field (a plain state dict? load it with model.load(contentsOf:))")
        }
        guard format == Self.formatName else { throw .notATrainingCheckpoint("format is '\(format)', expected '\(Self.formatName)'") }
        guard let v = meta["format_version"], let version = Int(v) else {
            throw .invalidField(key: "format_version", reason: "is missing or not an integer")
        }
        guard version == Self.formatVersion else {
            throw .notATrainingCheckpoint("format_version \(version) is not supported (this SwiftNN reads \(Self.formatVersion))")
        }
        guard let e = meta["epoch"], let epoch = Int(e), epoch >= 0 else {
            throw .invalidField(key: "epoch", reason: "is missing or not a non-negative integer (\(meta["epoch"] ?? "absent"))")
        }
        var bestMetric: Double?
        if let b = meta["best_metric"] {
            guard let x = Double(b) else { throw .invalidField(key: "best_metric", reason: "is not a number: '\(b)'") }
            bestMetric = x
        }
        let known = [Self.modelPrefix, Self.optimizerPrefix, Self.schedulerPrefix]
        guard let p = meta["parts"] else { throw .invalidField(key: "parts", reason: "is missing") }
        let parts = p.split(separator: ",").map(String.init)
        for part in parts where !known.contains(part) {
            throw .invalidField(key: "parts", reason: "names an unknown part '\(part)'")
        }
        guard parts.contains(Self.modelPrefix) else { throw .invalidField(key: "parts", reason: "has no model part") }

        func part(_ prefix: String) -> StateDict? {
            guard parts.contains(prefix) else { return nil }
            var s = sd.scoped(prefix)
            let mp = prefix + "."
            for (k, v) in meta where k.hasPrefix(mp) { s.metadata[String(k.dropFirst(mp.count))] = v }
            return s
        }
        for key in sd.keys where !parts.contains(where: { key.hasPrefix($0 + ".") }) {
            throw .invalidField(key: key, reason: "is a tensor outside the checkpoint's parts (\(p))")
        }
        var generators: [String: Generator.State] = [:]
        for (k, v) in meta where k.hasPrefix("rng.") {
            let fields = v.split(separator: ":", omittingEmptySubsequences: false)
            guard fields.count == 2, let seed = UInt64(fields[0]), let offset = UInt64(fields[1]) else {
                throw .invalidField(key: k, reason: "is not 'seed:offset': '\(v)'")
            }
            generators[String(k.dropFirst(4))] = Generator.State(seed: seed, offset: offset)
        }
        var user: [String: String] = [:]
        for (k, v) in meta where k.hasPrefix("user.") { user[String(k.dropFirst(5))] = v }
        self.init(model: part(Self.modelPrefix)!, optimizer: part(Self.optimizerPrefix), scheduler: part(Self.schedulerPrefix),
                  generators: generators, epoch: epoch, bestMetric: bestMetric, architecture: meta["architecture"],
                  userMetadata: user)
    }

    /// Loads a checkpoint written by ``save(to:)``.
    ///
    /// ```swift
    /// let ckpt = try TrainingCheckpoint(contentsOf: URL(fileURLWithPath: "runs/last.safetensors"))
    /// ckpt.epoch; ckpt.bestMetric; ckpt.architecture
    /// ```
    public init(contentsOf url: URL) throws(CheckpointError) {
        let sd: StateDict
        do throws(SafetensorsError) { sd = try StateDict(contentsOf: url) } catch { throw .file(error) }
        try self.init(stateDict: sd)
    }

    /// Writes the checkpoint atomically: the previous file at `url` stays intact until the new one
    /// is complete on disk.
    public func save(to url: URL) throws(CheckpointError) {
        try save(to: url, failure: nil)
    }

    /// `failure` injects an error at a stage of the atomic write (tests).
    func save(to url: URL, failure: AtomicFile.Stage?) throws(CheckpointError) {
        let sd = try stateDict()
        do throws(SafetensorsError) { try Safetensors.write(sd, to: url, failure: failure) } catch { throw .file(error) }
    }
}
