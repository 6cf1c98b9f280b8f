import Foundation
import Testing
@testable import swiftnn

@Suite struct CoreRoundTripTests {
    @Test("the round trip between two cores is measured promptly, or reported as unavailable")
    func roundTrip() {
        let start = Date()
        let ns = CoreRoundTrip.measure()
        // 10,000 round trips, or the 50 ms deadline; far less than a second either way.
        #expect(Date().timeIntervalSince(start) < 5)
        if ProcessInfo.processInfo.activeProcessorCount == 1 {
            #expect(ns == nil)
        } else if let ns {
            // A cache line's round trip: at least a few nanoseconds, and less than the deadline's share.
            // (Nil is a valid answer here too: with the test run's other threads on both cores the
            // other thread may not answer within the deadline.)
            #expect(ns > 1 && ns < 50_000_000 / 2_000)
        }
        #expect(CoreRoundTrip.describe(86.4) == "core-to-core round trip: 86 ns")
        #expect(CoreRoundTrip.describe(351.6) == "core-to-core round trip: 352 ns")
    }
}
