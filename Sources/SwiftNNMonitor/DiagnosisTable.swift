import Foundation

/// What a monitor saw during a run, as the tutorial's diagnosis table needs it.
struct RunObservations {
    struct DropoutUse {
        var path: String
        var p: Double
        /// Features per example reaching it (the last dimension, or channels of feature maps).
        var width: Int
        var channelwise: Bool
    }
    var epochs: [EpochRecord] = []
    /// Dropout layers in the order the data went through them.
    var dropouts: [DropoutUse] = []
    /// BatchNorm / Dropout layers that ran in training mode without gradients, with the count.
    var trainingModeWithoutGrad: [(path: String, calls: Int)] = []
    var nonFinite: NonFiniteRecord?
    /// Per BatchNorm: the fewest values per channel a training batch gave it.
    var smallestBatch: [(path: String, values: Int)] = []
    /// BatchNorm layers fed by a frozen Linear/convolution: BN path → producer path.
    var frozenProducers: [String: String] = [:]
    var drift: [String: [RunningStatisticsDrift]] = [:]
    /// Last measured dead-ReLU fraction after each BatchNorm.
    var deadReLU: [(bn: String, relu: String, fraction: Double)] = []
}

/// The tutorial's diagnosis table, applied to what the monitor saw: symptom → likely cause →
/// what to change, naming the layer.
///
/// | symptom | cause |
/// |---|---|
/// | validation loss jumping, unstable inference | evaluation without `eval()` |
/// | train ≫ validation accuracy | overfitting: Dropout p too small |
/// | train ≪ validation accuracy | Dropout p too large |
/// | NaN | a layer blew up; BatchNorm with (almost) one value per channel |
/// | poor transfer | running statistics polluted under frozen weights |
/// | (dead units) | ReLU after BatchNorm never firing |
///
/// (The sixth row, too many parameters from a bias before BatchNorm, is the doctor's.)
enum DiagnosisTable {
    static func apply(_ o: RunObservations, gapThreshold: Double) -> [MonitorFinding] {
        var out: [MonitorFinding] = []
        let epochs = o.epochs.filter { $0.trainAccuracy.isFinite && $0.valAccuracy.isFinite }

        // Validation loss jumping / unstable inference: evaluation with layers in training mode.
        if let worst = o.trainingModeWithoutGrad.max(by: { $0.calls < $1.calls }) {
            let names = o.trainingModeWithoutGrad.map { "`\($0.path)`" }
            out.append(MonitorFinding(severity: "error", check: "eval-forgotten", path: worst.path,
                                      message: "forward passes without gradients (validation or inference) ran with \(names.prefix(4).joined(separator: ", "))\(names.count > 4 ? " and \(names.count - 4) more" : "") in training mode (\(worst.calls) calls of `\(worst.path)`): BatchNorm used each batch's statistics and overwrote its running statistics, Dropout dropped at random — validation loss jumps and predictions are unstable",
                                      advice: "call model.eval() before validating or predicting, model.train() before training"))
        } else if let jumps = oscillation(o.epochs) {
            out.append(MonitorFinding(severity: "warning", check: "val-loss-oscillation", path: "model", epoch: o.epochs.last?.epoch,
                                      message: "validation loss jumps up and down (epochs \(jumps.map(String.init).joined(separator: ", "))) while the model was in eval mode for validation",
                                      advice: "lower the learning rate, or check that the validation data is not shuffled with augmentations"))
        }

        // Train/validation gap.
        if let last = epochs.last {
            let gap = last.trainAccuracy - last.valAccuracy
            let widest = o.dropouts.filter { !$0.channelwise }.max { $0.width < $1.width } ?? o.dropouts.first
            let accuracies = String(format: "train %.1f %% vs val %.1f %% after epoch %d", last.trainAccuracy, last.valAccuracy, last.epoch)
            // Overfitting: a wide gap that is still opening, validation loss past its minimum, or a
            // training set learnt by heart.
            let earlier = epochs.dropLast().suffix(2).first
            let opening = earlier.map { gap > $0.trainAccuracy - $0.valAccuracy } ?? true
            let bestLoss = epochs.map(\.valLoss).filter(\.isFinite).min() ?? last.valLoss
            let turnedUp = last.valLoss > bestLoss * 1.02
            // Or the training set is learnt by heart: the gap can no longer close from the
            // training side, however calm the validation curve has become.
            let memorized = last.trainAccuracy >= 99.5
            if gap >= gapThreshold && (opening || turnedUp || memorized) {
                if let d = widest {
                    let target = min(max(d.p + 0.1, tableValue(d)), 0.5)
                    let advice = target > d.p + 1e-9
                        ? "raise Dropout p in `\(d.path)` from \(fmt(d.p)) towards \(fmt(target))"
                        : "Dropout in `\(d.path)` is already at \(fmt(d.p)): add weight decay or data augmentation, or stop earlier"
                    out.append(MonitorFinding(severity: "warning", check: "train-val-gap", path: d.path, epoch: last.epoch,
                                              message: "\(accuracies): the model overfits", advice: advice))
                } else {
                    out.append(MonitorFinding(severity: "warning", check: "train-val-gap", path: "model", epoch: last.epoch,
                                              message: "\(accuracies): the model overfits and has no Dropout",
                                              advice: "add Dropout after the wide layers (the tutorial's table: > 1024 units 0.5, 256–1024 0.3, < 256 0.2) or weight decay"))
                }
            } else if -gap >= gapThreshold + 3, let d = o.dropouts.max(by: { $0.p < $1.p }), d.p > tableValue(d) + 1e-9 {
                out.append(MonitorFinding(severity: "warning", check: "dropout-too-strong", path: d.path, epoch: last.epoch,
                                          message: "\(accuracies): training accuracy (measured with Dropout active) stays far below validation",
                                          advice: "lower Dropout p in `\(d.path)` from \(fmt(d.p)) towards \(fmt(tableValue(d))) (the tutorial's table for its width)"))
            }
        }

        // NaN: where it started, and whether BatchNorm saw batches that were too small.
        if let nf = o.nonFinite {
            let small = o.smallestBatch.filter { $0.values < 8 }.min { $0.values < $1.values }
            var advice = "lower the learning rate or clip gradients (clipGradNorm), and check the data for NaN"
            if let small {
                advice = "`\(small.path)` saw a batch with only \(small.values) value\(small.values == 1 ? "" : "s") per channel: drop the last partial batch (dropLast) or use a larger batch; also " + advice
            }
            out.append(MonitorFinding(severity: "error", check: "non-finite", path: nf.layer, epoch: nf.epoch,
                                      message: "non-finite values appeared at step \(nf.step), first in the \(nf.stage) of " + (nf.layer == "loss" ? "the loss" : "\(nf.kind) `\(nf.layer)`"),
                                      advice: advice))
        }

        // Poor transfer: running statistics moving under frozen weights.
        for (bn, producer) in o.frozenProducers.sorted(by: { $0.key < $1.key }) {
            let drift = o.drift[bn] ?? []
            let total = drift.reduce(0) { $0 + $1.meanShift }
            guard total > 0.05 else { continue }
            out.append(MonitorFinding(severity: "warning", check: "polluted-running-statistics", path: bn,
                                      message: String(format: "the running mean of `%@` moved %.2f running standard deviations over %d epoch%@ while `%@` feeding it is frozen: its statistics no longer match the frozen features (poor transfer)", bn, total, drift.count, drift.count == 1 ? "" : "s", producer),
                                      advice: "freeze the BatchNorm layers with the weights: freezeBatchNorm(model) keeps them in eval mode through model.train()"))
        }

        // Dead units after BatchNorm.
        for d in o.deadReLU where d.fraction >= 0.5 {
            out.append(MonitorFinding(severity: "warning", check: "dead-relu", path: d.relu,
                                      message: String(format: "%.0f %% of the units of `%@` after `%@` were zero for a whole batch", 100 * d.fraction, d.relu, d.bn),
                                      advice: "lower the learning rate, or check the BatchNorm's bias (β) is not driven far negative; LeakyReLU/GELU do not die"))
        }
        return out
    }

    /// The tutorial's table value for a Dropout use.
    static func tableValue(_ d: RunObservations.DropoutUse) -> Double {
        if d.channelwise { return 0.1 }
        return d.width > 1024 ? 0.5 : d.width >= 256 ? 0.3 : 0.2
    }

    /// Epochs where the validation loss turned (up after down or down after up) by more than 5 %
    /// of its value, when that happened at least twice in the last six epochs.
    static func oscillation(_ epochs: [EpochRecord]) -> [Int]? {
        let recent = Array(epochs.suffix(6)).filter { $0.valLoss.isFinite }
        guard recent.count >= 4 else { return nil }
        var turns: [Int] = []
        for i in 1..<(recent.count - 1) {
            let before = recent[i].valLoss - recent[i - 1].valLoss, after = recent[i + 1].valLoss - recent[i].valLoss
            let scale = 0.05 * max(abs(recent[i].valLoss), 1e-12)
            if before * after < 0, abs(before) > scale, abs(after) > scale { turns.append(recent[i].epoch) }
        }
        return turns.count >= 2 ? turns : nil
    }

    static func fmt(_ p: Double) -> String { String(format: "%.2g", p) }
}
