import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

@Suite struct SafetensorsFixtureTests {
    static let folders = ["layers", "models", "training"]

    @Test func fixtureFoldersAreNotEmpty() {
        let count = Self.folders.reduce(0) { $0 + Fixtures.files(in: $1).count }
        // 35 layer cases, 6 model files, 3 training runs.
        #expect(count >= 44)
    }

    @Test(arguments: folders.flatMap { Fixtures.files(in: $0) })
    func fixtureLoadsAndItsCaseParses(_ url: URL) throws {
        let sd = try StateDict(contentsOf: url)
        #expect(!sd.isEmpty)
        let data = try Data(contentsOf: url)
        let header = try Safetensors.header(of: data)
        #expect(sd.keys == header.entries.map(\.name))
        if url.lastPathComponent.hasSuffix(".weights.safetensors") {
            // Saved by safetensors.torch.save_file(model.state_dict()): no metadata.
            #expect(sd.metadata.isEmpty)
        } else {
            let text = try #require(sd.metadata["case"], "\(url.lastPathComponent) has no __metadata__.case")
            let json = try JSONSerialization.jsonObject(with: Data(text.utf8))
            #expect(json is [String: Any])
        }
        for (k, t) in sd {
            let e = try #require(header.entries.first { $0.name == k })
            #expect(t.shape == e.shape)
            #expect(t.dtype == e.dtype.loadedDType)
        }
    }

    /// Re-saving a PyTorch-written file gives the same tensors, and — because the writer lays the
    /// header out as the reference implementation does and keeps the file's order — the same bytes.
    @Test(arguments: folders.flatMap { Fixtures.files(in: $0) })
    func fixtureRoundTripIsBitIdentical(_ url: URL) throws {
        let original = try Data(contentsOf: url)
        let sd = try StateDict(safetensorsData: original)
        let written = try sd.safetensorsData()
        let back = try StateDict(safetensorsData: written)
        expectBitIdentical(sd, back)
        #expect(written == original, "\(url.lastPathComponent): re-saved bytes differ from PyTorch's file")
    }

    @Test func buffersKeepTheirIntegerType() throws {
        let sd = try StateDict(contentsOf: Fixtures.url("layers/bn2d_default.safetensors"))
        let n = try #require(sd["init.num_batches_tracked"])
        #expect(n.dtype == .int64)
        #expect(n.shape == [])
    }
}

@Suite struct SafetensorsRoundTripTests {
    static func mixedStateDict() -> StateDict {
        var sd = StateDict()
        sd["fc.weight"] = Tensor([1.5, -2.25, .pi, -0.0, .infinity, .leastNonzeroMagnitude] as [Float], shape: [2, 3])
        sd["fc.bias"] = Tensor([Float.nan, Float.greatestFiniteMagnitude], shape: [2])
        sd["double"] = Tensor([1e300, -1e-300, .pi] as [Double], shape: [3, 1])
        sd["bn.num_batches_tracked"] = Tensor(scalar: Int64(123_456_789_012))
        sd["labels"] = Tensor([Int64.min, -1, 0, 1, Int64.max], shape: [5])
        sd["image"] = Tensor([0, 1, 127, 128, 255] as [UInt8], shape: [1, 5])
        sd["mask"] = Tensor([true, false, true, true], shape: [2, 2])
        sd["empty"] = Tensor([] as [Float], shape: [0, 3])
        sd["aaa.last"] = Tensor(scalar: Float(7))
        sd.metadata = ["arch": "{\"model\": \"mlp\", \"dims\": [784, 512]}", "note": "tab\there\nquote\" back\\slash é ∑ \u{1}"]
        return sd
    }

    @Test func saveThenLoadIsBitIdentical() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let sd = Self.mixedStateDict()
        let url = dir.appendingPathComponent("ckpt.safetensors")
        try sd.save(to: url)
        let back = try StateDict(contentsOf: url)
        expectBitIdentical(sd, back)
        // Writing what was read gives the same bytes again.
        let bytes = try Data(contentsOf: url)
        #expect(try back.safetensorsData() == bytes)
        #expect(try sd.safetensorsData() == bytes)
        #expect(directoryListing(dir) == ["ckpt.safetensors"])
    }

    @Test func writtenLayoutFollowsTheFormat() throws {
        let sd = Self.mixedStateDict()
        let data = try sd.safetensorsData()
        let n = data.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        #expect(n % 8 == 0)
        let header = try Safetensors.header(of: data)
        #expect(header.dataStart == 8 + n)
        #expect(header.entries.map(\.name) == sd.keys)
        #expect(header.entries.map(\.dtype) == [.F32, .F32, .F64, .I64, .I64, .U8, .BOOL, .F32, .F32])
        // Contiguous, in state-dict order.
        var pos = 0
        for e in header.entries {
            #expect(e.dataOffsets.lowerBound == pos)
            pos = e.dataOffsets.upperBound
        }
        #expect(pos == data.count - header.dataStart)
        // Foundation's parser agrees the header is plain JSON.
        let json = try JSONSerialization.jsonObject(with: data[8..<(8 + n)]) as? [String: Any]
        let meta = try #require(json?["__metadata__"] as? [String: String])
        #expect(meta == sd.metadata)
        let w = try #require(json?["fc.weight"] as? [String: Any])
        #expect(w["dtype"] as? String == "F32")
        #expect(w["shape"] as? [Int] == [2, 3])
    }

    @Test func headerOrderIsKeptNotSorted() throws {
        // Header order z, a, m; data laid out in a different order (a, m, z).
        let header = #"{"z":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"m":{"dtype":"U8","shape":[2],"data_offsets":[12,14]}}"#
        let data = littleEndianBytes([Int64(-5)]) + floatBytes([2.5]) + [9, 200]
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: data))
        #expect(sd.keys == ["z", "a", "m"])
        #expect(sd["z"]?.scalars == [2.5])
        #expect(sd["a"]?.toArray(of: Int64.self) == [-5])
        #expect(sd["m"]?.toArray(of: UInt8.self) == [9, 200])
        #expect(sd.metadata.isEmpty)
    }

    @Test func paddingAndWhitespaceAreAccepted() throws {
        let header = "{ \"x\" : {\"dtype\":\"F32\", \"shape\":[2], \"data_offsets\":[0, 8]},\n \"__metadata__\": {\"k\": \"v\"} }\n"
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: floatBytes([1, 2]), pad: true))
        #expect(sd.keys == ["x"])
        #expect(sd["x"]?.scalars == [1, 2])
        #expect(sd.metadata == ["k": "v"])
        // Unpadded headers are valid too.
        let unpadded = #"{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        #expect(try StateDict(safetensorsData: safetensorsFile(header: unpadded, data: floatBytes([1, 2]), pad: false)).count == 1)
    }

    @Test func emptyStateDictRoundTrips() throws {
        let sd = StateDict()
        let data = try sd.safetensorsData()
        #expect(data.count == 16)  // prefix + "{}" padded to 8
        let back = try StateDict(safetensorsData: data)
        #expect(back.isEmpty)
    }

    @Test func zeroSizedTensorsMayShareAnOffset() throws {
        let header = #"{"e1":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e2":{"dtype":"F64","shape":[3,0],"data_offsets":[4,4]}}"#
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: floatBytes([3])))
        #expect(sd.keys == ["e1", "x", "e2"])
        #expect(sd["e2"]?.shape == [3, 0])
    }

    /// A leading 0 keeps every prefix product at 0, so huge later dimensions are fine (as in the reference reader).
    @Test func zeroLeadingDimensionWithHugeOthersLoads() throws {
        let header = #"{"e":{"dtype":"F32","shape":[0,4294967296,4294967296],"data_offsets":[0,0]}}"#
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: []))
        #expect(sd["e"]?.shape == [0, 4294967296, 4294967296] && sd["e"]?.count == 0)
    }

    @Test func boolBytesAreNormalised() throws {
        let header = #"{"b":{"dtype":"BOOL","shape":[3],"data_offsets":[0,3]}}"#
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: [0, 1, 7]))
        #expect(sd["b"]?.toArray(of: Bool.self) == [false, true, true])
        #expect(rawBytes(sd["b"]!) == [0, 1, 1])
    }

    @Test func metadataKeyCannotBeATensorName() {
        var sd = StateDict()
        sd["__metadata__"] = Tensor.zeros([1])
        #expect(safetensorsError { () throws(SafetensorsError) in _ = try sd.safetensorsData() } == .invalidKey("__metadata__"))
    }

    @Test func tensorsViewingSharedStorageAreWrittenFromTheirOffset() throws {
        let base = Tensor([0, 1, 2, 3, 4, 5] as [Float], shape: [6])
        let view = Tensor(storage: base.storage, shape: [2], dtype: .float32, offset: 3)
        var sd = StateDict()
        sd["v"] = view
        let back = try StateDict(safetensorsData: sd.safetensorsData())
        #expect(back["v"]?.scalars == [3, 4])
    }
}
