import Synchronization

/// The communication backend of ``initProcessGroup(backend:)``.
public enum DistributedBackend: String, Sendable, CaseIterable {
    /// Open MPI (processes started by `mpirun`).
    case mpi
    /// One process, no communication.
    case single
}

private let defaultGroup = Mutex<(any ProcessGroup)?>(nil)

/// Creates the default process group every distributed object uses unless given another one,
/// like `torch.distributed.init_process_group(backend)`. With `.mpi` the group is every process
/// `mpirun` started; calling it again returns the group already made.
///
/// ```swift
/// let group = try initProcessGroup(backend: .mpi)
/// defer { try? destroyProcessGroup() }
/// ```
@discardableResult
public func initProcessGroup(backend: DistributedBackend = .mpi) throws(DistributedError) -> any ProcessGroup {
    if let existing = defaultProcessGroup { return existing }
    let group: any ProcessGroup
    switch backend {
    case .mpi: group = try MPIProcessGroup.world()
    case .single: group = SingleProcessGroup()
    }
    defaultGroup.withLock { $0 = group }
    return group
}

/// The group made by ``initProcessGroup(backend:)``, nil before (`torch.distributed.group.WORLD`).
public var defaultProcessGroup: (any ProcessGroup)? { defaultGroup.withLock { $0 } }

/// Whether ``initProcessGroup(backend:)`` has run (`torch.distributed.is_initialized()`).
public var isProcessGroupInitialized: Bool { defaultProcessGroup != nil }

/// Forgets the default group and, for MPI, ends MPI (`destroy_process_group`). Collective: call
/// it on every rank at the end of a successful run.
public func destroyProcessGroup() throws(DistributedError) {
    let group = defaultGroup.withLock { g -> (any ProcessGroup)? in
        let old = g
        g = nil
        return old
    }
    if group is MPIProcessGroup { try MPIProcessGroup.finalize() }
}
