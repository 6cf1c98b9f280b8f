import Foundation
import SwiftNN

/// Any bytes as a `torch.save` file (`.pth`): zip archive or legacy pickle stream, through the
/// restricted unpickler. What decodes must pick a state dict (or refuse with an error), and a
/// state dict that loads must write back as `.pth` and read again: the writer's output is data
/// from outside too, for the next run.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorchFile(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    _ = TorchFile.looksLikeTorchFile(data)
    guard let value = try? TorchFile.decode(data) else { return 0 }
    _ = try? TorchFile.encode(value)
    guard let sd = try? StateDict(value) else { return 0 }
    for (_, t) in sd { _ = t.count }
    guard let written = try? sd.torchData() else { return 0 }
    // What SwiftNN writes, it must read back with the same keys.
    guard let again = try? StateDict(torchData: written) else { fatalError("a state dict written as .pth does not read back") }
    precondition(again.keys == sd.keys, "a state dict written as .pth reads back with other keys")
    for (key, t) in sd {
        precondition(again[key]!.shape == t.shape && again[key]!.dtype == t.dtype, "'\(key)' reads back with another shape or dtype")
    }
    return 0
}
