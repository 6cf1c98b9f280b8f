import Foundation
import SwiftNN

/// Runs `body` and returns the `DataError` it threw (nil if it did not throw one).
func dataError(_ body: () throws -> Void) -> DataError? {
    do { try body() } catch let e as DataError { return e } catch { return nil }
    return nil
}

func bundledFile(_ name: String) -> URL {
    MNIST.bundledDirectory.appendingPathComponent(name)
}
