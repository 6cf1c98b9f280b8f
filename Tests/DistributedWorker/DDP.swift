import DistributedScenarios
import Foundation
import SwiftNN

/// DistributedDataParallel through a synchronized step, a `noSync` accumulation and a second
/// step; records weights and gradients after each stage.
func runDDP(_ g: any ProcessGroup, _ report: inout WorkerReport, overlap: Bool) throws {
    let w = g.worldSize
    // Different initial weights per rank: only DDP's broadcast makes them rank 0's.
    let model = DDPData.model(seed: UInt64(g.rank + 1))
    model.useExtra = g.rank == 0
    // Tiny buckets: several buckets, so the in-order launching is exercised.
    let ddp = try DistributedDataParallel(model, processGroup: g, bucketCapMB: 1e-4, overlapCommunication: overlap)
    report.values["buckets"] = [Double(ddp.bucketCount)]
    report.recordModel("init", model, gradients: false)
    let criterion = CrossEntropyLoss()
    let optimizer = SGD(ddp.parameters(), lr: DDPData.learningRate)

    // Step 1: one synchronized backward.
    var (x, y) = DDPData.local(step: 0, rank: g.rank, worldSize: w)
    criterion(ddp(x), targets: y).backward()
    report.recordModel("step1", model)
    optimizer.step()
    optimizer.zeroGrad()

    // Step 2: micro-batch 1 under noSync (local gradients), micro-batch 2 synchronized.
    (x, y) = DDPData.local(step: 1, rank: g.rank, worldSize: w)
    ddp.noSync { criterion(ddp(x), targets: y).backward() }
    report.recordModel("nosync", model)
    (x, y) = DDPData.local(step: 2, rank: g.rank, worldSize: w)
    criterion(ddp(x), targets: y).backward()
    report.recordModel("step2", model)
    optimizer.step()
    report.recordModel("final", model, gradients: false)
}

/// The last rank builds a wider hidden layer: every rank must get the same clear error.
func runDDPMismatch(_ g: any ProcessGroup, _ report: inout WorkerReport) throws {
    let model = DDPNet(hidden: g.rank == g.worldSize - 1 ? 9 : 8)
    do {
        _ = try DistributedDataParallel(model, processGroup: g)
        report.texts["error"] = "no error"
    } catch {
        report.texts["error"] = "\(error)"
    }
}
