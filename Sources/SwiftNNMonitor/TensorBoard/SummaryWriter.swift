import Foundation
import TensorCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Something went wrong writing a TensorBoard event file.
public struct TensorBoardError: Error, CustomStringConvertible, Equatable, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "\(path): \(reason)" }
}

/// Writes scalars and histograms to a TensorBoard event file, like
/// `torch.utils.tensorboard.SummaryWriter`: `tensorboard --logdir runs` shows a SwiftNN run as
/// it shows a PyTorch one. Each call appends one framed record (length, masked CRC-32C, the
/// `Event` protocol buffer, masked CRC-32C) with a single write, so a reader never sees half a record.
///
/// ```swift
/// let writer = try SummaryWriter(logDir: URL(fileURLWithPath: "runs/exp1"))
/// for step in 0..<100 {
///     try writer.addScalar("loss/train", loss, globalStep: step)
/// }
/// try writer.addHistogram("net.1/weight", bn.weight!, globalStep: 100)
/// writer.close()
/// ```
public final class SummaryWriter {
    /// The folder holding the event file (`tensorboard --logdir` takes it or a parent).
    public let logDir: URL
    /// `events.out.tfevents.<seconds>.<host>.<pid>.<n><suffix>`, TensorBoard's naming.
    public let fileURL: URL
    private var handle: FileHandle?
    private let clock: () -> Double

    nonisolated(unsafe) private static var fileCounter = 0
    private static let counterLock = NSLock()

    /// Creates `logDir` if needed and a new event file in it, starting with the file-version event.
    public convenience init(logDir: URL, filenameSuffix: String = "") throws(TensorBoardError) {
        try self.init(logDir: logDir, filenameSuffix: filenameSuffix, clock: { Date().timeIntervalSince1970 }, sourceWriter: "swiftnn")
    }

    /// `clock` and `sourceWriter` are injectable so tests can reproduce another writer's bytes.
    init(logDir: URL, filenameSuffix: String, clock: @escaping () -> Double, sourceWriter: String) throws(TensorBoardError) {
        self.logDir = logDir
        self.clock = clock
        let now = clock()
        SummaryWriter.counterLock.lock()
        let n = SummaryWriter.fileCounter
        SummaryWriter.fileCounter += 1
        SummaryWriter.counterLock.unlock()
        let name = "events.out.tfevents." + String(format: "%010d", Int(now)) + ".\(SummaryWriter.hostName).\(getpid()).\(n)" + filenameSuffix
        fileURL = logDir.appendingPathComponent(name)
        do {
            try FileManager.default.createDirectory(at: logDir, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError(path: logDir.path, reason: "cannot create the log folder (\(error.localizedDescription))")
        }
        guard FileManager.default.createFile(atPath: fileURL.path, contents: nil),
              let h = FileHandle(forWritingAtPath: fileURL.path) else {
            throw TensorBoardError(path: fileURL.path, reason: "cannot create the event file")
        }
        handle = h
        try write(TensorBoardEvent(wallTime: now, step: 0, payload: .fileVersion("brain.Event:2", writer: sourceWriter)))
    }

    deinit { close() }

    private static var hostName: String {
        var buf = [CChar](repeating: 0, count: 256)
        guard gethostname(&buf, buf.count - 1) == 0 else { return "localhost" }
        let name = String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // A host name with a path separator would make the file land elsewhere.
        return name.isEmpty ? "localhost" : name.replacingOccurrences(of: "/", with: "_")
    }

    private func write(_ event: TensorBoardEvent) throws(TensorBoardError) {
        guard let handle else { throw TensorBoardError(path: fileURL.path, reason: "the writer is closed") }
        do { try handle.write(contentsOf: Foundation.Data(TFRecord.frame(event.encoded))) } catch {
            throw TensorBoardError(path: fileURL.path, reason: "write failed (\(error.localizedDescription))")
        }
    }

    /// Adds one scalar, like `add_scalar(tag, value, global_step, walltime)`. TensorBoard stores
    /// it as a float32 `simple_value`.
    public func addScalar(_ tag: String, _ value: Double, globalStep: Int? = nil, walltime: Double? = nil) throws(TensorBoardError) {
        try write(TensorBoardEvent(wallTime: walltime ?? clock(), step: Int64(globalStep ?? 0), payload: .scalar(tag: tag, value: Float(value))))
    }

    /// Adds a histogram of `values` with TensorBoard's default buckets, like `add_histogram`.
    /// Non-finite values are left out; nothing is written when none is finite.
    public func addHistogram(_ tag: String, _ values: [Double], globalStep: Int? = nil, walltime: Double? = nil) throws(TensorBoardError) {
        guard let h = TensorBoardHistogram(values) else { return }
        try addHistogram(tag, h, globalStep: globalStep, walltime: walltime)
    }

    /// Adds a histogram of a tensor's values (any floating dtype).
    public func addHistogram(_ tag: String, _ values: Tensor, globalStep: Int? = nil, walltime: Double? = nil) throws(TensorBoardError) {
        let doubles = (0..<values.count).map { values.doubleValue(at: $0) }
        try addHistogram(tag, doubles, globalStep: globalStep, walltime: walltime)
    }

    /// Adds an already bucketed histogram (what `add_histogram_raw` does).
    public func addHistogram(_ tag: String, _ histogram: TensorBoardHistogram, globalStep: Int? = nil, walltime: Double? = nil) throws(TensorBoardError) {
        try write(TensorBoardEvent(wallTime: walltime ?? clock(), step: Int64(globalStep ?? 0), payload: .histogram(tag: tag, histogram)))
    }

    /// Makes everything written so far visible to readers (records are written unbuffered; this
    /// also asks the system to put them on disk).
    public func flush() {
        try? handle?.synchronize()
    }

    /// Closes the file; later adds throw.
    public func close() {
        guard let h = handle else { return }
        try? h.synchronize()
        try? h.close()
        handle = nil
    }
}
