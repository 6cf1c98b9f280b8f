/// The kernel contract: raw, non-recording operations on tensors, the one way the layers above
/// TensorCore reach compute.
///
/// Every entry point takes Tensors and returns Tensors (plus, for the normalizations, small
/// per-channel or per-row statistics in Double); it checks what the kernel needs, picks the
/// operands' ``Backend`` from their ``Device`` once, and calls that backend's kernel, which
/// dispatches on dtype itself. Autograd ops and layers build their outputs with these and use
/// them again inside backward closures (where recording a graph would be wasted work). Each
/// kernel family adds its entry points in an extension next to its backend protocol
/// (`Backend/ElementwiseOps.swift`, `Backend/NormalizationOps.swift`, …).
///
/// ```swift
/// let c = Kernels.gemm(a, b, transB: true)   // a · bᵀ, nothing recorded
/// ```
public enum Kernels {}
