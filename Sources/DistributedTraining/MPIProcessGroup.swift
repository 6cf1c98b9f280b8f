import CMPIShim
import Foundation
import Synchronization
import TensorCore

/// A ``ProcessGroup`` over Open MPI: one process per rank, started by `mpirun`.
///
/// Open MPI is loaded when the first group is made (`SWIFTNN_LIBMPI` may name the library), so
/// programs that never ask for it neither link nor need it. MPI errors come back as
/// ``DistributedError``s. Call ``finalize()`` (or `destroyProcessGroup()`) once at the end of a
/// successful run; a run that fails should end with ``abort(_:exitCode:)`` instead, which takes
/// every rank down rather than leaving them waiting.
///
/// ```sh
/// mpirun -np 2 .build/release/my-trainer
/// ```
/// ```swift
/// let world = try MPIProcessGroup.world()
/// print(world.rank, world.worldSize)      // 0 2 / 1 2
/// ```
public final class MPIProcessGroup: ProcessGroup, @unchecked Sendable {
    public let rank: Int
    public let worldSize: Int
    public var backendName: String { "mpi" }
    /// The communicator (an Open MPI handle).
    let comm: UnsafeMutableRawPointer
    private let ownsComm: Bool
    /// MPI runs at MPI_THREAD_SERIALIZED: one call at a time, from any thread.
    let lock = Mutex<Void>(())

    private static let worldGroup = Mutex<MPIProcessGroup?>(nil)

    private init(comm: UnsafeMutableRawPointer, owns: Bool) throws(DistributedError) {
        var r: Int32 = 0, s: Int32 = 0
        try MPIRuntime.call(swiftnn_mpi_comm_rank(comm, &r), "MPI_Comm_rank")
        try MPIRuntime.call(swiftnn_mpi_comm_size(comm, &s), "MPI_Comm_size")
        self.comm = comm
        ownsComm = owns
        rank = Int(r)
        worldSize = Int(s)
    }

    deinit {
        if ownsComm {
            var c: UnsafeMutableRawPointer? = comm
            _ = swiftnn_mpi_comm_free(&c)
        }
    }

    /// Every process the launcher started (MPI_COMM_WORLD). Loads and initializes Open MPI on
    /// first use.
    public static func world() throws(DistributedError) -> MPIProcessGroup {
        try MPIRuntime.start()
        let result: Result<MPIProcessGroup, DistributedError> = worldGroup.withLock { cached in
            if let cached { return .success(cached) }
            guard let comm = swiftnn_mpi_comm_world() else { return .failure(.unavailable("MPI_COMM_WORLD is missing")) }
            do throws(DistributedError) {
                let group = try MPIProcessGroup(comm: comm, owns: false)
                cached = group
                return .success(group)
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// A group of the same processes on a communicator of its own (MPI_Comm_dup), so that its
    /// collectives never interleave with this group's — data-parallel training keeps its gradient
    /// traffic apart this way. Collective: every rank must call it.
    public func duplicate() throws(DistributedError) -> MPIProcessGroup {
        let comm = try serialized { () throws(DistributedError) -> UnsafeMutableRawPointer in
            var out: UnsafeMutableRawPointer? = nil
            try MPIRuntime.call(swiftnn_mpi_comm_dup(self.comm, &out), "MPI_Comm_dup")
            guard let out else { throw .mpi(call: "MPI_Comm_dup", code: -1, message: "no communicator returned") }
            try MPIRuntime.call(swiftnn_mpi_set_errors_return(out), "MPI_Comm_set_errhandler")
            return out
        }
        return try MPIProcessGroup(comm: comm, owns: true)
    }

    /// Ends MPI (MPI_Finalize) after a successful run. Collective: every rank must call it.
    public static func finalize() throws(DistributedError) {
        worldGroup.withLock { $0 = nil }
        try MPIRuntime.finalize()
    }

    /// The loaded library's version line, e.g. "Open MPI v4.1.4, package: Debian OpenMPI, …".
    public static var libraryVersion: String { MPIRuntime.libraryVersion }

    /// Whether this process was started by an MPI launcher (mpirun sets OMPI_COMM_WORLD_SIZE).
    public static var isLaunchedByMPI: Bool { MPIRuntime.isLaunched }

    func serialized<R>(_ body: () throws(DistributedError) -> R) throws(DistributedError) -> R {
        let start = DispatchTime.now().uptimeNanoseconds
        let result: Result<R, DistributedError> = lock.withLock { _ in
            do throws(DistributedError) { return .success(try body()) } catch { return .failure(error) }
        }
        MPIProcessGroup.nanosecondsInMPI.add(DispatchTime.now().uptimeNanoseconds - start, ordering: .relaxed)
        return try result.get()
    }

    private static let nanosecondsInMPI = Atomic<UInt64>(0)

    /// Seconds this process has spent inside MPI calls (all groups): transfers, and waiting for
    /// the other ranks to reach the same collective. Measures the share of communication.
    public static var secondsInCommunication: Double {
        Double(nanosecondsInMPI.load(ordering: .relaxed)) / 1e9
    }

    /// The rank the launcher gave this process (from its environment), before MPI is started:
    /// lets a program print a message once instead of once per rank. Nil outside a launcher.
    public static var launcherRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return ["OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK"].lazy.compactMap { env[$0].flatMap { Int($0) } }.first
    }

    /// Number of ranks the launcher started on this machine (OMPI_COMM_WORLD_LOCAL_SIZE), nil
    /// outside a launcher: how many processes share the cores.
    public static var launcherLocalSize: Int? {
        ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap { Int($0) }
    }

    // MARK: Collectives

    public func allReduce(_ tensor: Tensor, op: ReduceOp) throws(DistributedError) {
        checkReducible(tensor, "all_reduce")
        try serialized { () throws(DistributedError) in
            try chunks(tensor) { (base, count) throws(DistributedError) in
                try MPIRuntime.call(swiftnn_mpi_allreduce(comm, base, count, mpiType(tensor.dtype), mpiOp(op)), "MPI_Allreduce")
            }
        }
        if op == .average { divideInPlace(tensor, by: worldSize) }
    }

    public func allReduceAsync(_ tensor: Tensor, op: ReduceOp) throws(DistributedError) -> any DistributedWork {
        checkReducible(tensor, "all_reduce")
        let work = MPIWork(group: self, tensor: tensor, average: op == .average)
        try serialized { () throws(DistributedError) in
            try chunks(tensor) { (base, count) throws(DistributedError) in
                var request: UnsafeMutableRawPointer? = nil
                try MPIRuntime.call(swiftnn_mpi_iallreduce(comm, base, count, mpiType(tensor.dtype), mpiOp(op), &request),
                                    "MPI_Iallreduce")
                work.requests.append(request)
            }
        }
        return work
    }

    public func allGather(_ tensor: Tensor) throws(DistributedError) -> [Tensor] {
        // 1. dtype, rank and element count of every rank's tensor.
        let header = Tensor([Int64(dtypeCode(tensor.dtype)), Int64(tensor.rank), Int64(tensor.count)], shape: [3])
        let headers = try allGatherIntoTensor(header).toArray(of: Int64.self)
        let w = worldSize
        let codes = (0..<w).map { headers[3 * $0] }, ranks = (0..<w).map { Int(headers[3 * $0 + 1]) }
        let counts = (0..<w).map { Int(headers[3 * $0 + 2]) }
        if let other = codes.firstIndex(where: { $0 != codes[0] }) {
            throw .mismatch("all_gather: rank 0 sent \(dtypeName(codes[0])) but rank \(other) sent \(dtypeName(codes[other]))")
        }
        // 2. The shapes.
        let shapes = try gatherVariable(Tensor(tensor.shape.map(Int64.init), shape: [tensor.rank]), counts: ranks)
            .toArray(of: Int64.self)
        // 3. The data.
        let data = try gatherVariable(tensor, counts: counts)
        var out: [Tensor] = []
        var dimOffset = 0, offset = 0
        for r in 0..<w {
            let shape = shapes[dimOffset..<(dimOffset + ranks[r])].map { Int($0) }
            dimOffset += ranks[r]
            let part = Tensor(uninitializedShape: shape, dtype: tensor.dtype)
            if counts[r] > 0 {
                part.rawPointer.copyMemory(from: data.rawPointer + offset * tensor.dtype.byteSize,
                                           byteCount: counts[r] * tensor.dtype.byteSize)
            }
            offset += counts[r]
            out.append(part)
        }
        return out
    }

    public func allGatherIntoTensor(_ tensor: Tensor) throws(DistributedError) -> Tensor {
        let out = Tensor(uninitializedShape: [worldSize] + tensor.shape, dtype: tensor.dtype)
        guard tensor.count <= Int(Int32.max) else {
            throw .tooLarge("all_gather_into_tensor: \(tensor.count) elements per rank exceed MPI's limit of 2³¹ − 1")
        }
        try serialized { () throws(DistributedError) in
            try MPIRuntime.call(swiftnn_mpi_allgather(comm, tensor.rawPointer, Int32(tensor.count), mpiType(tensor.dtype),
                                                      out.rawPointer), "MPI_Allgather")
        }
        withExtendedLifetime(tensor) {}
        return out
    }

    public func broadcast(_ tensor: Tensor, from root: Int) throws(DistributedError) {
        usageCheck(root >= 0 && root < worldSize, "broadcast", "Invalid root rank \(root) for a group of \(worldSize) processes")
        try serialized { () throws(DistributedError) in
            try chunks(tensor) { (base, count) throws(DistributedError) in
                try MPIRuntime.call(swiftnn_mpi_bcast(comm, base, count, mpiType(tensor.dtype), Int32(root)), "MPI_Bcast")
            }
        }
    }

    public func barrier() throws(DistributedError) {
        try serialized { () throws(DistributedError) in
            try MPIRuntime.call(swiftnn_mpi_barrier(comm), "MPI_Barrier")
        }
    }

    public func abort(_ message: String, exitCode: Int32) -> Never {
        let line = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        FileHandle.standardError.write(Data("error: rank \(rank) of \(worldSize): \(line)\n".utf8))
        // No lock: the failing thread may hold it, and MPI_Abort must get through regardless.
        _ = swiftnn_mpi_abort(comm, exitCode)
        exit(exitCode)
    }

    // MARK: Helpers

    /// Runs `body` over ≤ Int32.max-element pieces of `tensor`'s buffer (MPI counts are int).
    private func chunks(_ tensor: Tensor, _ body: (UnsafeMutableRawPointer, Int32) throws(DistributedError) -> Void) throws(DistributedError) {
        let size = tensor.dtype.byteSize
        var start = 0
        repeat {
            let n = min(tensor.count - start, Int(Int32.max))
            try body(tensor.rawPointer + start * size, Int32(n))
            start += n
        } while start < tensor.count
        withExtendedLifetime(tensor) {}
    }

    /// All ranks' `tensor`s back to back, rank r contributing `counts[r]` elements.
    private func gatherVariable(_ tensor: Tensor, counts: [Int]) throws(DistributedError) -> Tensor {
        let total = counts.reduce(0, +)
        guard total <= Int(Int32.max) else {
            throw .tooLarge("all_gather: \(total) elements in all exceed MPI's limit of 2³¹ − 1")
        }
        let out = Tensor(uninitializedShape: [total], dtype: tensor.dtype)
        var offsets: [Int32] = [], running: Int32 = 0
        for c in counts { offsets.append(running); running += Int32(c) }
        let counts32 = counts.map { Int32($0) }
        try serialized { () throws(DistributedError) in
            try MPIRuntime.call(swiftnn_mpi_allgatherv(comm, tensor.rawPointer, Int32(tensor.count), out.rawPointer,
                                                       counts32, offsets, mpiType(tensor.dtype)), "MPI_Allgatherv")
        }
        withExtendedLifetime(tensor) {}
        return out
    }
}

/// An in-flight MPI_Iallreduce (one request per ≤ 2³¹-element piece).
final class MPIWork: DistributedWork {
    let group: MPIProcessGroup
    let tensor: Tensor
    let average: Bool
    var requests: [UnsafeMutableRawPointer?] = []
    private var finished = false

    init(group: MPIProcessGroup, tensor: Tensor, average: Bool) {
        self.group = group
        self.tensor = tensor
        self.average = average
    }

    func isCompleted() throws(DistributedError) -> Bool {
        if finished { return true }
        let done = try group.serialized { () throws(DistributedError) -> Bool in
            while let request = requests.first {
                var r = request, flag: Int32 = 0
                try MPIRuntime.call(swiftnn_mpi_test(&r, &flag), "MPI_Test")
                if flag == 0 { return false }
                requests.removeFirst()
            }
            return true
        }
        if done { complete() }
        return done
    }

    func wait() throws(DistributedError) {
        if finished { return }
        try group.serialized { () throws(DistributedError) in
            while let request = requests.first {
                var r = request
                try MPIRuntime.call(swiftnn_mpi_wait(&r), "MPI_Wait")
                requests.removeFirst()
            }
        }
        complete()
    }

    private func complete() {
        finished = true
        if average { divideInPlace(tensor, by: group.worldSize) }
    }
}

private func mpiType(_ dtype: DType) -> Int32 {
    switch dtype {
    case .float32: Int32(SWIFTNN_MPI_FLOAT32.rawValue)
    case .float64: Int32(SWIFTNN_MPI_FLOAT64.rawValue)
    case .int64: Int32(SWIFTNN_MPI_INT64.rawValue)
    case .uint8, .bool: Int32(SWIFTNN_MPI_BYTE.rawValue)
    }
}

private func mpiOp(_ op: ReduceOp) -> Int32 {
    switch op {
    case .sum, .average: Int32(SWIFTNN_MPI_SUM.rawValue)
    case .max: Int32(SWIFTNN_MPI_MAX.rawValue)
    case .min: Int32(SWIFTNN_MPI_MIN.rawValue)
    }
}

private func dtypeCode(_ dtype: DType) -> Int { DType.allCases.firstIndex(of: dtype)! }

private func dtypeName(_ code: Int64) -> String {
    DType.allCases.indices.contains(Int(code)) ? DType.allCases[Int(code)].rawValue : "dtype #\(code)"
}
