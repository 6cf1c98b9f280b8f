import Foundation

/// What a program run by a test printed, and how it ended.
public struct ToolOutput {
    public var stdout: String
    public var stderr: String
    public var status: Int32
}

/// Runs `executable` with `arguments`, reading both pipes fully (a chatty child cannot block on a
/// full pipe), and kills it after `timeout` seconds.
public func runTool(_ executable: String, _ arguments: [String], timeout: Double = 90) throws -> ToolOutput {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
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
    return ToolOutput(stdout: String(decoding: outBytes, as: UTF8.self), stderr: String(decoding: errBytes, as: UTF8.self), status: p.terminationStatus)
}

/// The package's root folder (for its committed scripts), found from this file's path.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Headless Chromium for the HTML reports' browser tests (Debian's `chromium`; `.ci/run` installs
/// it). Tests that need it are enabled only when it is present.
public enum Chromium {
    public static let path: String? = {
        if let p = ProcessInfo.processInfo.environment["CHROMIUM"], FileManager.default.isExecutableFile(atPath: p) { return p }
        return ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome", "/snap/bin/chromium"]
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }()

    public static var isAvailable: Bool { path != nil }

    /// Runs headless Chromium on a local file with `extra` arguments; kills it after `timeout` seconds.
    public static func run(_ file: URL, _ extra: [String], timeout: Double = 90) throws -> ToolOutput {
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-profile-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: profile) }
        // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        return try runTool(path!, ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                                   "--no-first-run", "--force-device-scale-factor=1", "--user-data-dir=\(profile.path)",
                                   "--enable-logging=stderr", "--v=0"] + extra + [file.absoluteString], timeout: timeout)
    }

    /// The page's DOM after its scripts ran (`--dump-dom`), at a window `width` pixels wide.
    public static func dumpDOM(_ file: URL, width: Int = 1280) throws -> ToolOutput {
        try run(file, ["--dump-dom", "--window-size=\(width),1000"])
    }
}

/// A Python interpreter with the `tensorboard` package, for reading event files back the way
/// `tensorboard --logdir` does: `$TENSORBOARD_PYTHON`, else `python3` on the PATH if it can import
/// tensorboard (`.ci/run` installs one). Tests that need it are enabled only when there is one.
public enum TensorBoardPython {
    public static let path: String? = {
        let env = ProcessInfo.processInfo.environment
        var candidates: [String] = []
        if let p = env["TENSORBOARD_PYTHON"], !p.isEmpty { candidates.append(p) }
        for dir in (env["PATH"] ?? "/usr/bin").split(separator: ":") { candidates.append("\(dir)/python3") }
        for c in candidates where FileManager.default.isExecutableFile(atPath: c) {
            if let r = try? runTool(c, ["-c", "import tensorboard"], timeout: 60), r.status == 0 { return c }
        }
        return nil
    }()

    /// `scripts/verify_tensorboard.py` on `logDir` with `arguments`.
    public static func verify(_ logDir: URL, _ arguments: [String], timeout: Double = 300) throws -> ToolOutput {
        try runTool(path!, [repositoryRoot.appendingPathComponent("scripts/verify_tensorboard.py").path, logDir.path] + arguments, timeout: timeout)
    }
}
