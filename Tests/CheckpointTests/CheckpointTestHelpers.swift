import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

/// The raw bytes of a tensor (its dtype's in-memory representation).
func rawBytes(_ t: Tensor) -> [UInt8] {
    withExtendedLifetime(t) {
        Array(UnsafeRawBufferPointer(start: t.rawPointer, count: t.count * t.dtype.byteSize))
    }
}

/// Two state dicts hold the same keys in the same order, with bit-identical tensors and equal metadata.
func expectBitIdentical(_ a: StateDict, _ b: StateDict, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.keys == b.keys, sourceLocation: sourceLocation)
    #expect(a.metadata == b.metadata, sourceLocation: sourceLocation)
    for k in a.keys {
        guard let x = a[k], let y = b[k] else { continue }
        #expect(x.dtype == y.dtype, "\(k)", sourceLocation: sourceLocation)
        #expect(x.shape == y.shape, "\(k)", sourceLocation: sourceLocation)
        #expect(rawBytes(x) == rawBytes(y), "\(k)", sourceLocation: sourceLocation)
    }
}

/// A safetensors file assembled by hand: `header` JSON (padded with spaces to 8 bytes unless
/// `pad` is false), then `data`. `length` overrides the header-length prefix.
func safetensorsFile(header: String, data: [UInt8], length: UInt64? = nil, pad: Bool = true) -> Data {
    var h = Array(header.utf8)
    if pad { h += Array(repeating: UInt8(ascii: " "), count: (8 - h.count % 8) % 8) }
    return safetensorsFile(headerBytes: h, data: data, length: length)
}

func safetensorsFile(headerBytes h: [UInt8], data: [UInt8], length: UInt64? = nil) -> Data {
    var out = Data()
    withUnsafeBytes(of: (length ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: h)
    out.append(contentsOf: data)
    return out
}

func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
}

func floatBytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }

/// The error a throwing expression produced, or nil.
func safetensorsError(_ body: () throws(SafetensorsError) -> Void) -> SafetensorsError? {
    do throws(SafetensorsError) { try body(); return nil } catch { return error }
}
