import Foundation
import Testing
import CZlibLoader

/// The run-time zlib loader: the shared library is found, and the CRC-32 used when it is not
/// (zip checksums of .pth files) equals zlib's.
@Suite struct ZlibLoaderTests {
    @Test func theSystemZlibIsFound() {
        #expect(swiftnn_zlib_available() == 1, "\(String(cString: swiftnn_zlib_error()))")
        #expect(String(cString: swiftnn_zlib_version()).hasPrefix("1."))
        #expect(String(cString: swiftnn_zlib_error()).isEmpty)
    }

    @Test func softwareCRC32EqualsZlibs() {
        let check = Array("123456789".utf8)
        #expect(swiftnn_software_crc32(0, check, UInt32(check.count)) == 0xCBF4_3926)
        #expect(swiftnn_crc32(0, check, UInt32(check.count)) == 0xCBF4_3926)
        var rng = SystemRandomNumberGenerator()
        // Every tail length around the 8-byte blocks, unaligned starts, and chained updates.
        let bytes = (0..<4099).map { _ in UInt8.random(in: 0...255, using: &rng) }
        bytes.withUnsafeBufferPointer { b in
            for n in [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4096] {
                for start in [0, 1, 3] {
                    let p = b.baseAddress! + start
                    #expect(swiftnn_software_crc32(0, p, UInt32(n)) == swiftnn_crc32(0, p, UInt32(n)), "n \(n) start \(start)")
                }
            }
            let whole = swiftnn_crc32(0, b.baseAddress, UInt32(b.count))
            let chained = swiftnn_software_crc32(swiftnn_software_crc32(0, b.baseAddress, 1000), b.baseAddress! + 1000, UInt32(b.count - 1000))
            #expect(whole == chained)
        }
    }
}
