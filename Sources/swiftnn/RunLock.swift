import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An exclusive lock on a run folder, so two `swiftnn train` processes never write the same
/// checkpoints: `flock` on `<folder>/.swiftnn.lock`, which holds the owner's PID.
///
/// The kernel releases the lock when its process ends in any way (including `kill -9`), so a
/// crashed run never blocks the next one; the stale lock file left behind is simply reused.
final class RunLock {
    static let fileName = ".swiftnn.lock"
    private let fd: Int32

    /// Takes the lock or throws, naming the process that holds it.
    init(directory: URL) throws {
        let path = directory.appendingPathComponent(RunLock.fileName).path
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CLIError("cannot open the run lock \(path): \(String(cString: strerror(errno)))") }
        while flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            if e == EINTR { continue }
            defer { close(fd) }
            guard e == EWOULDBLOCK else { throw CLIError("cannot lock the run folder \(directory.path): \(String(cString: strerror(e)))") }
            let holder = RunLock.holderPID(fd).map { "PID \($0)" } ?? "PID unknown"
            throw CLIError("\(directory.path) is in use by another 'swiftnn train' (\(holder)); wait for it to finish or train into another --out folder")
        }
        self.fd = fd
        // The lock is ours: record who holds it for a refused second run's message.
        let text = Array("\(getpid())\n".utf8)
        _ = text.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) }
        _ = ftruncate(fd, off_t(text.count))
    }

    deinit { close(fd) }  // closing releases the lock

    /// The PID the holder wrote; it writes right after locking, so a racing reader retries briefly.
    private static func holderPID(_ fd: Int32) -> Int32? {
        for _ in 0..<50 {
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            if n > 0, let s = String(bytes: buf[0..<n], encoding: .utf8),
               let pid = Int32(s.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0 {
                return pid
            }
            usleep(10_000)
        }
        return nil
    }
}
