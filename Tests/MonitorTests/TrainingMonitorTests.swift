import Foundation
import Testing
import TestSupport
import SwiftNN
import SwiftNNDoctor
@testable import SwiftNNMonitor

// Models written as users write them: custom Module subclasses, nested containers, functional
// activations. Every row of the tutorial's diagnosis table is produced by a real training loop
// (or, for the curve-shaped rows, by the epoch results a loop reports) and must be caught.

/// Linear → BatchNorm → ReLU (functional) → Dropout, as a custom block.
private final class Block: Module {
    var fc: Linear
    var bn: BatchNorm1d
    var drop: Dropout
    init(_ i: Int, _ o: Int, p: Double) {
        fc = Linear(i, o, bias: false)
        bn = BatchNorm1d(o)
        drop = Dropout(p: p)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { drop(bn(fc(x)).relu()) }
}

/// Blocks in a Sequential, a head outside it.
private final class Net: Module {
    var blocks: Sequential
    var head: Linear
    init(widths: [Int] = [8, 48, 16], p: [Double] = [0.4, 0.2], classes: Int = 3) {
        blocks = Sequential((0..<(widths.count - 1)).map { Block(widths[$0], widths[$0 + 1], p: p[$0]) })
        head = Linear(widths.last!, classes)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { head(blocks(x)) }
}

/// BatchNorm followed by a ReLU module inside a Sequential, behind a custom wrapper.
private final class ReLUNet: Module {
    var body = Sequential { Linear(8, 12, bias: false); BatchNorm1d(12); ReLU(); Linear(12, 3) }
    override func forward(_ x: Tensor) -> Tensor { body(x) }
}

/// Takes the logarithm of its input: NaN for negative values (a layer that blows up).
private final class LogLayer: Module {
    override func forward(_ x: Tensor) -> Tensor { x.log() }
}

private func batch(_ n: Int, _ features: Int = 8, classes: Int = 3, seed: UInt64) -> (Tensor, Tensor) {
    let g = Generator(seed: seed)
    let x = Tensor.randn([n, features], generator: g)
    let y = Tensor((0..<n).map { Int64($0 % classes) }, shape: [n])
    return (x, y)
}

/// A few real training steps with the monitor attached, as any loop would call it.
private func train(_ model: Module, _ monitor: TrainingMonitor, steps: Int, epoch: Int = 1, batchSize: Int = 16, seed: UInt64 = 1) {
    let opt = SGD(model.parameters().filter(\.requiresGrad), lr: 0.05)
    let criterion = CrossEntropyLoss()
    model.train()
    for s in 0..<steps {
        let (x, y) = batch(batchSize, seed: seed &+ UInt64(s))
        let loss = criterion(model(x), targets: y)
        monitor.recordStep(loss: Double(loss.item()), input: x, epoch: epoch)
        opt.zeroGrad()
        loss.backward()
        opt.step()
    }
}

private func epochs(_ rows: [(train: Double, val: Double, valLoss: Double)]) -> [EpochRecord] {
    rows.enumerated().map { i, r in
        EpochRecord(epoch: i + 1, trainLoss: 0.5, trainAccuracy: r.train, valLoss: r.valLoss, valAccuracy: r.val, learningRate: 1e-3)
    }
}


/// A whole training run as a user writes it: shuffled mini-batches with the monitor attached,
/// training accuracy measured on the training passes (Dropout active, as `swiftnn train` and most
/// loops report it), validation in eval mode without gradients. Returns the epoch records it gave
/// the monitor.
@discardableResult
private func fit(_ model: Module, _ monitor: TrainingMonitor, train: (x: Tensor, y: Tensor), val: (x: Tensor, y: Tensor),
                 epochs: Int, batchSize: Int, lr: Double) -> [EpochRecord] {
    let opt = Adam(model.parameters(), lr: lr)
    let criterion = CrossEntropyLoss()
    let n = train.x.shape[0]
    var records: [EpochRecord] = []
    func correct(_ logits: Tensor, _ y: Tensor) -> Int {
        zip(logits.argmax(dim: 1).scalars, y.scalars).filter { $0 == $1 }.count
    }
    for epoch in 1...epochs {
        model.train()
        let order = Tensor.randperm(n).scalars.map { Int($0) }
        var lossSum = 0.0, hits = 0
        for start in stride(from: 0, to: n, by: batchSize) {
            let idx = Tensor(order[start..<min(start + batchSize, n)].map(Int64.init), shape: [min(batchSize, n - start)])
            let x = train.x.indexSelect(dim: 0, index: idx), y = train.y.indexSelect(dim: 0, index: idx)
            let logits = model(x)
            let loss = criterion(logits, targets: y)
            monitor.recordStep(loss: Double(loss.item()), input: x, epoch: epoch)
            opt.zeroGrad(); loss.backward(); opt.step()
            lossSum += Double(loss.item()) * Double(x.shape[0])
            hits += correct(logits, y)
        }
        model.eval()
        let (valLoss, valHits) = withNoGrad { () -> (Double, Int) in
            let logits = model(val.x)
            return (Double(criterion(logits, targets: val.y).item()), correct(logits, val.y))
        }
        let r = EpochRecord(epoch: epoch, trainLoss: lossSum / Double(n), trainAccuracy: 100 * Double(hits) / Double(n),
                            valLoss: valLoss, valAccuracy: 100 * Double(valHits) / Double(val.x.shape[0]), learningRate: lr)
        monitor.endEpoch(r)
        records.append(r)
    }
    return records
}

/// Examples of 8 features whose class (of 3) is the largest of three fixed projections, or a
/// random class when `randomLabels` (nothing to learn but the examples themselves).
private func dataset(_ n: Int, seed: UInt64, randomLabels: Bool = false) -> (x: Tensor, y: Tensor) {
    let g = Generator(seed: seed)
    let x = Tensor.randn([n, 8], generator: g)
    let projection = Tensor.randn([8, 3], generator: Generator(seed: 424242))
    let y = randomLabels ? Tensor(Tensor.rand([n], generator: g).scalars.map { Int64(min($0 * 3, 2)) }, shape: [n])
        : withNoGrad { x.matmul(projection).argmax(dim: 1) }
    return (x, y)
}

@Suite struct TrainingMonitorTests {
    func finding(_ fs: [MonitorFinding], _ check: String) -> MonitorFinding? { fs.first { $0.check == check } }

    /// Row "train/val accuracy gap": train ≫ val after the last epoch → raise Dropout p in the
    /// widest Dropout, named by its path, towards the next step of the table.
    @Test func overfittingGapNamesTheWidestDropout() {
        Generator.withDefault(Generator(seed: 3)) {
            let model = Net()
            let monitor = TrainingMonitor(model: model)
            train(model, monitor, steps: 3)
            for e in epochs([(90, 89, 0.40), (97, 94, 0.30), (99.8, 95.2, 0.31)]) { monitor.endEpoch(e) }
            let f = finding(monitor.finish(), "train-val-gap")
            #expect(f?.path == "blocks.0.drop")
            #expect(f?.message == "train 99.8 % vs val 95.2 % after epoch 3: the model overfits")
            #expect(f?.advice == "raise Dropout p in `blocks.0.drop` from 0.4 towards 0.5")
            #expect(f?.description == "warning [train-val-gap] blocks.0.drop: train 99.8 % vs val 95.2 % after epoch 3: the model overfits → raise Dropout p in `blocks.0.drop` from 0.4 towards 0.5")
            // A gap that is closing while validation loss still falls is not called overfitting.
            let calm = TrainingMonitor(model: model)
            for e in epochs([(99, 93, 0.40), (99, 95, 0.30), (99, 95.5, 0.29)]) { calm.endEpoch(e) }
            #expect(finding(calm.finish(), "train-val-gap") == nil)
            // A steady gap with the training set learnt by heart is overfitting all the same.
            let memorized = TrainingMonitor(model: model)
            train(model, memorized, steps: 1)
            for e in epochs([(100, 63, 1.20), (100, 63.6, 1.18), (100, 63.2, 1.17)]) { memorized.endEpoch(e) }
            let steady = finding(memorized.finish(), "train-val-gap")
            #expect(steady?.message == "train 100.0 % vs val 63.2 % after epoch 3: the model overfits")
            #expect(steady?.advice == "raise Dropout p in `blocks.0.drop` from 0.4 towards 0.5")
        }
    }

    /// Row "train/val gap" the other way: training accuracy (with Dropout on) far below
    /// validation → Dropout p too large for its width.
    @Test func tooMuchDropoutIsCalledOut() {
        Generator.withDefault(Generator(seed: 4)) {
            let model = Net(p: [0.7, 0.2])
            let monitor = TrainingMonitor(model: model)
            train(model, monitor, steps: 2)
            for e in epochs([(60, 80, 0.6), (70, 88, 0.5)]) { monitor.endEpoch(e) }
            let f = finding(monitor.finish(), "dropout-too-strong")
            #expect(f?.path == "blocks.0.drop")
            #expect(f?.advice == "lower Dropout p in `blocks.0.drop` from 0.7 towards 0.2 (the tutorial's table for its width)")
        }
    }

    /// Row "train/val accuracy gap", measured in a real run: a user's model memorizes a small
    /// training set with random labels (training accuracy near 100 %, validation at chance) with
    /// little Dropout; the monitor names the widest Dropout and the next value of the table.
    @Test func overfittingMeasuredInARealRun() {
        Generator.withDefault(Generator(seed: 21)) {
            let model = Net(widths: [8, 128, 64], p: [0.1, 0.1])
            let monitor = TrainingMonitor(model: model)
            let records = fit(model, monitor, train: dataset(48, seed: 1, randomLabels: true), val: dataset(96, seed: 2, randomLabels: true),
                              epochs: 25, batchSize: 16, lr: 0.01)
            let last = records.last!
            #expect(last.trainAccuracy - last.valAccuracy >= 30, "train \(last.trainAccuracy) val \(last.valAccuracy)")
            let f = finding(monitor.finish(), "train-val-gap")
            #expect(f?.path == "blocks.0.drop")
            #expect(f?.message == String(format: "train %.1f %% vs val %.1f %% after epoch 25: the model overfits", last.trainAccuracy, last.valAccuracy))
            #expect(f?.advice == "raise Dropout p in `blocks.0.drop` from 0.1 towards 0.2")
            #expect(finding(monitor.log.findings, "dropout-too-strong") == nil)
        }
    }

    /// Row "train/val accuracy gap" the other way, measured: Dropout p=0.9 after 64 units (the
    /// table says 0.2) keeps the training accuracy, taken with Dropout active, far below the
    /// validation accuracy of the same network in eval mode.
    @Test func tooMuchDropoutMeasuredInARealRun() {
        Generator.withDefault(Generator(seed: 22)) {
            let model = Net(widths: [8, 64, 32], p: [0.9, 0.1])
            let monitor = TrainingMonitor(model: model)
            let records = fit(model, monitor, train: dataset(480, seed: 3), val: dataset(240, seed: 4), epochs: 6, batchSize: 32, lr: 0.01)
            let last = records.last!
            #expect(last.valAccuracy - last.trainAccuracy >= 6, "train \(last.trainAccuracy) val \(last.valAccuracy)")
            let f = finding(monitor.finish(), "dropout-too-strong")
            #expect(f?.path == "blocks.0.drop")
            #expect(f?.advice == "lower Dropout p in `blocks.0.drop` from 0.9 towards 0.2 (the tutorial's table for its width)")
            #expect(finding(monitor.log.findings, "train-val-gap") == nil)
        }
    }

    /// Rows "validation loss jumping" and "unstable inference": validation run without
    /// model.eval() — the monitor sees BatchNorm and Dropout run in training mode without gradients.
    @Test func evaluationWithoutEvalIsCaught() {
        Generator.withDefault(Generator(seed: 5)) {
            let model = Net()
            let monitor = TrainingMonitor(model: model)
            train(model, monitor, steps: 2)
            let (vx, _) = batch(32, seed: 99)
            withNoGrad { _ = model(vx) }                 // forgot model.eval()
            let now = monitor.endEpoch(epochs([(80, 70, 0.9)])[0])
            let f = finding(now, "eval-forgotten")
            #expect(f?.severity == "error")
            #expect(f?.message.contains("`blocks.0.bn`") == true && f?.message.contains("`blocks.0.drop`") == true)
            #expect(f?.advice.contains("model.eval()") == true)
            // Reported once, and again in the end-of-run diagnosis.
            #expect(monitor.endEpoch(epochs([(80, 70, 0.9), (85, 75, 0.7)])[1]).isEmpty)
            #expect(finding(monitor.finish(), "eval-forgotten") != nil)
            // With model.eval() there is nothing to report.
            let clean = TrainingMonitor(model: model)
            train(model, clean, steps: 1)
            model.eval()
            withNoGrad { _ = model(vx) }
            #expect(finding(clean.endEpoch(epochs([(80, 70, 0.9)])[0]), "eval-forgotten") == nil)
        }
    }

    /// Validation loss jumping up and down although evaluation is done right.
    @Test func validationLossOscillation() {
        let model = Net()
        let monitor = TrainingMonitor(model: model)
        var fresh: [MonitorFinding] = []
        for e in epochs([(80, 78, 0.60), (85, 80, 0.45), (88, 79, 0.70), (90, 82, 0.42), (91, 80, 0.75)]) {
            fresh += monitor.endEpoch(e)
        }
        let f = finding(fresh, "val-loss-oscillation")
        // Turns at epochs 2 and 3, seen once epoch 4 is in.
        #expect(f?.message.contains("epochs 2, 3)") == true)
        #expect(f?.epoch == 4)
    }

    /// Row "NaN": the monitor names the first layer whose output went non-finite, inside nested
    /// custom modules, and points at BatchNorm batches that were too small.
    @Test func nonFiniteValuesAreTracedToTheFirstLayer() {
        Generator.withDefault(Generator(seed: 6)) {
            final class Blowup: Module {
                var features = Sequential { Linear(8, 6, bias: false); BatchNorm1d(6) }
                var odd = Sequential { LogLayer() }
                var head = Linear(6, 3)
                override func forward(_ x: Tensor) -> Tensor { head(odd(features(x))) }
            }
            let model = Blowup()
            let monitor = TrainingMonitor(model: model)
            let (x, y) = batch(2, seed: 1)                      // a batch of two: 2 values per channel
            let loss = CrossEntropyLoss()(model(x), targets: y)
            #expect(!loss.item().isFinite)
            monitor.recordStep(loss: Double(loss.item()), input: x, epoch: 1)
            #expect(monitor.log.nonFinite == NonFiniteRecord(epoch: 1, step: 1, layer: "odd.0", kind: "LogLayer", stage: "output"))
            let f = finding(monitor.finish(), "non-finite")
            #expect(f?.path == "odd.0")
            #expect(f?.message == "non-finite values appeared at step 1, first in the output of LogLayer `odd.0`")
            #expect(f?.advice.hasPrefix("`features.1` saw a batch with only 2 values per channel: drop the last partial batch") == true)
            // Locating it changed no running statistic.
            #expect((model.features[1] as! BatchNorm1d).numBatchesTracked == 1)
        }
    }

    /// Row "poor transfer": fine-tuning with the backbone's weights frozen but its BatchNorm still
    /// training on data of another distribution pollutes the running statistics.
    @Test func pollutedRunningStatisticsUnderFrozenWeights() {
        Generator.withDefault(Generator(seed: 7)) {
            let model = ReLUNet()
            // "Pretraining": running statistics of the original data.
            model.train()
            withNoGrad { for s in 0..<20 { _ = model(batch(32, seed: UInt64(s)).0) } }
            // Fine-tuning: backbone frozen by requiresGrad only, new data shifted and scaled.
            for p in (model.body[0] as! Linear).parameters() { p.requiresGrad = false }
            let monitor = TrainingMonitor(model: model)
            let opt = SGD(model.parameters().filter(\.requiresGrad), lr: 0.01)
            for epoch in 1...2 {
                model.train()
                for s in 0..<10 {
                    let (x0, y) = batch(32, seed: 100 + UInt64(s))
                    let x = x0 * 3 + 2
                    let loss = CrossEntropyLoss()(model(x), targets: y)
                    monitor.recordStep(loss: Double(loss.item()), input: x, epoch: epoch)
                    opt.zeroGrad(); loss.backward(); opt.step()
                }
                monitor.endEpoch(epochs([(80, 80, 0.5), (80, 80, 0.5)])[epoch - 1])
            }
            let f = finding(monitor.finish(), "polluted-running-statistics")
            #expect(f?.path == "body.1")
            #expect(f?.message.contains("while `body.0` feeding it is frozen") == true)
            #expect(f?.advice.contains("freezeBatchNorm(model)") == true)
            // Freezing BatchNorm too: the statistics stay, nothing to report.
            freezeBatchNorm(model)
            let frozen = TrainingMonitor(model: model)
            train(model, frozen, steps: 3)
            frozen.endEpoch(epochs([(80, 80, 0.5)])[0])
            #expect(finding(frozen.finish(), "polluted-running-statistics") == nil)
        }
    }

    /// Dead units: a BatchNorm whose shift drives every unit of the following ReLU below zero.
    @Test func deadReLUAfterBatchNorm() {
        Generator.withDefault(Generator(seed: 8)) {
            let model = ReLUNet()
            let bn = model.body[1] as! BatchNorm1d
            Init.constant(bn.bias!, -10)
            let monitor = TrainingMonitor(model: model)
            train(model, monitor, steps: 1)
            monitor.endEpoch(epochs([(50, 50, 1.0)])[0])
            #expect(monitor.log.batchNorms[0].reluPath == "body.2")
            #expect(monitor.log.batchNorms[0].samples.first?.deadReLU == 1)
            let f = finding(monitor.finish(), "dead-relu")
            #expect(f?.path == "body.2")
            #expect(f?.message == "100 % of the units of `body.2` after `body.1` were zero for a whole batch")
        }
    }

    /// What the BatchNorm probes record is the layer's real input and state, computed independently.
    @Test func batchNormSamplesHoldTheLayersStatistics() throws {
        try Generator.withDefault(Generator(seed: 9)) {
            let model = Net()
            var config = TrainingMonitor.Configuration()
            config.sampleEvery = 2
            let monitor = TrainingMonitor(model: model, configuration: config)
            var seen: [Tensor] = []
            let block = model.blocks[0] as! Block
            let h = block.bn.registerForwardPreHook { _, input in if GradMode.isEnabled { seen.append(input.clonedData()) } }
            train(model, monitor, steps: 4)
            h.remove()
            let trace = try #require(monitor.log.batchNorms.first { $0.path == "blocks.0.bn" })
            #expect(trace.samples.map(\.step) == [1, 2, 4])
            #expect(trace.reluPath == nil)          // the ReLU is functional: no module to watch
            // Step 2's sample: percentiles of channel 0 and moments of the input seen at step 2.
            let s = trace.samples[1], x = seen[1]
            let n = x.shape[0], c = x.shape[1]
            let unit = (0..<n).map { x.doubleValue(at: $0 * c) }
            let want = try #require(Percentiles(of: unit))
            #expect(abs(s.unit.p15 - want.p15) < 1e-9 && abs(s.unit.p50 - want.p50) < 1e-9 && abs(s.unit.p85 - want.p85) < 1e-9)
            let means = (0..<c).map { ch in (0..<n).map { x.doubleValue(at: $0 * c + ch) }.reduce(0, +) / Double(n) }
            #expect(abs(s.batchMean - means.reduce(0, +) / Double(c)) < 1e-9)
            // numpy's percentile (linear interpolation) on a known list.
            let p = try #require(Percentiles(of: [1, 2, 3, 4, 10]))
            #expect(abs(p.p15 - 1.6) < 1e-12 && p.p50 == 3 && abs(p.p85 - 6.4) < 1e-12)
        }
    }

    /// The monitor never needs a BatchNorm's output, so a Conv2d → BatchNorm2d → ReLU run stays
    /// fused on every step but the first (whose structure tracing hooks every module), sampled
    /// steps included: the running statistics are read when the step is recorded and the dead
    /// ReLU units from the fused output, through an output observer on the ReLU.
    @Test func convBatchNormReLUStaysFusedOnSampledSteps() throws {
        let model = Sequential { Conv2d(2, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        var config = TrainingMonitor.Configuration()
        config.sampleEvery = 3
        let monitor = TrainingMonitor(model: model, configuration: config)
        model.train()
        var kinds: [String?] = []
        var outputs: [Tensor] = [], runningMeans: [[Double]] = [], runningVars: [[Double]] = []
        let g = Generator(seed: 4)
        let bn: BatchNorm2d = model[1]
        for step in 0..<6 {
            // At step 3 a shift of −100 kills channel 1 of the ReLU's output.
            bn.bias!.copyData(from: Tensor([0, step == 2 ? -100 : 0, 0, 0] as [Float], shape: [4]))
            let y = model(Tensor.randn([4, 2, 5, 5], generator: g))
            kinds.append(y.gradFunctionName)
            outputs.append(y.clonedData())
            runningMeans.append((0..<4).map { bn.runningMean!.doubleValue(at: $0) })
            runningVars.append((0..<4).map { bn.runningVar!.doubleValue(at: $0) })
            monitor.recordStep(loss: Double(y.mean().item()), epoch: 1)
        }
        // Step 1 traces the structure (every module hooked, unfused); steps 1, 3 and 6 are
        // sampled ((step + 1) % 3 == 0 arms the next step) and still fused, with the convolution's
        // output stored for the BatchNorm's input hook. The other steps hook nothing that sees it:
        // the convolution (2·3·3 taps, no bias, an input without gradient) is recomputed instead
        // of stored, where the backend can.
        let geo = ConvGeometry(batch: 4, inChannels: 2, outChannels: 4, groups: 1, inputSize: [5, 5], kernelSize: [3, 3],
                               stride: [1, 1], padding: [1, 1], dilation: [1, 1])
        let free = Kernels.convBatchNormReLURecomputes(Tensor.zeros([1]), geo) ? "conv_batch_norm_relu" : "batch_norm_relu"
        #expect(kinds == ["relu", free, "batch_norm_relu", free, free, "batch_norm_relu"])
        let trace = try #require(monitor.log.batchNorms.first { $0.path == "1" })
        #expect(trace.reluPath == "2")
        #expect(trace.samples.map(\.step) == [1, 3, 6])
        for sample in trace.samples {
            let i = sample.step - 1
            // The running statistics after the step's update, and the ReLU output's dead channels.
            #expect(sample.runningMean == Percentiles(of: runningMeans[i]), "step \(sample.step): running mean")
            #expect(sample.runningVar == Percentiles(of: runningVars[i]), "step \(sample.step): running var")
            let y = outputs[i]
            let dead = (0..<4).filter { c in (0..<4).allSatisfy { n in (0..<25).allSatisfy { y.doubleValue(at: (n * 4 + c) * 25 + $0) == 0 } } }
            #expect(sample.deadReLU == Double(dead.count) / 4, "step \(sample.step): dead ReLU fraction")
        }
        #expect((trace.samples[1].deadReLU ?? 0) >= 0.25, "step 3's shifted channel is dead")
        // Between samples only the ReLU's counting observer is left: nothing needs the BatchNorm's input.
        let relu: ReLU = model[2]
        #expect(!bn.hasHooks, "nothing left on the BatchNorm between samples")
        #expect(relu.hasHooks)
        monitor.detach()
        #expect(!bn.hasHooks && !relu.hasHooks)
    }

    /// Every training call of a BatchNorm is counted (the fewest values per channel it saw, calls
    /// without gradients in training mode): through the ReLU's output when one follows it — its
    /// input is then hooked on sampled steps alone — and through a forward pre-hook otherwise.
    @Test func batchNormCallsAreCountedWithAndWithoutAReLU() {
        let model = Sequential {
            Conv2d(2, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU()
            Flatten(); Linear(64, 5); BatchNorm1d(5)
        }
        var config = TrainingMonitor.Configuration()
        config.sampleEvery = 100
        let monitor = TrainingMonitor(model: model, configuration: config)
        model.train()
        let g = Generator(seed: 12)
        for n in [6, 3, 5] {
            let y = model(Tensor.randn([n, 2, 4, 4], generator: g))
            monitor.recordStep(loss: Double(y.mean().item()), epoch: 1)
        }
        withNoGrad { _ = model(Tensor.randn([2, 2, 4, 4], generator: g)) }     // forgot model.eval()
        model.eval()
        withNoGrad { _ = model(Tensor.randn([1, 2, 4, 4], generator: g)) }     // evaluation: not counted
        #expect(monitor.log.batchNorms.map(\.path) == ["1", "5"])
        #expect(monitor.log.batchNorms.map(\.reluPath) == ["2", nil])
        let o = monitor.observations
        #expect(o.smallestBatch.map(\.path) == ["1", "5"])
        #expect(o.smallestBatch.map(\.values) == [3 * 16, 3])
        #expect(o.trainingModeWithoutGrad.map(\.path) == ["1", "5"])
        #expect(o.trainingModeWithoutGrad.map(\.calls) == [1, 1])
        monitor.detach()
    }

    /// The structure is learnt from every forward pass before the first recorded step (here a
    /// validation pass, then the step's): the ReLU still counts for its BatchNorm, so a first layer
    /// on one channel is recomputed between samples.
    @Test func twoForwardPassesBeforeTheFirstStep() {
        let model = Sequential { Conv2d(1, 4, 3, padding: 1, bias: false); BatchNorm2d(4); ReLU() }
        var config = TrainingMonitor.Configuration()
        config.sampleEvery = 3
        let monitor = TrainingMonitor(model: model, configuration: config)
        let g = Generator(seed: 14)
        model.eval()
        withNoGrad { _ = model(Tensor.randn([4, 1, 6, 6], generator: g)) }
        model.train()
        var kinds: [String?] = []
        for _ in 0..<4 {
            let y = model(Tensor.randn([4, 1, 6, 6], generator: g))
            kinds.append(y.gradFunctionName)
            monitor.recordStep(loss: Double(y.mean().item()), epoch: 1)
        }
        let geo = ConvGeometry(batch: 4, inChannels: 1, outChannels: 4, groups: 1, inputSize: [6, 6], kernelSize: [3, 3],
                               stride: [1, 1], padding: [1, 1], dilation: [1, 1])
        let free = Kernels.convBatchNormReLURecomputes(Tensor.zeros([1]), geo) ? "conv_batch_norm_relu" : "batch_norm_relu"
        #expect(kinds == ["relu", free, "batch_norm_relu", free])
        monitor.detach()
    }

    /// A ReLU module shared by two BatchNorms (as ResNet's blocks share theirs) runs twice per
    /// forward pass with different shapes: the BatchNorms' own pre-hooks keep counting.
    @Test func aSharedReLUDoesNotCount() {
        final class Shared: Module {
            var conv1 = Conv2d(2, 4, 3, padding: 1, bias: false), bn1 = BatchNorm2d(4)
            var conv2 = Conv2d(4, 4, 3, stride: 2, padding: 1, bias: false), bn2 = BatchNorm2d(4)
            var relu = ReLU()
            override func forward(_ x: Tensor) -> Tensor { relu(bn2(conv2(relu(bn1(conv1(x)))))) }
        }
        let model = Shared()
        let monitor = TrainingMonitor(model: model)
        model.train()
        let g = Generator(seed: 13)
        for _ in 0..<3 {
            let y = model(Tensor.randn([3, 2, 8, 8], generator: g))
            monitor.recordStep(loss: Double(y.mean().item()), epoch: 1)
        }
        withNoGrad { _ = model(Tensor.randn([3, 2, 8, 8], generator: g)) }     // forgot model.eval()
        #expect(monitor.log.batchNorms.map(\.reluPath) == ["relu", "relu"])
        let o = monitor.observations
        #expect(o.smallestBatch.map(\.path) == ["bn1", "bn2"])
        #expect(o.smallestBatch.map(\.values) == [3 * 64, 3 * 16])
        #expect(o.trainingModeWithoutGrad.map(\.calls) == [1, 1])
        monitor.detach()
    }

    /// Attaching the monitor does not change training: the same seed gives bit-identical weights.
    @Test func monitoringLeavesTrainingUnchanged() {
        func run(monitored: Bool) -> [Float] {
            Generator.withDefault(Generator(seed: 10)) {
                let model = Net()
                let monitor = monitored ? TrainingMonitor(model: model) : nil
                let opt = SGD(model.parameters(), lr: 0.05)
                model.train()
                for s in 0..<6 {
                    let (x, y) = batch(16, seed: UInt64(s))
                    let loss = CrossEntropyLoss()(model(x), targets: y)
                    monitor?.recordStep(loss: Double(loss.item()), input: x, epoch: 1)
                    opt.zeroGrad(); loss.backward(); opt.step()
                }
                monitor?.detach()
                return model.stateDict().entries.flatMap { $0.value.dtype == .float32 ? $0.value.scalars : [] }
            }
        }
        #expect(run(monitored: true) == run(monitored: false))
    }

    /// The monitor's TensorBoard output frames and decodes; its log survives a write and read.
    @Test func tensorBoardAndLogFiles() throws {
        let dir = makeTempDirectory("monitor")
        defer { cleanUp(dir) }
        try Generator.withDefault(Generator(seed: 11)) {
            let model = ReLUNet()
            let writer = try SummaryWriter(logDir: dir.appendingPathComponent("tb"))
            let monitor = TrainingMonitor(model: model, tensorBoard: writer)
            train(model, monitor, steps: 2)
            monitor.endEpoch(epochs([(80, 78, 0.6)])[0])
            monitor.finish()
            writer.close()
            let records = try TFRecord.records([UInt8](Data(contentsOf: writer.fileURL)))
            // file version + epoch scalars (6) + 2 running histograms + drift + per sample 4 scalars and 1 histogram.
            #expect(records.count >= 1 + 6 + 3 + 5)
            let text = String(decoding: records.flatMap { $0 }, as: UTF8.self)
            for tag in ["loss/train", "accuracy/val", "lr", "batchnorm/body.1/input", "batchnorm/body.1/running_var", "batchnorm/body.1/dead_relu_fraction"] {
                #expect(text.contains(tag), "missing \(tag)")
            }
            let url = dir.appendingPathComponent("monitor.json")
            try monitor.log.write(to: url)
            #expect(try MonitorLog(contentsOf: url) == monitor.log)
        }
        // Crafted logs are refused with a reason.
        let bad = dir.appendingPathComponent("bad.json")
        try Data(#"{"format":"other","version":1,"model":"x"}"#.utf8).write(to: bad)
        #expect(throws: MonitorLogError.self) { try MonitorLog(contentsOf: bad) }
        try Data("[1, 2".utf8).write(to: bad)
        #expect(throws: MonitorLogError.self) { try MonitorLog(contentsOf: bad) }
    }

    /// TensorBoard itself reads what a monitored run wrote: its record reader (CRCs), its event
    /// multiplexer (every scalar equal to what the monitor logged, a histogram of known values
    /// with its count, min, max and sum) and the real `tensorboard --logdir` server's HTTP API.
    @Test(.enabled(if: TensorBoardPython.path != nil, "needs Python with the tensorboard package (.ci/run installs one; or set TENSORBOARD_PYTHON)"))
    func tensorBoardReadsTheEventFiles() throws {
        let dir = makeTempDirectory("monitor-tensorboard")
        defer { cleanUp(dir) }
        let logDir = dir.appendingPathComponent("run")
        let known: [Double] = [-2.5, -0.25, 0, 0, 1e-13, 0.5, 3, 1e6]
        let monitor: TrainingMonitor = try Generator.withDefault(Generator(seed: 23)) {
            let model = Net()
            let writer = try SummaryWriter(logDir: logDir)
            var config = TrainingMonitor.Configuration()
            config.sampleEvery = 4
            let monitor = TrainingMonitor(model: model, configuration: config, tensorBoard: writer)
            fit(model, monitor, train: dataset(96, seed: 5), val: dataset(48, seed: 6), epochs: 3, batchSize: 16, lr: 0.01)
            try writer.addHistogram("test/known", known, globalStep: 7)
            monitor.finish()
            writer.close()
            return monitor
        }
        #expect(monitor.tensorBoardError == nil)
        // What the monitor says it wrote.
        var scalars: [String: [[Double]]] = [:]
        for e in monitor.log.epochs {
            let step = Double(e.epoch)
            for (tag, v) in [("loss/train", e.trainLoss), ("loss/val", e.valLoss), ("accuracy/train", e.trainAccuracy),
                             ("accuracy/val", e.valAccuracy), ("accuracy/train_minus_val", e.trainAccuracy - e.valAccuracy), ("lr", e.learningRate)] {
                scalars[tag, default: []].append([step, Double(Float(v))])
            }
        }
        for trace in monitor.log.batchNorms {
            for s in trace.samples {
                scalars["batchnorm/\(trace.path)/batch_mean", default: []].append([Double(s.step), Double(Float(s.batchMean))])
                scalars["batchnorm/\(trace.path)/batch_var", default: []].append([Double(s.step), Double(Float(s.batchVar))])
            }
        }
        #expect(monitor.log.batchNorms.map(\.path) == ["blocks.0.bn", "blocks.1.bn"])
        #expect(scalars["batchnorm/blocks.0.bn/batch_mean"]?.count ?? 0 >= 4)
        let expected: [String: Any] = ["scalars": scalars, "histograms": ["test/known": [[7, Double(known.count), known.min()!, known.max()!, known.reduce(0, +)]]]]
        let expectURL = dir.appendingPathComponent("expected.json")
        try JSONSerialization.data(withJSONObject: expected).write(to: expectURL)

        let r = try TensorBoardPython.verify(logDir, ["--expect", expectURL.path, "--serve",
                                                      "--expect-tag", "batchnorm/blocks.0.bn/input", "--expect-tag", "batchnorm/blocks.1.bn/running_var"])
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr.suffix(2000))")
        #expect(r.stdout.contains("--expect: compared \(scalars.count) scalar and 1 histogram tags"), "\(r.stdout)")
        #expect(r.stdout.contains("every tag served"), "\(r.stdout)")
        #expect(r.stdout.contains("OK: TensorBoard reads every record"))
    }

    /// The doctor's findings recorded before training travel with the log into the report.
    @Test func doctorFindingsReachTheReport() {
        let model = Sequential { Linear(8, 4); BatchNorm1d(4); ReLU(); Linear(4, 2) }
        let monitor = TrainingMonitor(model: model)
        monitor.recordDoctor(Doctor.examine(model, purpose: .training, batchSize: 32))
        #expect(monitor.log.doctor.map(\.check) == ["bias-before-batchnorm"])
        let page = TrainingReport.page(log: monitor.log)
        #expect(page.sections[0].findings.contains { $0.source == "doctor" && $0.text.contains("bias of Linear") })
    }
}

/// The report of a real monitored run (a user's model with two BatchNorm blocks, the doctor's
/// findings, the end-of-run diagnosis) in a real browser: every chart draws, no script error.
@Suite(.serialized) struct RealRunReportTests {
    @Test(.enabled(if: Chromium.isAvailable, "needs chromium (installed by .ci/run)"))
    func reportOfARealRunRendersInHeadlessChromium() throws {
        let log: MonitorLog = Generator.withDefault(Generator(seed: 24)) {
            let model = Net(widths: [8, 128, 64], p: [0.1, 0.1])
            var config = TrainingMonitor.Configuration()
            config.sampleEvery = 3
            let monitor = TrainingMonitor(model: model, configuration: config, description: "Net(8 → 128 → 64 → 3)")
            monitor.recordDoctor(Doctor.examine(model, purpose: .training, batchSize: 16))
            fit(model, monitor, train: dataset(48, seed: 1, randomLabels: true), val: dataset(96, seed: 2, randomLabels: true),
                epochs: 8, batchSize: 16, lr: 0.01)
            monitor.finish()
            return monitor.log
        }
        #expect(log.findings.contains { $0.check == "train-val-gap" })
        let page = TrainingReport.page(log: log)
        // Summary, loss/accuracy, schedule/gap, then per BatchNorm: input bands, running statistics, health.
        #expect(page.charts.count == 4 + 2 * 3)
        let dir = makeTempDirectory("real-report")
        defer { cleanUp(dir) }
        let file = dir.appendingPathComponent("report.html")
        try ReportHTML.write(page, to: file)
        let dom = try Chromium.dumpDOM(file)
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        #expect(dom.stdout.contains("charts-drawn:\(page.charts.count)"), "status: \(dom.stdout.suffix(600))")
        #expect(dom.stdout.contains(#"<ul id="report-errors"></ul>"#), "script errors: \(dom.stdout.suffix(1500))")
        #expect(!dom.stderr.contains("Uncaught"), "console: \(dom.stderr.suffix(2000))")
        for text in ["blocks.0.bn", "blocks.1.bn", "the model overfits", "raise Dropout p in"] {
            #expect(dom.stdout.contains(text), "missing \(text)")
        }
    }
}
