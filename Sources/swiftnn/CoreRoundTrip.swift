import Foundation
import Synchronization
import SwiftNN

/// How long two cores take to hand a cache line back and forth, for reading multi-thread figures.
///
/// Cores that share a last-level cache pass a line in tens of nanoseconds; cores on different
/// chiplets (or a VM whose virtual CPUs the host has put on different ones) take several times as
/// long, and then every kernel that reads what the other thread wrote waits on it. On the
/// project's two-core VM the host moved the two virtual CPUs while it ran: round trips of 75–90 ns
/// at some moments and 335–365 ns at others, and the two-thread SmallCNN step read 15.9 ms in the
/// first kind of moment and up to 19.3 ms in the second. `swiftnn bench` prints the round trip so
/// that two runs' multi-thread figures can be compared knowing which kind of moment each had.
enum CoreRoundTrip {
    private final class Line: @unchecked Sendable {
        let value = Atomic<Int>(0)
    }

    /// The median of five bursts of 2,000 round trips between this thread and a new one, in
    /// nanoseconds; nil on one core, or when the other thread does not answer within 50 ms (the
    /// system gave both threads one core).
    static func measure() -> Double? {
        guard ProcessInfo.processInfo.activeProcessorCount > 1 else { return nil }
        let line = Line(), rounds = 2_000, bursts = 5
        let stop = -1
        let responder = Thread {
            var expected = 1
            while true {
                let v = line.value.load(ordering: .acquiring)
                if v == stop { return }
                if v == expected {
                    line.value.store(v + 1, ordering: .releasing)
                    expected += 2
                }
            }
        }
        responder.start()
        defer { line.value.store(stop, ordering: .releasing) }
        let deadline = DispatchTime.now().uptimeNanoseconds + 50_000_000
        var times: [Double] = []
        var next = 1
        for _ in 0..<bursts {
            let start = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<rounds {
                line.value.store(next, ordering: .releasing)
                var spins = 0
                while line.value.load(ordering: .acquiring) != next + 1 {
                    spins &+= 1
                    if spins & 1023 == 0, DispatchTime.now().uptimeNanoseconds > deadline { return nil }
                }
                next += 2
            }
            times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / Double(rounds))
        }
        return times.sorted()[bursts / 2]
    }

    /// "core-to-core round trip: 86 ns", or nil when it could not be measured.
    static func note() -> String? { measure().map(describe) }

    /// The note for a measured round trip of `nanoseconds`.
    static func describe(_ nanoseconds: Double) -> String {
        String(format: "core-to-core round trip: %.0f ns", nanoseconds)
    }
}
