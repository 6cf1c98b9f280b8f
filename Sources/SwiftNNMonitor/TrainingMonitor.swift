import Foundation
import TensorCore
import Autograd
import NN
import SwiftNNDoctor

/// Watches a training run from the inside; any training loop can attach it. Per epoch: the
/// train/validation gap, validation-loss oscillation, evaluation passes that forgot `eval()`, the
/// first layer that produced a non-finite value; per BatchNorm layer: the distribution, batch mean
/// and variance of its input, the drift of its running statistics, and the fraction of dead ReLU
/// units after it. At the end it applies the tutorial's diagnosis table to what it saw and says
/// what to change, naming the layer.
///
/// It samples the BatchNorm statistics every ``Configuration/sampleEvery`` training steps instead
/// of measuring every step, so it costs little; between samples its hooks only check a flag.
///
/// ```swift
/// let monitor = TrainingMonitor(model: model)
/// for epoch in 1...epochs {
///     model.train()
///     for (x, y) in loader {
///         let loss = criterion(model(x), targets: y)
///         monitor.recordStep(loss: Double(loss.item()), input: x, epoch: epoch)
///         optimizer.zeroGrad(); loss.backward(); optimizer.step()
///     }
///     // … validation in eval mode …
///     monitor.endEpoch(EpochRecord(epoch: epoch, trainLoss: tl, trainAccuracy: ta, valLoss: vl, valAccuracy: va, learningRate: lr))
/// }
/// for finding in monitor.finish() { print(finding) }
/// // warning [train-val-gap] net.3: train 99.8 % vs val 95.2 % after epoch 9: the model overfits → raise Dropout p in `net.3` from 0.4 towards 0.5
/// ```
public final class TrainingMonitor {
    public struct Configuration: Sendable {
        /// Training steps between two samples of the BatchNorm statistics (the first step of
        /// every epoch is sampled too).
        public var sampleEvery = 25
        /// At most this many values of a layer's input are sorted for its percentiles per sample.
        public var maxValuesPerSample = 4096
        /// Train − validation accuracy (points) from which the end-of-run diagnosis calls it
        /// overfitting (when the gap is still growing, the validation loss has turned up, or the
        /// training accuracy is 99.5 % or more).
        public var gapThreshold = 3.0
        public init() {}
    }

    public let model: Module
    public let configuration: Configuration
    /// Scalars and histograms also go to TensorBoard when set.
    public var tensorBoard: SummaryWriter?
    /// Everything recorded so far (`swiftnn train` writes it to `monitor.json`).
    public private(set) var log: MonitorLog
    /// Writing to TensorBoard failed (the run goes on; the first error is kept).
    public private(set) var tensorBoardError: TensorBoardError?

    private var probes: [BatchNormProbe] = []
    private(set) var step = 0
    private var firstPass: DataTrace?
    private var dropoutHandles: [RemovableHandle] = []
    private var dropoutWithoutGrad: [ObjectIdentifier: (path: String, calls: Int)] = [:]
    private var dropoutUses: [RunObservations.DropoutUse] = []
    private var frozenProducers: [String: String] = [:]
    private var reported = Set<String>()

    /// Attaches to `model`: hooks on every BatchNorm and Dropout layer, and, for the first forward
    /// pass only, on every module (to learn which ReLU follows which BatchNorm and what feeds it).
    ///
    /// To continue a resumed run's record, pass its log as `continuing`, the epochs completed and
    /// the training steps done so far; what the old log holds beyond them is dropped.
    public init(model: Module, configuration: Configuration = Configuration(), description: String? = nil, tensorBoard: SummaryWriter? = nil,
                continuing previous: MonitorLog? = nil, completedEpochs: Int = 0, startStep: Int = 0) {
        self.model = model
        self.configuration = configuration
        self.tensorBoard = tensorBoard
        log = MonitorLog(model: description ?? model.typeName)
        step = startStep
        let lastEpoch = completedEpochs
        if let previous {
            log.epochs = previous.epochs.filter { $0.epoch <= lastEpoch }
            log.doctor = previous.doctor
        }
        for (path, m) in model.namedModules() {
            if let bn = m as? BatchNormBase {
                let probe = BatchNormProbe(path: path, bn: bn, maxValues: configuration.maxValuesPerSample)
                if let old = previous?.batchNorms.first(where: { $0.path == path && $0.kind == bn.typeName }) {
                    probe.trace.samples = old.samples.filter { $0.step <= startStep }
                    probe.trace.epochDrift = old.epochDrift.filter { $0.epoch <= lastEpoch }
                }
                probes.append(probe)
            }
            if m is DropoutLayer {
                dropoutHandles.append(m.registerForwardPreHook { [unowned self] module, _ in
                    guard module.isTraining, !GradMode.isEnabled, ((module as? DropoutLayer)?.p ?? 0) > 0 else { return }
                    self.dropoutWithoutGrad[ObjectIdentifier(module), default: (path, 0)].calls += 1
                })
            }
        }
        log.batchNorms = probes.map(\.trace)
        firstPass = DataTrace(attachingTo: model)
        for p in probes { p.armed = true }
    }

    deinit { detach() }

    /// Removes every hook; the log stays.
    public func detach() {
        for p in probes { p.detach() }
        for h in dropoutHandles { h.remove() }
        dropoutHandles = []
        firstPass?.stop()
        firstPass = nil
    }

    /// What the doctor found before training, kept for the report.
    public func recordDoctor(_ diagnoses: [Diagnosis]) {
        log.doctor = diagnoses.map {
            MonitorFinding(severity: $0.severity.description, check: $0.check.rawValue, path: $0.path, message: $0.message, advice: $0.fix)
        }
    }

    /// Records one training step: call it once per step after the loss is known, preferably
    /// before `optimizer.step()` — then a non-finite loss is traced to the first layer that
    /// produced a non-finite value on the same weights (`input` is the step's batch).
    public func recordStep(loss: Double, input: Tensor? = nil, epoch: Int) {
        step += 1
        if let trace = firstPass {
            trace.stop()
            learnStructure(trace)
            firstPass = nil
        }
        for p in probes {
            if var s = p.takeSample() {
                s.step = step
                s.epoch = epoch
                p.trace.samples.append(s)
                writeSample(p, s)
            }
            p.armed = false
        }
        log.batchNorms = probes.map(\.trace)
        if !loss.isFinite && log.nonFinite == nil {
            var stage = "loss", layer = "loss", kind = "loss"
            if let input {
                if !NonFiniteLocator.isFinite(input) {
                    (stage, layer, kind) = ("input", "input", "batch")
                } else if let location = NonFiniteLocator.locate(model, input: input) {
                    (stage, layer, kind) = ("output", location.path.isEmpty ? "model" : location.path, location.kind)
                }
            }
            log.nonFinite = NonFiniteRecord(epoch: epoch, step: step, layer: layer, kind: kind, stage: stage)
        }
        if (step + 1) % configuration.sampleEvery == 0 {
            for p in probes { p.armed = true }
        }
    }

    /// Ends an epoch: records its results (after validation), closes the running-statistics drift
    /// of each BatchNorm, writes TensorBoard scalars and histograms, and returns what is new and
    /// worth saying now (an evaluation that forgot `eval()`, validation loss jumping, non-finite values).
    @discardableResult
    public func endEpoch(_ record: EpochRecord) -> [MonitorFinding] {
        log.epochs.append(record)
        for p in probes {
            _ = p.closeEpoch(record.epoch)
            p.armed = true          // the next epoch's first step is sampled
        }
        log.batchNorms = probes.map(\.trace)
        writeEpoch(record)
        let now = DiagnosisTable.apply(observations, gapThreshold: configuration.gapThreshold)
            .filter { ["eval-forgotten", "val-loss-oscillation", "non-finite"].contains($0.check) }
        var fresh: [MonitorFinding] = []
        for var f in now where reported.insert(f.check).inserted {
            f.epoch = f.epoch ?? record.epoch
            fresh.append(f)
        }
        return fresh
    }

    /// Applies the diagnosis table to the whole run and stores the findings in the log.
    @discardableResult
    public func finish() -> [MonitorFinding] {
        log.findings = DiagnosisTable.apply(observations, gapThreshold: configuration.gapThreshold)
        tensorBoard?.flush()
        return log.findings
    }

    var observations: RunObservations {
        var o = RunObservations()
        o.epochs = log.epochs
        o.dropouts = dropoutUses
        o.trainingModeWithoutGrad = probes.filter { $0.trainingModeWithoutGrad > 0 }.map { ($0.path, $0.trainingModeWithoutGrad) }
            + dropoutWithoutGrad.values.sorted { $0.path < $1.path }.map { ($0.path, $0.calls) }
        o.nonFinite = log.nonFinite
        o.smallestBatch = probes.filter { $0.smallestBatch < Int.max }.map { ($0.path, $0.smallestBatch) }
        o.frozenProducers = frozenProducers
        o.drift = Dictionary(probes.map { ($0.path, $0.trace.epochDrift) }, uniquingKeysWith: { a, _ in a })
        o.deadReLU = probes.compactMap { p in
            guard let relu = p.reluPath, let d = p.trace.samples.last(where: { $0.deadReLU != nil })?.deadReLU else { return nil }
            return (p.path, relu, d)
        }
        return o
    }

    /// From the first forward pass: the ReLU after each BatchNorm, the Linear/convolution feeding
    /// it (frozen or not), and each Dropout's width.
    private func learnStructure(_ trace: DataTrace) {
        for call in trace.calls where call.isAtomic {
            if let d = call.module as? DropoutLayer, !dropoutUses.contains(where: { $0.path == call.path }), call.input.rank >= 2 {
                let channelwise = d.variant != .dropout || call.input.rank >= 4
                dropoutUses.append(.init(path: call.path, p: d.p, width: channelwise ? call.input.shape[1] : call.input.shape.last!, channelwise: channelwise))
            }
            guard let probe = probes.first(where: { $0.bn === call.module }) else { continue }
            if probe.reluPath == nil,
               let relu = trace.consumers(of: call.index, through: DataTrace.throughElementwise).map({ trace.calls[$0] }).first(where: { $0.module is ReLU }) {
                // The trace may hold more than one forward pass: a ReLU that counts for this layer
                // runs exactly as often as the layer does.
                func calls(_ m: Module) -> Int { trace.calls.filter { $0.isAtomic && $0.module === m }.count }
                probe.attachReLU(relu.module, path: relu.path, countsCalls: calls(relu.module) == calls(probe.bn))
            }
            let (_, source) = trace.origin(of: call.input, consumedBy: call.index, through: DataTrace.throughElementwise)
            if case .module(let producer)? = source, producer.module is Linear || producer.module is ConvNd,
               !producer.module.parameters().isEmpty, producer.module.parameters().allSatisfy({ !$0.requiresGrad }) {
                frozenProducers[probe.path] = producer.path
            }
        }
        // The first step was sampled before the ReLU hooks existed: measure its ReLUs from the trace.
        for p in probes where p.pending != nil {
            if let reluPath = p.reluPath, let call = trace.calls.first(where: { $0.path == reluPath && $0.isAtomic }), let out = call.output {
                p.pending?.deadReLU = BatchNormProbe.deadFraction(out)
            }
        }
    }

    private func writeSample(_ p: BatchNormProbe, _ s: BatchNormSample) {
        guard let tb = tensorBoard else { return }
        do {
            let tag = "batchnorm/\(p.path)"
            try tb.addScalar("\(tag)/batch_mean", s.batchMean, globalStep: s.step)
            try tb.addScalar("\(tag)/batch_var", s.batchVar, globalStep: s.step)
            if let d = s.drift { try tb.addScalar("\(tag)/running_vs_batch", d, globalStep: s.step) }
            if let d = s.deadReLU { try tb.addScalar("\(tag)/dead_relu_fraction", d, globalStep: s.step) }
            try tb.addHistogram("\(tag)/input", p.pooledValues, globalStep: s.step)
        } catch {
            tensorBoardError = tensorBoardError ?? error
        }
    }

    private func writeEpoch(_ r: EpochRecord) {
        guard let tb = tensorBoard else { return }
        do {
            try tb.addScalar("loss/train", r.trainLoss, globalStep: r.epoch)
            try tb.addScalar("loss/val", r.valLoss, globalStep: r.epoch)
            try tb.addScalar("accuracy/train", r.trainAccuracy, globalStep: r.epoch)
            try tb.addScalar("accuracy/val", r.valAccuracy, globalStep: r.epoch)
            try tb.addScalar("accuracy/train_minus_val", r.trainAccuracy - r.valAccuracy, globalStep: r.epoch)
            try tb.addScalar("lr", r.learningRate, globalStep: r.epoch)
            for p in probes {
                guard let stats = p.runningStatistics else { continue }
                try tb.addHistogram("batchnorm/\(p.path)/running_mean", stats.mean, globalStep: r.epoch)
                try tb.addHistogram("batchnorm/\(p.path)/running_var", stats.variance, globalStep: r.epoch)
                if let d = p.trace.epochDrift.last { try tb.addScalar("batchnorm/\(p.path)/running_mean_drift", d.meanShift, globalStep: r.epoch) }
            }
        } catch {
            tensorBoardError = tensorBoardError ?? error
        }
    }
}
