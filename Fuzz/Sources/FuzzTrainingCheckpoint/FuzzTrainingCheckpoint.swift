import Foundation
import SwiftNN

// A run to restore into: MLPClassifier(4, [3], 2) with AdamW and cosine annealing over 5 epochs
// (scripts/fuzz/make_seeds.py writes a valid checkpoint of it as the seed).
nonisolated(unsafe) let model = MLPClassifier(inDim: 4, hiddenDims: [3], numClasses: 2, dropout: 0.1)
nonisolated(unsafe) let optimizer = AdamW(model.parameters(), lr: 1e-3)
nonisolated(unsafe) let scheduler = CosineAnnealingLR(optimizer, tMax: 5)
let generators = ["default": Generator(seed: 1), "loader": Generator(seed: 2)]

/// Any bytes as last.safetensors for `--resume`: parse, restore into the live run (all or
/// nothing), then train one step on what was restored — a restored state must never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTrainingCheckpoint(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    guard let sd = try? StateDict(safetensorsData: data), let ckpt = try? TrainingCheckpoint(stateDict: sd) else { return 0 }
    do {
        try ckpt.restore(into: model, optimizer: optimizer, scheduler: scheduler, generators: generators)
    } catch {
        return 0
    }
    model.train()
    optimizer.zeroGrad()
    let x = Tensor.randn([4, 4], generator: generators["default"]!)
    let loss = CrossEntropyLoss()(model(x), targets: Tensor([0, 1, 0, 1] as [Int64], shape: [4]))
    loss.backward()
    optimizer.step()
    scheduler.step()
    return 0
}
