import Foundation
import Testing
import SwiftNN
import TestSupport

/// `updateBatchNorm` against `torch.optim.swa_utils.update_bn` and against the population
/// statistics of every BatchNorm input (scripts/reference/make_resnet_fixtures.py).
@Suite struct UpdateBatchNormTests {
    /// The reference's Conv-BN-ReLU-Linear-BN1d model.
    final class BNNet: Module {
        var conv = Conv2d(3, 4, 3, padding: 1)
        var bn = BatchNorm2d(4, momentum: 0.3)
        var relu = ReLU()
        var fc = Linear(4 * 6 * 6, 5)
        var bn1d = BatchNorm1d(5)
        override func forward(_ x: Tensor) -> Tensor { bn1d(fc(relu(bn(conv(x))).flattened(startDim: 1))) }
    }

    static func setUp() throws -> (BNNet, [Tensor], StateDict) {
        let ref = try StateDict(contentsOf: Fixtures.url("resnet/update_bn.safetensors"))
        let model = BNNet()
        try model.loadStateDict(ref.scoped("init"), strict: true)
        let batches = (0..<3).map { ref["batch\($0)"]! }
        #expect(batches.map { $0.shape[0] } == [6, 6, 3])
        return (model, batches, ref)
    }

    static func expectStats(_ model: BNNet, _ ref: StateDict, _ prefix: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for name in ["bn", "bn1d"] {
            let bn = name == "bn" ? model.bn as BatchNormBase : model.bn1d
            let mean = ref["\(prefix).\(name).running_mean"]!, variance = ref["\(prefix).\(name).running_var"]!
            #expect(allClose(bn.runningMean!, mean), "\(prefix) \(name) mean \(maxAbsDiff(bn.runningMean!, mean))", sourceLocation: sourceLocation)
            #expect(allClose(bn.runningVar!, variance), "\(prefix) \(name) var \(maxAbsDiff(bn.runningVar!, variance))", sourceLocation: sourceLocation)
            #expect(bn.numBatchesTracked == 3, sourceLocation: sourceLocation)
        }
    }

    /// PyTorch's semantics: statistics reset, cumulative average over the batches (each batch
    /// weighs the same), momenta and the model's mode restored.
    @Test func perBatchMatchesUpdateBN() throws {
        let (model, batches, ref) = try Self.setUp()
        model.eval()
        updateBatchNorm(model, batches)
        Self.expectStats(model, ref, "per_batch")
        #expect(model.bn.momentum == 0.3 && model.bn1d.momentum == 0.1)
        #expect(!model.isTraining && !model.bn.isTraining)
        // Training mode is restored too, and (input, label) pairs work like a DataLoader's batches.
        let again = try Self.setUp().0
        again.train()
        updateBatchNorm(again, batches.map { (inputs: $0, labels: Tensor.zeros([$0.shape[0]], dtype: .int64)) })
        Self.expectStats(again, ref, "per_batch")
        #expect(again.isTraining && again.bn.isTraining)
    }

    /// The exact mode: every sample weighs the same — the population mean and unbiased variance of
    /// all inputs each BatchNorm saw, computed by PyTorch in float64 from the same pass.
    @Test func perSampleMatchesPopulationStatistics() throws {
        let (model, batches, ref) = try Self.setUp()
        updateBatchNorm(model, batches, weighting: .perSample)
        Self.expectStats(model, ref, "per_sample")
        // With a smaller last batch the two modes differ (the point of the exact mode).
        #expect(maxAbsDiff(ref["per_sample.bn.running_var"]!, ref["per_batch.bn.running_var"]!) > 1e-2)
    }

    /// One batch holding everything gives the same statistics in both modes (and equals what a
    /// single training step with momentum 1 computes).
    @Test func oneBatchGivesTheSameInBothModes() throws {
        let (a, batches, _) = try Self.setUp()
        let b = try Self.setUp().0
        let all = Tensor(batches.flatMap { $0.toArray(of: Float.self) }, shape: [15, 3, 6, 6])
        updateBatchNorm(a, [all])
        updateBatchNorm(b, [all], weighting: .perSample)
        #expect(allClose(a.bn.runningMean!, b.bn.runningMean!) && allClose(a.bn.runningVar!, b.bn.runningVar!))
        #expect(allClose(a.bn1d.runningVar!, b.bn1d.runningVar!))
    }

    /// BatchNorms frozen with `freezeBatchNorm` are re-estimated on request and stay frozen.
    @Test func frozenBatchNormsAreUpdatedAndStayFrozen() throws {
        let (model, batches, ref) = try Self.setUp()
        freezeBatchNorm(model)
        updateBatchNorm(model, batches)
        Self.expectStats(model, ref, "per_batch")
        model.train()
        #expect(model.bn.isFrozen && !model.bn.isTraining && model.bn.weight?.requiresGrad == false)
    }
}
