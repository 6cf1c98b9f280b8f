import Foundation
import SwiftNN

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
    var learningRate = 1e-3
    var weightDecay = 1e-4
    var labelSmoothing = 0.1
    /// nil: the model's recipe (``ModelKind/defaultDropout``).
    var dropout: Double? = nil
    var hiddenDims = [512, 256, 128]
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

    func validate() throws {
        guard epochs >= 1 else { throw CLIError("--epochs must be at least 1, got \(epochs)") }
        guard batchSize >= 2 else { throw CLIError("--batch-size must be at least 2 (BatchNorm cannot train on one example), got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw CLIError("--lr must be a positive number, got \(learningRate)") }
        guard weightDecay >= 0 else { throw CLIError("--weight-decay must not be negative, got \(weightDecay)") }
        guard (0..<1).contains(labelSmoothing) else { throw CLIError("--label-smoothing must be in [0, 1), got \(labelSmoothing)") }
        if let k = stopAfter, k < 1 { throw CLIError("--stop-after must be at least 1, got \(k)") }
        if let p = dropout, !(0..<1).contains(p) { throw CLIError("--dropout must be in [0, 1), got \(p)") }
        if !distributed && !syncBatchNorm { throw CLIError("--no-sync-bn only applies to --distributed training") }
    }
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
}

/// Loss, accuracy and confusion matrix of a model on a data set.
struct Evaluation {
    var loss: Double
    var accuracy: Double      // percent
    var confusion: [[Int]]    // [true class][predicted class]
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
            if confusion != nil, y >= 0, y < c { confusion![y][best] += 1 }
        }
    }
    return correct
}

/// Runs the model over `loader` in eval mode without recording gradients.
func evaluate(_ model: Module, loader: DataLoader, criterion: CrossEntropyLoss, classes: Int) -> Evaluation {
    model.eval()
    var total = 0.0, correct = 0, seen = 0
    var confusion: [[Int]]? = Array(repeating: Array(repeating: 0, count: classes), count: classes)
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
final class Trainer {
    let options: TrainOptions
    let data: TrainingData
    let spec: ModelSpec
    let model: Module
    let criterion: CrossEntropyLoss
    let optimizer: AdamW
    let scheduler: CosineAnnealingLR
    let trainLoader: DataLoader
    let testLoader: DataLoader
    /// The processes training together (`--distributed`), nil for a plain run.
    let group: (any ProcessGroup)?
    /// This process's share of the training data in a distributed run.
    let sampler: DistributedSampler?
    /// What runs forward in training: the model, or its DistributedDataParallel wrapper.
    var trainModel: Module
    /// Rank 0 (or the only process) prints, evaluates and writes files.
    var isLeader: Bool { (group?.rank ?? 0) == 0 }
    private(set) var history: [EpochMetrics] = []
    private(set) var bestAccuracy = -1.0
    private(set) var startEpoch = 1

    var bestURL: URL { options.outDirectory.appendingPathComponent("best.safetensors") }
    var lastURL: URL { options.outDirectory.appendingPathComponent("last.safetensors") }
    var csvURL: URL { options.outDirectory.appendingPathComponent("metrics.csv") }
    var jsonURL: URL { options.outDirectory.appendingPathComponent("metrics.json") }

    init(options: TrainOptions, group: (any ProcessGroup)? = nil) throws {
        try options.validate()
        self.options = options
        self.group = group
        data = try TrainingData.load(directory: options.dataDirectory, trainLimit: options.trainLimit, testLimit: options.testLimit)
        spec = ModelSpec(model: options.model, inputShape: data.train.exampleShape, numClasses: data.train.classCount,
                         hiddenDims: options.hiddenDims, dropout: options.dropout ?? options.model.defaultDropout, mean: data.mean, std: data.std)
        // torch.manual_seed(seed): initial weights and dropout masks come from the default generator.
        Tensor.manualSeed(options.seed)
        model = try spec.build()
        trainModel = model
        criterion = CrossEntropyLoss(labelSmoothing: options.labelSmoothing)
        optimizer = AdamW(model.parameters(), lr: options.learningRate, weightDecay: options.weightDecay)
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
        testLoader = DataLoader(data.test, batchSize: 1000, shuffle: false, transforms: spec.transforms, lastBatchOfOne: .keep)
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
        if isLeader { try createOutDirectory() }
        if startEpoch == 1 {
            log("Training \(spec.pytorchName) on \(data.source): \(data.train.count) training, \(data.test.count) test examples, "
                + "\(model.parameterCount) parameters, batch \(batchDescription), \(options.epochs) epoch\(options.epochs == 1 ? "" : "s"), seed \(options.seed)")
        } else {
            log("Resuming \(spec.pytorchName) from \(lastURL.path) at epoch \(startEpoch)/\(options.epochs)")
        }
        let runStart = DispatchTime.now()
        let lastEpoch = min(options.epochs, options.stopAfter ?? options.epochs)
        if startEpoch > lastEpoch { log("Nothing to do: the run already finished \(startEpoch - 1) epochs") }
        for epoch in startEpoch...max(startEpoch, lastEpoch) where epoch <= lastEpoch {
            let m = try trainEpoch(epoch)
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
            // The others wait here while rank 0 writes (a failed write takes the job down).
            try group?.barrier()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - runStart.uptimeNanoseconds) / 1e9
        if let last = history.last, !options.quiet {
            log("Best val accuracy \(String(format: "%.2f", bestAccuracy))% | final val accuracy \(String(format: "%.2f", last.valAccuracy))%"
                + " | \(String(format: "%.1f", seconds)) s | saved \(bestURL.path)")
            if group != nil { log(distributedSummary(seconds: seconds)) }
        }
        return history
    }

    /// One epoch of training followed by validation on the test split.
    func trainEpoch(_ epoch: Int) throws -> EpochMetrics {
        let start = DispatchTime.now()
        let lr = optimizer.paramGroups[0].lr
        trainModel.train()
        // PyTorch's convention: epochs count from 0 for the sampler's shuffling seed.
        sampler?.setEpoch(epoch - 1)
        let bar = ProgressBar(total: trainLoader.count, label: "Epoch \(String(format: "%2d", epoch))/\(options.epochs)",
                              interactive: options.quiet || group != nil ? false : (options.interactive ?? ProgressBar.stdoutIsTerminal))
        var lossSum = 0.0, correct = 0, seen = 0, step = 0
        var noConfusion: [[Int]]? = nil
        for (x, y) in trainLoader {
            optimizer.zeroGrad()
            let out = trainModel(x)
            let loss = criterion(out, targets: y)
            loss.backward()
            optimizer.step()
            let n = y.count
            lossSum += Double(loss.item()) * Double(n)
            correct += countCorrect(out, y, confusion: &noConfusion)
            seen += n
            step += 1
            bar.update(step: step, loss: lossSum / Double(seen), samples: seen)
        }
        let trainSeconds = bar.elapsed
        bar.clear()
        scheduler.step()
        // Distributed: the epoch's totals over all ranks.
        (lossSum, correct, seen) = try globalTotals(lossSum, correct, seen)
        // Plain cross-entropy, as `swiftnn evaluate` reports it: label smoothing is part of the
        // training objective, not of the measure, and a checkpoint must evaluate to the numbers
        // its epoch logged. Distributed: rank 0 evaluates and tells the others.
        let val = try sharedValidation {
            evaluate(model, loader: testLoader, criterion: CrossEntropyLoss(), classes: spec.numClasses)
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return EpochMetrics(epoch: epoch, trainLoss: lossSum / Double(max(seen, 1)), trainAccuracy: 100 * Double(correct) / Double(max(seen, 1)),
                            valLoss: val.loss, valAccuracy: val.accuracy, learningRate: lr, seconds: seconds,
                            samplesPerSecond: trainSeconds > 0 ? Double(seen) / trainSeconds : 0)
    }

    // MARK: Files

    private func createOutDirectory() throws {
        do { try FileManager.default.createDirectory(at: options.outDirectory, withIntermediateDirectories: true) } catch {
            throw CLIError("cannot create output folder \(options.outDirectory.path): \(error.localizedDescription)")
        }
    }

    /// The weights alone, with the architecture in the metadata: loads with strict=True into the
    /// tutorial's model in PyTorch, and `swiftnn evaluate` needs no flags.
    func saveBest() throws {
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
    var optionsFingerprint: String {
        "model=\(options.model.rawValue) epochs=\(options.epochs) batch=\(options.batchSize) lr=\(options.learningRate) "
            + "wd=\(options.weightDecay) seed=\(options.seed) train=\(data.train.count) data=\(data.source)"
            + distributedFingerprint
    }

    /// Loads last.safetensors into the freshly built run.
    private func restore() throws {
        guard FileManager.default.fileExists(atPath: lastURL.path) else {
            throw CLIError("nothing to resume: \(lastURL.path) does not exist (train without --resume first)")
        }
        let ckpt: TrainingCheckpoint
        do { ckpt = try TrainingCheckpoint(contentsOf: lastURL) } catch { throw CLIError("\(lastURL.path): \(error)") }
        if let arch = ckpt.architecture, arch != spec.json {
            throw CLIError("\(lastURL.path) holds a different model (\(arch)); use the same flags as the interrupted run")
        }
        if let saved = ckpt.userMetadata["options"], saved != optionsFingerprint {
            throw CLIError("\(lastURL.path) was trained with different settings (\(saved)); use the same flags as the interrupted run")
        }
        do { try ckpt.restore(into: model, optimizer: optimizer, scheduler: scheduler, generators: generators) } catch {
            throw CLIError("\(lastURL.path): \(error)")
        }
        if let h = ckpt.userMetadata["history"], let decoded = try? JSONDecoder().decode([EpochMetrics].self, from: Foundation.Data(h.utf8)) {
            history = decoded
        }
        bestAccuracy = ckpt.bestMetric ?? -1
        startEpoch = ckpt.epoch + 1
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
