import TensorCore
import Autograd
import NN

/// Finds the classic BatchNorm and Dropout mistakes in a model before they cost a training run.
/// PyTorch accepts all of them silently.
///
/// It follows the data: one forward pass on a sample batch (given, or made from the model's
/// first layer) with hooks on every module shows the real order of operations, through custom
/// modules, nested containers and functional code between them — a Linear or convolution whose
/// bias a BatchNorm cancels, Dropout feeding BatchNorm, Dropout far above the tutorial's table for
/// the layer's width and kind, attention dropout (or any random operation) left on in evaluation,
/// weights frozen while their BatchNorm still trains. It also reads the model's state: layers in
/// the wrong mode, BatchNorm frozen by hand and un-frozen by `train()`, Keras-style momentum,
/// batches too small for BatchNorm, running statistics never trained or broken, NaN weights.
///
/// Examining leaves the model as it was: every module's mode and every buffer (running
/// statistics) are restored after the doctor's own passes, and random operations draw from a
/// private generator, so the caller's random sequence is untouched.
///
/// ```swift
/// let model = MLPClassifier(inDim: 784, hiddenDims: [512], numClasses: 10)
/// for d in Doctor.examine(model, purpose: .evaluation) { print(d) }
/// // error [train-mode-for-evaluation] net.1: BatchNorm1d is in training mode during evaluation …
/// Doctor.examine(model, sample: images)       // follow a real batch
/// ```
public enum Doctor {
    /// What the model is about to be used for. Without one, the doctor reports what would go
    /// wrong both in training and in evaluation.
    public enum Purpose: Sendable {
        case training, evaluation, unspecified
    }

    /// Runs every check on `model` and returns the findings, most serious first.
    /// - Parameters:
    ///   - sample: a batch to follow through the model; by default one is made from `inputShape`.
    ///   - inputShape: the shape of one example (`[3, 32, 32]`); by default guessed from the first
    ///     layer that fixes one, in declaration order.
    ///   - purpose: what the model is about to do.
    ///   - batchSize: the training batch size, if known (batch-size checks need it). Without one,
    ///     a given `sample` of one example stands for the batches to come: a BatchNorm that would
    ///     then see one value per channel is reported (PyTorch raises there, or the statistics are
    ///     NaN).
    public static func examine(_ model: Module, sample: Tensor? = nil, inputShape: [Int]? = nil,
                               purpose: Purpose = .unspecified, batchSize: Int? = nil) -> [Diagnosis] {
        let modules = model.namedModules()
        let modes = ModeSnapshot(model)
        var found: [Diagnosis] = []
        found += ModeChecks.run(modules, purpose: purpose)

        var trace: DataTrace?
        if let input = sample ?? SampleInput.make(for: model, exampleShape: inputShape) {
            // The order of operations as training runs them (Dropout active, functional dropout
            // visible), then twice in eval mode with different random streams: what differs
            // there is random in evaluation. A batch of one cannot pass BatchNorm in training
            // mode, so then the first pass runs in eval mode too.
            let buffers = BufferSnapshot(model)
            let first = modes.inMode(model, training: input.rank >= 1 && input.shape[0] > 1) { DataTrace.record(model, input: input, seed: 1) }
            buffers.restore()
            if purpose != .training {
                let (a, b) = modes.inMode(model, training: false) {
                    (DataTrace.record(model, input: input, seed: 2), DataTrace.record(model, input: input, seed: 3))
                }
                found += DropoutChecks.randomInEvaluation(a, b, purpose: purpose)
            }
            trace = first
            if let m = first.shapeMismatches.first {
                let place = m.path.isEmpty ? "the model" : "`\(m.path)`"
                found.append(Diagnosis(.dataNotFollowed, .advice, path: m.path,
                                       "the \(sample == nil ? "sample made from the model's first layer" : "sample") (shape \(shapeString(input.shape))) does not fit \(place): it received \(shapeString(m.got)) but takes \(m.expected); the doctor continued from there with zeros of a fitting shape"
                                        + (first.shapeMismatches.count > 1 ? " (\(first.shapeMismatches.count) layers did not fit)" : "") + ", so what feeds those layers was not followed.",
                                       fix: sample == nil ? "pass a sample batch: Doctor.examine(model, sample: batch) (or inputShape:)." : "check the sample's shape against the model."))
            }
            found += DataFlowChecks.run(first, purpose: purpose, modes: modes)
        } else {
            found.append(Diagnosis(.dataNotFollowed, .advice, path: "",
                                   "no layer says what input the model takes, so the checks that follow the data through it (bias or Dropout before BatchNorm, Dropout rates, random operations in eval mode) did not run.",
                                   fix: "pass a sample batch: Doctor.examine(model, sample: batch) (or inputShape: [channels, height, width])."))
        }
        let batch: StatisticsChecks.BatchSize? = batchSize.map { .stated($0) }
            ?? sample.flatMap { $0.rank >= 2 && $0.shape[0] == 1 ? .sample($0.shape[0]) : nil }
        found += StatisticsChecks.run(modules, purpose: purpose, batchSize: batch, valuesPerChannel: valuesPerChannel(trace))
        found += DropoutChecks.run(modules, trace: trace, purpose: purpose, modes: modes)
        found += WeightChecks.run(modules)
        // Stable order: severity first, then where in the model.
        let order = Dictionary(modules.enumerated().map { ($0.element.0.isEmpty ? "model" : $0.element.0, $0.offset) }, uniquingKeysWith: { a, _ in a })
        var seen = Set<String>()
        return found.enumerated().sorted { a, b in
            if a.element.severity != b.element.severity { return a.element.severity > b.element.severity }
            let pa = order[a.element.path] ?? 0, pb = order[b.element.path] ?? 0
            return pa != pb ? pa < pb : a.offset < b.offset
        }.map(\.element).filter { seen.insert("\($0.check.rawValue) \($0.path) \($0.message)").inserted }
    }

    /// For each BatchNorm the trace saw: how many values per channel one example contributes
    /// (1 for `[N, C]` inputs, H·W for images), so batch-size checks know what a batch gives it.
    static func valuesPerChannel(_ trace: DataTrace?) -> [ObjectIdentifier: Int] {
        var out: [ObjectIdentifier: Int] = [:]
        for c in trace?.calls ?? [] where c.isAtomic && Kind.isBatchNorm(c.module) && c.input.rank >= 2 {
            out[ObjectIdentifier(c.module)] = c.input.shape.dropFirst(2).reduce(1, *)
        }
        return out
    }

    /// A printable report: one finding per line, or a line saying all is well.
    public static func report(_ diagnoses: [Diagnosis]) -> String {
        if diagnoses.isEmpty { return "No BatchNorm or Dropout problems found." }
        return diagnoses.map(\.description).joined(separator: "\n")
    }
}
