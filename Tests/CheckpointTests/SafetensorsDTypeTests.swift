import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN

@Suite struct SafetensorsDTypeTests {
    static func halfFile(_ dtype: String, _ bits: [UInt16]) -> Data {
        safetensorsFile(header: "{\"h\":{\"dtype\":\"\(dtype)\",\"shape\":[\(bits.count)],\"data_offsets\":[0,\(2 * bits.count)]}}",
                        data: littleEndianBytes(bits))
    }

    @Test func f16DecodesKnownBitPatterns() throws {
        let cases: [(UInt16, Float)] = [
            (0x0000, 0), (0x3C00, 1), (0xBC00, -1), (0x4000, 2), (0xC000, -2), (0x3E00, 1.5),
            (0x3555, 0.333251953125), (0x7BFF, 65504), (0xFBFF, -65504),
            (0x0400, 6.103515625e-05),            // smallest normal, 2^-14
            (0x03FF, 6.097555160522461e-05),      // largest subnormal, 1023·2^-24
            (0x0001, 5.960464477539063e-08),      // smallest subnormal, 2^-24
            (0x8001, -5.960464477539063e-08),
            (0x7C00, .infinity), (0xFC00, -.infinity),
        ]
        let sd = try StateDict(safetensorsData: Self.halfFile("F16", cases.map(\.0) + [0x8000, 0x7E00, 0xFE01]), convertingHalfPrecision: true)
        let t = try #require(sd["h"])
        #expect(t.dtype == .float32)
        let got = t.toArray(of: Float.self)
        for (i, (bits, want)) in cases.enumerated() {
            #expect(got[i].bitPattern == want.bitPattern, "F16 0x\(String(bits, radix: 16)) → \(got[i]), want \(want)")
        }
        #expect(got[cases.count].bitPattern == 0x8000_0000)  // -0.0
        #expect(got[cases.count + 1].bitPattern == 0x7FC0_0000)  // quiet NaN
        #expect(got[cases.count + 2].isNaN && got[cases.count + 2].sign == .minus)
    }

    #if !(os(macOS) && arch(x86_64))
    /// All 65,536 half-precision values widen exactly as the standard library's Float16 does.
    @Test func f16MatchesFloat16ForEveryBitPattern() {
        var mismatches = 0
        for bits in 0...UInt16.max {
            let want = Float(Float16(bitPattern: bits))
            let got = Safetensors.floatFromHalfBits(bits)
            if want.isNaN ? !got.isNaN : want.bitPattern != got.bitPattern { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }
    #endif

    @Test func bf16DecodesKnownBitPatterns() throws {
        let cases: [(UInt16, UInt32)] = [
            (0x3F80, Float(1).bitPattern), (0xC000, Float(-2).bitPattern), (0x4049, Float(3.140625).bitPattern),
            (0x7F80, Float.infinity.bitPattern), (0xFF80, (-Float.infinity).bitPattern), (0x7FC0, 0x7FC0_0000),
            (0x0001, 0x0001_0000), (0x8000, 0x8000_0000), (0x7F7F, 0x7F7F_0000), (0x3DCD, 0x3DCD_0000),
        ]
        let sd = try StateDict(safetensorsData: Self.halfFile("BF16", cases.map(\.0)), convertingHalfPrecision: true)
        let got = try #require(sd["h"]).toArray(of: Float.self)
        #expect(got.map(\.bitPattern) == cases.map(\.1))
        #expect(got[2] == 3.140625)
        #expect(got[8] == 3.3895313892515355e38)
    }

    @Test func halfPrecisionNeedsToBeRequested() {
        for dtype in ["F16", "BF16"] {
            let e = safetensorsError { () throws(SafetensorsError) in _ = try StateDict(safetensorsData: Self.halfFile(dtype, [0x3C00])) }
            guard case .unsupportedDType(let name, let d, let hint) = e else {
                Issue.record("\(dtype): expected unsupportedDType, got \(String(describing: e))"); continue
            }
            #expect(name == "h" && d == dtype)
            #expect(hint.contains("convertingHalfPrecision: true"))
        }
    }

    @Test func i32IsWidenedToInt64() throws {
        let values: [Int32] = [0, 1, -1, .max, .min, 123_456]
        let data = safetensorsFile(header: "{\"i\":{\"dtype\":\"I32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", data: littleEndianBytes(values))
        let t = try #require(try StateDict(safetensorsData: data)["i"])
        #expect(t.dtype == .int64)
        #expect(t.shape == [2, 3])
        #expect(t.toArray(of: Int64.self) == values.map(Int64.init))
    }

    @Test func mixedFileKeepsOrderAcrossConversions() throws {
        // Data deliberately not in header order, with 2- and 4-byte types at odd offsets.
        let header = #"{"b":{"dtype":"BF16","shape":[1],"data_offsets":[5,7]},"u":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"i":{"dtype":"I32","shape":[1],"data_offsets":[1,5]},"f":{"dtype":"F16","shape":[1],"data_offsets":[7,9]}}"#
        let data: [UInt8] = [42] + littleEndianBytes([Int32(-7)]) + littleEndianBytes([UInt16(0x3F80), UInt16(0x4000)])
        let sd = try StateDict(safetensorsData: safetensorsFile(header: header, data: data), convertingHalfPrecision: true)
        #expect(sd.keys == ["b", "u", "i", "f"])
        #expect(sd["b"]?.scalars == [1])
        #expect(sd["u"]?.toArray(of: UInt8.self) == [42])
        #expect(sd["i"]?.toArray(of: Int64.self) == [-7])
        #expect(sd["f"]?.scalars == [2])
    }

    @Test func everyWritableDTypeRoundTrips() throws {
        for dtype in DType.allCases {
            let t = Tensor.arange(0, 6, dtype: dtype == .bool ? .uint8 : dtype)
            let x = dtype == .bool ? Tensor([true, false, false, true, true, false], shape: [6]) : t
            let sd = StateDict([("x", x.viewData([3, 2]))])
            let data = try sd.safetensorsData()
            let header = try Safetensors.header(of: data)
            #expect(header.entries[0].dtype == SafetensorsDType(writing: dtype))
            #expect(header.entries[0].dtype.loadedDType == dtype)
            expectBitIdentical(sd, try StateDict(safetensorsData: data))
        }
    }
}
