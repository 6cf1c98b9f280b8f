/// Raw, non-recording kernels on contiguous buffers. Autograd ops and layers call them to build
/// outputs and, in backward closures, gradients.
public enum Kernels {}
