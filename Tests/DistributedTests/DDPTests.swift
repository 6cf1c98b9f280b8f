import DistributedScenarios
import Foundation
import SwiftNN
import Testing
import TestSupport

/// The single-process reference of the worker's DDP scenario: the same model (rank 0's seed) on
/// the global batch, with the loss the ranks' losses average to.
struct DDPReference {
    let model = DDPData.model(seed: 1)
    let criterion = CrossEntropyLoss()
    let w: Int

    /// Backward of (1/W)·Σ_r L_r, where rank 0 adds `extra`.
    func backward(step: Int, ranks: [Int]? = nil) {
        var total: Tensor? = nil
        for r in ranks ?? Array(0..<w) {
            model.useExtra = r == 0
            let (x, y) = DDPData.local(step: step, rank: r, worldSize: w)
            let l = criterion(model(x), targets: y)
            total = total.map { $0 + l } ?? l
        }
        (total! / Double(ranks == nil ? w : 1)).backward()
    }
}

@Suite(.serialized, .enabled(if: MPILauncher.isAvailable, "needs Open MPI (mpirun)"))
struct DistributedDataParallelMPITests {
    @Test(arguments: [(2, true), (3, true), (2, false), (3, false)])
    func gradientsAreTheGlobalBatchGradients(ranks w: Int, overlap: Bool) throws {
        let reports = try MPILauncher.scenario("ddp", ranks: w, overlap ? [] : ["--no-overlap"])
        try #require(reports.count == w)
        let ref = DDPReference(w: w)
        let names = ref.model.namedParameters().map(\.0)
        // Rank 0's initial weights everywhere.
        for report in reports {
            for (name, p) in ref.model.namedParameters() {
                #expect(report.values["init.\(name)"] == doubles(p), "rank \(report.rank) init \(name)")
            }
            #expect((report.values["buckets"]?.first ?? 0) >= 3, "tiny buckets: one per parameter or so")
        }
        let optimizer = SGD(ref.model.parameters(), lr: DDPData.learningRate)
        // Step 1: averaged gradients = gradients of the global mean loss.
        ref.backward(step: 0)
        for report in reports {
            for (name, p) in ref.model.namedParameters() where name != "unused" {
                #expect(Reference.mismatches(report.values["step1.grad.\(name)"] ?? [], doubles(p.grad!)).isEmpty,
                        "rank \(report.rank) step 1 grad \(name): \(Reference.mismatches(report.values["step1.grad.\(name)"] ?? [], doubles(p.grad!)))")
            }
            // Nobody used it: no gradient anywhere.
            #expect(report.texts["step1.grad.unused"] == "nil")
        }
        optimizer.step()
        optimizer.zeroGrad()
        // noSync: each rank keeps its own local gradients.
        let snapshot = ref.model.stateDict().cloned()
        for report in reports {
            let local = DDPReference(w: w)
            try local.model.loadStateDict(snapshot)
            local.backward(step: 1, ranks: [report.rank])
            for (name, p) in local.model.namedParameters() where p.grad != nil {
                #expect(Reference.mismatches(report.values["nosync.grad.\(name)"] ?? [], doubles(p.grad!)).isEmpty,
                        "rank \(report.rank) noSync grad \(name)")
            }
        }
        // The next synchronized backward averages the accumulated gradients.
        ref.backward(step: 1)
        ref.backward(step: 2)
        for report in reports {
            for (name, p) in ref.model.namedParameters() where name != "unused" {
                #expect(Reference.mismatches(report.values["step2.grad.\(name)"] ?? [], doubles(p.grad!)).isEmpty,
                        "rank \(report.rank) step 2 grad \(name): \(Reference.mismatches(report.values["step2.grad.\(name)"] ?? [], doubles(p.grad!)))")
            }
        }
        optimizer.step()
        for name in names {
            // The replicas stay identical, and equal the single-process run.
            for report in reports {
                #expect(report.values["final.\(name)"] == reports[0].values["final.\(name)"], "rank \(report.rank) final \(name) differs from rank 0")
            }
            let want = doubles(ref.model.namedParameters().first { $0.0 == name }!.1)
            #expect(Reference.mismatches(reports[0].values["final.\(name)"] ?? [], want).isEmpty, "final \(name)")
        }
    }

    @Test func differentModelsGiveOneClearErrorOnEveryRank() throws {
        let reports = try MPILauncher.scenario("ddp-mismatch", ranks: 3)
        let want = "DistributedDataParallel: the model on rank 2 differs from rank 0's: rank 0 has parameter 'fc1.weight' [8, 6] float32 "
            + "where rank 2 has parameter 'fc1.weight' [9, 6] float32; every rank must build the same model"
        for report in reports { #expect(report.texts["error"] == want) }
    }
}

/// DistributedDataParallel over one process: plain training.
@Suite struct DistributedDataParallelSingleTests {
    @Test func oneProcessIsPlainTraining() throws {
        let a = DDPData.model(seed: 3), b = DDPData.model(seed: 3)
        let ddp = try DistributedDataParallel(a, processGroup: SingleProcessGroup())
        #expect(ddp.stateDict().keys.allSatisfy { $0.hasPrefix("module.") })
        #expect(ddp.stateDict().keys.map { String($0.dropFirst(7)) } == a.stateDict().keys)
        let (x, y) = DDPData.global(step: 0, worldSize: 2)
        let c = CrossEntropyLoss()
        c(ddp(x), targets: y).backward()
        c(b(x), targets: y).backward()
        for ((name, p), (_, q)) in zip(a.namedParameters(), b.namedParameters()) {
            #expect(p.grad.map(doubles) == q.grad.map(doubles), "\(name)")
        }
        ddp.noSync { c(ddp(x), targets: y).backward() }
        #expect(a.fc1.weight.grad != nil)
    }
}
