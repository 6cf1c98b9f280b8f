import Foundation
import SwiftNN
import SwiftNNMonitor

/// Settings of the BatchNorm paper's MNIST experiment (Ioffe & Szegedy 2015, section 4.1).
struct BNPaperOptions {
    /// The paper trains 50,000 steps; the shape of Figure 1 shows well before that.
    var steps = 10_000
    /// The paper's mini-batch size.
    var batchSize = 60
    /// Plain SGD (the paper does not name the optimizer for this experiment).
    var learningRate = 0.5
    /// Standard deviation of the "small random Gaussian values" the weights start from. With 0.01
    /// the sigmoid network without BatchNorm starts on a plateau and its sigmoid inputs wander in
    /// mean and spread while it leaves it, as in the paper's figure. (Measured with PyTorch over
    /// 5,000 steps: with 0.1 and the same learning rate the two networks end level, so how much
    /// BatchNorm helps here depends on how small the start is.)
    var initStd = 0.01
    var evalEvery = 250
    var seed: UInt64 = 1
    /// The "typical activation" of the last hidden layer whose sigmoid input is followed.
    var unit = 0
    /// Use only the first N test images (quick checks; the figure uses all bundled ones).
    var testLimit: Int?
    var outDirectory = URL(fileURLWithPath: "runs/bn-paper")
    var quiet = false

    func validate() throws {
        guard steps >= 1, steps <= 10_000_000 else { throw CLIError("--steps must be in 1...10000000, got \(steps)") }
        guard batchSize >= 2 else { throw CLIError("--batch-size must be at least 2 (BatchNorm), got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else { throw CLIError("--lr must be a positive number, got \(learningRate)") }
        guard initStd > 0, initStd.isFinite else { throw CLIError("--init-std must be a positive number, got \(initStd)") }
        guard evalEvery >= 1 else { throw CLIError("--eval-every must be at least 1, got \(evalEvery)") }
        if let testLimit, testLimit < 1 { throw CLIError("--test-limit must be at least 1, got \(testLimit)") }
        guard (0..<BNPaperExperiment.width).contains(unit) else { throw CLIError("--unit must be in 0..<\(BNPaperExperiment.width), got \(unit)") }
    }
}

/// What one of the two networks did over training.
struct BNPaperCurve: Codable {
    var name: String
    var steps: [Int] = []
    /// Fraction of the test set classified correctly (0…1), as the paper's Figure 1(a).
    var testAccuracy: [Double] = []
    /// 15/50/85th percentiles of the followed unit's sigmoid input over the test set (Figure 1(b, c)).
    var unit: [Percentiles] = []
    /// The same for every unit of the last hidden layer (for a summary over all of them).
    var allUnits: [[Percentiles]] = []
    var seconds = 0.0
}

/// `swiftnn experiment bn-paper`: Figure 1 of Ioffe & Szegedy (2015) at a size this machine runs
/// in minutes. A 784→100→100→100→10 sigmoid MLP on binarized MNIST, trained with and without
/// BatchNorm before each sigmoid; test accuracy against training steps, and the distribution of one
/// last-hidden-layer sigmoid input over training as 15th/50th/85th percentiles.
final class BNPaperExperiment {
    static let width = 100
    let options: BNPaperOptions
    let train: ByteImageDataset
    let test: ByteImageDataset

    init(options: BNPaperOptions) throws {
        try options.validate()
        self.options = options
        train = try MNIST.bundled(train: true).storage
        let allTest = try MNIST.bundled(train: false).storage
        test = options.testLimit.map { allTest.prefix(min($0, allTest.count)) } ?? allTest
    }

    private func log(_ s: String) { if !options.quiet { say(s) } }

    /// The paper's network: three hidden layers y = g(Wu + b) with sigmoid g, weights from a small
    /// Gaussian; with BatchNorm, BN(Wu) replaces Wu + b (its shift makes the bias redundant).
    func makeNetwork(batchNorm: Bool) -> Sequential {
        var layers: [any Layer] = []
        var previous = 28 * 28
        for _ in 0..<3 {
            let linear = Linear(previous, Self.width, bias: !batchNorm)
            layers.append(linear)
            if batchNorm { layers.append(BatchNorm1d(Self.width)) }
            layers.append(Sigmoid())
            previous = Self.width
        }
        layers.append(Linear(previous, 10))
        let net = Sequential(layers)
        for m in net.modules() {
            guard let l = m as? Linear else { continue }
            Init.normal(l.weight, std: options.initStd)
            if let b = l.bias { Init.zeros(b) }
        }
        return net
    }

    /// The paper uses 28×28 binary images: pixels at or above half intensity become 1.
    struct Binarize: BatchTransform {
        var isRandom: Bool { false }
        func apply(_ batch: Tensor, stream: RandomStream) -> Tensor {
            let p = batch.pointer(as: Float.self)
            for i in 0..<batch.count { p[i] = p[i] >= 0.5 ? 1 : 0 }
            return batch
        }
    }

    /// Trains one network, evaluating every `evalEvery` steps (and before the first step).
    func run(batchNorm: Bool) -> BNPaperCurve {
        Tensor.manualSeed(options.seed)
        let net = makeNetwork(batchNorm: batchNorm)
        let optimizer = SGD(net.parameters(), lr: options.learningRate)
        let criterion = CrossEntropyLoss()
        let loader = DataLoader(train, batchSize: options.batchSize, shuffle: true, dropLast: true,
                                generator: Generator(seed: options.seed &+ 17), transforms: [Binarize(), FlattenExamples()])
        let testLoader = DataLoader(test, batchSize: test.count, transforms: [Binarize(), FlattenExamples()])
        let (testInput, testY) = testLoader.collate(Array(0..<test.count))
        // The last sigmoid's input is the output of the layer just before it.
        let lastSigmoid = net.layers.lastIndex { $0 is Sigmoid }!
        var curve = BNPaperCurve(name: batchNorm ? "with BatchNorm" : "without BatchNorm")
        let start = DispatchTime.now()

        func evaluate(_ step: Int) {
            net.eval()
            withNoGrad {
                var h = testInput
                for layer in net.layers[..<lastSigmoid] { h = layer(h) }
                let out = net.layers[lastSigmoid...].reduce(h) { $1($0) }
                var none: [[Int]]? = nil
                let correct = countCorrect(out, testY, confusion: &none)
                curve.steps.append(step)
                curve.testAccuracy.append(Double(correct) / Double(test.count))
                let n = h.shape[0], width = h.shape[1]
                let values = h.scalars
                var perUnit: [Percentiles] = []
                for u in 0..<width {
                    perUnit.append(Percentiles(of: (0..<n).map { Double(values[$0 * width + u]) }) ?? Percentiles(p15: .nan, p50: .nan, p85: .nan))
                }
                curve.allUnits.append(perUnit)
                curve.unit.append(perUnit[options.unit])
            }
            net.train()
        }

        evaluate(0)
        var step = 0
        training: while true {
            for (x, y) in loader {
                optimizer.zeroGrad()
                let loss = criterion(net(x), targets: y)
                loss.backward()
                optimizer.step()
                step += 1
                if step % options.evalEvery == 0 || step == options.steps {
                    evaluate(step)
                    let i = curve.steps.count - 1
                    log(String(format: "  %@ step %6d: test accuracy %.4f, unit %d input p15/p50/p85 %.2f / %.2f / %.2f",
                               curve.name.padding(toLength: 17, withPad: " ", startingAt: 0), step, curve.testAccuracy[i], options.unit,
                               curve.unit[i].p15, curve.unit[i].p50, curve.unit[i].p85))
                }
                if step >= options.steps { break training }
            }
        }
        curve.seconds = Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        return curve
    }

    /// Runs both networks, writes `bn-paper.json` and `report.html` into the output folder, and
    /// returns the comparison with the paper.
    @discardableResult
    func run() throws -> BNPaperComparison {
        do { try FileManager.default.createDirectory(at: options.outDirectory, withIntermediateDirectories: true) } catch {
            throw CLIError("cannot create output folder \(options.outDirectory.path): \(error.localizedDescription)")
        }
        log("BatchNorm paper, Figure 1: 784-100-100-100-10 sigmoid MLP on binarized bundled MNIST (\(train.count) training, \(test.count) test images), "
            + "\(options.steps) steps of \(options.batchSize), SGD lr \(options.learningRate), weights N(0, \(options.initStd)²), seed \(options.seed)")
        let baseline = run(batchNorm: false)
        let normalized = run(batchNorm: true)
        let comparison = BNPaperComparison(baseline: baseline, batchNorm: normalized)
        let results = BNPaperResults(options: options.description, baseline: baseline, batchNorm: normalized, comparison: comparison)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys, .prettyPrinted]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let json = options.outDirectory.appendingPathComponent("bn-paper.json")
        let html = options.outDirectory.appendingPathComponent("report.html")
        do {
            try enc.encode(results).write(to: json, options: .atomic)
            try ReportHTML.write(comparison.page(options: options), to: html)
        } catch {
            throw CLIError("cannot write results to \(options.outDirectory.path): \(error.localizedDescription)")
        }
        for line in comparison.lines { log(line) }
        log("Wrote \(html.path) and \(json.path)")
        return comparison
    }
}

extension BNPaperOptions: CustomStringConvertible {
    var description: String {
        "steps=\(steps) batch=\(batchSize) lr=\(learningRate) init_std=\(initStd) eval_every=\(evalEvery) seed=\(seed) unit=\(unit)"
    }
}

/// Everything the experiment writes to `bn-paper.json`.
struct BNPaperResults: Codable {
    var options: String
    var baseline: BNPaperCurve
    var batchNorm: BNPaperCurve
    var comparison: BNPaperComparison
}
