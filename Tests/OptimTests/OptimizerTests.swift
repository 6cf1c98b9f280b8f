import Foundation
import Testing
import SwiftNN
import TestSupport

// Reference trajectories below were printed by PyTorch 2.15 (torch.optim, CPU) for the same
// starting values and gradients.
private let start: [Float] = [0.5, -1.0, 2.0, 0.25]
private let grads: [[Float]] = [[0.1, -0.2, 0.3, 0.0], [-0.05, 0.4, 0.1, 1e-3], [0.2, 0.2, -0.3, -0.5]]

/// Runs three steps with the fixed gradients and returns the parameter after each.
private func trajectory(_ make: ([Tensor]) -> Optimizer) -> [[Float]] {
    let p = Parameter(Tensor(start, shape: [4]))
    let opt = make([p])
    return grads.map { g in
        p.grad = Tensor(g, shape: [4])
        opt.step()
        return p.scalars
    }
}

private func matches(_ got: [[Float]], _ want: [[Double]]) -> Bool {
    got.count == want.count && zip(got, want).allSatisfy { allClose($0, $1, atol: 1e-7, rtol: 1e-6) }
}

@Suite struct SGDTests {
    @Test func plain() {
        #expect(matches(trajectory { SGD($0, lr: 0.1) }, [
            [0.49000000953674316, -0.9800000190734863, 1.9700000286102295, 0.25],
            [0.4950000047683716, -1.0199999809265137, 1.9600000381469727, 0.2498999983072281],
            [0.4749999940395355, -1.0399999618530273, 1.9900000095367432, 0.29989999532699585]]))
    }

    @Test func momentumDampeningWeightDecay() {
        #expect(matches(trajectory { SGD($0, lr: 0.1, momentum: 0.9, dampening: 0.3, weightDecay: 0.01) }, [
            [0.4894999861717224, -0.9789999723434448, 1.968000054359436, 0.24975000321865082],
            [0.4832073450088501, -0.9874146580696106, 1.930822491645813, 0.24928018450737],
            [0.4632057249546051, -1.0082967281341553, 1.917011022567749, 0.28368285298347473]]))
    }

    @Test func nesterov() {
        #expect(matches(trajectory { SGD($0, lr: 0.1, momentum: 0.9, weightDecay: 5e-4, nesterov: true) }, [
            [0.48095250129699707, -0.9619050025939941, 1.9428099393844604, 0.249976247549057],
            [0.48228657245635986, -1.0215731859207153, 1.8992444276809692, 0.24975237250328064],
            [0.4409630596637726, -1.0772206783294678, 1.9259424209594727, 0.3446284234523773]]))
    }

    @Test func maximize() {
        #expect(matches(trajectory { SGD($0, lr: 0.1, momentum: 0.5, maximize: true) }, [
            [0.5099999904632568, -1.0199999809265137, 2.0299999713897705, 0.25],
            [0.5099999904632568, -0.9899999499320984, 2.055000066757202, 0.2500999867916107],
            [0.5299999713897705, -0.9549999237060547, 2.0375001430511475, 0.20014998316764832]]))
    }

    @Test func handComputedMomentumStep() {
        // p = 1, g = 0.5, lr 0.1, momentum 0.9: step 1 b = 0.5, p = 0.95; step 2 (g = 0.5) b = 0.95, p = 0.855.
        let p = Parameter(Tensor([1] as [Float], shape: [1]))
        let opt = SGD([p], lr: 0.1, momentum: 0.9)
        p.grad = Tensor([0.5] as [Float], shape: [1]); opt.step()
        #expect(allClose(p.scalars, [0.95]))
        #expect(allClose(opt.state(for: p)["momentum_buffer"]!.scalars, [0.5]))
        opt.step()
        #expect(allClose(p.scalars, [0.855]))
        #expect(allClose(opt.state(for: p)["momentum_buffer"]!.scalars, [0.95]))
    }

    @Test func errors() {
        #expect(throws: UsageError("optimizer", "Invalid learning rate: -0.1")) { try SGD.validate(lr: -0.1) }
        #expect(throws: UsageError("optimizer", "Invalid momentum value: -0.5")) { try SGD.validate(lr: 0.1, momentum: -0.5) }
        #expect(throws: UsageError("optimizer", "Invalid weight_decay value: -1.0")) { try SGD.validate(lr: 0.1, weightDecay: -1) }
        #expect(throws: UsageError("optimizer", "Nesterov momentum requires a momentum and zero dampening")) {
            try SGD.validate(lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true)
        }
    }
}

@Suite struct AdamTests {
    @Test func adam() {
        #expect(matches(trajectory { Adam($0, lr: 0.01) }, [
            [0.49000000953674316, -0.9900000095367432, 1.9900000095367432, 0.25],
            [0.4873366355895996, -0.9936610460281372, 1.9812893867492676, 0.24255873262882233],
            [0.4807555079460144, -0.9988534450531006, 1.980805516242981, 0.24893535673618317]]))
    }

    @Test func adamWeightDecayAmsgrad() {
        #expect(matches(trajectory { Adam($0, lr: 0.01, betas: (0.8, 0.99), eps: 1e-6, weightDecay: 0.1, amsgrad: true) }, [
            [0.49000006914138794, -0.9900000095367432, 1.9900000095367432, 0.2400003969669342],
            [0.48378270864486694, -0.9911277294158936, 1.9805619716644287, 0.2300007939338684],
            [0.4753970205783844, -0.993565559387207, 1.9750548601150513, 0.23651321232318878]]))
    }

    @Test func adamSmallBeta1UsesLerpsOtherForm() {
        #expect(matches(trajectory { Adam($0, lr: 0.01, betas: (0.3, 0.999)) }, [
            [0.49000000953674316, -0.9900000095367432, 1.9900000095367432, 0.25],
            [0.4919463098049164, -0.9982693195343018, 1.9834624528884888, 0.23912431299686432],
            [0.48139894008636475, -1.0059508085250854, 1.9904091358184814, 0.251571387052536]]))
    }

    @Test func adamW() {
        #expect(matches(trajectory { AdamW($0, lr: 0.01) }, [
            [0.4899500012397766, -0.9898999929428101, 1.989799976348877, 0.24997499585151672],
            [0.4872376322746277, -0.9934620261192322, 1.9808903932571411, 0.24250872433185577],
            [0.4806077778339386, -0.998555064201355, 1.980208396911621, 0.24886108934879303]]))
        #expect(matches(trajectory { AdamW($0, lr: 0.05, weightDecay: 0.1, amsgrad: true) }, [
            [0.44749999046325684, -0.9449999928474426, 1.940000057220459, 0.2487500011920929],
            [0.43194565176963806, -0.9585801959037781, 1.886746883392334, 0.21029993891716003],
            [0.3968803584575653, -0.9797493815422058, 1.8748937845230103, 0.24113155901432037]]))
    }

    @Test func handComputedFirstStep() {
        // Step 1: m̂ = g, v̂ = g², so p ← p − lr·g/(|g| + eps) ≈ p − lr·sign(g).
        let p = Parameter(Tensor([1, -2] as [Float], shape: [2]))
        let opt = Adam([p], lr: 0.1)
        p.grad = Tensor([3, -0.5] as [Float], shape: [2])
        opt.step()
        let want: [Double] = [1 - 0.1 * 3 / (3 + 1e-8), -2 + 0.1 * 0.5 / (0.5 + 1e-8)]
        #expect(allClose(p.scalars, want))
        let s = opt.state(for: p)
        #expect(s["step"]!.item() == 1 && s["step"]!.shape == [] && s["step"]!.dtype == .float32)
        #expect(allClose(s["exp_avg"]!.scalars, [0.3, -0.05]))
        #expect(allClose(s["exp_avg_sq"]!.scalars, [0.009, 0.00025], atol: 1e-9))
    }

    @Test func errors() {
        #expect(throws: UsageError("optimizer", "Invalid epsilon value: -1.0")) { try Adam.validate(lr: 0.1, eps: -1) }
        #expect(throws: UsageError("optimizer", "Invalid beta parameter at index 0: 1.0")) { try Adam.validate(lr: 0.1, betas: (1, 0.9)) }
        #expect(throws: UsageError("optimizer", "Invalid beta parameter at index 1: -0.1")) { try Adam.validate(lr: 0.1, betas: (0.9, -0.1)) }
    }
}

@Suite struct OptimizerBaseTests {
    @Test func paramGroupsHaveTheirOwnOptions() {
        let w = Parameter(Tensor([1, 1] as [Float], shape: [2])), b = Parameter(Tensor([1] as [Float], shape: [1]))
        let opt = SGD([ParamGroup([w]), ParamGroup([b], lr: 0.5, weightDecay: 0)], lr: 0.1, weightDecay: 0.1)
        #expect(opt.paramGroups[0].lr == 0.1 && opt.paramGroups[0].weightDecay == 0.1)
        #expect(opt.paramGroups[1].lr == 0.5 && opt.paramGroups[1].weightDecay == 0)
        w.grad = Tensor([1, 0] as [Float], shape: [2]); b.grad = Tensor([1] as [Float], shape: [1])
        opt.step()
        #expect(allClose(w.scalars, [1 - 0.1 * 1.1, 1 - 0.1 * 0.1]))   // decayed
        #expect(allClose(b.scalars, [0.5]))                             // own lr, no decay
        opt.paramGroups[1].lr = 0.25
        opt.step()
        #expect(allClose(b.scalars, [0.25]))
    }

    @Test func parametersWithoutGradientsAreSkipped() {
        let a = Parameter(Tensor([1] as [Float], shape: [1])), frozen = Parameter(Tensor([2] as [Float], shape: [1]), requiresGrad: false)
        let opt = Adam([a, frozen], lr: 0.1)
        a.grad = Tensor([1] as [Float], shape: [1])
        opt.step()
        #expect(frozen.scalars == [2])
        #expect(opt.state(for: frozen).isEmpty)
        #expect(!opt.state(for: a).isEmpty)
    }

    @Test func zeroGrad() {
        let a = Parameter(Tensor([1, 2] as [Float], shape: [2]))
        let opt = SGD([a], lr: 0.1)
        a.grad = Tensor([3, 4] as [Float], shape: [2])
        opt.zeroGrad(setToNone: false)
        #expect(a.grad?.scalars == [0, 0])
        opt.zeroGrad()
        #expect(a.grad == nil)
    }

    @Test func worksWithModuleParametersAndAutograd() {
        // A tiny least-squares fit: p·x ≈ y, driven by the library's own loss and backward.
        let p = Parameter(Tensor([0] as [Float], shape: [1]))
        let opt = SGD([p], lr: 0.1)
        for _ in 0..<50 {
            opt.zeroGrad()
            let loss = mseLoss(p, Tensor([3] as [Float], shape: [1]))
            loss.backward()
            opt.step()
        }
        #expect(abs(p.scalars[0] - 3) < 1e-3)
    }

    /// Two steps, save, rebuild over copies of the parameters, load, one more step: the same result
    /// as three uninterrupted steps, bit for bit.
    @Test(arguments: ["sgd", "adam", "adamw"]) func stateRoundTrip(kind: String) throws {
        func make(_ ps: [Tensor]) -> Optimizer {
            switch kind {
            case "sgd": SGD([ParamGroup([ps[0]]), ParamGroup([ps[1]], lr: 0.05)], lr: 0.1, momentum: 0.9, nesterov: true)
            case "adam": Adam([ParamGroup([ps[0]]), ParamGroup([ps[1]], weightDecay: 0)], lr: 0.01, weightDecay: 0.1, amsgrad: true)
            default: AdamW([ParamGroup([ps[0]]), ParamGroup([ps[1]], weightDecay: 0)], lr: 0.01)
            }
        }
        let a = Parameter(Tensor(start, shape: [2, 2])), b = Parameter(Tensor([1, -1] as [Float], shape: [2]))
        let opt = make([a, b])
        let sched = CosineAnnealingLR(opt, tMax: 5)
        func feed(_ i: Int, _ a: Tensor, _ b: Tensor) {
            a.grad = Tensor(grads[i], shape: [2, 2])
            b.grad = Tensor(Array(grads[i].prefix(2)), shape: [2])
        }
        for i in 0..<2 { feed(i, a, b); opt.step(); sched.step() }
        let saved = opt.stateDict(), savedSched = sched.stateDict()
        let a2 = Parameter(a.clonedData()), b2 = Parameter(b.clonedData())
        feed(2, a, b); opt.step(); sched.step()

        // PyTorch's resume order: build optimizer and scheduler as before, then load both states.
        let opt2 = make([a2, b2])
        let sched2 = CosineAnnealingLR(opt2, tMax: 5)
        try opt2.loadStateDict(saved)
        try sched2.loadStateDict(savedSched)
        feed(2, a2, b2); opt2.step(); sched2.step()
        #expect(a2.scalars == a.scalars && b2.scalars == b.scalars)
        #expect(sched2.getLastLR() == sched.getLastLR())
        #expect(opt2.paramGroups.map(\.options) == opt.paramGroups.map(\.options))
        #expect(saved.metadata["optimizer"] == opt.typeName)
        if kind != "sgd" {
            #expect(saved.keys.contains("state.1.exp_avg") && saved["state.0.step"]!.item() == 2)
        } else {
            #expect(saved.keys == ["state.0.momentum_buffer", "state.1.momentum_buffer"])
        }
    }

    @Test func loadRejectsMismatchedState() {
        let a = Parameter(Tensor(start, shape: [4]))
        let opt = Adam([a], lr: 0.01)
        a.grad = Tensor(grads[0], shape: [4]); opt.step()
        let saved = opt.stateDict()
        #expect(throws: OptimizerStateError("loaded state dict is for a Adam optimizer, not SGD")) {
            try SGD([Parameter(Tensor(start, shape: [4]))], lr: 0.1).loadStateDict(saved)
        }
        #expect(throws: OptimizerStateError("state state.0.exp_avg has shape [4] but parameter 0 has shape [2]")) {
            try Adam([Parameter(Tensor([1, 2] as [Float], shape: [2]))], lr: 0.1).loadStateDict(saved)
        }
        #expect(throws: OptimizerStateError("loaded state dict has a different number of parameter groups")) {
            let x = Parameter(Tensor(start, shape: [4])), y = Parameter(Tensor(start, shape: [4]))
            try Adam([ParamGroup([x]), ParamGroup([y])], lr: 0.1).loadStateDict(saved)
        }
    }
}

@Suite struct SchedulerTests {
    /// The learning rate after construction and after each of `n` steps.
    private func sequence(lr: Double = 0.1, n: Int = 12, _ make: (Optimizer) -> LRScheduler) -> [Double] {
        let opt = SGD([Parameter(Tensor([0] as [Float], shape: [1]))], lr: lr)
        let s = make(opt)
        var values = [opt.paramGroups[0].lr]
        for _ in 0..<n { s.step(); values.append(opt.paramGroups[0].lr) }
        #expect(s.getLastLR() == [values.last!])
        return values
    }

    // Sequences printed by PyTorch 2.15; the recursive formulas reproduce them exactly.
    @Test func stepLR() {
        #expect(sequence { StepLR($0, stepSize: 3, gamma: 0.5) } == [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025, 0.0125, 0.0125, 0.0125, 0.00625])
    }

    @Test func multiStepLR() {
        #expect(sequence { MultiStepLR($0, milestones: [2, 5, 5, 9], gamma: 0.1) } == [0.1, 0.1, 0.010000000000000002, 0.010000000000000002, 0.010000000000000002, 0.00010000000000000005, 0.00010000000000000005, 0.00010000000000000005, 0.00010000000000000005, 1.0000000000000006e-05, 1.0000000000000006e-05, 1.0000000000000006e-05, 1.0000000000000006e-05])
    }

    @Test func exponentialLR() {
        #expect(sequence { ExponentialLR($0, gamma: 0.9) } == [0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002, 0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024, 0.03874204890000002, 0.03486784401000002, 0.03138105960900001, 0.028242953648100012])
    }

    @Test func linearLR() {
        #expect(sequence { LinearLR($0, startFactor: 0.25, endFactor: 1.0, totalIters: 4) } == [0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002, 0.10000000000000002])
        #expect(sequence { LinearLR($0) } == [0.03333333333333333, 0.04666666666666667, 0.060000000000000005, 0.07333333333333335, 0.08666666666666668, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
        #expect(throws: UsageError("LinearLR", "Starting multiplicative factor expected to be greater than 0 and less or equal to 1.")) {
            try LinearLR.validate(startFactor: 0, endFactor: 1)
        }
    }

    @Test func cosineAnnealingLR() {
        #expect(sequence(lr: 0.01) { CosineAnnealingLR($0, tMax: 4) } == [0.01, 0.008535533905932738, 0.005, 0.0014644660940672626, 0.0, 0.0014644660940672622, 0.005000000000000001, 0.008535533905932742, 0.010000000000000005, 0.008535533905932743, 0.0050000000000000044, 0.0014644660940672676, 0.0])
        #expect(sequence(n: 14) { CosineAnnealingLR($0, tMax: 5, etaMin: 0.001) } == [0.1, 0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105, 0.001, 0.010453658778440102, 0.03520365877844012, 0.06579634122155993, 0.09054634122155995, 0.10000000000000005, 0.09054634122155998, 0.06579634122155995, 0.03520365877844014, 0.010453658778440116])
    }

    @Test func chainedWarmupAndCosine() {
        let opt = SGD([Parameter(Tensor([0] as [Float], shape: [1]))], lr: 0.1)
        let warmup = LinearLR(opt, startFactor: 0.5, totalIters: 2), cosine = CosineAnnealingLR(opt, tMax: 6)
        var values = [opt.paramGroups[0].lr]
        for _ in 0..<8 { warmup.step(); cosine.step(); values.append(opt.paramGroups[0].lr) }
        #expect(values == [0.05, 0.06997595264191647, 0.07500000000000002, 0.05000000000000002, 0.02500000000000002, 0.006698729810778067, 0.0, 0.006698729810778065, 0.025])
        #expect(opt.paramGroups[0]["initial_lr"] == 0.1)
    }
}

@Suite struct ParamGroupHelperTests {
    @Test func weightDecayGroupsSplitMatricesFromBiasesAndNorms() {
        let model = Sequential { Linear(4, 3); BatchNorm1d(3); Linear(3, 2) }
        let groups = ParamGroup.weightDecayGroups(model, weightDecay: 1e-4)
        #expect(groups.map(\.params.count) == [2, 4])
        #expect(groups[0].weightDecay == 1e-4 && groups[1].weightDecay == 0)
        let opt = AdamW(groups, lr: 1e-3)
        #expect(opt.paramGroups[1].weightDecay == 0 && opt.paramGroups[0].lr == 1e-3)
    }
}

@Suite struct AdamVectorPathTests {
    /// The 16-lane float32 path must give exactly what the scalar path gives (amsgrad forces the
    /// scalar path, and with max(v̂) = v̂ on the first step both run the same arithmetic).
    @Test(arguments: [false, true]) func simdPathMatchesScalarPath(decoupled: Bool) {
        let n = 37   // two 16-lane blocks and a tail
        let values = (0..<n).map { Float(sin(Double($0) * 0.7)) }
        let g = Tensor((0..<n).map { Float(cos(Double($0) * 1.3)) * 0.1 }, shape: [n])
        let a = Parameter(Tensor(values, shape: [n])), b = Parameter(Tensor(values, shape: [n]))
        let fast: Optimizer = decoupled ? AdamW([a], lr: 0.01, weightDecay: 0.1) : Adam([a], lr: 0.01, weightDecay: 0.1)
        let scalar: Optimizer = decoupled ? AdamW([b], lr: 0.01, weightDecay: 0.1, amsgrad: true)
                                          : Adam([b], lr: 0.01, weightDecay: 0.1, amsgrad: true)
        a.grad = g; b.grad = g
        fast.step(); scalar.step()
        #expect(a.scalars == b.scalars)
        #expect(fast.state(for: a)["exp_avg"]!.scalars == scalar.state(for: b)["exp_avg"]!.scalars)
    }
}

@Suite struct GradientClippingTests {
    private func params() -> [Parameter] {
        let a = Parameter(Tensor([0.5, -1, 2, 0.25] as [Float], shape: [2, 2])), b = Parameter(Tensor([3, -4] as [Float], shape: [2]))
        a.grad = Tensor([0.1, -0.2, 0.3, 0] as [Float], shape: [2, 2]); b.grad = Tensor([1.5, -2] as [Float], shape: [2])
        return [a, b]
    }

    // Values printed by PyTorch 2.15 (clip_grad_norm_ / clip_grad_value_).
    @Test func clipNorm() {
        let ps = params()
        #expect(allClose(clipGradNorm(ps, maxNorm: 1).scalars, [2.5278449058532715]))
        #expect(allClose(ps[0].grad!.scalars, [0.03955937549471855, -0.0791187509894371, 0.11867812275886536, 0], atol: 1e-7))
        #expect(allClose(ps[1].grad!.scalars, [0.5933905839920044, -0.7911874651908875], atol: 1e-7))
        let qs = params()
        #expect(allClose(clipGradNorm(qs, maxNorm: 0.5, normType: .infinity).scalars, [2]))
        #expect(allClose(qs[1].grad!.scalars, [0.3749998211860657, -0.4999997615814209], atol: 1e-7))
        let rs = params()
        clipGradNorm(rs, maxNorm: 10)
        #expect(rs[1].grad!.scalars == [1.5, -2])      // under the limit: unchanged
    }

    @Test func clipValue() {
        let ps = params()
        clipGradValue(ps, clipValue: 0.25)
        #expect(ps[0].grad!.scalars == [0.1, -0.2, 0.25, 0])
        #expect(ps[1].grad!.scalars == [0.25, -0.25])
    }
}
