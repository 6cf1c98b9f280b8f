import Foundation
import SwiftNN
import CZlibLoader

/// Runs `body` and returns the `DataError` it threw (nil if it did not throw one).
func dataError(_ body: () throws -> Void) -> DataError? {
    do { try body() } catch let e as DataError { return e } catch { return nil }
    return nil
}

func bundledFile(_ name: String) -> URL {
    MNIST.bundledDirectory.appendingPathComponent(name)
}

/// `bytes` gzip-compressed by zlib (level 9), to build test files of any size and ratio.
func gzipCompress(_ bytes: [UInt8]) -> Data {
    var stream = swiftnn_z_stream()
    // windowBits 15 + 16: write a gzip wrapper.
    precondition(swiftnn_deflate_init2(&stream, 9, 15 + 16) == SWIFTNN_Z_OK, "zlib unavailable")
    defer { swiftnn_deflate_end(&stream) }
    var out = [UInt8](repeating: 0, count: Int(swiftnn_deflate_bound(&stream, UInt(bytes.count))) + 64)
    let produced = bytes.withUnsafeBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o -> Int in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            stream.next_out = o.baseAddress
            stream.avail_out = UInt32(o.count)
            precondition(swiftnn_deflate(&stream, SWIFTNN_Z_FINISH) == SWIFTNN_Z_STREAM_END)
            return o.count - Int(stream.avail_out)
        }
    }
    return Data(out.prefix(produced))
}
