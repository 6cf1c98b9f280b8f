import Foundation

/// Everything a ``TrainingMonitor`` recorded during a run, as written to `monitor.json` in the
/// run folder. ``TrainingReport`` draws `report.html` from it, so `swiftnn report RUN_DIR` can
/// rebuild the report later.
public struct MonitorLog: Codable, Equatable, Sendable {
    /// Identifies the file (`swiftnn-monitor`) and its layout version.
    public var format = MonitorLog.formatName
    public var version = 1
    /// The model, as its constructor call or class name.
    public var model: String
    /// Per-epoch results the training loop reported.
    public var epochs: [EpochRecord] = []
    /// Per BatchNorm layer, in forward order, its sampled statistics over training.
    public var batchNorms: [BatchNormTrace] = []
    /// The first non-finite value seen, with the layer that produced it.
    public var nonFinite: NonFiniteRecord? = nil
    /// The monitor's findings: per-epoch observations and the end-of-run diagnosis.
    public var findings: [MonitorFinding] = []
    /// What ``Doctor`` found in the model before training.
    public var doctor: [MonitorFinding] = []

    public static let formatName = "swiftnn-monitor"
    /// The file name inside a run folder.
    public static let fileName = "monitor.json"

    public init(model: String) { self.model = model }

    /// Reads `monitor.json`; throws ``MonitorLogError`` when it is not a monitor log of a known version.
    public init(contentsOf url: URL) throws(MonitorLogError) {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw MonitorLogError(path: url.path, reason: "cannot read (\(error.localizedDescription))") }
        // A run folder's files come from outside: bound what is parsed.
        guard data.count <= 256 << 20 else { throw MonitorLogError(path: url.path, reason: "\(data.count) bytes is too large for a monitor log") }
        // Which file this is first, so another kind or version is named as such.
        struct Header: Decodable { var format: String?; var version: Int? }
        let header = try? MonitorLog.decoder.decode(Header.self, from: data)
        if let h = header, h.format != MonitorLog.formatName || h.version != 1 {
            throw MonitorLogError(path: url.path, reason: "format \(h.format ?? "?") version \(h.version.map(String.init) ?? "?") is not \(MonitorLog.formatName) version 1")
        }
        do { self = try MonitorLog.decoder.decode(MonitorLog.self, from: data) } catch {
            throw MonitorLogError(path: url.path, reason: "not a monitor log (\(error))")
        }
    }

    /// Writes the log atomically.
    public func write(to url: URL) throws {
        try MonitorLog.encoder.encode(self).write(to: url, options: .atomic)
    }

    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        // A diverged run has NaN losses: keep them readable instead of failing to write.
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return e
    }

    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }
}

/// A monitor log that cannot be read.
public struct MonitorLogError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// One epoch's results, with the same keys as `metrics.json` of `swiftnn train`.
public struct EpochRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var trainLoss: Double
    /// Percent.
    public var trainAccuracy: Double
    public var valLoss: Double
    /// Percent.
    public var valAccuracy: Double
    public var learningRate: Double

    public init(epoch: Int, trainLoss: Double, trainAccuracy: Double, valLoss: Double, valAccuracy: Double, learningRate: Double) {
        self.epoch = epoch
        self.trainLoss = trainLoss
        self.trainAccuracy = trainAccuracy
        self.valLoss = valLoss
        self.valAccuracy = valAccuracy
        self.learningRate = learningRate
    }

    private enum CodingKeys: String, CodingKey {
        case epoch, trainLoss, trainAccuracy, valLoss, valAccuracy, learningRate
    }

    /// A missing or null number (how `metrics.json` writes a non-finite one) reads as NaN.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func number(_ k: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: k) ?? .nan }
        epoch = try c.decode(Int.self, forKey: .epoch)
        trainLoss = try number(.trainLoss)
        trainAccuracy = try number(.trainAccuracy)
        valLoss = try number(.valLoss)
        valAccuracy = try number(.valAccuracy)
        learningRate = try number(.learningRate)
    }
}

/// The 15th, 50th and 85th percentiles of a set of values (the bands of Ioffe & Szegedy's Figure 1).
public struct Percentiles: Codable, Equatable, Sendable {
    public var p15: Double
    public var p50: Double
    public var p85: Double

    public init(p15: Double, p50: Double, p85: Double) {
        self.p15 = p15
        self.p50 = p50
        self.p85 = p85
    }

    /// Percentiles of `values` by linear interpolation between order statistics (numpy's
    /// default); nil when there is no finite value.
    public init?(of values: [Double]) {
        var v = values.filter(\.isFinite)
        guard !v.isEmpty else { return nil }
        v.sort()
        func q(_ p: Double) -> Double {
            let pos = p * Double(v.count - 1)
            let i = Int(pos.rounded(.down)), f = pos - Double(i)
            return i + 1 < v.count ? v[i] + (v[i + 1] - v[i]) * f : v[i]
        }
        self.init(p15: q(0.15), p50: q(0.5), p85: q(0.85))
    }
}

/// One BatchNorm layer over training.
public struct BatchNormTrace: Codable, Equatable, Sendable {
    /// State-dict prefix (`net.1`).
    public var path: String
    /// `BatchNorm1d`, `BatchNorm2d` …
    public var kind: String
    public var features: Int
    /// The ReLU that takes this layer's output (directly or through pointwise layers), if any.
    public var reluPath: String?
    public var samples: [BatchNormSample] = []
    /// How far the running statistics moved during each epoch.
    public var epochDrift: [RunningStatisticsDrift] = []

    public init(path: String, kind: String, features: Int, reluPath: String? = nil) {
        self.path = path
        self.kind = kind
        self.features = features
        self.reluPath = reluPath
    }
}

/// How far a BatchNorm layer's running statistics moved during one epoch: the mean over channels
/// of |Δ running mean| in running standard deviations (at the epoch's start), and of
/// |log(running var after / before)|.
public struct RunningStatisticsDrift: Codable, Equatable, Sendable {
    public var epoch: Int
    public var meanShift: Double
    public var logVarianceChange: Double

    public init(epoch: Int, meanShift: Double, logVarianceChange: Double) {
        self.epoch = epoch
        self.meanShift = meanShift
        self.logVarianceChange = logVarianceChange
    }
}

/// What the monitor measured at one sampled training step for one BatchNorm layer.
public struct BatchNormSample: Codable, Equatable, Sendable {
    /// Global training step (optimizer steps since the start, counting from 1).
    public var step: Int
    public var epoch: Int
    /// The input of channel 0 over the batch (one "typical unit", as in the paper's figure).
    public var unit: Percentiles
    /// The input of all channels pooled.
    public var input: Percentiles
    /// Mean over channels of the batch mean / batch variance of the input.
    public var batchMean: Double
    public var batchVar: Double
    /// Running mean / variance across channels, after this step's update.
    public var runningMean: Percentiles?
    public var runningVar: Percentiles?
    /// Mean over channels of |batch mean − running mean| / √(running var + eps): how far the
    /// statistics used in evaluation are from what training batches look like now.
    public var drift: Double?
    /// Fraction of the following ReLU's units that were zero for every example of the batch.
    public var deadReLU: Double?

    public init(step: Int, epoch: Int, unit: Percentiles, input: Percentiles, batchMean: Double, batchVar: Double,
                runningMean: Percentiles? = nil, runningVar: Percentiles? = nil, drift: Double? = nil, deadReLU: Double? = nil) {
        self.step = step
        self.epoch = epoch
        self.unit = unit
        self.input = input
        self.batchMean = batchMean
        self.batchVar = batchVar
        self.runningMean = runningMean
        self.runningVar = runningVar
        self.drift = drift
        self.deadReLU = deadReLU
    }
}

/// Where a run first produced a value that is not finite.
public struct NonFiniteRecord: Codable, Equatable, Sendable {
    public var epoch: Int
    public var step: Int
    /// The first layer (in forward order) whose output held NaN or ±∞, or `loss`.
    public var layer: String
    public var kind: String
    /// `forward`, `loss` or `gradient`.
    public var stage: String

    public init(epoch: Int, step: Int, layer: String, kind: String, stage: String) {
        self.epoch = epoch
        self.step = step
        self.layer = layer
        self.kind = kind
        self.stage = stage
    }
}

/// A finding of the monitor (or of the doctor, recorded before training).
public struct MonitorFinding: Codable, Equatable, Sendable, CustomStringConvertible {
    /// `error`, `warning`, `advice` or `info`.
    public var severity: String
    /// A stable identifier (`train-val-gap`, `val-loss-oscillation`, `non-finite` …).
    public var check: String
    /// The layer concerned, or `model`.
    public var path: String
    /// The epoch it was observed in, if it is tied to one.
    public var epoch: Int?
    public var message: String
    /// What to do.
    public var advice: String

    public init(severity: String, check: String, path: String, epoch: Int? = nil, message: String, advice: String) {
        self.severity = severity
        self.check = check
        self.path = path
        self.epoch = epoch
        self.message = message
        self.advice = advice
    }

    public var description: String {
        "\(severity) [\(check)] \(path): \(message)" + (advice.isEmpty ? "" : " → \(advice)")
    }
}
