import Foundation
import SwiftNN
import SwiftNNDoctor

/// Everything `swiftnn train` can be told. Defaults are the tutorial's recipe.
struct TrainOptions {
    var model = ModelKind.mlp
    var dataDirectory: URL? = nil
    var epochs = 15
    var seed: UInt64 = 42
    /// Output folder; by default `runs/<model>`.
    var outDirectory: URL {
        get { chosenOutDirectory ?? URL(fileURLWithPath: "runs/\(model.rawValue)") }
        set { chosenOutDirectory = newValue }
    }
    private var chosenOutDirectory: URL? = nil
    var resume = false
    var batchSize = 128
    /// nil: the recipe's 1e-3, or with `resume` the interrupted run's value (a value given replaces it).
    var learningRate: Double? = nil
    /// nil: the recipe's 1e-4, or with `resume` the interrupted run's value (a value given replaces it).
    var weightDecay: Double? = nil
    var labelSmoothing = 0.1
    /// nil: the model's recipe (``ModelKind/defaultDropout``).
    var dropout: Double? = nil
    var hiddenDims = [512, 256, 128]
    /// ResNet-18's base width (`--width`); nil: torchvision's 64.
    var width: Int? = nil
    /// Use only the first N training / test examples (quick runs, tests).
    var trainLimit: Int? = nil
    var testLimit: Int? = nil
    /// Stop after this epoch as if interrupted (the training checkpoint lets `--resume` continue).
    var stopAfter: Int? = nil
    /// Progress bar: nil = only on a terminal.
    var interactive: Bool? = nil
    /// Print nothing (tests).
    var quiet = false
    /// Data-parallel training over the processes mpirun started (`--distributed`): `batchSize`
    /// is per process.
    var distributed = false
    /// With `distributed`: BatchNorm statistics over the global batch (SyncBatchNorm).
    var syncBatchNorm = true
    /// With `distributed`: gradient all-reduces overlap the backward pass.
    var overlapCommunication = true
    /// The doctor before training and the training monitor during it (monitor.json, report.html).
    var monitor = true
    /// TensorBoard event files: into this folder, by default `<out>/tensorboard`; nil with `tensorBoard` false.
    var tensorBoard = true
    var tensorBoardDirectory: URL? = nil

    func validate() throws {
        guard epochs >= 1 else { throw CLIError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 2 else { throw CLIError("--batch-size must be at least 2 (BatchNorm cannot train on one example), got \(batchSize)") }
        if let lr = learningRate, !(lr > 0 && lr.isFinite) { throw CLIError("--lr must be a positive number, got \(lr)") }
        if let wd = weightDecay, !(wd >= 0 && wd.isFinite) { throw CLIError("--weight-decay must be a finite, non-negative number, got \(wd)") }
        guard (0..<1).contains(labelSmoothing) else { throw CLIError("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        if let k = stopAfter, k < 1 { throw CLIError("--stop-after must be at least 1, got \(k)") }
        if let p = dropout, !(0..<1).contains(p) { throw CLIError("--dropout must be in [0, 1), got \(p)") }
        if dropout != nil && !model.hasDropout { throw CLIError("--dropout does not apply to \(model.rawValue), which has no dropout layers") }
        if let w = width {
            guard model == .resnet18 else { throw CLIError("--width does not apply to \(model.rawValue) (it sets resnet18's base width)") }
            guard (1...ModelSpec.maxWidth).contains(w) else { throw CLIError("--width must be in 1...\(ModelSpec.maxWidth), got \(w)") }
        }
        if !distributed && !syncBatchNorm { throw CLIError("--no-sync-bn only applies to --distributed training") }
    }

    static let defaultLearningRate = 1e-3
    static let defaultWeightDecay = 1e-4
}

/// One epoch's results, as written to metrics.csv / metrics.json.
struct EpochMetrics: Codable, Equatable {
    var epoch: Int
    var trainLoss: Double
    var trainAccuracy: Double
    var valLoss: Double
    var valAccuracy: Double
    var learningRate: Double
    var seconds: Double
    var samplesPerSecond: Double

    // JSON has no NaN or infinity: a non-finite value is written as null (and read back as NaN),
    // so metrics.json and the checkpoint's history stay valid JSON whatever a run produced.
    private enum CodingKeys: String, CodingKey {
        case epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate, seconds, samplesPerSecond
    }

    init(epoch: Int, trainLoss: Double, trainAccuracy: Double, valLoss: Double, valAccuracy: Double,
         learningRate: Double, seconds: Double, samplesPerSecond: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.valLoss = valLoss
        self.valAccuracy = valAccuracy
        self.learningRate = learningRate
        self.seconds = seconds
        self.samplesPerSecond = samplesPerSecond
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ k: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: k) ?? .nan }
        epoch = try c.decode(Int.self, forKey: .epoch)
        trainLoss = try number(.trainLoss)
        trainAccuracy = try number(.trainAccuracy)
        valLoss = try number(.valLoss)
        valAccuracy = try number(.valAccuracy)
        learningRate = try number(.learningRate)
        seconds = try number(.seconds)
        samplesPerSecond = try number(.samplesPerSecond)
    }

    func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        func put(_ v: Double, _ k: CodingKeys) throws {
            if v.isFinite { try c.encode(v, forKey: k) } else { try c.encodeNil(forKey: k) }
        }
        try c.encode(epoch, forKey: .epoch)
        try put(trainLoss, .trainLoss)
        try put(trainAccuracy, .trainAccuracy)
        try put(valLoss, .valLoss)
        try put(valAccuracy, .valAccuracy)
        try put(learningRate, .learningRate)
        try put(seconds, .seconds)
        try put(samplesPerSecond, .samplesPerSecond)
    }
}

/// Loss, accuracy and confusion matrix of a model on a data set.
struct Evaluation {
    var loss: Double
    var accuracy: Double      // percent
    /// [true class][predicted class]: one row per class of the data, one column per model output.
    var confusion: [[Int]]
    var count: Int
}

/// Counts correct argmax predictions of `logits` [N, C] against `labels` [N]; fills `confusion` when given.
func countCorrect(_ logits: Tensor, _ labels: Tensor, confusion: inout [[Int]]?) -> Int {
    let n = logits.shape[0], c = logits.shape[1]
    let lp = logits.pointer(as: Float.self), yp = labels.pointer(as: Int64.self)
    var correct = 0
    withExtendedLifetime((logits, labels)) {
        for i in 0..<n {
            let row = lp + i * c
            var best = 0
            var bestValue = row[0]
            // NaN never wins, like torch.argmax would report the NaN itself: a NaN row counts as wrong.
            for j in 1..<c where row[j] > bestValue { best = j; bestValue = row[j] }
            let y = Int(yp[i])
            if best == y && !bestValue.isNaN { correct += 1 }
            if confusion != nil, y >= 0, y < confusion!.count { confusion![y][best] += 1 }
        }
    }
    return correct
}

/// Runs the model over `loader` in eval mode without recording gradients. `classes` is the model's
/// number of outputs, `dataClasses` the number of label values of the data (the confusion matrix's
/// rows): the matrix is `dataClasses × classes`, never larger than the data can fill.
func evaluate(_ model: Module, loader: DataLoader, criterion: CrossEntropyLoss, classes: Int, dataClasses: Int) -> Evaluation {
    model.eval()
    var total = 0.0, correct = 0, seen = 0
    var confusion: [[Int]]? = Array(repeating: Array(repeating: 0, count: classes), count: dataClasses)
    withNoGrad {
        for (x, y) in loader {
            let out = model(x)
            let loss = criterion(out, targets: y)
            let n = y.count
            total += Double(loss.item()) * Double(n)
            correct += countCorrect(out, y, confusion: &confusion)
            seen += n
        }
    }
    return Evaluation(loss: seen > 0 ? total / Double(seen) : .nan,
                      accuracy: seen > 0 ? 100 * Double(correct) / Double(seen) : .nan,
                      confusion: confusion!, count: seen)
}

/// The training run behind `swiftnn train`: the tutorial's loop with a best-model checkpoint,
/// metrics files, and a full training checkpoint after every epoch for `--resume`.
///
/// The run folder is locked for the whole run (a second `swiftnn train` into it is refused), every
/// step's loss is checked (a diverging run stops with the place it went non-finite, keeping the
/// last good epoch's checkpoint), and a resumed checkpoint is checked against the model and the
/// recipe before training goes on.
final class Trainer {
    let options: TrainOptions
    let data: TrainingData
    let spec: ModelSpec
    let model: Module
    let criterion: CrossEntropyLoss
    let optimizer: AdamW
    private(set) var scheduler: CosineAnnealingLR
    let trainLoader: DataLoader
    let testLoader: DataLoader
    /// Held from construction to the end of the process: the run folder is this run's (rank 0's
    /// in a distributed run, the only one that writes).
    let lock: RunLock?
    /// The processes training together (`--distributed`), nil for a plain run.
    let group: (any ProcessGroup)?
    /// This process's share of the training data in a distributed run.
    let sampler: DistributedSampler?
    /// What runs forward in training: the model, or its DistributedDataParallel wrapper.
    var trainModel: Module
    /// Rank 0 (or the only process) prints, evaluates and writes files.
    var isLeader: Bool { (group?.rank ?? 0) == 0 }
    /// Distributed: time spent training and, of it, inside MPI (the end-of-run summary).
    var communicationLog = CommunicationLog()
    private(set) var history: [EpochMetrics] = []
    private(set) var bestAccuracy = -1.0
    private(set) var startEpoch = 1
    /// What `--resume` changed (learning rate, weight decay), for the log.
    private(set) var resumeNote = ""
    /// The doctor, the training monitor, TensorBoard and the report (unless `--no-monitor`).
    private(set) var observer: RunObserver?

    var bestURL: URL { options.outDirectory.appendingPathComponent("best.safetensors") }
    var lastURL: URL { options.outDirectory.appendingPathComponent("last.safetensors") }
    var csvURL: URL { options.outDirectory.appendingPathComponent("metrics.csv") }
    var jsonURL: URL { options.outDirectory.appendingPathComponent("metrics.json") }

    /// The learning rate and weight decay the run starts from (a resumed run may replace them).
    var learningRate: Double { options.learningRate ?? TrainOptions.defaultLearningRate }
    var weightDecay: Double { options.weightDecay ?? TrainOptions.defaultWeightDecay }

    init(options: TrainOptions, group: (any ProcessGroup)? = nil) throws {
        try options.validate()
        self.options = options
        self.group = group
        data = try TrainingData.load(directory: options.dataDirectory, trainLimit: options.trainLimit, testLimit: options.testLimit)
        spec = ModelSpec(model: options.model, inputShape: data.train.exampleShape, numClasses: data.train.classCount,
                         hiddenDims: options.hiddenDims, dropout: options.dropout ?? options.model.defaultDropout, width: options.width,
                         mean: data.mean, std: data.std)
        if (group?.rank ?? 0) == 0 {
            try Trainer.createOutDirectory(options.outDirectory)
            lock = try RunLock(directory: options.outDirectory)
            // Temporary files of checkpoint writes killed mid-way (their process is gone).
            Safetensors.removeStaleTemporaryFiles(in: options.outDirectory)
        } else {
            lock = nil
        }
        // torch.manual_seed(seed): initial weights and dropout masks come from the default generator.
        Tensor.manualSeed(options.seed)
        model = try spec.build()
        trainModel = model
        criterion = CrossEntropyLoss(labelSmoothing: options.labelSmoothing)
        optimizer = AdamW(model.parameters(), lr: options.learningRate ?? TrainOptions.defaultLearningRate,
                          weightDecay: options.weightDecay ?? TrainOptions.defaultWeightDecay)
        scheduler = CosineAnnealingLR(optimizer, tMax: options.epochs)
        if let group {
            sampler = DistributedSampler(data.train, numReplicas: group.worldSize, rank: group.rank, seed: options.seed &+ 0x5EED)
            trainLoader = DataLoader(data.train, batchSize: options.batchSize, generator: Generator(seed: options.seed &+ 0x5EED),
                                     transforms: spec.transforms, sampler: sampler)
        } else {
            sampler = nil
            trainLoader = DataLoader(data.train, batchSize: options.batchSize, shuffle: true,
                                     generator: Generator(seed: options.seed &+ 0x5EED), transforms: spec.transforms)
        }
        // Validation in training-sized batches: its activations have the training step's sizes, so
        // they reuse the blocks the storage cache keeps instead of faulting in fresh pages (batches of
        // 1000 made page clearing 3 % of a SmallCNN epoch). Eval-mode outputs do not depend on batching.
        testLoader = DataLoader(data.test, batchSize: options.batchSize, shuffle: false, transforms: spec.transforms, lastBatchOfOne: .keep)
        if let group { try prepareDistributed(group) }
        if options.resume { try restore() }
        if let group { try wrapDistributed(group) }
    }

    // MARK: Output

    func log(_ line: String) { if !options.quiet && isLeader { say(line) } }

    static func epochLine(_ m: EpochMetrics, of epochs: Int) -> String {
        let e = String(format: "%2d", m.epoch)
        return "Epoch \(e)/\(epochs) | Train loss/acc \(String(format: "%.4f", m.trainLoss))/\(String(format: "%.2f", m.trainAccuracy))%"
            + " | Val loss/acc \(String(format: "%.4f", m.valLoss))/\(String(format: "%.2f", m.valAccuracy))%"
    }

    // MARK: Loop

    /// Trains from `startEpoch` to the last epoch (or `stopAfter`); returns the history of all epochs.
    @discardableResult
    func run() throws -> [EpochMetrics] {
        if startEpoch == 1 {
            log("Training \(spec.pytorchName) on \(data.source): \(data.train.count) training, \(data.test.count) test examples, "
                + "\(model.parameterCount) parameters, batch \(batchDescription), \(options.epochs) epoch\(options.epochs == 1 ? "" : "s"), seed \(options.seed)")
        } else {
            log("Resuming \(spec.pytorchName) from \(lastURL.path) at epoch \(startEpoch)/\(options.epochs)\(resumeNote)")
        }
        if options.monitor && isLeader {
            observer = try RunObserver(model: model, description: spec.pytorchName, runDirectory: options.outDirectory,
                                       tensorBoard: options.tensorBoard ? (options.tensorBoardDirectory ?? options.outDirectory.appendingPathComponent("tensorboard")) : nil,
                                       completedEpochs: startEpoch - 1, completedSteps: (startEpoch - 1) * trainLoader.count,
                                       say: { [options] line in if !options.quiet { say(line) } })
            if startEpoch == 1 { observer?.examine(model, inputShape: doctorInputShape, batchSize: batchNormBatchSize) }
        } else if options.monitor && startEpoch == 1 && group != nil {
            // The doctor's training-mode pass runs SyncBatchNorm's collectives on rank 0: the
            // other ranks take part with the same pass (its findings are rank 0's to print).
            _ = Doctor.examine(model, inputShape: doctorInputShape, purpose: .training, batchSize: batchNormBatchSize)
        }
        let runStart = DispatchTime.now()
        let lastEpoch = min(options.epochs, options.stopAfter ?? options.epochs)
        if startEpoch > lastEpoch { log("Nothing to do: the run already finished \(startEpoch - 1) epochs") }
        var epoch = startEpoch
        while epoch <= lastEpoch {
            let m: EpochMetrics
            do { m = try trainEpoch(epoch) } catch {
                // The metrics files then hold the completed epochs (valid JSON, even if none), the
                // report what the monitor saw up to the failure (rank 0 alone writes).
                if isLeader { try? writeMetrics() }
                try? observer?.finish(printing: false)
                throw error
            }
            history.append(m)
            log(Trainer.epochLine(m, of: options.epochs))
            // Every rank holds the same metrics, so every rank takes the same decisions.
            let improved = m.valAccuracy > bestAccuracy
            if improved { bestAccuracy = m.valAccuracy }
            let generatorStates = try gatherGeneratorStates()
            if isLeader {
                if improved { try saveBest() }
                try writeMetrics()
                try saveTrainingCheckpoint(epoch: epoch, otherRanksGenerators: generatorStates)
            }
            try observer?.endEpoch(m)
            // The others wait here while rank 0 writes (a failed write takes the job down).
            try group?.barrier()
            epoch += 1
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart.uptimeNanoseconds) / 1e9
        if let last = history.last, !options.quiet {
            log("Best val accuracy \(String(format: "%.2f", bestAccuracy))% | final val accuracy \(String(format: "%.2f", last.valAccuracy))%"
                + " | \(String(format: "%.1f", seconds)) s | saved \(bestURL.path)")
            if group != nil { log(distributedSummary(seconds: seconds)) }
        }
        try observer?.finish()
        return history
    }

    /// One epoch of training followed by validation on the test split. Throws when the loss, the
    /// weights or the validation results stop being finite (nothing of that epoch is saved).
    func trainEpoch(_ epoch: Int) throws -> EpochMetrics {
        let start = DispatchTime.now()
        let lr = optimizer.paramGroups[0].lr
        trainModel.train()
        // PyTorch's convention: epochs count from 0 for the sampler's shuffling seed.
        sampler?.setEpoch(epoch - 1)
        // No progress bar under mpirun (its output is forwarded, not a terminal of its own).
        let bar = ProgressBar(total: trainLoader.count, label: "Epoch \(String(format: "%2d", epoch))/\(options.epochs)",
                              interactive: options.quiet || group != nil ? false : (options.interactive ?? ProgressBar.stdoutIsTerminal))
        var lossSum = 0.0, correct = 0, seen = 0, step = 0
        var noConfusion: [[Int]]? = nil
        let communicationBefore = MPIProcessGroup.secondsInCommunication
        for (x, y) in trainLoader {
            step += 1
            optimizer.zeroGrad()
            let out = trainModel(x)
            let loss = criterion(out, targets: y)
            let value = Double(loss.item())
            observer?.step(loss: value, input: x, epoch: epoch)
            // Checked before the update: a non-finite loss would spread NaN into every weight.
            guard value.isFinite else {
                bar.clear()
                throw divergence(epoch: epoch, step: step, what: "the training loss is \(describeValue(value))", batch: x)
            }
            loss.backward()
            optimizer.step()
            let n = y.count
            lossSum += value * Double(n)
            correct += countCorrect(out, y, confusion: &noConfusion)
            seen += n
            bar.update(step: step, loss: lossSum / Double(seen), samples: seen)
        }
        let trainSeconds = bar.elapsed
        bar.clear()
        communicationLog.add(training: trainSeconds, communication: MPIProcessGroup.secondsInCommunication - communicationBefore)
        // The last step's update is not followed by a loss that would show it.
        if let (key, v) = firstNonFiniteState(model) {
            throw divergence(epoch: epoch, step: step, what: "the update made \(key) \(describeValue(Double(v)))", batch: nil)
        }
        scheduler.step()
        // Distributed: the epoch's totals over all ranks.
        (lossSum, correct, seen) = try globalTotals(lossSum, correct, seen)
        // Plain cross-entropy, as `swiftnn evaluate` reports it: label smoothing is part of the
        // training objective, not of the measure, and a checkpoint must evaluate to the numbers
        // its epoch logged. Distributed: rank 0 evaluates and tells the others.
        let val = try sharedValidation {
            evaluate(model, loader: testLoader, criterion: CrossEntropyLoss(), classes: spec.numClasses, dataClasses: data.test.classCount)
        }
        guard val.loss.isFinite else {
            throw divergence(epoch: epoch, step: step, what: "the validation loss is \(describeValue(val.loss))", batch: testLoader.collate(Array(0..<min(data.test.count, 1000))).inputs, training: false)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: 100 * Double(correct) / Double(max(seen, 1)),
                            valLoss: val.loss, valAccuracy: val.accuracy, learningRate: lr, seconds: seconds,
                            samplesPerSecond: trainSeconds > 0 ? Double(seen) / trainSeconds : 0)
    }

    /// The error that stops a diverged run: where it happened, which layer first produced a
    /// non-finite output on the offending batch, and what was kept.
    private func divergence(epoch: Int, step: Int, what: String, batch: Tensor?, training: Bool = true) -> CLIError {
        var text = "training diverged in epoch \(epoch), step \(step)/\(trainLoader.count): \(what)"
        if let batch {
            if training { model.train() } else { model.eval() }
            text += "; " + locateNonFinite(model, input: batch).description
        }
        if startEpoch < epoch || !history.isEmpty || FileManager.default.fileExists(atPath: lastURL.path) {
            text += ". Stopped; \(lastURL.path) keeps epoch \(epoch - 1)"
                + " — continue it with a smaller --lr (or --weight-decay): swiftnn train --resume \(options.outDirectory.path) --lr <value>"
        } else {
            text += ". Stopped before any epoch completed (nothing saved); run again with a smaller --lr"
        }
        return CLIError(text)
    }

    // MARK: Files

    static func createOutDirectory(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw CLIError("cannot create output folder \(url.path): \(error.localizedDescription)")
        }
    }

    /// The weights alone, with the architecture in the metadata: loads with strict=True into the
    /// tutorial's model in PyTorch, and `swiftnn evaluate` needs no flags.
    func saveBest() throws {
        // Never a non-finite model as the best one (trainEpoch has checked; this guards the file).
        if let (key, v) = firstNonFiniteState(model) { throw CLIError("not saving \(bestURL.path): \(key) holds \(describeValue(Double(v)))") }
        var meta = spec.metadata
        meta["epoch"] = String(history.last?.epoch ?? 0)
        meta["val_accuracy"] = String(format: "%.4f", bestAccuracy)
        do { try model.save(to: bestURL, metadata: meta) } catch { throw CLIError("cannot save \(bestURL.path): \(error)") }
    }

    /// Generators whose state the run depends on: dropout masks (default) and shuffling (loader).
    var generators: [String: Generator] { [defaultGeneratorName: .default, "loader": trainLoader.generator] }

    /// The full training state after `epoch`, written atomically to last.safetensors.
    func saveTrainingCheckpoint(epoch: Int, otherRanksGenerators: [String: Generator] = [:]) throws {
        let historyJSON = String(decoding: try JSONEncoder.sorted.encode(history), as: UTF8.self)
        let ckpt = TrainingCheckpoint(model: model, optimizer: optimizer, scheduler: scheduler,
                                      generators: generators.merging(otherRanksGenerators) { a, _ in a },
                                      epoch: epoch, bestMetric: bestAccuracy, architecture: spec.json,
                                      userMetadata: ["history": historyJSON, "options": optionsFingerprint])
        do { try ckpt.save(to: lastURL) } catch { throw CLIError("cannot save \(lastURL.path): \(error)") }
    }

    /// The options that must not change when resuming (they shape the schedule, data or model).
    /// The learning rate and weight decay may change (e.g. after a divergence): they are not in it.
    var optionsFingerprint: String {
        "model=\(options.model.rawValue) epochs=\(options.epochs) batch=\(options.batchSize) "
            + "seed=\(options.seed) train=\(data.train.count) data=\(data.source)" + distributedFingerprint
    }

    /// Loads last.safetensors into the freshly built run, after checking the whole restored state
    /// against the model and the recipe; every problem is one error naming the entry.
    private func restore() throws {
        let source = lastURL.path
        guard FileManager.default.fileExists(atPath: source) else {
            throw CLIError("nothing to resume: \(source) does not exist (train without --resume first)")
        }
        let ckpt: TrainingCheckpoint
        do { ckpt = try TrainingCheckpoint(contentsOf: lastURL) } catch { throw CLIError("\(source): \(error)") }
        if let arch = ckpt.architecture, arch != spec.json {
            throw CLIError("\(source) holds a different model (\(arch)); use the same flags as the interrupted run")
        }
        if let saved = ckpt.userMetadata["options"], Trainer.withoutTunables(saved) != optionsFingerprint {
            throw CLIError("\(source) was trained with different settings (\(saved)); use the same flags as the interrupted run")
        }
        guard (1...options.epochs).contains(ckpt.epoch) else {
            throw CLIError("\(source): metadata 'epoch' is \(ckpt.epoch), outside the run's 1...\(options.epochs) epochs")
        }
        // History: one entry per completed epoch, numbered 1...epoch (metrics.csv is rebuilt from it).
        guard let h = ckpt.userMetadata["history"] else { throw CLIError("\(source): metadata 'user.history' is missing") }
        let saved: [EpochMetrics]
        do { saved = try JSONDecoder().decode([EpochMetrics].self, from: Foundation.Data(h.utf8)) } catch {
            throw CLIError("\(source): metadata 'user.history' is not a list of epoch metrics")
        }
        guard saved.map(\.epoch) == Array(1...ckpt.epoch) else {
            throw CLIError("\(source): metadata 'user.history' lists epochs \(saved.map(\.epoch)), expected 1...\(ckpt.epoch)")
        }
        if let bad = saved.first(where: { !($0.valAccuracy >= 0 && $0.valAccuracy <= 100 && $0.trainLoss.isFinite && $0.valLoss.isFinite) }) {
            throw CLIError("\(source): metadata 'user.history' epoch \(bad.epoch) holds invalid values")
        }
        // The best metric is the best validation accuracy of the history.
        guard let best = ckpt.bestMetric else { throw CLIError("\(source): metadata 'best_metric' is missing") }
        guard best.isFinite, (0...100).contains(best) else {
            throw CLIError("\(source): metadata 'best_metric' must be an accuracy in 0...100, got \(best)")
        }
        guard best == saved.map(\.valAccuracy).max() else {
            throw CLIError("\(source): metadata 'best_metric' \(best) is not the best validation accuracy of its history")
        }
        do { try ckpt.restore(into: model, optimizer: optimizer, scheduler: scheduler, generators: generators) } catch {
            throw CLIError("\(source): \(error)")
        }
        if let (key, v) = firstNonFiniteState(model) {
            throw CLIError("\(source): model.\(key) holds \(describeValue(Double(v))); the saved run had diverged")
        }
        try checkRestoredRecipe(epoch: ckpt.epoch, source: source)
        history = saved
        bestAccuracy = best
        startEpoch = ckpt.epoch + 1
    }

    /// The restored optimizer and scheduler must be this recipe's AdamW and cosine schedule at the
    /// checkpoint's epoch; a learning rate or weight decay given on the command line replaces the
    /// saved one from here on.
    private func checkRestoredRecipe(epoch: Int, source: String) throws {
        guard optimizer.paramGroups.count == 1 else { throw CLIError("\(source): expected one parameter group") }
        let g = optimizer.paramGroups[0]
        let fixed: [(String, Double)] = [("beta1", 0.9), ("beta2", 0.999), ("eps", 1e-8), ("amsgrad", 0), ("maximize", 0)]
        for (k, v) in fixed where g[k] != v {
            throw CLIError("\(source): optimizer option '\(k)' is \(g[k].map { "\($0)" } ?? "missing"), but the recipe's AdamW uses \(v)")
        }
        guard let initial = g["initial_lr"], initial > 0 else { throw CLIError("\(source): optimizer option 'initial_lr' is missing or not positive") }
        guard g.weightDecay.isFinite else { throw CLIError("\(source): optimizer option 'weight_decay' is not finite") }
        guard scheduler.lastEpoch == epoch else {
            throw CLIError("\(source): scheduler last_epoch is \(scheduler.lastEpoch), but the checkpoint is after epoch \(epoch)")
        }
        // The cosine schedule at this epoch, in closed form; the recursive form agrees to rounding.
        let expected = Trainer.cosineLR(base: initial, epoch: epoch, epochs: options.epochs)
        guard abs(g.lr - expected) <= 1e-9 * initial else {
            throw CLIError("\(source): optimizer lr \(g.lr) is not the cosine schedule's \(expected) at epoch \(epoch) of \(options.epochs) from \(initial)")
        }
        var notes: [String] = []
        if let lr = options.learningRate, lr != initial {
            optimizer.paramGroups[0]["initial_lr"] = lr
            optimizer.paramGroups[0].lr = lr
            // A scheduler built at the checkpoint's epoch sets the new schedule's rate for it.
            scheduler = CosineAnnealingLR(optimizer, tMax: options.epochs, lastEpoch: epoch - 1)
            notes.append("lr \(lr) (was \(initial))")
        }
        if let wd = options.weightDecay, wd != g.weightDecay {
            optimizer.paramGroups[0].weightDecay = wd
            notes.append("weight decay \(wd) (was \(g.weightDecay))")
        }
        if !notes.isEmpty { resumeNote = " with " + notes.joined(separator: ", ") }
    }

    static func cosineLR(base: Double, epoch: Int, epochs: Int) -> Double {
        base * (1 + Foundation.cos(Double.pi * Double(epoch) / Double(epochs))) / 2
    }

    /// Fingerprints written before the learning rate and weight decay could change on resume held them.
    static func withoutTunables(_ fingerprint: String) -> String {
        fingerprint.replacingOccurrences(of: #"lr=\S+ wd=\S+ "#, with: "", options: .regularExpression)
    }

    func writeMetrics() throws {
        var csv = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds,samples_per_s\n"
        for m in history {
            csv += "\(m.epoch),\(m.trainLoss),\(m.trainAccuracy),\(m.valLoss),\(m.valAccuracy),\(m.learningRate),"
                + "\(String(format: "%.3f", m.seconds)),\(String(format: "%.1f", m.samplesPerSecond))\n"
        }
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try Foundation.Data(csv.utf8).write(to: csvURL, options: .atomic)
            try enc.encode(history).write(to: jsonURL, options: .atomic)
        } catch {
            throw CLIError("cannot write metrics to \(options.outDirectory.path): \(error.localizedDescription)")
        }
    }
}
