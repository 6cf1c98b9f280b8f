import Foundation
import Testing
import SwiftNN
@testable import Optim

/// Issue 12: a saved optimizer or scheduler state comes from a file. Loading checks all of it and
/// throws one error naming the entry; nothing traps and nothing is half-loaded.
@Suite struct OptimizerStateValidationTests {
    /// An AdamW over two parameters after two steps, and its saved state.
    func steppedAdamW(amsgrad: Bool = false) -> (AdamW, StateDict) {
        let a = Parameter(Tensor([0.5, -1, 2, 0.25] as [Float], shape: [2, 2])), b = Parameter(Tensor([1, -1] as [Float], shape: [2]))
        let opt = AdamW([a, b], lr: 0.01, amsgrad: amsgrad)
        for _ in 0..<2 {
            a.grad = Tensor([0.1, -0.2, 0.3, 0] as [Float], shape: [2, 2])
            b.grad = Tensor([0.5, 0.25] as [Float], shape: [2])
            opt.step()
        }
        return (opt, opt.stateDict())
    }

    func fresh() -> AdamW {
        AdamW([Parameter(Tensor.zeros([2, 2])), Parameter(Tensor.zeros([2]))], lr: 0.01)
    }

    func loadError(_ sd: StateDict, into opt: Optimizer? = nil) -> String? {
        let target = opt ?? fresh()
        let before = target.paramGroups.map(\.options)
        do { try target.loadStateDict(sd); return nil } catch {
            // All or nothing: the refused state changed nothing.
            #expect(target.paramGroups.map(\.options) == before)
            return error.description
        }
    }

    func editedGroups(_ sd: StateDict, _ key: String, _ value: String) -> StateDict {
        var out = sd
        out.metadata["param_groups"] = sd.metadata["param_groups"]!.replacingOccurrences(
            of: #""\#(key)": (\[[^\]]*\]|[^,}\]]+)"#, with: "\"\(key)\": \(value)", options: .regularExpression)
        return out
    }

    @Test func aValidStateLoads() throws {
        let (opt, saved) = steppedAdamW()
        let other = fresh()
        try other.loadStateDict(saved)
        #expect(other.paramGroups.map(\.options) == opt.paramGroups.map(\.options))
    }

    @Test func stateNamesAreChecked() {
        let (_, saved) = steppedAdamW()
        var renamed = saved
        renamed["state.0.eep_avg"] = saved["state.0.exp_avg"]
        renamed["state.0.exp_avg"] = nil
        #expect(loadError(renamed) == "state state.0.eep_avg is not a state of AdamW (expected exp_avg, exp_avg_sq, max_exp_avg_sq, step)")
        var missing = saved
        missing["state.1.exp_avg_sq"] = nil
        #expect(loadError(missing)?.hasPrefix("state state.1.exp_avg_sq is missing") == true)
        var sgdName = saved
        sgdName["state.0.momentum_buffer"] = saved["state.0.exp_avg"]
        #expect(loadError(sgdName)?.contains("momentum_buffer is not a state of AdamW") == true)
    }

    @Test func stepIsAWholeNumberOfAnyNumericTypeStoredAsFloat32() throws {
        let (_, saved) = steppedAdamW()
        var asInt = saved
        asInt["state.0.step"] = Tensor([2] as [Int64], shape: [])
        let opt = fresh()
        try opt.loadStateDict(asInt)
        let step = opt.state(for: opt.paramGroups[0].params[0])["step"]!
        #expect(step.dtype == .float32 && step.shape == [] && step.item() == 2)
        for (value, name) in [(Tensor([Int64.max] as [Int64], shape: []), "huge"), (Tensor([2.5] as [Float], shape: []), "fraction"),
                              (Tensor([-1] as [Float], shape: []), "negative"), (Tensor([.nan] as [Float], shape: []), "NaN"),
                              (Tensor([1, 2] as [Float], shape: [2]), "two values"), (Tensor([true], shape: []), "bool")] {
            var bad = saved
            bad["state.1.step"] = value
            #expect(loadError(bad)?.hasPrefix("state state.1.step must") == true, "\(name)")
        }
    }

    @Test func momentsAreCheckedForShapeDtypeAndValues() {
        let (_, saved) = steppedAdamW()
        var wrongDtype = saved
        wrongDtype["state.0.exp_avg"] = Tensor.zeros([2, 2], dtype: .float64)
        #expect(loadError(wrongDtype) == "state state.0.exp_avg is float64 but parameter 0 is float32")
        var nan = saved
        nan["state.1.exp_avg"] = Tensor([.nan, 0] as [Float], shape: [2])
        #expect(loadError(nan) == "state state.1.exp_avg holds a non-finite value (nan)")
        var negative = saved
        negative["state.1.exp_avg_sq"] = Tensor([-1, 0] as [Float], shape: [2])
        #expect(loadError(negative)?.contains("exp_avg_sq holds a negative value") == true)
    }

    /// The constructor's ranges, with PyTorch's messages, and finite values only.
    @Test func hyperparametersAreCheckedAsTheConstructorChecksThem() {
        let (_, saved) = steppedAdamW()
        let cases: [(String, String, String)] = [
            ("lr", "-1", "param_groups[0]: Invalid learning rate: -1.0"),
            ("beta1", "1.5", "param_groups[0]: Invalid beta parameter at index 0: 1.5"),
            ("beta2", "-0.1", "param_groups[0]: Invalid beta parameter at index 1: -0.1"),
            ("eps", "-1", "param_groups[0]: Invalid epsilon value: -1.0"),
            ("weight_decay", "-1", "param_groups[0]: Invalid weight_decay value: -1.0"),
            ("amsgrad", "0.5", "param_groups[0]: amsgrad must be 0 or 1, got 0.5"),
            ("lr", "1e400", "loaded state dict has no readable param_groups metadata"),
            ("params", "[1, 0]", "param_groups[0] params [1.0, 0.0] are not the indices 0..<2 of its parameters"),
        ]
        for (key, value, message) in cases {
            #expect(loadError(editedGroups(saved, key, value)) == message, "\(key) = \(value)")
        }
        var renamed = saved
        renamed.metadata["param_groups"] = saved.metadata["param_groups"]!.replacingOccurrences(of: "\"eps\"", with: "\"epsilon\"")
        #expect(loadError(renamed) == "param_groups[0] has no option 'eps'")
        var extra = saved
        extra.metadata["param_groups"] = saved.metadata["param_groups"]!.replacingOccurrences(of: "\"eps\"", with: "\"momentum\": 0.9, \"eps\"")
        #expect(loadError(extra) == "param_groups[0] has an unknown option 'momentum'")
    }

    @Test func sgdStateIsChecked() throws {
        let p = Parameter(Tensor([1, 2] as [Float], shape: [2]))
        let opt = SGD([p], lr: 0.1, momentum: 0.9, nesterov: true)
        p.grad = Tensor([1, 1] as [Float], shape: [2])
        opt.step()
        let saved = opt.stateDict()
        let other = SGD([Parameter(Tensor.zeros([2]))], lr: 0.1, momentum: 0.9, nesterov: true)
        try other.loadStateDict(saved)
        #expect(loadError(editedGroups(saved, "momentum", "0"), into: SGD([Parameter(Tensor.zeros([2]))], lr: 0.1, momentum: 0.9, nesterov: true))
                == "param_groups[0]: Nesterov momentum requires a momentum and zero dampening")
        var renamed = saved
        renamed["state.0.exp_avg"] = saved["state.0.momentum_buffer"]
        #expect(loadError(renamed, into: SGD([Parameter(Tensor.zeros([2]))], lr: 0.1, momentum: 0.9, nesterov: true))
                == "state state.0.exp_avg is not a state of SGD (expected momentum_buffer)")
    }
}

@Suite struct SchedulerStateValidationTests {
    func make(tMax: Int = 10) -> (Optimizer, CosineAnnealingLR) {
        let opt = SGD([Parameter(Tensor([0] as [Float], shape: [1]))], lr: 0.1)
        return (opt, CosineAnnealingLR(opt, tMax: tMax))
    }

    func edited(_ sd: StateDict, _ key: String, _ value: String) -> StateDict {
        var out = sd
        out.metadata["state"] = sd.metadata["state"]!.replacingOccurrences(
            of: #""\#(key)": (\[[^\]]*\]|[^,}]+)"#, with: "\"\(key)\": \(value)", options: .regularExpression)
        return out
    }

    @Test func countersAndRatesAreChecked() throws {
        let (_, s) = make()
        s.step(); s.step()
        let saved = s.stateDict()
        let cases: [(String, String, String)] = [
            ("last_epoch", "1e300", "scheduler last_epoch must be a whole number in -1...2147483647, got 1e+300"),
            ("last_epoch", "2.5", "scheduler last_epoch must be a whole number in -1...2147483647, got 2.5"),
            ("last_epoch", "-7", "scheduler last_epoch must be a whole number in -1...2147483647, got -7.0"),
            ("_step_count", "-1", "scheduler _step_count must be a whole number in 0...2147483647, got -1.0"),
            ("base_lrs", "[-0.1]", "scheduler base_lrs holds -0.1; learning rates are finite and non-negative"),
            ("_last_lr", "[1e308, 1e308]", "scheduler state has 1 base_lrs and 2 _last_lr but the optimizer has 1 parameter groups"),
            ("T_max", "20.0", "scheduler setting T_max is 20.0 in the saved state but 10.0 in this CosineAnnealingLR"),
        ]
        for (key, value, message) in cases {
            let (_, target) = make()
            let before = target.lastEpoch
            #expect(throws: OptimizerStateError(message), "\(key) = \(value)") { try target.loadStateDict(edited(saved, key, value)) }
            #expect(target.lastEpoch == before)
        }
        let (_, ok) = make()
        try ok.loadStateDict(saved)
        #expect(ok.lastEpoch == 2)
    }

    /// `--epochs 2^62` used to overflow in `2 * T_max`.
    @Test func cosineAnnealingWithAHugePeriodDoesNotOverflow() {
        let (opt, s) = make(tMax: 1 << 62)
        for _ in 0..<3 { s.step() }
        #expect(opt.paramGroups[0].lr == 0.1)   // cos(3π/2^62) rounds to 1
        #expect(CosineAnnealingLR.atRestartPeak(lastEpoch: (1 << 62) + 1, tMax: 1 << 62))
        #expect(!CosineAnnealingLR.atRestartPeak(lastEpoch: Int.max, tMax: 1 << 62))
        #expect(!CosineAnnealingLR.atRestartPeak(lastEpoch: Int.max, tMax: Int.max))
        // Small periods keep PyTorch's arithmetic.
        for t in 1...5 {
            for e in -1...40 {
                #expect(CosineAnnealingLR.atRestartPeak(lastEpoch: e, tMax: t) == ((e - 1 - t) % (2 * t) == 0), "\(e) \(t)")
            }
        }
    }
}
