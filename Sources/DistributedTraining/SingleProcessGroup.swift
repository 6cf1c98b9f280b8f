import Foundation
import TensorCore

/// A group of one process: every collective is the identity. Code written for data-parallel
/// training runs unchanged (and exactly as a plain run) without MPI.
///
/// ```swift
/// let group: any ProcessGroup = SingleProcessGroup()
/// let ddp = try DistributedDataParallel(model, processGroup: group)
/// ```
public final class SingleProcessGroup: ProcessGroup, @unchecked Sendable {
    public init() {}

    public var rank: Int { 0 }
    public var worldSize: Int { 1 }
    public var backendName: String { "single" }

    public func allReduce(_ tensor: Tensor, op: ReduceOp) throws(DistributedError) {
        checkReducible(tensor, "all_reduce")
    }

    public func allReduceAsync(_ tensor: Tensor, op: ReduceOp) throws(DistributedError) -> any DistributedWork {
        checkReducible(tensor, "all_reduce")
        return CompletedWork()
    }

    public func allGather(_ tensor: Tensor) throws(DistributedError) -> [Tensor] {
        [tensor.clonedData()]
    }

    public func allGatherIntoTensor(_ tensor: Tensor) throws(DistributedError) -> Tensor {
        tensor.clonedData().viewData([1] + tensor.shape)
    }

    public func broadcast(_ tensor: Tensor, from root: Int) throws(DistributedError) {
        usageCheck(root == 0, "broadcast", "Invalid root rank \(root) for a group of 1 process")
    }

    public func barrier() throws(DistributedError) {}

    public func abort(_ message: String, exitCode: Int32) -> Never {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
        exit(exitCode)
    }
}

/// Work that finished when it was created.
final class CompletedWork: DistributedWork {
    func isCompleted() throws(DistributedError) -> Bool { true }
    func wait() throws(DistributedError) {}
}
