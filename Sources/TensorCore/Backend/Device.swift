/// Where a tensor's memory lives and which ``Backend`` runs its kernels.
///
/// Every ``TensorStorage`` carries its device; ``Kernels`` reads it from the operands and calls
/// that device's backend, once per operation. The CPU is the only device today: a Metal or CUDA
/// backend adds a case here and its ``Backend`` conformance, inside TensorCore alone.
///
/// ```swift
/// let x = Tensor.zeros([2, 3])
/// x.device            // cpu
/// x.device.backend    // CPUBackend()
/// ```
public enum Device: Hashable, Sendable, CustomStringConvertible {
    /// Host memory; kernels run on the CPU thread pool (``Parallel``).
    case cpu

    /// The backend that allocates this device's memory and runs its kernels.
    @inlinable public var backend: any Backend {
        switch self {
        case .cpu: CPUBackend()
        }
    }

    /// PyTorch's spelling (`cpu`), used in messages.
    public var description: String {
        switch self {
        case .cpu: "cpu"
        }
    }
}

extension Tensor {
    /// The device holding this tensor's storage.
    @inlinable public final var device: Device { storage.device }

    /// The backend that runs kernels on this tensor.
    @inlinable public final var backend: any Backend { storage.device.backend }
}
