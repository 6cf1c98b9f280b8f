import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import Autograd
import NN
import Optim
import TestSupport

/// A small training run: TinyNet, AdamW with two parameter groups, cosine schedule, and a private
/// data generator (tests run in parallel, so the default generator is not used).
final class TinyRun {
    let net: TinyNet
    let optimizer: AdamW
    let scheduler: CosineAnnealingLR
    let data: Generator
    let loss = MSELoss()

    init(seed: UInt64) {
        net = TinyNet(seed: seed)
        let params = net.namedParameters()
        optimizer = AdamW([ParamGroup(params.filter { $0.1.rank > 1 }.map(\.1)),
                           ParamGroup(params.filter { $0.1.rank <= 1 }.map(\.1), weightDecay: 0)],
                          lr: 0.05, weightDecay: 0.1)
        scheduler = CosineAnnealingLR(optimizer, tMax: 6)
        data = Generator(seed: seed &+ 1000)
    }

    /// One epoch of three steps on fresh random batches, then a scheduler step.
    func epoch() {
        for _ in 0..<3 {
            let x = Tensor.randn([5, 4], generator: data)
            let y = Tensor.randn([5, 2], generator: data)
            optimizer.zeroGrad()
            let l = loss(net(x), y)
            l.backward()
            optimizer.step()
        }
        scheduler.step()
    }

    func checkpoint(epoch: Int) -> TrainingCheckpoint {
        TrainingCheckpoint(model: net, optimizer: optimizer, scheduler: scheduler, generators: ["data": data],
                           epoch: epoch, bestMetric: 0.5, architecture: "{\"model\": \"tiny\"}")
    }

    func restore(_ c: TrainingCheckpoint) throws {
        try c.restore(into: net, optimizer: optimizer, scheduler: scheduler, generators: ["data": data])
    }
}

@Suite struct TrainingResumeTests {
    /// Stopping after epoch k, saving, and resuming in a fresh process-like setup gives the same
    /// final weights, optimizer state and learning rate as an uninterrupted run.
    @Test func resumeContinuesExactly() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")

        let straight = TinyRun(seed: 1)
        for _ in 0..<5 { straight.epoch() }

        let first = TinyRun(seed: 1)
        for _ in 0..<2 { first.epoch() }
        try first.checkpoint(epoch: 2).save(to: url)

        let resumed = TinyRun(seed: 77)  // different initial weights and data stream
        let c = try TrainingCheckpoint(contentsOf: url)
        #expect(c.epoch == 2)
        #expect(c.bestMetric == 0.5)
        #expect(c.architecture == "{\"model\": \"tiny\"}")
        try resumed.restore(c)
        for _ in c.epoch..<5 { resumed.epoch() }

        expectBitIdentical(straight.net.stateDict(), resumed.net.stateDict())
        expectBitIdentical(straight.optimizer.stateDict(), resumed.optimizer.stateDict())
        #expect(straight.optimizer.paramGroups.map(\.lr) == resumed.optimizer.paramGroups.map(\.lr))
        #expect(straight.scheduler.lastEpoch == resumed.scheduler.lastEpoch)
        #expect(straight.scheduler.getLastLR() == resumed.scheduler.getLastLR())
        #expect(straight.data.state == resumed.data.state)
    }

    @Test func savedCheckpointRoundTripsThroughTheFile() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")
        let run = TinyRun(seed: 3)
        run.epoch()
        let c = run.checkpoint(epoch: 1)
        try c.save(to: url)
        TrainingCheckpointFileTests.expectEqual(c, try TrainingCheckpoint(contentsOf: url))
        // The optimizer part is the optimizer's own state dict, unchanged.
        let back = try TrainingCheckpoint(contentsOf: url)
        expectBitIdentical(try #require(back.optimizer), run.optimizer.stateDict())
        #expect(back.scheduler?.metadata == run.scheduler.stateDict().metadata)
    }

    @Test func restoreIsAllOrNothing() throws {
        let source = TinyRun(seed: 1)
        source.epoch()
        var c = source.checkpoint(epoch: 1)
        // An optimizer state of another type fits the model but not the optimizer.
        c.optimizer?.metadata["optimizer"] = "SGD"
        let target = TinyRun(seed: 2)
        target.epoch()
        let modelBefore = target.net.stateDict().cloned()
        let optimBefore = target.optimizer.stateDict()
        let lastEpoch = target.scheduler.lastEpoch
        let dataState = target.data.state
        let e = #expect(throws: CheckpointError.self) { try target.restore(c) }
        guard case .optimizerState(let why) = e else { Issue.record("got \(String(describing: e))"); return }
        #expect(why.contains("SGD"))
        expectBitIdentical(modelBefore, target.net.stateDict())
        expectBitIdentical(optimBefore, target.optimizer.stateDict())
        #expect(target.scheduler.lastEpoch == lastEpoch)
        #expect(target.data.state == dataState)
    }

    @Test func restoreNeedsTheRequestedParts() throws {
        let run = TinyRun(seed: 1)
        let modelOnly = TrainingCheckpoint(model: run.net, generators: [:], epoch: 0)
        let e1 = #expect(throws: CheckpointError.self) { try modelOnly.restore(into: run.net, optimizer: run.optimizer, generators: [:]) }
        #expect(e1 == .missingPart("optimizer"))
        let e2 = #expect(throws: CheckpointError.self) { try modelOnly.restore(into: run.net, generators: ["data": run.data]) }
        #expect(e2 == .missingPart("generator 'data'"))
        // A model of another shape: a state-dict error listing the keys.
        let other = TinyNet(seed: 1, hidden: 5)
        let e3 = #expect(throws: CheckpointError.self) { try modelOnly.restore(into: other, generators: [:]) }
        guard case .stateDict(let sde) = e3 else { Issue.record("got \(String(describing: e3))"); return }
        #expect(sde.mismatchedKeys == ["fc1.weight", "fc1.bias", "body.0.weight"])
    }
}
