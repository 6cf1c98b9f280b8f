import Foundation
import SwiftNN

/// Any bytes as a checkpoint for `swiftnn evaluate`/`doctor`: architecture metadata → shape check
/// against the file → model built → weights loaded; a loaded model must run a forward pass.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpointModel(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let (spec, model) = try? loadCheckpointModel(bytes: data, path: "f.safetensors", requireFinite: true) else { return 0 }
    // Small inputs only: one example of the declared shape (bounded by ModelSpec.hasBoundedSize).
    guard spec.inputShape.reduce(1, *) <= 1 << 12 else { return 0 }
    model.eval()
    var x = Tensor.zeros([2] + spec.inputShape)
    for t in spec.transforms { x = t.apply(x, stream: RandomStream(seed: 0, offset: 0)) }
    _ = withNoGrad { model(x) }
    return 0
}
