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
            #expect(ns > 1 && ns < 50_000_000 / 2_000)
            #expect(CoreRoundTrip.note() != nil)
        }
    }
}
