import DistributedScenarios
import Foundation
import SwiftNN

/// Every SyncBatchNorm fixture case on this rank's rows of each batch of 16 (`sizes`: rows per
/// rank), through a converted BatchNorm and a SyncBatchNorm built directly.
func runSyncBatchNorm(_ g: any ProcessGroup, _ report: inout WorkerReport, sizes: [Int]) throws {
    guard sizes.count == g.worldSize, sizes.reduce(0, +) == 16 else {
        throw WorkerFailure(description: "sizes \(sizes) do not split 16 rows over \(g.worldSize) ranks")
    }
    let rows = SyncBatchNormCases.rows(sizes: sizes, rank: g.rank)
    for name in SyncBatchNormCases.names {
        for kind in [SyncBatchNormCases.LayerKind.converted, .direct] {
            try SyncBatchNormCases.run(name, kind: kind, rows: rows, group: g, into: &report)
        }
    }
}

/// A converted model inside DistributedDataParallel, trained with uneven batches: each rank's
/// loss is its rows' summed loss scaled by W / 16, so DDP's average is the gradient of the global
/// batch's mean loss (the test replays it in one process).
func runSyncBatchNormDDP(_ g: any ProcessGroup, _ report: inout WorkerReport, sizes: [Int], overlap: Bool) throws {
    let model = SyncBatchNormModel.make(seed: UInt64(g.rank + 1))
    SyncBatchNorm.convert(model, processGroup: g)
    let ddp = try DistributedDataParallel(model, processGroup: g, bucketCapMB: 1e-4, overlapCommunication: overlap)
    let optimizer = SGD(ddp.parameters(), lr: SyncBatchNormModel.learningRate, momentum: 0.9)
    let rows = SyncBatchNormCases.rows(sizes: sizes, rank: g.rank)
    for step in 0..<SyncBatchNormModel.steps {
        let (x, y) = SyncBatchNormModel.batch(step: step)
        let xs = x.sliced(dim: 0, start: rows.lowerBound, end: rows.upperBound).clonedData()
        let ys = y.sliced(dim: 0, start: rows.lowerBound, end: rows.upperBound).clonedData()
        optimizer.zeroGrad()
        let loss = CrossEntropyLoss(reduction: .sum)(ddp(xs), targets: ys) * (Double(g.worldSize) / Double(SyncBatchNormModel.batchSize))
        loss.backward()
        optimizer.step()
    }
    report.recordModel("final", model, gradients: false)
    for (key, b) in model.namedBuffers() { report.record("final.\(key)", b) }
    report.texts["description"] = model.description
}
