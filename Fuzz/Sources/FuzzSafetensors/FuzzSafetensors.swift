import Foundation
import SwiftNN

/// Any bytes as a safetensors file: a state dict (half precision widened) and, when it is one, a
/// training checkpoint. Errors are expected; a trap, hang or huge allocation is a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafetensors(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    _ = try? Safetensors.header(of: data)
    guard let sd = try? StateDict(safetensorsData: data, convertingHalfPrecision: true) else { return 0 }
    for (_, t) in sd { _ = t.count }
    if let ckpt = try? TrainingCheckpoint(stateDict: sd) {
        _ = try? ckpt.stateDict().safetensorsData()
    }
    // What loads must write back.
    _ = try? sd.safetensorsData()
    return 0
}
