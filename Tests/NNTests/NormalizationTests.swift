import Foundation
import Testing
import SwiftNN
import TestSupport

@Suite("Normalization layers")
struct NormalizationTests {
    // MARK: errors.json

    nonisolated(unsafe) static let errorRows: [[String: Any]] = {
        let data = try! Data(contentsOf: Fixtures.url("errors.json"))
        let rows = try! JSONSerialization.jsonObject(with: data) as! [[String: Any]]
        let ours: Set = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "LayerNorm",
                         "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm"]
        return rows.filter { ours.contains($0["module"] as! String) }
    }()

    /// PyTorch prints shapes as `torch.Size([1, 4])`; SwiftNN prints `[1, 4]`.
    static func swiftMessage(_ m: String) -> String {
        m.replacingOccurrences(of: #"torch\.Size\((\[[0-9, ]*\])\)"#, with: "$1", options: .regularExpression)
    }

    @Test("errors.json rows for normalization layers", arguments: 0..<12)
    func errorRow(_ i: Int) throws {
        try #require(Self.errorRows.count == 12)
        let row = Self.errorRows[i]
        let name = row["module"] as! String
        let kwargs = row["kwargs"] as! [String: Any]
        let want = Self.swiftMessage(row["message"] as! String)
        guard let shape = row["input_shape"] as? [Int] else {
            // The constructor itself refuses (GroupNorm's divisibility).
            #expect(name == "GroupNorm")
            let g = (kwargs["num_groups"] as! NSNumber).intValue, c = (kwargs["num_channels"] as! NSNumber).intValue
            #expect(throws: UsageError("GroupNorm", want)) {
                try GroupNorm.validateArguments(numGroups: g, numChannels: c)
            }
            return
        }
        let m = NormTest.makeModule(name, kwargs)
        m.train(row["mode"] as? String == "train")
        let x = Tensor.zeros(shape)
        #expect(throws: UsageError(name, want)) { try NormTest.validate(m, x) }
    }

    @Test("a refused input stops forward")
    func forwardTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = BatchNorm1d(4)(Tensor.zeros([1, 4]))
        }
    }

    @Test("other refusals: GroupNorm rank and divisibility, BatchNorm eval without stats, InstanceNorm rank")
    func moreErrors() {
        #expect(throws: UsageError("GroupNorm", "Expected at least 2 dimensions for input tensor but received 1")) {
            try GroupNorm(numGroups: 2, numChannels: 4).validate(Tensor.zeros([4]))
        }
        #expect(throws: UsageError("GroupNorm", "Expected number of channels in input to be divisible by num_groups, but got input of shape [2, 5, 3] and num_groups=2")) {
            try GroupNorm(numGroups: 2, numChannels: 4, affine: false).validate(Tensor.zeros([2, 5, 3]))
        }
        let bn = BatchNorm1d(4, trackRunningStats: false)
        bn.eval()
        #expect(throws: UsageError("BatchNorm1d", "Expected more than 1 value per channel when training, got input size [1, 4]")) {
            try bn.validate(Tensor.zeros([1, 4]))
        }
        #expect(throws: Never.self) { try BatchNorm1d(4).validate(Tensor.zeros([1, 4, 2])) }
        #expect(throws: UsageError("InstanceNorm2d", "expected 3D or 4D input (got 2D input)")) {
            try InstanceNorm2d(3).validate(Tensor.zeros([3, 4]))
        }
        // Channel mismatch without affine is accepted (PyTorch only warns).
        #expect(throws: Never.self) { try InstanceNorm2d(3).validate(Tensor.zeros([2, 5, 4, 4])) }
        #expect(throws: UsageError("RMSNorm", "Given normalized_shape=[4], expected input with shape [*, 4], but got input of size[2, 5]")) {
            try RMSNorm([4]).validate(Tensor.zeros([2, 5]))
        }
    }

    // MARK: repr

    @Test("description prints like PyTorch's repr")
    func descriptions() {
        #expect(BatchNorm2d(64).description == "BatchNorm2d(64, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)")
        #expect(BatchNorm1d(8, eps: 0.001, momentum: nil, affine: false, trackRunningStats: false).description
                == "BatchNorm1d(8, eps=0.001, momentum=None, affine=False, bias=False, track_running_stats=False)")
        #expect(LayerNorm(512).description == "LayerNorm((512,), eps=1e-05, elementwise_affine=True, bias=True)")
        #expect(LayerNorm([3, 4], elementwiseAffine: false).description == "LayerNorm((3, 4), eps=1e-05, elementwise_affine=False, bias=False)")
        #expect(GroupNorm(numGroups: 32, numChannels: 256).description == "GroupNorm(32, 256, eps=1e-05, affine=True, bias=True)")
        #expect(InstanceNorm2d(64).description == "InstanceNorm2d(64, eps=1e-05, momentum=0.1, affine=False, bias=False, track_running_stats=False)")
        #expect(RMSNorm([512]).description == "RMSNorm((512,), eps=None, elementwise_affine=True)")
        #expect(RMSNorm(8, eps: 1e-6).description == "RMSNorm((8,), eps=1e-06, elementwise_affine=True)")
    }

    /// reprs/norm_reprs.json: repr and state-dict keys printed by PyTorch 2.13 for constructor
    /// arguments including `bias=False` (scripts/reference/make_norm_bias_fixtures.py).
    nonisolated(unsafe) static let reprCases: [[String: Any]] = {
        let data = try! Data(contentsOf: Fixtures.url("reprs/norm_reprs.json"))
        let root = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        return root["cases"] as! [[String: Any]]
    }()

    @Test("repr and state-dict keys match PyTorch's, bias=False included", arguments: 0..<14)
    func pytorchRepr(_ i: Int) throws {
        try #require(Self.reprCases.count == 14)
        let row = Self.reprCases[i]
        let m = NormTest.makeModule(row["module"] as! String, row["kwargs"] as! [String: Any])
        #expect(m.description == row["repr"] as! String)
        #expect(m.stateDict().keys == row["state_dict_keys"] as! [String])
    }

    @Test("bias: false in the positional and labelled forms: weight only, and the layer still trains")
    func noBias() {
        #expect(GroupNorm(2, 4, bias: false).stateDict().keys == ["weight"])
        let bn = BatchNorm2d(3, bias: false)
        #expect(bn.bias == nil && bn.parameters().count == 1)
        let y = bn(Tensor.randn([2, 3, 4, 4], requiresGrad: true))
        y.sum().backward()
        #expect(bn.weight?.grad != nil)
    }

    // MARK: state

    @Test("state dict keys, defaults and a missing num_batches_tracked")
    func stateDict() throws {
        let bn = BatchNorm2d(3)
        #expect(bn.stateDict().keys == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        #expect(bn.weight?.scalars == [1, 1, 1] && bn.bias?.scalars == [0, 0, 0])
        #expect(bn.runningMean?.scalars == [0, 0, 0] && bn.runningVar?.scalars == [1, 1, 1])
        #expect(bn.numBatchesTracked == 0)
        #expect(BatchNorm2d(3, affine: false).stateDict().keys == ["running_mean", "running_var", "num_batches_tracked"])
        let untracked = BatchNorm2d(3, trackRunningStats: false)
        #expect(untracked.stateDict().keys == ["weight", "bias"])
        #expect(untracked.runningMean == nil && untracked.numBatchesTracked == nil)
        #expect(LayerNorm(8, bias: false).stateDict().keys == ["weight"])
        #expect(LayerNorm(8, elementwiseAffine: false).stateDict().keys.isEmpty)
        #expect(RMSNorm(8).stateDict().keys == ["weight"])
        #expect(InstanceNorm2d(3).stateDict().keys.isEmpty)
        #expect(InstanceNorm2d(3, affine: true, trackRunningStats: true).stateDict().keys
                == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
        let seq = Sequential { LayerNorm(3); BatchNorm1d(3) }
        #expect(seq.stateDict().keys.contains("1.running_mean"))

        // A dict without num_batches_tracked loads and fills in 0.
        bn.numBatchesTracked = 7
        var sd = bn.stateDict().cloned()
        sd["num_batches_tracked"] = nil
        let r = try bn.loadStateDict(sd, strict: true)
        #expect(r.isComplete || r.missingKeys.isEmpty)
        #expect(bn.numBatchesTracked == 0)
    }

    // MARK: PyTorch semantics (PYTORCH_SEMANTICS.md)

    @Test("BatchNorm: biased variance normalizes, unbiased variance is tracked")
    func batchNormVariance() {
        let bn = BatchNorm1d(1, momentum: 1)
        let y = bn(Tensor([1, 2, 3, 6] as [Float], shape: [4, 1]))
        let want: [Float] = [-1.069043, -0.534522, 0, 1.603565]
        for (g, w) in zip(y.scalars, want) { #expect(abs(g - w) < 1e-5) }
        #expect(abs(bn.runningVar!.item() - 4.666667) < 1e-5)
        #expect(abs(bn.runningMean!.item() - 3) < 1e-6)
        let bn2 = BatchNorm1d(1)
        _ = bn2(Tensor([1, 2, 3, 6] as [Float], shape: [4, 1]))
        #expect(abs(bn2.runningMean!.item() - 0.3) < 1e-6)
        #expect(abs(bn2.runningVar!.item() - 1.366667) < 1e-6)
        #expect(bn2.numBatchesTracked == 1)
    }

    @Test("BatchNorm momentum nil: cumulative average; counting under no-grad and momentum 0, not in eval")
    func cumulativeAverage() {
        let bn = BatchNorm1d(1, momentum: nil)
        // Batches with means 1, 5, 15 and unbiased variances 2, 2, 50.
        let batches: [[Float]] = [[0, 2], [4, 6], [10, 20]]
        var means: [Float] = [], vars: [Float] = []
        for b in batches {
            _ = bn(Tensor(b, shape: [2, 1]))
            means.append(bn.runningMean!.item()); vars.append(bn.runningVar!.item())
        }
        #expect(means == [1, 3, 7])
        #expect(vars == [2, 2, 18])
        #expect(bn.numBatchesTracked == 3)
        bn.eval()
        _ = bn(Tensor([1, 2] as [Float], shape: [2, 1]))
        #expect(bn.numBatchesTracked == 3 && bn.runningMean!.item() == 7)

        let frozen = BatchNorm1d(1, momentum: 0)
        withNoGrad { _ = frozen(Tensor([1, 5] as [Float], shape: [2, 1])) }
        #expect(frozen.numBatchesTracked == 1 && frozen.runningMean!.item() == 0)
    }

    @Test("BatchNorm eval without tracked stats uses batch statistics")
    func evalWithoutTracking() {
        let bn = BatchNorm1d(1, trackRunningStats: false)
        bn.eval()
        let y = bn(Tensor([1, 3] as [Float], shape: [2, 1]))
        #expect(y.scalars.map { ($0 * 1e4).rounded() / 1e4 } == [-1, 1])
    }

    @Test("InstanceNorm quirks: running stats update without counting; momentum nil freezes them")
    func instanceNormQuirks() {
        let x = Tensor([1, 3, 5, 7, 2, 2, 4, 4] as [Float], shape: [2, 1, 4])
        let norm = InstanceNorm1d(1, momentum: 1, trackRunningStats: true)
        _ = norm(x)
        // Per-instance means 4 and 3, unbiased variances 20/3 and 4/3: their averages.
        #expect(abs(norm.runningMean!.item() - 3.5) < 1e-6)
        #expect(abs(norm.runningVar!.item() - 4) < 1e-5)
        #expect(norm.numBatchesTracked == 0)
        let frozen = InstanceNorm1d(1, momentum: nil, trackRunningStats: true)
        _ = frozen(x)
        #expect(frozen.runningMean!.item() == 0 && frozen.runningVar!.item() == 1)
        // Unbatched input gives the batched result for one sample.
        let single = InstanceNorm1d(1)(Tensor([1, 3, 5, 7] as [Float], shape: [1, 4]))
        #expect(single.shape == [1, 4])
        let batched = InstanceNorm1d(1)(Tensor([1, 3, 5, 7] as [Float], shape: [1, 1, 4]))
        #expect(single.scalars == batched.scalars)
    }

    @Test("LayerNorm and GroupNorm small examples; GroupNorm with one element per group")
    func rowExamples() {
        let y = LayerNorm(4)(Tensor([1, 2, 3, 4] as [Float], shape: [1, 4]))
        let want: [Float] = [-1.341635, -0.447212, 0.447212, 1.341635]
        for (g, w) in zip(y.scalars, want) { #expect(abs(g - w) < 1e-5) }
        let g = GroupNorm(numGroups: 4, numChannels: 4)(Tensor([1, 2, 3, 4, 5, 6, 7, 8] as [Float], shape: [2, 4]))
        #expect(g.scalars.allSatisfy { abs($0) < 1e-6 })
        let r = RMSNorm(2)(Tensor([3, 4] as [Float], shape: [1, 2]))
        let rms = (12.5 as Float + Float.ulpOfOne).squareRoot()
        #expect(abs(r.scalars[0] - 3 / rms) < 1e-6 && abs(r.scalars[1] - 4 / rms) < 1e-6)
    }

    // MARK: stability

    /// Data with offset 1e4 and unit spread, per channel.
    static func offsetData(_ shape: [Int], seed: UInt64) -> Tensor {
        Tensor(NormTest.values(shape.reduce(1, *), seed: seed).map { Float(1e4 + $0 * 1.7) }, shape: shape)
    }

    static func expectClose(_ got: Tensor, _ want: Tensor, _ what: String) {
        var worst = 0.0
        for i in 0..<want.count {
            let w = want.doubleValue(at: i)
            worst = max(worst, abs(got.doubleValue(at: i) - w) / max(abs(w), 1))
        }
        #expect(worst <= 1e-4, "\(what): relative error \(worst)")
    }

    @Test("offset 1e4, unit spread: BatchNorm2d, LayerNorm, GroupNorm match float64 at 1e-4")
    func stability() {
        // Big enough that the SIMD paths, not only the scalar tails, run.
        let x = Self.offsetData([3, 4, 9, 10], seed: 7)
        let gy = Tensor(NormTest.values(x.count, seed: 8).map { Float($0) }, shape: x.shape)
        let x64 = NormTest.double(x), gy64 = NormTest.double(gy)
        let cases: [(String, (Tensor) -> Tensor)] = [
            ("BatchNorm2d", { batchNorm($0, runningMean: nil, runningVar: nil, training: true) }),
            ("LayerNorm", { layerNorm($0, normalizedShape: [9, 10]) }),
            ("GroupNorm", { groupNorm($0, numGroups: 2) }),
            ("InstanceNorm2d", { instanceNorm($0) }),
        ]
        for (name, f) in cases {
            let xa = x.clonedData(); xa.requiresGrad = true
            let xb = x64.clonedData(); xb.requiresGrad = true
            let y = f(xa), y64 = f(xb)
            Self.expectClose(y, y64, name + " output")
            y.backward(gy); y64.backward(gy64)
            Self.expectClose(xa.grad!, xb.grad!, name + " grad_input")
        }
        // Eval mode with running mean 1e4.
        let rm = Tensor([Float](repeating: 1e4, count: 4)), rv = Tensor([Float](repeating: 2.9, count: 4))
        let y = batchNorm(x, runningMean: rm, runningVar: rv, training: false)
        let y64 = batchNorm(x64, runningMean: NormTest.double(rm), runningVar: NormTest.double(rv), training: false)
        Self.expectClose(y, y64, "BatchNorm2d eval")
        // (N, C) input: the channel-vectorized path.
        let x2 = Self.offsetData([40, 37], seed: 3)
        Self.expectClose(batchNorm(x2, runningMean: nil, runningVar: nil, training: true),
                         batchNorm(NormTest.double(x2), runningMean: nil, runningVar: nil, training: true), "BatchNorm1d")
    }

    @Test("float32 fast kernels agree with the float64 loops on odd shapes (SIMD bodies and tails)")
    func fastMatchesReference() {
        for shape in [[5, 3, 37], [2, 70, 1], [3, 2, 33, 3]] {
            let x = Tensor(NormTest.values(shape.reduce(1, *), seed: 11).map { Float($0 * 3 + 0.5) }, shape: shape)
            let c = shape[1]
            let w = Tensor(NormTest.values(c, seed: 12).map { Float(1 + $0) }), b = Tensor(NormTest.values(c, seed: 13).map { Float($0) })
            let d = shape.last!
            let lw = Tensor(NormTest.values(d, seed: 14).map { Float(1 + $0) }), lb = Tensor(NormTest.values(d, seed: 15).map { Float($0) })
            let groups = c % 2 == 0 ? 2 : 1
            let fs: [(String, ([Tensor]) -> Tensor)] = [
                ("bn", { (p: [Tensor]) -> Tensor in batchNorm(p[0], runningMean: nil, runningVar: nil, weight: p[1], bias: p[2], training: true) }),
                ("gn", { (p: [Tensor]) -> Tensor in groupNorm(p[0], numGroups: groups, weight: p[1], bias: p[2]) }),
                ("ln", { (p: [Tensor]) -> Tensor in layerNorm(p[0], normalizedShape: [d], weight: p[3], bias: p[4]) }),
                ("rms", { (p: [Tensor]) -> Tensor in rmsNorm(p[0], normalizedShape: [d], weight: p[3], eps: 1e-5) }),
            ]
            let gy = Tensor(NormTest.values(x.count, seed: 16).map { Float($0) }, shape: shape)
            for (name, f) in fs {
                let params = [x, w, b, lw, lb].map { t -> Tensor in let u = t.clonedData(); u.requiresGrad = true; return u }
                let params64 = [x, w, b, lw, lb].map { t -> Tensor in let u = NormTest.double(t); u.requiresGrad = true; return u }
                let y = f(params)
                let y64 = f(params64)
                #expect(NormTest.mismatches(y, y64).isEmpty, "\(name) \(shape) output")
                y.backward(gy); y64.backward(NormTest.double(gy))
                for k in 0..<5 where params64[k].grad != nil {
                    #expect(NormTest.mismatches(params[k].grad, params64[k].grad!, atol: 1e-4).isEmpty,
                            "\(name) \(shape) grad \(k): \(NormTest.mismatches(params[k].grad, params64[k].grad!, atol: 1e-4))")
                }
            }
        }
    }
}

@Suite("Normalization kernels")
struct NormalizationKernelTests {
    @Test("whole-tensor batch-norm sweeps (few channels, large planes) agree with the float64 loops")
    func wholeTensorPath() {
        // One channel with 2^18 values: too few channel blocks for two threads, so the kernels
        // take the two-sweep path split over (sample, channel) segments.
        let shape = [2, 1, 1 << 17]
        let x = Tensor(NormTest.values(shape.reduce(1, *), seed: 21).map { Float(1e4 + $0) }, shape: shape)
        let gy = Tensor(NormTest.values(x.count, seed: 22).map { Float($0) }, shape: shape)
        let xa = x.clonedData(); xa.requiresGrad = true
        let xb = NormTest.double(x); xb.requiresGrad = true
        let y = batchNorm(xa, runningMean: nil, runningVar: nil, training: true)
        let y64 = batchNorm(xb, runningMean: nil, runningVar: nil, training: true)
        y.backward(gy); y64.backward(NormTest.double(gy))
        #expect(NormTest.mismatches(y, y64).isEmpty)
        #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty)
    }

    @Test("non-temporal output stores give the same results (unaligned starts, heads and tails)")
    func streamingStores() {
        let saved = Kernels.normalizationStreamingBytes
        Kernels.normalizationStreamingBytes = 0
        defer { Kernels.normalizationStreamingBytes = saved }
        // Planes of 67 and rows of 131 floats: segments start off 64-byte boundaries.
        let x = Tensor(NormTest.values(3 * 4 * 67, seed: 31).map { Float($0 * 2 + 7) }, shape: [3, 4, 67])
        let gy = Tensor(NormTest.values(x.count, seed: 32).map { Float($0) }, shape: x.shape)
        let fs: [(String, (Tensor) -> Tensor)] = [
            ("batchNorm", { batchNorm($0, runningMean: nil, runningVar: nil, training: true) }),
            ("batchNorm eval", { batchNorm($0, runningMean: Tensor.full([4], 7, dtype: $0.dtype), runningVar: Tensor.full([4], 2, dtype: $0.dtype)) }),
            ("batchNormReLU", { batchNormReLU($0, runningMean: nil, runningVar: nil, training: true) }),
            ("batchNormReLU eval", { batchNormReLU($0, runningMean: Tensor.full([4], 7, dtype: $0.dtype),
                                                   runningVar: Tensor.full([4], 2, dtype: $0.dtype)) }),
            ("groupNorm", { groupNorm($0, numGroups: 2) }),
            ("instanceNorm", { instanceNorm($0) }),
            ("layerNorm", { layerNorm($0.reshapedForTest([4, 201]), normalizedShape: [201]) }),
        ]
        for (name, f) in fs {
            let xa = x.clonedData(); xa.requiresGrad = true
            let xb = NormTest.double(x); xb.requiresGrad = true
            let y = f(xa), y64 = f(xb)
            #expect(NormTest.mismatches(y, y64).isEmpty, "\(name) output")
            y.backward(gy.viewData(y.shape)); y64.backward(NormTest.double(gy).viewData(y64.shape))
            #expect(NormTest.mismatches(xa.grad, xb.grad!).isEmpty, "\(name) grad")
        }
    }
}

extension Tensor {
    /// A differentiable reshape for these tests (a view recorded as one node).
    func reshapedForTest(_ shape: [Int]) -> Tensor {
        let v = viewData(shape)
        return Autograd.record("view", output: v, inputs: [self]) { [oldShape = self.shape] g in [g.viewData(oldShape)] }
    }
}

@Suite("Normalization edge cases found in review")
struct NormalizationReviewTests {
    @Test func emptyBatchLeavesRunningStatisticsAndIsCounted() {
        let bn = BatchNorm1d(3)
        let y = bn(Tensor.zeros([0, 3]))
        #expect(y.shape == [0, 3])
        #expect(bn.runningMean!.scalars == [0, 0, 0])
        #expect(bn.runningVar!.scalars == [1, 1, 1])
        #expect(bn.numBatchesTracked == 1)          // PyTorch counts it
    }

    @Test func functionalBatchNormNeedsRunningStatisticsInEvaluation() {
        let x = Tensor.randn([3, 2], generator: Generator(seed: 1))
        #expect(throws: UsageError("batch_norm", "running_mean must be defined in evaluation mode")) {
            try validateBatchNorm(x, runningMean: nil, runningVar: nil, weight: nil, bias: nil, training: false)
        }
        // The module without tracked statistics still evaluates with batch statistics (PyTorch's rule).
        let bn = BatchNorm1d(2, trackRunningStats: false)
        bn.eval()
        #expect(throws: Never.self) { try bn.validate(x) }
    }
}
