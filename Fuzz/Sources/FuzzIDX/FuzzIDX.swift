import Foundation
import SwiftNN

/// Any bytes as an IDX file, raw and (when it starts with the gzip magic) compressed, streamed.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    if Gzip.isGzip(data) {
        _ = try? IDXArray(gzipData: data, path: "f.gz")
    } else {
        _ = try? IDXArray(idxData: data, path: "f")
    }
    return 0
}
