import TensorCore

/// How ``ProcessGroup/allReduce(_:op:)`` combines the ranks' values, like `torch.distributed.ReduceOp`.
public enum ReduceOp: Sendable, Equatable {
    /// Elementwise sum.
    case sum
    /// Elementwise sum divided by the world size (integers: truncated toward zero, as C division).
    case average
    /// Elementwise maximum.
    case max
    /// Elementwise minimum.
    case min
}

/// A group of processes that communicate collectively, like `torch.distributed.ProcessGroup`.
///
/// Every collective must be called by every rank of the group, in the same order, with tensors of
/// the same dtype (and, except for ``allGather(_:)``, the same shape). Implementations:
/// ``MPIProcessGroup`` (Open MPI, one process per rank started by `mpirun`) and
/// ``SingleProcessGroup`` (one process: the same code runs unchanged without MPI).
///
/// ```swift
/// let group = try initProcessGroup(backend: .mpi)      // under mpirun -np 2
/// let t = Tensor([Float(group.rank + 1)], shape: [1])
/// try group.allReduce(t, op: .sum)                     // t == [3] on both ranks
/// ```
public protocol ProcessGroup: AnyObject, Sendable {
    /// This process's index, `0..<worldSize`.
    var rank: Int { get }
    /// Number of processes in the group.
    var worldSize: Int { get }
    /// The backend's name (`"mpi"`, `"single"`).
    var backendName: String { get }

    /// Combines `tensor` (float32, float64 or int64) elementwise over all ranks, in place: every
    /// rank ends with the result.
    func allReduce(_ tensor: Tensor, op: ReduceOp) throws(DistributedError)

    /// Starts ``allReduce(_:op:)`` and returns at once; `tensor` must stay untouched until the
    /// returned work has completed. Lets communication overlap computation.
    func allReduceAsync(_ tensor: Tensor, op: ReduceOp) throws(DistributedError) -> any DistributedWork

    /// Every rank's `tensor`, in rank order. Shapes may differ between ranks (the dtype may not),
    /// like `all_gather_object` for tensors.
    func allGather(_ tensor: Tensor) throws(DistributedError) -> [Tensor]

    /// Every rank's `tensor` concatenated along a new leading dimension, `[worldSize] + shape`,
    /// like `all_gather_into_tensor`. Every rank must pass the same shape and dtype.
    func allGatherIntoTensor(_ tensor: Tensor) throws(DistributedError) -> Tensor

    /// Overwrites `tensor` on every rank with rank `root`'s values (same shape and dtype everywhere).
    func broadcast(_ tensor: Tensor, from root: Int) throws(DistributedError)

    /// Returns once every rank has called it.
    func barrier() throws(DistributedError)

    /// Prints `message` (tagged with the rank) on stderr and ends every process of the job with
    /// `exitCode` (`MPI_Abort`), so that no rank is left waiting for one that failed.
    func abort(_ message: String, exitCode: Int32) -> Never
}

/// A collective started by ``ProcessGroup/allReduceAsync(_:op:)``, like `torch.distributed.Work`.
public protocol DistributedWork: AnyObject {
    /// Whether the operation has finished (and its result is in the tensor). Also drives MPI's
    /// progress, so calling it now and then while computing lets the transfer advance.
    func isCompleted() throws(DistributedError) -> Bool
    /// Blocks until the operation has finished.
    func wait() throws(DistributedError)
}

extension ProcessGroup {
    /// Every rank's bytes, in rank order (sizes may differ), e.g. to compare descriptions.
    public func allGather(bytes: [UInt8]) throws(DistributedError) -> [[UInt8]] {
        let parts = try allGather(Tensor(bytes, shape: [bytes.count]))
        return parts.map { $0.toArray(of: UInt8.self) }
    }

    /// Every rank's string, in rank order.
    public func allGather(string: String) throws(DistributedError) -> [String] {
        try allGather(bytes: Array(string.utf8)).map { String(decoding: $0, as: UTF8.self) }
    }

    /// `value` summed over all ranks.
    public func allReduceSum(_ value: Int) throws(DistributedError) -> Int {
        let t = Tensor([Int64(value)], shape: [1])
        try allReduce(t, op: .sum)
        return Int(t.pointer(as: Int64.self)[0])
    }

    /// Runs `body`; if it throws, reports the error (tagged with the rank) and takes the whole job
    /// down with ``abort(_:exitCode:)`` instead of leaving the other ranks waiting in a collective.
    ///
    /// ```swift
    /// group.abortingOnError { try trainer.run() }
    /// ```
    @discardableResult
    public func abortingOnError<R>(exitCode: Int32 = 1, _ body: () throws -> R) -> R {
        do { return try body() } catch { abort("\(error)", exitCode: exitCode) }
    }
}

/// Checks that `tensor` can be reduced; usage errors, like PyTorch's.
func checkReducible(_ tensor: Tensor, _ op: String) {
    usageCheck(tensor.dtype == .float32 || tensor.dtype == .float64 || tensor.dtype == .int64, op,
               "expected a float32, float64 or int64 tensor, got \(tensor.dtype)")
}

/// In place: `tensor` divided by `divisor` (integers truncated toward zero).
func divideInPlace(_ tensor: Tensor, by divisor: Int) {
    guard divisor != 1 else { return }
    switch tensor.dtype {
    case .int64:
        let p = tensor.pointer(as: Int64.self)
        for i in 0..<tensor.count { p[i] /= Int64(divisor) }
    default:
        tensor.copyData(from: Kernels.binary(.div, tensor, Double(divisor)))
    }
}
