import Foundation
import SwiftNN

/// What one rank of a `DistributedWorker` run measured, written as JSON to
/// `<dir>/<scenario>-rank<r>.json` so that the test (another process) can check the values.
public struct WorkerReport: Codable, Sendable {
    public var rank: Int
    public var worldSize: Int
    /// Named numeric results (floats widened to Double exactly).
    public var values: [String: [Double]] = [:]
    /// Named shapes.
    public var shapes: [String: [Int]] = [:]
    /// Named texts (error messages, strings gathered).
    public var texts: [String: String] = [:]

    public init(rank: Int, worldSize: Int) {
        self.rank = rank
        self.worldSize = worldSize
    }

    /// Records a tensor's values (any dtype, as Double) and shape under `name`.
    public mutating func record(_ name: String, _ t: Tensor?) {
        guard let t else { texts[name] = "nil"; return }
        values[name] = (0..<t.count).map { t.doubleValue(at: $0) }
        shapes[name] = t.shape
    }

    public static func url(directory: URL, scenario: String, rank: Int) -> URL {
        directory.appendingPathComponent("\(scenario)-rank\(rank).json")
    }

    public func write(directory: URL, scenario: String) throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        try enc.encode(self).write(to: WorkerReport.url(directory: directory, scenario: scenario, rank: rank), options: .atomic)
    }

    /// Every rank's report of a run with `worldSize` ranks.
    public static func readAll(directory: URL, scenario: String, worldSize: Int) throws -> [WorkerReport] {
        try (0..<worldSize).map { r in
            try JSONDecoder().decode(WorkerReport.self, from: Data(contentsOf: url(directory: directory, scenario: scenario, rank: r)))
        }
    }
}
