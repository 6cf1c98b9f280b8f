import TensorCore

/// Wall time of every graph node's backward during one pass, in the order they ran: what
/// `swiftnn bench train --verbose` prints to show where a training step's backward goes.
///
/// ```swift
/// let entries = BackwardProfile.recording { loss.backward() }
/// for e in entries { print(e.name, e.shape, e.seconds) }
/// ```
public final class BackwardProfile: @unchecked Sendable {
    /// One node's backward: its operation's name, the shape of the tensor it produced, the time.
    public struct Entry: Sendable {
        public let name: String
        public let shape: [Int]
        public let seconds: Double
    }

    private var entries: [Entry] = []

    @TaskLocal static var current: BackwardProfile?

    func add(_ name: String, shape: [Int], since start: ContinuousClock.Instant) {
        let d = ContinuousClock.now - start
        entries.append(Entry(name: name, shape: shape,
                             seconds: Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18))
    }

    /// Runs `body` (which calls `backward`) and returns the nodes' backward times. Without this
    /// wrapper nothing is timed (one task-local read per node).
    public static func recording(_ body: () -> Void) -> [Entry] {
        let profile = BackwardProfile()
        $current.withValue(profile) { body() }
        return profile.entries
    }
}
