import DistributedScenarios
import Foundation
import SwiftNN
import Testing
import TestSupport

/// Elementwise |got − want| ≤ 1e-5 + 1e-4·|want| (the parity tolerance); the first few failures.
private func mismatches(_ got: [Double]?, _ want: Tensor) -> [String] {
    guard let got else { return ["missing"] }
    guard got.count == want.count else { return ["\(got.count) values, want \(want.count)"] }
    return Reference.mismatches(got, doubles(want))
}

/// Rows `rows` of a fixture tensor (dimension 0).
private func slice(_ t: Tensor, _ rows: Range<Int>) -> Tensor {
    t.sliced(dim: 0, start: rows.lowerBound, end: rows.upperBound).clonedData()
}

/// Multi-rank exactness: ranks holding 5 and 11 (or 5, 0, 11 / 1, 4, 11) rows of every batch of
/// 16 give what PyTorch's BatchNorm gives on the 16 rows.
@Suite(.serialized, .enabled(if: MPILauncher.isAvailable, "needs Open MPI (mpirun); .ci/run installs it"))
struct SyncBatchNormMPITests {
    @Test(arguments: [[5, 11], [11, 5], [5, 0, 11], [1, 4, 11]])
    func unevenRanksEqualOneBatch(sizes: [Int]) throws {
        let w = sizes.count
        let reports = try MPILauncher.scenario("syncbn", ranks: w, ["--sizes", sizes.map(String.init).joined(separator: ",")])
        try #require(reports.count == w)
        for name in SyncBatchNormCases.names {
            let c = try SyncBatchNormCases.Case(name)
            for kind in ["converted", "direct"] {
                let prefix = "\(name).\(kind)"
                for (i, _) in c.modes.enumerated() {
                    let s = c.state.scoped("step\(i)")
                    let where_ = "\(sizes) \(prefix) step \(i)"
                    for report in reports {
                        #expect(report.texts["\(prefix).type"] == "SyncBatchNorm")
                        let rows = SyncBatchNormCases.rows(sizes: sizes, rank: report.rank)
                        for key in ["output", "grad_input"] {
                            let m = mismatches(report.values["\(prefix).step\(i).\(key)"], slice(s[key]!, rows))
                            #expect(m.isEmpty, "\(where_) rank \(report.rank) \(key): \(m)")
                        }
                        // The running statistics are the global batch's on every rank, bit for bit.
                        for key in ["running_mean", "running_var"] where s[key] != nil {
                            let m = mismatches(report.values["\(prefix).step\(i).\(key)"], s[key]!)
                            #expect(m.isEmpty, "\(where_) rank \(report.rank) \(key): \(m)")
                            #expect(report.values["\(prefix).step\(i).\(key)"] == reports[0].values["\(prefix).step\(i).\(key)"],
                                    "\(where_) rank \(report.rank) \(key) differs from rank 0's")
                        }
                        if let want = s["num_batches_tracked"] {
                            #expect(report.values["\(prefix).step\(i).num_batches_tracked"] == [want.doubleValue(at: 0)], "\(where_) counter")
                        }
                    }
                    // Weight and bias gradients are each rank's own part: they add up to the batch's.
                    for key in ["grad_weight", "grad_bias"] {
                        guard let want = s[key] else {
                            #expect(reports[0].values["\(prefix).step\(i).\(key)"] == nil)
                            continue
                        }
                        var total = [Double](repeating: 0, count: want.count)
                        for report in reports {
                            let part = try #require(report.values["\(prefix).step\(i).\(key)"], "\(where_) rank \(report.rank) \(key)")
                            for j in total.indices { total[j] += part[j] }
                        }
                        let m = mismatches(total, want)
                        #expect(m.isEmpty, "\(where_) \(key) summed over the ranks: \(m)")
                    }
                }
            }
        }
    }

    /// A converted model in DistributedDataParallel: three SGD steps on uneven splits equal the
    /// one-process run on the whole batches.
    @Test(arguments: [([5, 11], true), ([1, 4, 11], true), ([5, 11], false)])
    func dataParallelTrainingEqualsOneProcess(sizes: [Int], overlap: Bool) throws {
        let w = sizes.count
        let reports = try MPILauncher.scenario("syncbn-ddp", ranks: w,
                                               ["--sizes", sizes.map(String.init).joined(separator: ",")] + (overlap ? [] : ["--no-overlap"]))
        try #require(reports.count == w)
        let model = SyncBatchNormModel.make(seed: 1)
        let optimizer = SGD(model.parameters(), lr: SyncBatchNormModel.learningRate, momentum: 0.9)
        for step in 0..<SyncBatchNormModel.steps {
            let (x, y) = SyncBatchNormModel.batch(step: step)
            optimizer.zeroGrad()
            CrossEntropyLoss()(model(x), targets: y).backward()
            optimizer.step()
        }
        for report in reports {
            #expect(report.texts["description"]?.contains("(1): SyncBatchNorm(8, eps=1e-05, momentum=0.1") == true,
                    "\(report.texts["description"] ?? "")")
            for (name, p) in model.namedParameters() {
                let m = Reference.mismatches(report.values["final.\(name)"] ?? [], doubles(p))
                #expect(m.isEmpty, "\(sizes) rank \(report.rank) \(name): \(m)")
                #expect(report.values["final.\(name)"] == reports[0].values["final.\(name)"], "rank \(report.rank) \(name) differs from rank 0's")
            }
            for (key, b) in model.namedBuffers() {
                let m = Reference.mismatches(report.values["final.\(key)"] ?? [], doubles(b))
                #expect(m.isEmpty, "\(sizes) rank \(report.rank) \(key): \(m)")
            }
        }
    }
}

/// SyncBatchNorm in one process: plain BatchNorm, with or without a process group.
@Suite struct SyncBatchNormSingleProcessTests {
    @Test(arguments: SyncBatchNormCases.names)
    func oneProcessIsBatchNorm(name: String) throws {
        let c = try SyncBatchNormCases.Case(name)
        let layers = [("plain", try c.layer(.plain, group: nil)),
                      ("converted, single-process group", try c.layer(.converted, group: SingleProcessGroup())),
                      ("direct, single-process group", try c.layer(.direct, group: SingleProcessGroup())),
                      ("direct, default group", try c.layer(.direct, group: nil))]
        for (label, bn) in layers {
            for (i, mode) in c.modes.enumerated() {
                let s = c.state.scoped("step\(i)")
                bn.train(mode == "train")
                let x = s["input"]!.clonedData()
                x.requiresGrad = true
                bn.zeroGrad()
                let y = bn(x)
                y.backward(s["grad_output"]!)
                var got: [(String, Tensor?)] = [("output", y), ("grad_input", x.grad), ("grad_weight", bn.weight?.grad), ("grad_bias", bn.bias?.grad)]
                got += bn.namedBuffers().map { ($0.0, $0.1 as Tensor?) }
                for (key, t) in got {
                    guard let want = s[key] else { continue }
                    let m = mismatches(t.map(doubles), want)
                    #expect(m.isEmpty, "\(name) \(label) step \(i) \(key): \(m)")
                }
            }
        }
    }

    @Test func convertKeepsStateAndModelCode() throws {
        /// Layers in typed properties, as user code holds them.
        final class Net: Module {
            let conv = Conv2d(3, 4, kernelSize: 3, padding: 1, bias: false)
            let bn = BatchNorm2d(4, momentum: 0.05)
            let norm = InstanceNorm2d(4)
            let head = Sequential(Flatten(), Linear(4 * 5 * 5, 6), BatchNorm1d(6, eps: 1e-3), ReLU())
            override func forward(_ x: Tensor) -> Tensor { head(norm(bn(conv(x)).relu())) }
        }
        let net = Net()
        _ = net(Tensor.randn([4, 3, 5, 5]))              // running statistics away from 0 / 1
        net.eval()
        let before = net.stateDict().cloned()
        let weight = net.bn.weight
        let group = SingleProcessGroup()
        let converted = SyncBatchNorm.convert(net, processGroup: group)
        #expect(converted === net)
        #expect(net.bn.isSynchronized && net.head[2, as: BatchNorm1d.self].isSynchronized)
        #expect(net.bn.weight === weight, "parameters are kept, not copied")
        #expect(!net.isTraining && !net.bn.isTraining, "modes are kept")
        let after = net.stateDict()
        #expect(after.keys == before.keys)
        for key in before.keys { #expect(doubles(after[key]!) == doubles(before[key]!), "\(key)") }
        #expect(net.bn.description == "SyncBatchNorm(4, eps=1e-05, momentum=0.05, affine=True, bias=True, track_running_stats=True)")
        #expect(net.norm.description.hasPrefix("InstanceNorm2d("))
        #expect(net.description.contains("(2): SyncBatchNorm(6, eps=0.001"))
        #expect(SyncBatchNorm.convertSyncBatchnorm(BatchNorm1d(3)).isSynchronized)
        // Checkpoints move between SyncBatchNorm and BatchNorm both ways.
        let plain = Net()
        try plain.loadStateDict(after, strict: true)
        try net.loadStateDict(plain.stateDict(), strict: true)
        let direct = SyncBatchNorm(4, momentum: 0.05)
        try direct.loadStateDict(before.scoped("bn"), strict: true)
        #expect(direct.stateDict().keys == BatchNorm2d(4).stateDict().keys)
        #expect(direct.processGroup == nil && (net.bn.statisticsReducer as AnyObject?) != nil)
    }

    @Test func inputChecksArePyTorchs() {
        #expect(throws: UsageError("SyncBatchNorm", "expected at least 2D input (got 1D input)")) {
            try SyncBatchNorm(3).validate(Tensor.zeros([3]))
        }
        // A converted layer keeps its own input-rank check.
        let bn = SyncBatchNorm.convert(BatchNorm2d(3))
        #expect(throws: UsageError("SyncBatchNorm", "expected 4D input (got 3D input)")) { try bn.validate(Tensor.zeros([2, 3, 4])) }
        // One process: one value per channel is refused as by BatchNorm.
        #expect(throws: UsageError("SyncBatchNorm", "Expected more than 1 value per channel when training, got input size [1, 3]")) {
            try SyncBatchNorm(3).validate(Tensor.zeros([1, 3]))
        }
    }

    @Test func gradcheckInTrainingAndEvaluation() {
        for (i, shape) in [[5, 3], [3, 2, 4], [2, 3, 2, 3], [2, 2, 1, 3, 2]].enumerated() {
            let c = shape[1]
            let bn = SyncBatchNorm(c, trackRunningStats: false, processGroup: SingleProcessGroup())
            bn.weight = Parameter(Tensor((0..<c).map { 0.8 + 0.3 * Double($0) }, shape: [c]))
            bn.bias = Parameter(Tensor((0..<c).map { 0.1 - 0.2 * Double($0) }, shape: [c]))
            let n = shape.reduce(1, *)
            let x = Tensor((0..<n).map { sin(Double($0 * 7 + i)) * 2 + 0.3 }, shape: shape, requiresGrad: true)
            #expect(gradcheck({ bn($0[0]) }, inputs: [x, bn.weight!, bn.bias!]), "train \(shape)")
            let tracked = SyncBatchNorm(c, processGroup: SingleProcessGroup())
            tracked.weight = bn.weight
            tracked.bias = bn.bias
            tracked.runningMean = Tensor((0..<c).map { 0.2 * Double($0) }, shape: [c])
            tracked.runningVar = Tensor((0..<c).map { 1.5 + 0.1 * Double($0) }, shape: [c])
            tracked.eval()
            #expect(gradcheck({ tracked($0[0]) }, inputs: [x, bn.weight!, bn.bias!]), "eval \(shape)")
        }
    }
}
