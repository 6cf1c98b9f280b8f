import Foundation
import TensorCore
import NN

/// The file formats a state dict can be read from and written to.
public enum WeightsFileFormat: Sendable, Equatable {
    /// safetensors (`.safetensors`).
    case safetensors
    /// `torch.save` output (`.pth`, `.pt`, `.bin`): the zip format, or the legacy pickle stream
    /// when reading.
    case torch

    /// The format of a file's bytes, by content: a zip archive or a pickle that starts with
    /// PyTorch's magic number is a `torch.save` file; anything else is read as safetensors (whose
    /// reader then says what is wrong with it).
    public static func detect(_ data: Data) -> WeightsFileFormat {
        data.withUnsafeBytes { raw -> WeightsFileFormat in
            if ZipArchive.looksLikeZip(raw) { return .torch }
            // safetensors: an 8-byte header length, then the JSON header's '{'.
            if raw.count > 8, raw[8] == UInt8(ascii: "{") { return .safetensors }
            // legacy torch.save: PROTO 2…5, then LONG1 with the magic number.
            if raw.count > 3, raw[0] == 0x80, (2...5).contains(raw[1]), raw[2] == 0x8a { return .torch }
            return .safetensors
        }
    }

    /// The format `save(to:)` writes for a file name: `.pth`, `.pt` and `.bin` are `torch.save`
    /// files; every other extension (`.safetensors` first of all) is safetensors.
    public static func forExtension(of url: URL) -> WeightsFileFormat {
        switch url.pathExtension.lowercased() {
        case "pth", "pt", "bin": .torch
        default: .safetensors
        }
    }
}

extension StateDict {
    /// Loads a state dict from a safetensors file or a PyTorch checkpoint (`torch.save` output),
    /// recognised by content, not by name.
    ///
    /// PyTorch checkpoints often wrap the state dict — `{'model': sd, 'optimizer': …, 'epoch': 3}`,
    /// `{'state_dict': …}` — and DataParallel / DistributedDataParallel prefix every key with
    /// `module.`:
    /// - `key`: the top-level entry holding the state dict. Without it, a file whose top level is
    ///   a dict of tensors is used as is, and otherwise the one top-level entry that is a dict of
    ///   tensors is picked; if there is none or more than one, the error lists the top-level keys.
    ///   In a safetensors file, `key` selects the tensors named `key.…` (a training checkpoint's
    ///   `model.` part) with the prefix removed.
    /// - `stripPrefix`: removed from every key that starts with it, like PyTorch's
    ///   `consume_prefix_in_state_dict_if_present(sd, "module.")`.
    ///
    /// Element types: see ``TorchFile`` (float16/bfloat16 in a `.pth` file always widen to float32,
    /// as SwiftNN has no half type); in safetensors, F16/BF16 widen only with
    /// `convertingHalfPrecision: true` and throw otherwise.
    ///
    /// ```swift
    /// let sd = try StateDict(contentsOf: URL(fileURLWithPath: "resnet18.pth"))
    /// let ddp = try StateDict(contentsOf: URL(fileURLWithPath: "checkpoint.pt"), key: "model", stripPrefix: "module.")
    /// try model.loadStateDict(ddp, strict: true)
    /// ```
    /// - Throws: ``SafetensorsError``; problems of a `.pth` file come as ``SafetensorsError/torchFile(_:)``.
    public init(contentsOf url: URL, key: String? = nil, stripPrefix: String? = nil,
                convertingHalfPrecision: Bool = false) throws(SafetensorsError) {
        try self.init(weightsData: Safetensors.read(url), key: key, stripPrefix: stripPrefix,
                      convertingHalfPrecision: convertingHalfPrecision)
    }

    /// Decodes the bytes of a safetensors file or a `torch.save` file, recognised by content (see
    /// ``init(contentsOf:key:stripPrefix:convertingHalfPrecision:)``).
    public init(weightsData data: Data, key: String? = nil, stripPrefix: String? = nil,
                convertingHalfPrecision: Bool = false) throws(SafetensorsError) {
        switch WeightsFileFormat.detect(data) {
        case .torch:
            do throws(TorchFileError) {
                self = try StateDict(torchData: data, key: key, stripPrefix: stripPrefix)
            } catch {
                throw .torchFile(error)
            }
        case .safetensors:
            var sd = try Safetensors.decode(data, convertingHalfPrecision: convertingHalfPrecision)
            if let key {
                let scoped = sd.scoped(key)
                guard !scoped.isEmpty else {
                    throw .invalidEntry(tensor: key, reason: "no tensor name starts with '\(key).' (keys: \(Self.preview(sd.keys)))")
                }
                let metadata = sd.metadata
                sd = scoped
                sd.metadata = metadata
            }
            if let stripPrefix { sd = sd.strippingPrefix(stripPrefix) }
            self = sd
        }
    }

    /// Decodes the bytes of a `torch.save` file and picks its state dict (see
    /// ``init(contentsOf:key:stripPrefix:convertingHalfPrecision:)`` for `key` and `stripPrefix`).
    public init(torchData data: Data, key: String? = nil, stripPrefix: String? = nil) throws(TorchFileError) {
        try self.init(TorchFile.decode(data), key: key, stripPrefix: stripPrefix)
    }

    /// The state dict inside a loaded checkpoint value (see
    /// ``init(contentsOf:key:stripPrefix:convertingHalfPrecision:)`` for `key` and `stripPrefix`).
    ///
    /// ```swift
    /// let ckpt = try TorchFile.load(contentsOf: url)
    /// let model = try StateDict(ckpt, key: "model")
    /// let epoch = ckpt["epoch"]?.intValue
    /// ```
    public init(_ value: PickleValue, key: String? = nil, stripPrefix: String? = nil) throws(TorchFileError) {
        let (chosen, entry) = try Self.selectStateDict(in: value, key: key)
        let location = entry.map { "'\($0)'" } ?? "the file"
        var sd = StateDict()
        for e in chosen.entries {
            guard case .string(let name) = e.key else {
                throw .notAStateDict("\(location) has a key \(e.key) of type \(e.key.typeName); state dict keys are strings")
            }
            guard case .tensor(let t) = e.value else {
                throw .notAStateDict("\(location) entry '\(name)' is a \(e.value.typeName), not a tensor; SwiftNN state dicts hold tensors only")
            }
            sd[name] = t
        }
        self = stripPrefix.map { sd.strippingPrefix($0) } ?? sd
    }

    /// The dict of tensors inside a checkpoint value and the top-level key it was found under (nil:
    /// the value itself), following the rules of ``init(contentsOf:key:stripPrefix:convertingHalfPrecision:)``.
    public static func selectStateDict(in value: PickleValue, key: String? = nil) throws(TorchFileError) -> (PickleDict, key: String?) {
        guard case .dict(let top) = value else {
            throw .notAStateDict("the file holds a \(value.typeName), not a dict of tensors")
        }
        if let key {
            guard let v = top[key] else {
                throw .notAStateDict("the file has no key '\(key)'; its top-level keys are \(Self.describeKeys(top))")
            }
            guard case .dict(let d) = v else { throw .notAStateDict("'\(key)' holds a \(v.typeName), not a state dict") }
            return (d, key)
        }
        if top.isEmpty || Self.isTensorDict(top) { return (top, nil) }
        let candidates = top.entries.filter { e in
            if case .string = e.key, case .dict(let d) = e.value { return !d.isEmpty && Self.isTensorDict(d) }
            return false
        }
        guard candidates.count == 1, case .dict(let d) = candidates[0].value, case .string(let k) = candidates[0].key else {
            if candidates.isEmpty {
                throw .notAStateDict("no entry of the file is a dict of tensors; its top-level keys are \(Self.describeKeys(top)). Pass key: to name the entry holding the state dict")
            }
            let names = candidates.map { "'\($0.key.stringValue ?? "")'" }.joined(separator: ", ")
            throw .notAStateDict("several entries hold state dicts (\(names)); pass key: to choose one. Top-level keys: \(Self.describeKeys(top))")
        }
        return (d, k)
    }

    /// The keys with `prefix` removed where they start with it (PyTorch's
    /// `consume_prefix_in_state_dict_if_present`). If that makes two keys equal, the later one wins,
    /// as in PyTorch.
    public func strippingPrefix(_ prefix: String) -> StateDict {
        guard !prefix.isEmpty else { return self }
        var out = StateDict()
        out.metadata = metadata
        for (k, v) in self { out[k.hasPrefix(prefix) ? String(k.dropFirst(prefix.count)) : k] = v }
        return out
    }

    /// Writes this state dict atomically, in the format the file name asks for: `.pth`, `.pt` or
    /// `.bin` give a `torch.save` zip file that `torch.load(path, weights_only=True)` reads (an
    /// OrderedDict of tensors, like `model.state_dict()`; ``metadata`` is not stored); any other
    /// extension, `.safetensors` first of all, gives safetensors with ``metadata`` in
    /// `__metadata__`. The previous file survives any failure.
    ///
    /// ```swift
    /// try model.stateDict().save(to: URL(fileURLWithPath: "best.safetensors"))
    /// try model.stateDict().save(to: URL(fileURLWithPath: "finetuned.pth"))   // torch.load reads it
    /// ```
    public func save(to url: URL) throws(SafetensorsError) {
        switch WeightsFileFormat.forExtension(of: url) {
        case .safetensors:
            try Safetensors.write(self, to: url)
        case .torch:
            do throws(TorchFileError) {
                try TorchFile.save(PickleValue(self), to: url)
            } catch {
                if case .io(let path, let op, let message) = error { throw .io(path: path, operation: op, message: message) }
                throw .torchFile(error)
            }
        }
    }

    /// The bytes of a `torch.save` zip file holding this state dict as an OrderedDict of tensors.
    public func torchData() throws(TorchFileError) -> Data {
        try TorchFile.encode(PickleValue(self))
    }

    private static func isTensorDict(_ d: PickleDict) -> Bool {
        d.entries.allSatisfy { e in
            if case .string = e.key, case .tensor = e.value { return true }
            return false
        }
    }

    private static func describeKeys(_ d: PickleDict) -> String {
        let shown = d.entries.prefix(40).map { e -> String in
            let name = e.key.stringValue.map { "'\($0)'" } ?? e.key.description
            switch e.value {
            case .dict(let inner): return "\(name) (\(e.value.typeName), \(inner.count) entries)"
            case .list(let l): return "\(name) (list, \(l.count) items)"
            default: return "\(name) (\(e.value.typeName))"
            }
        }
        return "[" + shown.joined(separator: ", ") + (d.count > 40 ? ", … \(d.count - 40) more" : "") + "]"
    }

    private static func preview(_ keys: [String]) -> String {
        keys.prefix(10).joined(separator: ", ") + (keys.count > 10 ? ", …" : "")
    }
}
