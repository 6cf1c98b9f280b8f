import Foundation
import SwiftNN

/// Any bytes as gzip data: whole-stream inflate (bounded by deflate's expansion limit).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGzip(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    _ = try? Gzip.inflate(data, path: "f.gz")
    return 0
}
