import Foundation
import SwiftNN

/// Any bytes as a CIFAR-10 batch file; what loads must batch.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let ds = try? CIFAR10(batchData: data, path: "b.bin") else { return 0 }
    _ = ds.batch(0..<ds.count)
    _ = ds.classCounts()
    return 0
}
