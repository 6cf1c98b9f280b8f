/// Raw, non-recording kernels on tensors and buffers.
///
/// Autograd ops and layers build their outputs with these and use them again inside backward
/// closures (where recording a graph would be wasted work). Each area adds its kernels in an
/// extension in its own file (`GEMM.swift`, …).
///
/// ```swift
/// let c = Kernels.gemm(a, b, transB: true)   // a · bᵀ, nothing recorded
/// ```
public enum Kernels {}
