import CMPIShim
import Foundation
import Synchronization

/// Open MPI, loaded at run time through the C shim: the package builds and its tests run on
/// machines without MPI, and only `--distributed` (or `initProcessGroup(backend: .mpi)`) needs it.
enum MPIRuntime {
    /// MPI_THREAD_SERIALIZED: any thread may call MPI, one at a time (the process group's lock
    /// serializes them).
    static let threadLevel: Int32 = 2

    private static let state = Mutex<Bool>(false)

    /// Whether this process was started by an MPI launcher (`mpirun`, `mpiexec`, Slurm with PMIx).
    static var isLaunched: Bool {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"].contains { env[$0] != nil }
    }

    /// Loads libmpi (SWIFTNN_LIBMPI, or the usual library names) and initializes MPI once.
    static func start() throws(DistributedError) {
        let result: Result<Void, DistributedError> = state.withLock { started in
            if started { return .success(()) }
            var message = [CChar](repeating: 0, count: 1024)
            let path = ProcessInfo.processInfo.environment["SWIFTNN_LIBMPI"]
            let rc = message.withUnsafeMutableBufferPointer { buffer in
                swiftnn_mpi_load(path, buffer.baseAddress, buffer.count)
            }
            guard rc == 0 else {
                return .failure(.unavailable(cString(message)))
            }
            var initialized: Int32 = 0
            if let e = check(swiftnn_mpi_initialized(&initialized), "MPI_Initialized") { return .failure(e) }
            if initialized == 0 {
                var provided: Int32 = 0
                if let e = check(swiftnn_mpi_init_thread(threadLevel, &provided), "MPI_Init_thread") { return .failure(e) }
                guard provided >= threadLevel else {
                    return .failure(.unavailable("this Open MPI provides thread level \(provided), SwiftNN needs MPI_THREAD_SERIALIZED (2)"))
                }
            }
            // Errors come back as codes (turned into DistributedError) instead of aborting inside MPI.
            if let e = check(swiftnn_mpi_set_errors_return(swiftnn_mpi_comm_world()), "MPI_Comm_set_errhandler") {
                return .failure(e)
            }
            started = true
            return .success(())
        }
        try result.get()
    }

    /// MPI_Finalize, once, if MPI was started and is not finalized yet.
    static func finalize() throws(DistributedError) {
        let result: Result<Void, DistributedError> = state.withLock { started in
            guard started else { return .success(()) }
            var finalized: Int32 = 0
            if let e = check(swiftnn_mpi_finalized(&finalized), "MPI_Finalized") { return .failure(e) }
            if finalized == 0, let e = check(swiftnn_mpi_finalize(), "MPI_Finalize") { return .failure(e) }
            started = false
            return .success(())
        }
        try result.get()
    }

    /// The library's version line (e.g. "Open MPI v4.1.4, …"), once loaded.
    static var libraryVersion: String {
        var text = [CChar](repeating: 0, count: 512)
        let rc = text.withUnsafeMutableBufferPointer { swiftnn_mpi_library_version($0.baseAddress, $0.count) }
        return rc == 0 ? cString(text).split(whereSeparator: \.isNewline).first.map(String.init) ?? "" : ""
    }

    /// nil for MPI_SUCCESS, otherwise the error with MPI's own text.
    static func check(_ code: Int32, _ call: String) -> DistributedError? {
        guard code != 0 else { return nil }
        var text = [CChar](repeating: 0, count: 512)
        text.withUnsafeMutableBufferPointer { swiftnn_mpi_error_string(code, $0.baseAddress, $0.count) }
        return .mpi(call: call, code: code, message: cString(text))
    }

    /// Throws ``check(_:_:)``'s error.
    static func call(_ code: Int32, _ call: String) throws(DistributedError) {
        if let e = check(code, call) { throw e }
    }
}

/// The NUL-terminated text in `buffer`.
func cString(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
