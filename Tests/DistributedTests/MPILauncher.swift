import DistributedScenarios
import Foundation
import Testing

/// Runs `DistributedWorker` under `mpirun` for the multi-rank tests. They are enabled only where
/// Open MPI is installed (`.ci/run` installs it); everything else runs everywhere.
enum MPILauncher {
    /// `mpirun` on the PATH (or in /usr/bin), nil when Open MPI is not installed.
    static let mpirun: URL? = {
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for dir in paths {
            let url = URL(fileURLWithPath: dir).appendingPathComponent("mpirun")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    static var isAvailable: Bool { mpirun != nil && worker != nil }

    /// The worker executable `swift build` puts next to the test bundle.
    static let worker: URL? = {
        let selfExe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var candidates = [selfExe.deletingLastPathComponent()]
        if let exe = Bundle.main.executableURL { candidates.append(exe.deletingLastPathComponent()) }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent())
        for b in Bundle.allBundles { candidates.append(b.bundleURL.deletingLastPathComponent()) }
        for dir in candidates {
            let url = dir.appendingPathComponent("DistributedWorker")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return nil
    }()

    /// The worker, or an error naming what is missing.
    static func workerURL() throws -> URL {
        guard let worker else { throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "DistributedWorker not built next to the tests"]) }
        return worker
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var timedOut: Bool
        var seconds: Double
    }

    /// `mpirun -np <ranks> <executable> <arguments>`, as root too (--allow-run-as-root) and with
    /// more ranks than cores (--oversubscribe); killed after `timeout` seconds.
    static func run(ranks: Int, executable: URL, _ arguments: [String], timeout: Double = 120) throws -> Result {
        let p = Process()
        guard let mpirun else { throw CocoaError(.fileNoSuchFile) }
        p.executableURL = mpirun
        p.arguments = ["--allow-run-as-root", "--oversubscribe", "-np", String(ranks), executable.path] + arguments
        var env = ProcessInfo.processInfo.environment
        // Bit-comparable GEMM across processes (see CLITests), and no thread oversubscription.
        env["SWIFTNN_GEMM_FMA"] = "0"
        env["SWIFTNN_NUM_THREADS"] = "1"
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        let start = Date()
        try p.run()
        nonisolated(unsafe) var errBytes = Data(), outBytes = Data()
        let readers = DispatchGroup()
        readers.enter()
        DispatchQueue.global().async { errBytes = err.fileHandleForReading.readDataToEndOfFile(); readers.leave() }
        readers.enter()
        DispatchQueue.global().async { outBytes = out.fileHandleForReading.readDataToEndOfFile(); readers.leave() }
        let exited = DispatchSemaphore(value: 0)
        p.terminationHandler = { _ in exited.signal() }
        var timedOut = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            timedOut = true
            p.terminate()     // mpirun forwards SIGTERM to its ranks
            _ = exited.wait(timeout: .now() + 10)
        }
        readers.wait()
        return Result(status: p.terminationStatus, stdout: String(decoding: outBytes, as: UTF8.self),
                      stderr: String(decoding: errBytes, as: UTF8.self), timedOut: timedOut,
                      seconds: Date().timeIntervalSince(start))
    }

    /// Runs one worker scenario on `ranks` ranks and returns every rank's report.
    static func scenario(_ name: String, ranks: Int, _ options: [String] = [], timeout: Double = 120) throws -> [WorkerReport] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("swiftnn-mpi-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try run(ranks: ranks, executable: try workerURL(), [name, dir.path] + options, timeout: timeout)
        #expect(!r.timedOut, "mpirun \(name) timed out")
        #expect(r.status == 0, "mpirun -np \(ranks) \(name) failed (\(r.status)): \(r.stderr.suffix(2000))")
        return try WorkerReport.readAll(directory: dir, scenario: name, worldSize: ranks)
    }
}
