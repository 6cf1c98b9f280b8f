// The CPU backend's normalization family: dtype dispatch onto the float32 SIMD kernels of this
// folder and the float64 reference loops (NormReference.swift).

@inline(__always)
private func floats(_ t: Tensor?) -> UnsafePointer<Float>? { t.map { UnsafePointer($0.pointer(as: Float.self)) } }

@inline(__always)
private func doubles(_ t: Tensor?) -> UnsafePointer<Double>? { t.map { UnsafePointer($0.pointer(as: Double.self)) } }

/// `x` viewed as (n, c, s): batch, channels, everything after.
@inline(__always)
private func ncs(_ x: Tensor) -> (n: Int, c: Int, s: Int) {
    (x.shape[0], x.shape[1], x.shape.dropFirst(2).reduce(1, *))
}

extension CPUBackend: NormalizationOps {
    public func batchNormStatistics(_ x: Tensor) -> ChannelStatistics {
        let (n, c, s) = ncs(x)
        guard n * s > 0 else { return .empty(channels: c) }
        let r = withExtendedLifetime(x) {
            x.dtype == .float64 ? Self.batchNormStatistics(doubles(x)!, n: n, c: c, s: s)
                                : Self.batchNormStatistics(floats(x)!, n: n, c: c, s: s)
        }
        return ChannelStatistics(count: n * s, mean: r.mean, m2: r.variance.map { $0 * Double(n * s) })
    }

    public func batchNormApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?) -> Tensor {
        let (n, c, s) = ncs(x)
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        withExtendedLifetime((x, weight, bias)) {
            if x.dtype == .float64 {
                Self.batchNormApply(doubles(x)!, y.pointer(as: Double.self), n: n, c: c, s: s, mean: mean, invstd: invstd,
                                    weight: doubles(weight), bias: doubles(bias))
            } else {
                Self.batchNormApply(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s, mean: mean, invstd: invstd,
                                    weight: floats(weight), bias: floats(bias))
            }
        }
        return y
    }

    public func batchNormTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics) {
        guard x.dtype == .float32 else {
            let stats = batchNormStatistics(x)
            return (batchNormApply(x, mean: stats.mean, invstd: stats.invstd(eps: eps), weight: weight, bias: bias), stats)
        }
        let (n, c, s) = ncs(x)
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let r = withExtendedLifetime((x, weight, bias)) {
            Self.batchNormTrainingForward(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s,
                                          weight: floats(weight), bias: floats(bias), eps: eps)
        }
        guard n * s > 0 else { return (y, .empty(channels: c)) }
        return (y, ChannelStatistics(count: n * s, mean: r.mean, m2: r.variance.map { $0 * Double(n * s) }))
    }

    public func batchNormBackwardReduce(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double]) -> ChannelGradientSums {
        let (n, c, s) = ncs(x)
        return withExtendedLifetime((x, gradOutput)) {
            if x.dtype == .float64 {
                let g = Self.batchNormBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: nil, n: n, c: c, s: s,
                                               mean: mean, invstd: invstd, weight: nil, batchStatistics: true, weightGradients: true)
                return ChannelGradientSums(count: n * s, sumDy: g.gradBias, sumDyXhat: g.gradWeight)
            }
            let g = Self.batchNormGradientSums(x: floats(x)!, gradOutput: floats(gradOutput)!, n: n, c: c, s: s,
                                               mean: mean, invstd: invstd)
            return ChannelGradientSums(count: n * s, sumDy: g.sumDy, sumDyXhat: g.sumDyXhat)
        }
    }

    public func batchNormBackwardApply(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                       sums: ChannelGradientSums?) -> Tensor {
        let (n, c, s) = ncs(x)
        let dx = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let raw = sums.map { (count: $0.count, sumDy: $0.sumDy, sumDyXhat: $0.sumDyXhat) }
        withExtendedLifetime((x, gradOutput, weight)) {
            if x.dtype == .float64 {
                Self.batchNormGradInput(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx.pointer(as: Double.self),
                                        n: n, c: c, s: s, mean: mean, invstd: invstd, weight: doubles(weight), sums: raw)
            } else {
                Self.batchNormGradInput(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx.pointer(as: Float.self),
                                        n: n, c: c, s: s, mean: mean, invstd: invstd, weight: floats(weight), sums: raw)
            }
        }
        return dx
    }

    public func batchNormBackward(_ x: Tensor, gradOutput: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                  batchStatistics: Bool, needInput: Bool, needSums: Bool) -> (input: Tensor?, sums: ChannelGradientSums?) {
        let (n, c, s) = ncs(x)
        let dx = needInput ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let wantSums = needSums || batchStatistics
        let g = withExtendedLifetime((x, gradOutput, weight)) {
            if x.dtype == .float64 {
                Self.batchNormBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx?.pointer(as: Double.self),
                                       n: n, c: c, s: s, mean: mean, invstd: invstd, weight: doubles(weight),
                                       batchStatistics: batchStatistics, weightGradients: wantSums)
            } else {
                Self.batchNormBackward(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx?.pointer(as: Float.self),
                                       n: n, c: c, s: s, mean: mean, invstd: invstd, weight: floats(weight),
                                       batchStatistics: batchStatistics, weightGradients: wantSums)
            }
        }
        let sums = wantSums ? ChannelGradientSums(count: n * s, sumDy: g.gradBias, sumDyXhat: g.gradWeight) : nil
        return (dx, sums)
    }

    public func batchNormReLUTrainingForward(_ x: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap) {
        let (n, c, s) = ncs(x)
        guard x.dtype == .float32 else {
            let stats = batchNormStatistics(x)
            let (y, map) = batchNormReLUApply(x, mean: stats.mean, invstd: stats.invstd(eps: eps), weight: weight, bias: bias)
            return (y, stats, map)
        }
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let constants = NormScratch<Float>(3 * c, 0)
        defer { constants.free() }
        let r = withExtendedLifetime((x, weight, bias)) {
            Self.batchNormTrainingForward(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s,
                                          weight: floats(weight), bias: floats(bias), eps: eps, relu: true, constants: constants.p)
        }
        let map = Self.affineMap(constants, c)
        guard n * s > 0 else { return (y, .empty(channels: c), map) }
        return (y, ChannelStatistics(count: n * s, mean: r.mean, m2: r.variance.map { $0 * Double(n * s) }), map)
    }

    public func batchNormReLUApply(_ x: Tensor, mean: [Double], invstd: [Double], weight: Tensor?, bias: Tensor?)
        -> (output: Tensor, map: ChannelAffineMap) {
        let (n, c, s) = ncs(x)
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        if x.dtype == .float64 {
            let map = withExtendedLifetime((weight, bias)) {
                NormReference.reluMap(c: c, mean: mean, invstd: invstd, weight: doubles(weight), bias: doubles(bias))
            }
            withExtendedLifetime(x) { NormReference.reluApply(doubles(x)!, y.pointer(as: Double.self), n: n, c: c, s: s, map: map) }
            return (y, map)
        }
        let constants = NormScratch<Float>(3 * c, 0)
        defer { constants.free() }
        withExtendedLifetime((x, weight, bias)) {
            Self.batchNormApply(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s, mean: mean, invstd: invstd,
                                weight: floats(weight), bias: floats(bias), relu: true, constants: constants.p)
        }
        return (y, Self.affineMap(constants, c))
    }

    public func batchNormReLUBackward(_ x: Tensor, gradOutput: Tensor, map: ChannelAffineMap, mean: [Double], invstd: [Double],
                                      weight: Tensor?, batchStatistics: Bool, needInput: Bool, needSums: Bool)
        -> (input: Tensor?, sums: ChannelGradientSums?) {
        let (n, c, s) = ncs(x)
        let dx = needInput ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let wantSums = needSums || batchStatistics
        let g: (gradWeight: [Double], gradBias: [Double])
        if x.dtype == .float64 {
            g = withExtendedLifetime((x, gradOutput, weight)) {
                NormReference.reluBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx?.pointer(as: Double.self),
                                           n: n, c: c, s: s, map: map, mean: mean, invstd: invstd, weight: doubles(weight),
                                           batchStatistics: batchStatistics)
            }
        } else {
            // The float32 gate subtracts Float(mean), the shift the forward subtracted: they must agree.
            for ch in 0..<c where n * s > 0 && !mean[ch].isNaN {
                precondition(Float(mean[ch]) == Float(map.shift[ch]), "batch_norm_relu: the map was not made with these statistics")
            }
            let gate = NormScratch<Float>(map.shift.map(Float.init) + map.scale.map(Float.init) + map.offset.map(Float.init))
            defer { gate.free() }
            g = withExtendedLifetime((x, gradOutput, weight)) {
                Self.batchNormBackward(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx?.pointer(as: Float.self),
                                       n: n, c: c, s: s, mean: mean, invstd: invstd, weight: floats(weight),
                                       batchStatistics: batchStatistics, weightGradients: wantSums, gate: UnsafePointer(gate.p))
            }
        }
        let sums = wantSums ? ChannelGradientSums(count: n * s, sumDy: g.gradBias, sumDyXhat: g.gradWeight) : nil
        return (dx, sums)
    }

    public func batchNormAddReLUTrainingForward(_ x: Tensor, residual: Tensor, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: ChannelStatistics, map: ChannelAffineMap) {
        let (n, c, s) = ncs(x)
        guard x.dtype == .float32 else {
            let stats = batchNormStatistics(x)
            let (y, map) = batchNormAddReLUApply(x, residual: residual, mean: stats.mean, invstd: stats.invstd(eps: eps),
                                                 weight: weight, bias: bias)
            return (y, stats, map)
        }
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let constants = NormScratch<Float>(3 * c, 0)
        defer { constants.free() }
        // Batch norm's own training sweep (the same statistics and constants as the unfused layer),
        // with the residual added before the ReLU; an (N, C) input adds it afterwards.
        let r = withExtendedLifetime((x, residual, weight, bias)) {
            Self.batchNormTrainingForward(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s, weight: floats(weight),
                                          bias: floats(bias), eps: eps, relu: s > 1, constants: constants.p,
                                          residual: s > 1 ? floats(residual)! : nil)
        }
        if s == 1 { withExtendedLifetime(residual) { Self.addReLU(y, floats(residual)!) } }
        let map = Self.affineMap(constants, c)
        guard n * s > 0 else { return (y, .empty(channels: c), map) }
        return (y, ChannelStatistics(count: n * s, mean: r.mean, m2: r.variance.map { $0 * Double(n * s) }), map)
    }

    public func batchNormAddReLUApply(_ x: Tensor, residual: Tensor, mean: [Double], invstd: [Double], weight: Tensor?,
                                      bias: Tensor?) -> (output: Tensor, map: ChannelAffineMap) {
        let (n, c, s) = ncs(x)
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        if x.dtype == .float64 {
            let map = withExtendedLifetime((weight, bias)) {
                NormReference.reluMap(c: c, mean: mean, invstd: invstd, weight: doubles(weight), bias: doubles(bias))
            }
            withExtendedLifetime((x, residual)) {
                let xp = doubles(x)!, rp = doubles(residual)!, yp = y.pointer(as: Double.self)
                for i in 0..<(n * c * s) {
                    let ch = (i / s) % c
                    let v = (xp[i] - map.shift[ch]) * map.scale[ch] + map.offset[ch] + rp[i]
                    yp[i] = v < 0 ? 0 : v
                }
            }
            return (y, map)
        }
        let constants = NormScratch<Float>(3 * c, 0)
        defer { constants.free() }
        withExtendedLifetime((x, residual, weight, bias)) {
            Self.batchNormApply(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s, mean: mean, invstd: invstd,
                                weight: floats(weight), bias: floats(bias), relu: s > 1, constants: constants.p,
                                residual: s > 1 ? floats(residual)! : nil)
        }
        if s == 1 { withExtendedLifetime(residual) { Self.addReLU(y, floats(residual)!) } }
        return (y, Self.affineMap(constants, c))
    }

    /// y = max(0, y + r) in place, for (N, C) batch norm outputs (the rounding of the add, then the ReLU).
    private static func addReLU(_ y: Tensor, _ r: UnsafePointer<Float>) {
        let p = y.pointer(as: Float.self)
        for i in 0..<y.count { p[i] = nrelu(p[i] + r[i]) }
    }

    /// The map from a float32 kernel's 3·c constants (shift, scale, offset).
    private static func affineMap(_ k: NormScratch<Float>, _ c: Int) -> ChannelAffineMap {
        ChannelAffineMap(shift: (0..<c).map { Double(k[$0]) }, scale: (0..<c).map { Double(k[c + $0]) },
                         offset: (0..<c).map { Double(k[2 * c + $0]) })
    }

    public func updateRunningStatistic(_ running: Tensor, with batch: [Double], factor: Double) {
        withExtendedLifetime(running) {
            if running.dtype == .float64 {
                let p = running.pointer(as: Double.self)
                for i in 0..<running.count { p[i] = (1 - factor) * p[i] + factor * batch[i] }
            } else {
                let p = running.pointer(as: Float.self)
                for i in 0..<running.count { p[i] = Float((1 - factor) * Double(p[i]) + factor * batch[i]) }
            }
        }
    }

    public func groupNorm(_ x: Tensor, groups: Int, weight: Tensor?, bias: Tensor?, eps: Double)
        -> (output: Tensor, statistics: RowStatistics) {
        let (n, c, s) = ncs(x)
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let r = withExtendedLifetime((x, weight, bias)) {
            x.dtype == .float64
                ? Self.groupNormForward(doubles(x)!, y.pointer(as: Double.self), n: n, c: c, s: s, groups: groups,
                                        weight: doubles(weight), bias: doubles(bias), eps: eps)
                : Self.groupNormForward(floats(x)!, y.pointer(as: Float.self), n: n, c: c, s: s, groups: groups,
                                        weight: floats(weight), bias: floats(bias), eps: eps)
        }
        return (y, RowStatistics(mean: r.mean, variance: r.variance, invstd: r.invstd))
    }

    public func groupNormBackward(_ x: Tensor, gradOutput: Tensor, groups: Int, statistics: RowStatistics, weight: Tensor?,
                                  needInput: Bool, needAffine: Bool) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let (n, c, s) = ncs(x)
        let dx = needInput ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let g = withExtendedLifetime((x, gradOutput, weight)) {
            x.dtype == .float64
                ? Self.groupNormBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx?.pointer(as: Double.self),
                                         n: n, c: c, s: s, groups: groups, mean: statistics.mean, invstd: statistics.invstd,
                                         weight: doubles(weight), weightGradients: needAffine)
                : Self.groupNormBackward(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx?.pointer(as: Float.self),
                                         n: n, c: c, s: s, groups: groups, mean: statistics.mean, invstd: statistics.invstd,
                                         weight: floats(weight), weightGradients: needAffine)
        }
        return affineGradients(dx, g, needAffine, channels: c, dtype: x.dtype)
    }

    public func layerNorm(_ x: Tensor, d: Int, weight: Tensor?, bias: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics) {
        let rows = d == 0 ? 0 : x.count / d
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let r = withExtendedLifetime((x, weight, bias)) {
            x.dtype == .float64
                ? Self.layerNormForward(doubles(x)!, y.pointer(as: Double.self), rows: rows, d: d,
                                        weight: doubles(weight), bias: doubles(bias), eps: eps)
                : Self.layerNormForward(floats(x)!, y.pointer(as: Float.self), rows: rows, d: d,
                                        weight: floats(weight), bias: floats(bias), eps: eps)
        }
        return (y, RowStatistics(mean: r.mean, variance: r.variance, invstd: r.invstd))
    }

    public func layerNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                                  needInput: Bool, needAffine: Bool) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let rows = d == 0 ? 0 : x.count / d
        let dx = needInput ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let g = withExtendedLifetime((x, gradOutput, weight)) {
            x.dtype == .float64
                ? Self.layerNormBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx?.pointer(as: Double.self),
                                         rows: rows, d: d, mean: statistics.mean, invstd: statistics.invstd,
                                         weight: doubles(weight), weightGradients: needAffine)
                : Self.layerNormBackward(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx?.pointer(as: Float.self),
                                         rows: rows, d: d, mean: statistics.mean, invstd: statistics.invstd,
                                         weight: floats(weight), weightGradients: needAffine)
        }
        return affineGradients(dx, g, needAffine, channels: d, dtype: x.dtype)
    }

    public func rmsNorm(_ x: Tensor, d: Int, weight: Tensor?, eps: Double) -> (output: Tensor, statistics: RowStatistics) {
        let rows = d == 0 ? 0 : x.count / d
        let y = Tensor(uninitializedShape: x.shape, dtype: x.dtype)
        let r = withExtendedLifetime((x, weight)) {
            x.dtype == .float64
                ? Self.rmsNormForward(doubles(x)!, y.pointer(as: Double.self), rows: rows, d: d, weight: doubles(weight), eps: eps)
                : Self.rmsNormForward(floats(x)!, y.pointer(as: Float.self), rows: rows, d: d, weight: floats(weight), eps: eps)
        }
        return (y, RowStatistics(mean: r.mean, variance: r.variance, invstd: r.invstd))
    }

    public func rmsNormBackward(_ x: Tensor, gradOutput: Tensor, d: Int, statistics: RowStatistics, weight: Tensor?,
                                needInput: Bool, needWeight: Bool) -> (input: Tensor?, weight: Tensor?) {
        let rows = d == 0 ? 0 : x.count / d
        let dx = needInput ? Tensor(uninitializedShape: x.shape, dtype: x.dtype) : nil
        let gw = withExtendedLifetime((x, gradOutput, weight)) {
            x.dtype == .float64
                ? Self.rmsNormBackward(x: doubles(x)!, gradOutput: doubles(gradOutput)!, gradInput: dx?.pointer(as: Double.self),
                                       rows: rows, d: d, invstd: statistics.invstd, weight: doubles(weight), weightGradients: needWeight)
                : Self.rmsNormBackward(x: floats(x)!, gradOutput: floats(gradOutput)!, gradInput: dx?.pointer(as: Float.self),
                                       rows: rows, d: d, invstd: statistics.invstd, weight: floats(weight), weightGradients: needWeight)
        }
        return (dx, needWeight ? Tensor(converting: gw, shape: [d], dtype: x.dtype) : nil)
    }

    /// The (input, weight, bias) gradient triple, parameter gradients as 1-d tensors of `channels`.
    private func affineGradients(_ dx: Tensor?, _ g: (gradWeight: [Double], gradBias: [Double]), _ needAffine: Bool,
                                 channels: Int, dtype: DType) -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        guard needAffine else { return (dx, nil, nil) }
        return (dx, Tensor(converting: g.gradWeight, shape: [channels], dtype: dtype),
                Tensor(converting: g.gradBias, shape: [channels], dtype: dtype))
    }
}
