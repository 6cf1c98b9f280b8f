import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import Autograd
import NN
import Models
import TestSupport

/// Files SwiftNN writes in PyTorch's format: read back bit-identically, laid out as `torch.save`
/// lays them out (PyTorch itself loads them: checked by scripts/reference/verify_pth_written.py).
@Suite struct TorchFileWriteTests {
    static func sample() -> StateDict {
        Tensor.manualSeed(3)
        var sd = StateDict()
        sd["fc.weight"] = Tensor.randn([3, 4])
        sd["fc.bias"] = Tensor([1.5, -2, 0] as [Float], shape: [3])
        sd["bn.num_batches_tracked"] = Tensor(scalar: Int64(7))
        sd["mask"] = Tensor([true, false, true], shape: [3])
        sd["pixels"] = Tensor([0, 128, 255] as [UInt8], shape: [3])
        sd["double"] = Tensor([1e300, -0.0, .nan] as [Double], shape: [3])
        sd["big"] = Tensor([Int64.max, Int64.min, 0], shape: [3])
        sd["empty"] = Tensor.zeros([0, 5])
        return sd
    }

    @Test func stateDictRoundTripsBitIdentically() throws {
        let sd = Self.sample()
        let data = try sd.torchData()
        let back = try StateDict(torchData: data)
        expectBitIdentical(back, sd)
        // The top level is an OrderedDict, as `model.state_dict()` is.
        #expect(try TorchFile.decode(data).dictValue?.isOrdered == true)
        // Equal state dicts give equal bytes (no timestamps, deterministic ids).
        #expect(try Self.sample().torchData() == data)
    }

    /// The archive has torch.save's records, in its order, every data record 64-byte aligned (what
    /// `torch.load(mmap=True)` relies on) and with a correct CRC-32.
    @Test func archiveLayoutIsTorchSaves() throws {
        let data = try Self.sample().torchData()
        try data.withUnsafeBytes { raw in
            let zip = try ZipArchive(raw)
            #expect(zip.entries.map(\.name) == ["archive/data.pkl", "archive/.format_version", "archive/.storage_alignment", "archive/byteorder"]
                    + (0..<8).map { "archive/data/\($0)" } + ["archive/version", "archive/.data/serialization_id"])
            for e in zip.entries {
                #expect(e.dataOffset % 64 == 0, "\(e.name)")
                #expect(ZipArchive.crc32(try zip.data(of: e)) == e.crc)
            }
            #expect(String(decoding: try zip.data(of: zip.entry("archive/version")!), as: UTF8.self) == "3\n")
            #expect(String(decoding: try zip.data(of: zip.entry("archive/byteorder")!), as: UTF8.self) == "little")
        }
    }

    /// Tensors that share memory are written as one storage, as PyTorch writes tied weights, and
    /// share memory again after loading.
    @Test func sharedStoragesStayShared() throws {
        let base = Tensor((0..<12).map(Float.init), shape: [12])
        let a = base.viewData([3, 4])
        let tail = Tensor(storage: base.storage, shape: [2, 2], dtype: .float32, offset: 6)
        let sd: StateDict = ["a": a, "b": a, "tail": tail, "other": Tensor.ones([2])]
        let data = try sd.torchData()
        let back = try StateDict(torchData: data)
        expectBitIdentical(back, sd)
        #expect(back["a"]!.storage === back["tail"]!.storage)
        #expect(back["tail"]!.storageOffset == 6)
        try data.withUnsafeBytes { raw in
            let storages = try ZipArchive(raw).entries.filter { $0.name.hasPrefix("archive/data/") }
            #expect(storages.map(\.size) == [48, 8])
        }
        // A slice in the middle of a large storage is written without the rest of it.
        let middle = Tensor(storage: TensorStorage(byteCount: 4000), shape: [3], dtype: .float32, offset: 500)
        middle.fill(2)
        let small = try StateDict([("m", middle)]).torchData()
        #expect(small.count < 2000)
        #expect(try StateDict(torchData: small)["m"]?.scalars == [2, 2, 2])
    }

    /// A whole training checkpoint — nested containers, numbers, strings, bytes, None, sets,
    /// dtypes, devices, big ints — round-trips.
    @Test func nestedCheckpointRoundTrips() throws {
        let weights = Self.sample()
        var args = PickleDict()
        args["lr"] = .float(1e-3)
        args["name"] = .string("run ✓")
        args["tags"] = .list([.string("a"), .string("b")])
        args["betas"] = .tuple([.float(0.9), .float(0.999)])
        args["resume"] = PickleValue.none
        args["flags"] = .set([.bool(true)])
        args["neg"] = .int(-70000)
        args["huge"] = .int(Int.max)
        args["big"] = .bigInt([0, 0, 0, 0, 0, 0, 0, 0, 0x40])
        args["blob"] = .bytes([0, 0xFF, 0x80])
        args["nothing"] = .bytes([])
        args["dtype"] = .dtype("float16")
        args["device"] = .device("cuda:1")
        args["triple"] = .tuple([.int(1), .int(2), .int(3), .int(4)])
        let many = (0..<2500).map { PickleValue.int($0) }
        args["many"] = .list(many)
        var top = PickleDict()
        top["model"] = PickleValue(weights)
        top["epoch"] = .int(3)
        top["args"] = .dict(args)
        top["state"] = .dict(PickleDict([(.int(0), .dict(PickleDict([(.string("step"), .tensor(Tensor(scalar: Float(2))))])))]))
        let data = try TorchFile.encode(.dict(top))
        let back = try TorchFile.decode(data)
        expectBitIdentical(try StateDict(back, key: "model"), weights)
        expectBitIdentical(try StateDict(back), weights)  // the one dict of tensors
        #expect(back["epoch"]?.intValue == 3)
        let a = try #require(back["args"])
        #expect(a["lr"]?.doubleValue == 1e-3)
        #expect(a["name"]?.stringValue == "run ✓")
        #expect(a["tags"]?.elements?.compactMap(\.stringValue) == ["a", "b"])
        #expect(a["betas"]?[1]?.doubleValue == 0.999)
        if case .none? = a["resume"] {} else { Issue.record("resume") }
        #expect(a["flags"]?.elements?.first?.boolValue == true)
        #expect(a["neg"]?.intValue == -70000 && a["huge"]?.intValue == Int.max)
        if case .bigInt(let b)? = a["big"] { #expect(b == [0, 0, 0, 0, 0, 0, 0, 0, 0x40]) } else { Issue.record("big") }
        if case .bytes(let b)? = a["blob"] { #expect(b == [0, 0xFF, 0x80]) } else { Issue.record("blob") }
        if case .bytes(let b)? = a["nothing"] { #expect(b.isEmpty) } else { Issue.record("nothing") }
        if case .dtype("float16")? = a["dtype"] {} else { Issue.record("dtype") }
        if case .device("cuda:1")? = a["device"] {} else { Issue.record("device") }
        #expect(a["triple"]?.elements?.compactMap(\.intValue) == [1, 2, 3, 4])
        #expect(a["many"]?.elements?.compactMap(\.intValue) == Array(0..<2500))
        #expect(back["state"]?.dictValue?.entries.first?.key.intValue == 0)
        #expect(back["state"]?.dictValue?.entries.first?.value["step"]?.tensorValue?.scalars == [2])
    }

    /// zip64 records (for files and entries of 4 GiB and more), exercised at a lowered threshold:
    /// every size and offset goes through the zip64 fields.
    @Test func zip64FieldsRoundTrip() throws {
        let sd = Self.sample()
        var out: [UInt8] = []
        try TorchFile.write(PickleValue(sd), zip64Threshold: 0) { (p) throws(SafetensorsError) in out += p }
        expectBitIdentical(try StateDict(torchData: Data(out)), sd)
        // The 32-bit fields really are the zip64 markers.
        try out.withUnsafeBytes { raw in
            let zip = try ZipArchive(raw)
            #expect(zip.entries.count == 14)
            #expect(zip.entries.allSatisfy { $0.dataOffset % 64 == 0 })
        }
        #expect(out.count > 100 && out.suffix(22).prefix(4) == [0x50, 0x4b, 0x05, 0x06])
        #expect(Array(out.suffix(22)[out.count - 22 + 16 ..< out.count - 22 + 20]) == [0xFF, 0xFF, 0xFF, 0xFF])
    }

    /// `save(to:)` chooses the format by extension; loading recognises it by content.
    @Test func saveChoosesTheFormatByExtension() throws {
        let dir = makeTempDirectory("pth")
        defer { cleanUp(dir) }
        var sd = Self.sample()
        sd.metadata = ["note": "kept in safetensors only"]
        for name in ["w.pth", "w.pt", "w.bin", "w.safetensors", "w.weights"] {
            let url = dir.appendingPathComponent(name)
            try sd.save(to: url)
            let data = try Data(contentsOf: url)
            let torch = name.hasSuffix(".pth") || name.hasSuffix(".pt") || name.hasSuffix(".bin")
            #expect(WeightsFileFormat.detect(data) == (torch ? .torch : .safetensors), "\(name)")
            let back = try StateDict(contentsOf: url)
            #expect(back.keys == sd.keys)
            #expect(back.metadata == (torch ? [:] : sd.metadata), "\(name)")
        }
        // Modules save and load .pth through the same paths.
        let model = SmallCNN(inChannels: 1, numClasses: 4)
        let url = dir.appendingPathComponent("cnn.pth")
        try model.save(to: url)
        let other = SmallCNN(inChannels: 1, numClasses: 4)
        try other.load(contentsOf: url)
        expectBitIdentical(other.stateDict(), model.stateDict())
    }

    /// A failure at any stage of writing keeps the previous .pth file and leaves no temporary file.
    @Test func failedWriteKeepsThePreviousFile() throws {
        let dir = makeTempDirectory("pth")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("model.pth")
        let old = Self.sample()
        try old.save(to: url)
        let before = try Data(contentsOf: url)
        let new: StateDict = ["x": Tensor.ones([1000])]
        for stage in [AtomicFile.Stage.afterCreate, .afterWrite, .beforeRename] {
            #expect(throws: TorchFileError.self) { try TorchFile.save(PickleValue(new), to: url, zip64Threshold: 0xFFFF_FFFF, failure: stage) }
            #expect(try Data(contentsOf: url) == before, "\(stage)")
            #expect(directoryListing(dir) == ["model.pth"], "\(stage)")
        }
        // Into a missing folder: an I/O error naming the path.
        do {
            try new.save(to: dir.appendingPathComponent("missing/x.pth"))
            Issue.record("expected an error")
        } catch {
            guard case .io = error else { Issue.record("\(error)"); return }
        }
    }
}
