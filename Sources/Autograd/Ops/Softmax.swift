import TensorCore

extension Tensor {
    /// `exp(x) / Σ exp(x)` along `dim`, computed stably (the maximum is subtracted first).
    ///
    /// ```swift
    /// let probs = logits.softmax(dim: -1)
    /// ```
    public func softmax(dim: Int) -> Tensor { softmaxOp(dim: dim, log: false) }

    /// `x − log Σ exp(x)` along `dim`, computed stably.
    public func logSoftmax(dim: Int) -> Tensor { softmaxOp(dim: dim, log: true) }

    private func softmaxOp(dim: Int, log: Bool) -> Tensor {
        let name = log ? "log_softmax" : "softmax"
        let d = orFail { () throws(UsageError) in try Kernels.normalizeDim(dim, rank: rank, op: name) }
        let x = dtype.isFloatingPoint ? self : Kernels.cast(self, to: .float32)
        let out = Kernels.softmax(x, dim: d, log: log)
        guard Autograd.isRecording(self), dtype.isFloatingPoint else { return out }
        let y = out.detach()
        return Autograd.record(name, output: out, inputs: [self]) { g in
            [Kernels.softmaxBackward(grad: g, output: y, dim: d, log: log)]
        }
    }
}
