import Foundation
import TensorCore
import NN

/// Reading and writing PyTorch checkpoint files (`torch.save` output: `.pth`, `.pt`, `.bin`).
///
/// **Reading** accepts both formats `torch.save` has written: the zip archive of PyTorch ≥ 1.6
/// (also with zip64 for files over 4 GiB, and big-endian data) and the legacy pickle stream
/// (`_use_new_zipfile_serialization=False`). The object pickle is run by a *restricted*
/// unpickler that knows only what `torch.save` writes for tensors and containers — `dict`,
/// `OrderedDict`, `list`, `tuple`, `set`, numbers, strings, bytes, `None`, `torch.Size`,
/// `torch.device`, dtypes, and tensors/parameters (`_rebuild_tensor_v2`/`_v3`,
/// `_rebuild_parameter`, typed or untyped storages, views with offset and strides, storages shared
/// between tensors). Any other GLOBAL, such as `os.system` or `builtins.eval`, is refused with
/// ``TorchFileError/forbiddenGlobal(record:offset:name:)`` the moment it is read; nothing a file
/// names is ever executed, exactly the guarantee of `torch.load(weights_only=True)`.
///
/// Element types convert as in ``TorchElementType``: float16/bfloat16 widen to float32, int32/
/// int16/int8 (and uint16/uint32) widen to int64. Contiguous tensors that share a storage share
/// memory after loading, like tied weights in PyTorch; strided views are copied.
///
/// **Writing** produces the zip format with a protocol-2 pickle, which
/// `torch.load(path, weights_only=True)` accepts; writes are atomic.
///
/// ```swift
/// let ckpt = try TorchFile.load(contentsOf: URL(fileURLWithPath: "checkpoint.pth"))
/// print(ckpt)                                  // {'model': OrderedDict({…}), 'epoch': 3, …}
/// let sd = try StateDict(ckpt, key: "model")
/// try TorchFile.save(.dict(PickleDict([(.string("model"), PickleValue(sd)), (.string("epoch"), .int(4))])),
///                    to: URL(fileURLWithPath: "next.pth"))
/// ```
public enum TorchFile {
    /// Decodes the bytes of a `torch.save` file. This is the single entry point for untrusted
    /// bytes (fuzzers call it): it throws a ``TorchFileError`` for anything malformed and never
    /// traps, hangs or allocates beyond a small multiple of the input's size.
    public static func decode(_ data: Data) throws(TorchFileError) -> PickleValue {
        // Data.withUnsafeBytes is not typed-throws, so the outcome crosses it as a value.
        let result: Result<PickleValue, TorchFileError> = data.withUnsafeBytes { raw in
            do throws(TorchFileError) { return .success(try TorchFileReader.decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Decodes the bytes of a `torch.save` file (see ``decode(_:)-(Data)``).
    public static func decode(_ bytes: [UInt8]) throws(TorchFileError) -> PickleValue {
        let result: Result<PickleValue, TorchFileError> = bytes.withUnsafeBytes { raw in
            do throws(TorchFileError) { return .success(try TorchFileReader.decode(raw)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Loads a `torch.save` file, like `torch.load(path, weights_only=True, map_location='cpu')`.
    public static func load(contentsOf url: URL) throws(TorchFileError) -> PickleValue {
        let data: Data
        do throws(SafetensorsError) {
            data = try Safetensors.read(url)
        } catch {
            if case .io(let path, let op, let message) = error { throw .io(path: path, operation: op, message: message) }
            throw .io(path: url.path, operation: "reading", message: error.description)
        }
        return try decode(data)
    }

    /// Whether `data` starts like a `torch.save` file (zip archive or pickle stream).
    public static func looksLikeTorchFile(_ data: Data) -> Bool {
        data.withUnsafeBytes { TorchFileReader.looksLikeTorchFile($0) }
    }

    /// The bytes of a `torch.save`-compatible zip file holding `value`.
    public static func encode(_ value: PickleValue) throws(TorchFileError) -> Data {
        var out = Data()
        try write(value, zip64Threshold: 0xFFFF_FFFF) { (p) throws(SafetensorsError) in out.append(p.bindMemory(to: UInt8.self)) }
        return out
    }

    /// Writes `value` as a `torch.save`-compatible zip file, atomically (the previous file survives
    /// any failure). `torch.load(path, weights_only=True)` reads it back.
    public static func save(_ value: PickleValue, to url: URL) throws(TorchFileError) {
        try save(value, to: url, zip64Threshold: 0xFFFF_FFFF)
    }

    static func save(_ value: PickleValue, to url: URL, zip64Threshold: UInt64, failure: AtomicFile.Stage? = nil) throws(TorchFileError) {
        // Plan first: anything that cannot be written fails before the file is touched.
        var pickler = try Pickler(collecting: value)
        let pickle = try pickler.pickle(value)
        do throws(SafetensorsError) {
            try AtomicFile.write(to: url, failure: failure) { (sink: inout AtomicFile.Sink) throws(SafetensorsError) in
                // The sink is inout; the writer's closure writes through a local copy that is handed back.
                var s = sink
                defer { sink = s }
                try writeArchive(pickle, pickler.records, zip64Threshold: zip64Threshold) { (p) throws(SafetensorsError) in try s.write(p) }
            }
        } catch {
            throw Self.ioError(error, url)
        }
    }

    static func write(_ value: PickleValue, zip64Threshold: UInt64,
                      emit: @escaping (UnsafeRawBufferPointer) throws(SafetensorsError) -> Void) throws(TorchFileError) {
        var pickler = try Pickler(collecting: value)
        let pickle = try pickler.pickle(value)
        do throws(SafetensorsError) {
            try writeArchive(pickle, pickler.records, zip64Threshold: zip64Threshold, emit: emit)
        } catch {
            throw Self.ioError(error, nil)
        }
    }

    private static func ioError(_ error: SafetensorsError, _ url: URL?) -> TorchFileError {
        if case .io(let path, let op, let message) = error { return .io(path: path, operation: op, message: message) }
        return .io(path: url?.path ?? "", operation: "writing", message: error.description)
    }

    /// The records in the order `torch.save` writes them.
    private static func writeArchive(_ pickle: [UInt8], _ records: [Pickler.StorageRecord], zip64Threshold: UInt64,
                                     emit: @escaping (UnsafeRawBufferPointer) throws(SafetensorsError) -> Void) throws(SafetensorsError) {
        let prefix = "archive/"
        var zip = ZipWriter(zip64Threshold: zip64Threshold, emit: emit)
        try zip.addEntry(prefix + "data.pkl", pickle)
        try zip.addEntry(prefix + ".format_version", Array("1".utf8))
        try zip.addEntry(prefix + ".storage_alignment", Array("64".utf8))
        try zip.addEntry(prefix + "byteorder", Array("little".utf8))
        var combined: UInt32 = 0
        for (i, r) in records.enumerated() {
            let size = r.dtype.byteSize
            let bytes = UnsafeRawBufferPointer(start: r.storage.pointer + r.lower * size, count: (r.upper - r.lower) * size)
            try withExtendedLifetime(r.storage) { () throws(SafetensorsError) in
                try zip.addEntry(prefix + "data/\(i)", size: UInt64(bytes.count), parts: [bytes])
            }
            combined = ZipArchive.crc32(bytes, updating: combined)
        }
        try zip.addEntry(prefix + "version", Array("3\n".utf8))
        // PyTorch records a 40-digit id per file; ours is derived from the data, so equal state
        // dicts give byte-identical files.
        let id = String(format: "%020llu%020llu", UInt64(combined), UInt64(pickle.count) &* 0x9E37_79B9_7F4A_7C15 % 100_000_000_000_000_000)
        try zip.addEntry(prefix + ".data/serialization_id", Array(id.utf8))
        try zip.finish()
    }
}
