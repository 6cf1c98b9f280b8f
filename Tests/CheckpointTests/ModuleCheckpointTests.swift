import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

/// A small model with parameters, an int64 buffer and a nested Sequential.
final class TinyNet: Module {
    let fc1: Linear
    let body: Sequential
    let counter: Buffer
    init(seed: UInt64, hidden: Int = 8) {
        let g = Generator(seed: seed)
        fc1 = Linear(4, hidden, generator: g)
        body = Sequential([Linear(hidden, 3, generator: g), Linear(3, 2, bias: false, generator: g)])
        counter = Buffer(Tensor(scalar: Int64(seed)))
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { body(fc1(x)) }
}

@Suite struct ModuleCheckpointTests {
    @Test func saveThenLoadRestoresEveryTensorBitForBit() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("best.safetensors")
        let a = TinyNet(seed: 1), b = TinyNet(seed: 2)
        #expect(rawBytes(a.fc1.weight) != rawBytes(b.fc1.weight))
        try a.save(to: url, metadata: ["architecture": "{\"model\": \"tiny\"}"])
        let weightBefore = b.fc1.weight
        let result = try b.load(contentsOf: url)
        #expect(result.isComplete)
        expectBitIdentical(a.stateDict(), b.stateDict())
        #expect(b.fc1.weight === weightBefore)  // loaded in place: optimizers keep their references
        let file = try StateDict(contentsOf: url)
        // PyTorch's order: own buffers, then children in declaration order.
        #expect(file.keys == ["counter", "fc1.weight", "fc1.bias", "body.0.weight", "body.0.bias", "body.1.weight"])
        #expect(file.metadata == ["architecture": "{\"model\": \"tiny\"}"])
    }

    @Test func strictLoadReportsMissingAndUnexpectedKeysAndChangesNothing() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        var sd = TinyNet(seed: 1).stateDict()
        sd["fc1.bias"] = nil
        sd["extra.weight"] = Tensor.zeros([1])
        try sd.save(to: url)
        let b = TinyNet(seed: 2)
        let before = b.stateDict().cloned()
        do {
            try b.load(contentsOf: url)
            Issue.record("strict load accepted a dict with a missing key")
        } catch {
            guard case .stateDict(let e) = error else { Issue.record("expected a state-dict error, got \(error)"); return }
            #expect(e.missingKeys == ["fc1.bias"])
            #expect(e.unexpectedKeys == ["extra.weight"])
        }
        expectBitIdentical(before, b.stateDict())
        // Non-strict: loads what matches, reports the rest.
        let r = try b.load(contentsOf: url, strict: false)
        #expect(r.missingKeys == ["fc1.bias"])
        #expect(r.unexpectedKeys == ["extra.weight"])
        #expect(rawBytes(b.fc1.weight) == rawBytes(sd["fc1.weight"]!))
    }

    @Test func shapeMismatchIsAnError() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        try TinyNet(seed: 1, hidden: 5).save(to: url)
        do {
            try TinyNet(seed: 2).load(contentsOf: url, strict: false)
            Issue.record("loaded mis-shaped weights")
        } catch {
            guard case .stateDict(let e) = error else { Issue.record("expected a state-dict error, got \(error)"); return }
            #expect(e.mismatchedKeys == ["fc1.weight", "fc1.bias", "body.0.weight"])
        }
    }

    @Test func corruptFileIsAFileError() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("w.safetensors")
        try TinyNet(seed: 1).save(to: url)
        let data = try Data(contentsOf: url)
        try data.prefix(data.count - 1).write(to: url)
        do {
            try TinyNet(seed: 2).load(contentsOf: url)
            Issue.record("loaded a truncated file")
        } catch {
            guard case .file(.offsetsOutOfRange) = error else { Issue.record("expected a file error, got \(error)"); return }
            #expect(error.description.hasPrefix("safetensors: "))
        }
        do {
            try TinyNet(seed: 2).load(contentsOf: dir.appendingPathComponent("missing.safetensors"))
            Issue.record("loaded a missing file")
        } catch {
            guard case .file(.io) = error else { Issue.record("expected an io error, got \(error)"); return }
        }
    }

    @Test func halfPrecisionWeightsAreWidened() throws {
        // fc weights as F16 / BF16, as a user might export them from PyTorch.
        let a = TinyNet(seed: 3)
        var header = "{"
        var data: [UInt8] = []
        var expected: [String: [Float]] = [:]
        for (i, (k, t)) in a.stateDict().entries.enumerated() {
            let begin = data.count
            let dtype: String
            if t.dtype == .float32 {
                // Round to BF16 (keep the top 16 bits) so the widened value is exact.
                let bits = t.toArray(of: Float.self).map { UInt16($0.bitPattern >> 16) }
                dtype = i % 2 == 0 ? "BF16" : "F16"
                if dtype == "BF16" {
                    data += littleEndianBytes(bits)
                    expected[k] = bits.map { Float(bitPattern: UInt32($0) << 16) }
                } else {
                    let halves = t.toArray(of: Float.self).map { _ in UInt16(0x3C00) }  // 1.0
                    data += littleEndianBytes(halves)
                    expected[k] = halves.map { _ in 1 }
                }
            } else {
                dtype = "I64"
                data += rawBytes(t)
            }
            header += (header.count > 1 ? "," : "") + "\"\(k)\":{\"dtype\":\"\(dtype)\",\"shape\":\(t.shape),\"data_offsets\":[\(begin),\(data.count)]}"
        }
        header += "}"
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("half.safetensors")
        try safetensorsFile(header: header, data: data).write(to: url)
        let b = TinyNet(seed: 4)
        try b.load(contentsOf: url)
        for (k, t) in b.stateDict() where t.dtype == .float32 {
            #expect(t.toArray(of: Float.self) == expected[k], "\(k)")
        }
        #expect(b.counter.toArray(of: Int64.self) == [3])
    }
}
