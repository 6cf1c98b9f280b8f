import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Replaces a file atomically: write a temporary file next to it, flush it to disk, rename it over
/// the destination, flush the directory.
///
/// A crash or error at any point leaves either the old file or the complete new one (rename is
/// atomic within a directory), and a failed write removes its temporary file.
enum AtomicFile {
    /// Points where tests make the write fail, to prove the old file survives.
    enum Stage: Sendable {
        /// After the temporary file was created, before any byte was written.
        case afterCreate
        /// After all bytes went to the temporary file (an interrupted write), before fsync.
        case afterWrite
        /// After fsync, just before the rename.
        case beforeRename
    }

    /// Receives the file's bytes in order.
    struct Sink {
        fileprivate let fd: Int32
        fileprivate let path: String

        mutating func write(_ bytes: [UInt8]) throws(SafetensorsError) {
            // Array.withUnsafeBytes is not typed-throws, so the error crosses it as a value.
            let failure: SafetensorsError? = bytes.withUnsafeBytes { p in
                do throws(SafetensorsError) { try write(p); return nil } catch { return error }
            }
            if let failure { throw failure }
        }

        mutating func write(_ bytes: UnsafeRawBufferPointer) throws(SafetensorsError) {
            if AtomicFile.pauseMicroseconds > 0 { usleep(AtomicFile.pauseMicroseconds) }
            guard var p = bytes.baseAddress else { return }
            var left = bytes.count
            while left > 0 {
                let n = Glibc_write(fd, p, min(left, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw .io(path: path, operation: "writing", message: String(cString: strerror(errno)))
                }
                p += n
                left -= n
            }
        }
    }

    /// A pause before each chunk of every write, from `SWIFTNN_ATOMIC_WRITE_PAUSE_US`: the kill
    /// test stretches writes so that its `kill -9`s land inside them (0, no pause, otherwise).
    static let pauseMicroseconds: UInt32 = ProcessInfo.processInfo.environment["SWIFTNN_ATOMIC_WRITE_PAUSE_US"].flatMap { UInt32($0) } ?? 0

    static func write(to url: URL, failure: Stage? = nil,
                      _ body: (inout Sink) throws(SafetensorsError) -> Void) throws(SafetensorsError) {
        let dest = url.standardizedFileURL
        let dir = dest.deletingLastPathComponent().path
        let name = dest.lastPathComponent
        let temp = dir + "/." + name + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func posixError(_ op: String, _ path: String) -> SafetensorsError {
            .io(path: path, operation: op, message: String(cString: strerror(errno)))
        }
        let fd = Glibc_open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw posixError("creating a temporary file for", dest.path) }
        var isOpen = true
        func cleanUp() {
            if isOpen { close(fd); isOpen = false }
            unlink(temp)
        }
        do throws(SafetensorsError) {
            if failure == .afterCreate { throw SafetensorsError.io(path: temp, operation: "writing", message: "injected failure") }
            var sink = Sink(fd: fd, path: temp)
            try body(&sink)
            if failure == .afterWrite { throw SafetensorsError.io(path: temp, operation: "writing", message: "injected failure") }
            guard fsync(fd) == 0 else { throw posixError("flushing", temp) }
            isOpen = false
            guard close(fd) == 0 else { throw posixError("closing", temp) }
            if failure == .beforeRename { throw SafetensorsError.io(path: dest.path, operation: "renaming onto", message: "injected failure") }
            guard rename(temp, dest.path) == 0 else { throw posixError("renaming a temporary file onto", dest.path) }
        } catch {
            cleanUp()
            throw error
        }
        // Make the rename itself durable; failure here cannot undo it, so it is not an error.
        let dfd = Glibc_open(dir, O_RDONLY | O_CLOEXEC)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}

extension AtomicFile {
    /// Removes the temporary files (`.<name>.tmp-<pid>-<random>`) that writes left in `directory`
    /// when their process was killed mid-write, and returns their names. A file whose process is
    /// still alive (another writer at work) is kept.
    static func removeStaleTemporaryFiles(in directory: URL) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        var removed: [String] = []
        for name in names.sorted() where name.hasPrefix(".") {
            guard let r = name.range(of: ".tmp-", options: .backwards) else { continue }
            let fields = name[r.upperBound...].split(separator: "-", omittingEmptySubsequences: false)
            guard fields.count == 2, let pid = Int32(fields[0]), pid > 0, UInt32(fields[1]) != nil else { continue }
            // kill(pid, 0) probes without signalling; ESRCH means no such process.
            guard pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
            if unlink(directory.appendingPathComponent(name).path) == 0 { removed.append(name) }
        }
        return removed
    }
}

extension Safetensors {
    /// Removes temporary files left in `directory` by atomic writes (``StateDict/save(to:)``,
    /// ``TrainingCheckpoint/save(to:)``) whose process was killed before it could rename or remove
    /// them; returns the removed names. Files of live writers are kept.
    ///
    /// ```swift
    /// Safetensors.removeStaleTemporaryFiles(in: URL(fileURLWithPath: "runs/mlp"))
    /// ```
    @discardableResult
    public static func removeStaleTemporaryFiles(in directory: URL) -> [String] {
        AtomicFile.removeStaleTemporaryFiles(in: directory)
    }
}

// The free functions `write`/`open` are shadowed inside the types above.
@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
@inline(__always) private func Glibc_open(_ path: String, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
    open(path, flags, mode)
}
