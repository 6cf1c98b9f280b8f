import Foundation
import SwiftNN
import CZlib

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
    var stream = z_stream()
    // windowBits 15 + 16: write a gzip wrapper.
    precondition(deflateInit2_(&stream, 9, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK)
    defer { deflateEnd(&stream) }
    var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(bytes.count))) + 64)
    var input = bytes
    let produced = input.withUnsafeMutableBufferPointer { inp in
        out.withUnsafeMutableBufferPointer { o -> Int in
            stream.next_in = inp.baseAddress
            stream.avail_in = UInt32(inp.count)
            stream.next_out = o.baseAddress
            stream.avail_out = UInt32(o.count)
            precondition(deflate(&stream, Z_FINISH) == Z_STREAM_END)
            return o.count - Int(stream.avail_out)
        }
    }
    return Data(out.prefix(produced))
}
