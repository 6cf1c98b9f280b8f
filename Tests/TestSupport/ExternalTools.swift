import Foundation

/// Headless Chromium for the report's browser test (Debian's `chromium`; `.ci/run` installs it).
/// Tests that need it are enabled only when it is present.
enum Chromium {
    static let path: String? = {
        if let p = ProcessInfo.processInfo.environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: p) { return p }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/snap/bin/chromium"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    static var isAvailable: Bool { path != nil }

    struct Output {
        var stdout: String
        var stderr: String
        var status: Int32
    }

    /// Runs headless Chromium on a local file with `extra` arguments; kills it after `timeout` seconds.
    static func run(_ file: URL, _ extra: [String], timeout: Double = 90) throws -> Output {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-profile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path!)
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                       "--no-first-run", "--force-device-scale-factor=1", "--user-data-dir=\(profile.path)",
                       "--enable-logging=stderr", "--v=0"] + extra + [file.absoluteString]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let killer = DispatchWorkItem { if p.isRunning { p.terminate() } }
        DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
        nonisolated(unsafe) var errBytes = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errBytes = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outBytes = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        killer.cancel()
        return Output(stdout: String(decoding: outBytes, as: UTF8.self), stderr: String(decoding: errBytes, as: UTF8.self), status: p.terminationStatus)
    }
}
