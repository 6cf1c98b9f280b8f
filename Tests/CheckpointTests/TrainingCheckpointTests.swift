import Foundation
import Testing
@testable import Checkpoint
import TensorCore
import NN
import TestSupport

@Suite struct TrainingCheckpointFileTests {
    static func sample() -> TrainingCheckpoint {
        let net = TinyNet(seed: 7)
        var optim = StateDict([("state.0.exp_avg", Tensor.full([8, 4], 0.25)), ("state.0.step", Tensor(scalar: Float(12)))])
        optim.metadata = ["optimizer": "AdamW", "param_groups": "[{\"params\": [0], \"lr\": 0.001}]"]
        var sched = StateDict()
        sched.metadata = ["scheduler": "CosineAnnealingLR", "state": "{\"last_epoch\": 3}"]
        return TrainingCheckpoint(model: net.stateDict(), optimizer: optim, scheduler: sched,
                                  generators: ["default": .init(seed: 42, offset: 17), "loader": .init(seed: .max, offset: 3)],
                                  epoch: 3, bestMetric: 0.953125, architecture: "{\"model\": \"mlp\"}",
                                  userMetadata: ["metrics": "[1, 2]"])
    }

    static func expectEqual(_ a: TrainingCheckpoint, _ b: TrainingCheckpoint, sourceLocation: SourceLocation = #_sourceLocation) {
        expectBitIdentical(a.model, b.model, sourceLocation: sourceLocation)
        #expect((a.optimizer == nil) == (b.optimizer == nil), sourceLocation: sourceLocation)
        if let x = a.optimizer, let y = b.optimizer { expectBitIdentical(x, y, sourceLocation: sourceLocation) }
        #expect((a.scheduler == nil) == (b.scheduler == nil), sourceLocation: sourceLocation)
        if let x = a.scheduler, let y = b.scheduler { expectBitIdentical(x, y, sourceLocation: sourceLocation) }
        #expect(a.generators == b.generators, sourceLocation: sourceLocation)
        #expect(a.epoch == b.epoch, sourceLocation: sourceLocation)
        #expect(a.bestMetric == b.bestMetric, sourceLocation: sourceLocation)
        #expect(a.architecture == b.architecture, sourceLocation: sourceLocation)
        #expect(a.userMetadata == b.userMetadata, sourceLocation: sourceLocation)
    }

    @Test func saveThenLoadRestoresEveryPart() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")
        let c = Self.sample()
        try c.save(to: url)
        let back = try TrainingCheckpoint(contentsOf: url)
        Self.expectEqual(c, back)
        #expect(directoryListing(dir) == ["last.safetensors"])
        // One plain safetensors file with prefixed keys.
        let raw = try StateDict(contentsOf: url)
        #expect(raw.keys.allSatisfy { $0.hasPrefix("model.") || $0.hasPrefix("optim.") })
        #expect(raw.metadata["optim.optimizer"] == "AdamW")
        #expect(raw.metadata["epoch"] == "3")
        #expect(raw.metadata["rng.default"] == "42:17")
    }

    @Test func minimalCheckpointRoundTrips() throws {
        let c = TrainingCheckpoint(model: TinyNet(seed: 1).stateDict(), epoch: 0)
        let back = try TrainingCheckpoint(stateDict: StateDict(safetensorsData: c.stateDict().safetensorsData()))
        Self.expectEqual(c, back)
        #expect(back.optimizer == nil && back.scheduler == nil && back.bestMetric == nil)
    }

    @Test func modelLoadAcceptsATrainingCheckpoint() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")
        try Self.sample().save(to: url)
        let net = TinyNet(seed: 99)
        try net.load(contentsOf: url)
        expectBitIdentical(net.stateDict(), TinyNet(seed: 7).stateDict())
    }

    @Test(arguments: [AtomicFile.Stage.afterCreate, .afterWrite, .beforeRename])
    func interruptedWriteKeepsThePreviousCheckpoint(_ stage: AtomicFile.Stage) throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")
        let first = Self.sample()
        try first.save(to: url)
        let bytes = try Data(contentsOf: url)
        var second = Self.sample()
        second.epoch = 4
        second.model = TinyNet(seed: 8).stateDict()
        #expect(throws: CheckpointError.self) { try second.save(to: url, failure: stage) }
        #expect(try Data(contentsOf: url) == bytes)
        Self.expectEqual(try TrainingCheckpoint(contentsOf: url), first)
        #expect(directoryListing(dir) == ["last.safetensors"])
    }

    @Test func plainStateDictIsNotATrainingCheckpoint() throws {
        let e = #expect(throws: CheckpointError.self) {
            _ = try TrainingCheckpoint(stateDict: TinyNet(seed: 1).stateDict())
        }
        guard case .notATrainingCheckpoint = e else { Issue.record("got \(String(describing: e))"); return }
    }

    @Test func badMetadataIsATypedError() throws {
        let good = try Self.sample().stateDict()
        func broken(_ edit: (inout StateDict) -> Void) -> CheckpointError? {
            var sd = good
            edit(&sd)
            do { _ = try TrainingCheckpoint(stateDict: sd); return nil } catch { return error }
        }
        #expect(broken { $0.metadata["format"] = "other" } == .notATrainingCheckpoint("format is 'other', expected 'swiftnn.training_checkpoint'"))
        guard case .notATrainingCheckpoint = broken({ $0.metadata["format_version"] = "2" }) else { Issue.record("version"); return }
        #expect(broken { $0.metadata["epoch"] = "three" }.map { if case .invalidField("epoch", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["epoch"] = "-1" }.map { if case .invalidField("epoch", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["epoch"] = nil }.map { if case .invalidField("epoch", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["best_metric"] = "high" }.map { if case .invalidField("best_metric", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["rng.default"] = "42" }.map { if case .invalidField("rng.default", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["parts"] = "model,weights" }.map { if case .invalidField("parts", _) = $0 { true } else { false } } == true)
        #expect(broken { $0.metadata["parts"] = "optim" }.map { if case .invalidField("parts", _) = $0 { true } else { false } } == true)
        #expect(broken { $0["stray"] = Tensor.zeros([1]) }.map { if case .invalidField("stray", _) = $0 { true } else { false } } == true)
        #expect(broken { _ in } == nil)
    }

    @Test func corruptFileIsAFileError() throws {
        let dir = makeTempDirectory("checkpoint")
        defer { cleanUp(dir) }
        let url = dir.appendingPathComponent("last.safetensors")
        try Self.sample().save(to: url)
        var data = try Data(contentsOf: url)
        data[9] = UInt8(ascii: "x")
        try data.write(to: url)
        let e = #expect(throws: CheckpointError.self) { _ = try TrainingCheckpoint(contentsOf: url) }
        guard case .file(.invalidJSON) = e else { Issue.record("got \(String(describing: e))"); return }
    }
}
