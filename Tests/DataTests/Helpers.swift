import Foundation
import SwiftNN

/// Runs `body` and returns the `DataError` it threw (nil if it did not throw one).
func dataError(_ body: () throws -> Void) -> DataError? {
    do { try body() } catch let e as DataError { return e } catch { return nil }
    return nil
}

/// A fresh temporary folder, removed by the caller.
func makeTempDir() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("swiftnn-data-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func bundledFile(_ name: String) -> URL {
    MNIST.bundledDirectory.appendingPathComponent(name)
}
