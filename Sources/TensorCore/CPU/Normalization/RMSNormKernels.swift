// RMS normalization on x viewed as (rows, d): the uncentered case of the row kernels in
// LayerNormKernels.swift (no shift: the raw second moment is wanted, and it has no cancellation).

extension CPUBackend {
    /// RMS normalization forward: y = x / sqrt(mean(x²) + eps) · weight.
    /// - Returns: per row 0, mean(x²) and 1/sqrt(mean(x²) + eps).
    static func rmsNormForward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>,
                                      rows: Int, d: Int, weight: UnsafePointer<Float>?, eps: Double)
        -> (mean: [Double], variance: [Double], invstd: [Double]) {
        rowNormForward(x, y, rows: rows, d: d, weight: weight, bias: nil, eps: eps, centered: false)
    }

    /// RMS normalization backward: dx = r·(g − x̂·mean(g·x̂)), x̂ = r·x, g = weight·dy.
    /// - Returns: Σ over rows of dy·x̂ (the weight gradient), empty when not asked.
    @discardableResult
    static func rmsNormBackward(x: UnsafePointer<Float>, gradOutput dy: UnsafePointer<Float>,
                                       gradInput dx: UnsafeMutablePointer<Float>?,
                                       rows: Int, d: Int, invstd: [Double],
                                       weight: UnsafePointer<Float>?, weightGradients: Bool) -> [Double] {
        rowNormBackward(x, dy, dx, rows: rows, d: d, mean: [Double](repeating: 0, count: rows), invstd: invstd,
                        weight: weight, weightGradients: weightGradients, centered: false).gradWeight
    }
}
