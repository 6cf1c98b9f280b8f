import Foundation

/// A fresh empty folder under the system's temporary directory; remove it with ``cleanUp(_:)``.
///
/// ```swift
/// let dir = makeTempDirectory()
/// defer { cleanUp(dir) }
/// ```
public func makeTempDirectory(_ label: String = "test") -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("swiftnn-\(label)-\(UUID().uuidString)", isDirectory: true)
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        fatalError("cannot create the temporary folder \(url.path): \(error)")
    }
    return url
}

/// Removes a folder made by ``makeTempDirectory(_:)`` and everything in it.
public func cleanUp(_ dir: URL) {
    try? FileManager.default.removeItem(at: dir)
}

/// The names in a folder, sorted.
public func directoryListing(_ dir: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted()
}
