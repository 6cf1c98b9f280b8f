import Testing
import TensorCore
import Autograd

/// Every differentiable op against central finite differences in float64.
@Suite struct GradCheckOpsTests {
    @Test func broadcastingArithmetic() {
        let a = leaf([3, 1, 4], seed: 1), b = leaf([2, 1], seed: 2)
        #expect(gradcheck({ $0[0] + $0[1] }, inputs: [a, b], name: "add"))
        #expect(gradcheck({ $0[0] - $0[1] }, inputs: [a, b], name: "sub"))
        #expect(gradcheck({ $0[0] * $0[1] }, inputs: [a, b], name: "mul"))
        let d = leaf([2, 1], seed: 3, lo: 0.5, hi: 2)
        #expect(gradcheck({ $0[0] / $0[1] }, inputs: [a, d], name: "div"))
        let same = leaf([3, 1, 4], seed: 4)
        #expect(gradcheck({ $0[0] * $0[1] + $0[0] }, inputs: [a, same], name: "same-shape"))
        let s = leaf([], seed: 5)
        #expect(gradcheck({ $0[0] * $0[1] }, inputs: [a, s], name: "0-d"))
    }

    @Test func scalarOperands() {
        let a = leaf([2, 3], seed: 6, lo: 0.5, hi: 2)
        #expect(gradcheck({ $0[0] + 2.5 }, inputs: [a]))
        #expect(gradcheck({ 2.5 + $0[0] }, inputs: [a]))
        #expect(gradcheck({ $0[0] - 1.5 }, inputs: [a]))
        #expect(gradcheck({ 1.5 - $0[0] }, inputs: [a]))
        #expect(gradcheck({ $0[0] * -3 }, inputs: [a]))
        #expect(gradcheck({ 3 * $0[0] }, inputs: [a]))
        #expect(gradcheck({ $0[0] / 4 }, inputs: [a]))
        #expect(gradcheck({ 4 / $0[0] }, inputs: [a]))
        #expect(gradcheck({ -$0[0] }, inputs: [a]))
        #expect(gradcheck({ $0[0].neg() }, inputs: [a]))
    }

    @Test func powers() {
        let a = leaf([2, 3], seed: 7, lo: 0.5, hi: 2)
        #expect(gradcheck({ $0[0].pow(3) }, inputs: [a]))
        #expect(gradcheck({ $0[0].pow(2) }, inputs: [a]))
        #expect(gradcheck({ $0[0].pow(-1.5) }, inputs: [a]))
        // The special-cased exponents (own forward and backward branches), also on negative bases.
        let signed = leafAwayFromZero([2, 3], seed: 27)
        for e in [0.0, 1.0, 2.0, 3.0] {
            #expect(gradcheck({ $0[0].pow(e) * $0[0] }, inputs: [signed], name: "pow \(e) signed"))
        }
        #expect(gradcheck({ $0[0].pow(0.5) }, inputs: [a], name: "pow 0.5"))
        let e = leaf([3], seed: 8, lo: -1, hi: 2)
        #expect(gradcheck({ $0[0].pow($0[1]) }, inputs: [a, e], name: "pow tensor"))
    }

    @Test func unaryFunctions() {
        let x = leafAwayFromZero([2, 3, 2], seed: 9)
        let pos = leaf([2, 5], seed: 10, lo: 0.3, hi: 3)
        #expect(gradcheck({ $0[0].abs() }, inputs: [x], name: "abs"))
        #expect(gradcheck({ $0[0].exp() }, inputs: [x], name: "exp"))
        #expect(gradcheck({ $0[0].log() }, inputs: [pos], name: "log"))
        #expect(gradcheck({ $0[0].sqrt() }, inputs: [pos], name: "sqrt"))
        #expect(gradcheck({ $0[0].rsqrt() }, inputs: [pos], name: "rsqrt"))
        #expect(gradcheck({ $0[0].relu() }, inputs: [x], name: "relu"))
        #expect(gradcheck({ $0[0].sigmoid() }, inputs: [x], name: "sigmoid"))
        #expect(gradcheck({ $0[0].tanh() }, inputs: [x], name: "tanh"))
        #expect(gradcheck({ $0[0].gelu() }, inputs: [x], name: "gelu"))
        #expect(gradcheck({ $0[0].gelu(approximate: .tanh) }, inputs: [x], name: "gelu tanh"))
        #expect(gradcheck({ $0[0].selu() }, inputs: [x], name: "selu"))
        #expect(gradcheck({ $0[0].elu() }, inputs: [x], name: "elu"))
        #expect(gradcheck({ $0[0].elu(alpha: 0.5) }, inputs: [x], name: "elu 0.5"))
        #expect(gradcheck({ $0[0].silu() }, inputs: [x], name: "silu"))
        #expect(gradcheck({ $0[0].leakyReLU(negativeSlope: 0.2) }, inputs: [x], name: "leaky_relu"))
        // Scaled and shifted so that the data cross every kink (±3, 0 and 6, the bounds).
        #expect(gradcheck({ $0[0].hardtanh(min: -0.525, max: 0.525) }, inputs: [x], name: "hardtanh"))
        #expect(gradcheck({ ($0[0] * 4 + 0.1).hardswish() }, inputs: [x], name: "hardswish"))
        #expect(gradcheck({ ($0[0] * 4 + 0.1).hardsigmoid() }, inputs: [x], name: "hardsigmoid"))
        #expect(gradcheck({ ($0[0] * 4 + 3.1).relu6() }, inputs: [x], name: "relu6"))
    }

    @Test func clampKeepsGradientInsideTheRange() {
        // Bounds chosen away from the data (values are ≥ 0.1 away from 0 and ±0.05 grid).
        let x = leafAwayFromZero([4, 3], seed: 11)
        #expect(gradcheck({ $0[0].clamp(min: -0.05, max: 0.05) }, inputs: [x], name: "clamp both"))
        #expect(gradcheck({ $0[0].clamp(min: 0.0) }, inputs: [x], name: "clamp min"))
        #expect(gradcheck({ $0[0].clamp(max: 0.0) }, inputs: [x], name: "clamp max"))
        // A two-sided range with elements below, inside and above it (all ≥ 0.05 from a bound).
        let mixed = Tensor([-1.7, -0.6, -0.45, -0.2, 0.0, 0.3, 0.45, 0.55, 0.8, 1.4, -0.3, 0.1], shape: [4, 3], requiresGrad: true)
        #expect(gradcheck({ $0[0].clamp(min: -0.5, max: 0.5) }, inputs: [mixed], name: "clamp both, elements inside"))
        #expect(gradcheck({ $0[0].clamp(min: -0.5, max: 0.5) * $0[0] }, inputs: [mixed], name: "clamp both, times x"))
    }

    @Test func reductions() {
        let x = leaf([2, 3, 4], seed: 12)
        #expect(gradcheck({ $0[0].sum() }, inputs: [x], name: "sum"))
        #expect(gradcheck({ $0[0].mean() }, inputs: [x], name: "mean"))
        #expect(gradcheck({ $0[0].sum(dim: 1) }, inputs: [x], name: "sum dim"))
        #expect(gradcheck({ $0[0].sum(dim: -1, keepDim: true) }, inputs: [x], name: "sum keepDim"))
        #expect(gradcheck({ $0[0].sum(dims: [0, 2]) }, inputs: [x], name: "sum dims"))
        #expect(gradcheck({ $0[0].mean(dim: 0) }, inputs: [x], name: "mean dim"))
        #expect(gradcheck({ $0[0].mean(dims: [0, 2], keepDim: true) }, inputs: [x], name: "mean dims"))
        #expect(gradcheck({ $0[0].variance(dims: [1]) }, inputs: [x], name: "var"))
        #expect(gradcheck({ $0[0].variance(dims: [0, 2], unbiased: false, keepDim: true) }, inputs: [x], name: "var biased"))
        #expect(gradcheck({ $0[0].variance() }, inputs: [x], name: "var all"))
        #expect(gradcheck({ $0[0].max() }, inputs: [x], name: "max"))
        #expect(gradcheck({ $0[0].min() }, inputs: [x], name: "min"))
        #expect(gradcheck({ $0[0].max(dim: 1).values }, inputs: [x], name: "max dim"))
        #expect(gradcheck({ $0[0].min(dim: -1, keepDim: true).values }, inputs: [x], name: "min dim"))
    }

    @Test func softmaxes() {
        let x = leaf([3, 4, 2], seed: 13)
        for d in [0, 1, -1] {
            #expect(gradcheck({ $0[0].softmax(dim: d) }, inputs: [x], name: "softmax \(d)"))
            #expect(gradcheck({ $0[0].logSoftmax(dim: d) }, inputs: [x], name: "logSoftmax \(d)"))
        }
    }

    @Test func shapeOps() {
        let x = leaf([2, 3, 4], seed: 14)
        #expect(gradcheck({ $0[0].reshaped([4, -1]) * 2 }, inputs: [x], name: "reshape"))
        #expect(gradcheck({ $0[0].view([6, 4]) * 2 }, inputs: [x], name: "view"))
        #expect(gradcheck({ $0[0].flattened(startDim: 1) * 2 }, inputs: [x], name: "flatten"))
        #expect(gradcheck({ $0[0].permuted([2, 0, 1]) }, inputs: [x], name: "permute"))
        #expect(gradcheck({ $0[0].transposed() }, inputs: [x], name: "transpose"))
        #expect(gradcheck({ $0[0].transposed(0, 2) }, inputs: [x], name: "transpose 0 2"))
        #expect(gradcheck({ $0[0].unsqueezed(dim: 1).squeezed(dim: 1) * 3 }, inputs: [x], name: "unsqueeze squeeze"))
        let ones = leaf([1, 3, 1, 2, 1], seed: 28)
        #expect(gradcheck({ $0[0].squeezed() * $0[0].squeezed() }, inputs: [ones], name: "squeeze all"))
        let y = leaf([3, 1], seed: 15)
        #expect(gradcheck({ $0[0].expanded(to: [2, 3, 4]) }, inputs: [y], name: "expand"))
        #expect(gradcheck({ $0[0].sumToShape([3, 1]) }, inputs: [x], name: "sumToShape"))
        #expect(gradcheck({ $0[0].sumToShape([4]) }, inputs: [x], name: "sumToShape lead"))
        // Through float32 the function is linear, so a wide step only avoids float32 rounding noise.
        #expect(gradcheck({ $0[0].to(.float32).to(.float64) * 2 }, inputs: [y], eps: 1e-2, name: "to"))
    }

    @Test func indexing() {
        let a = leaf([2, 3], seed: 16), b = leaf([2, 2], seed: 17)
        #expect(gradcheck({ Tensor.concat([$0[0], $0[1]], dim: 1) }, inputs: [a, b], name: "concat"))
        let c = leaf([2, 3], seed: 18)
        #expect(gradcheck({ Tensor.stack([$0[0], $0[1]], dim: 1) }, inputs: [a, c], name: "stack"))
        let x = leaf([3, 4, 2], seed: 19)
        #expect(gradcheck({ $0[0].sliced(dim: 1, start: 1, end: 3) }, inputs: [x], name: "slice"))
        #expect(gradcheck({ $0[0].sliced(dim: 0, start: -2, end: 100) * 1 }, inputs: [x], name: "slice dim0"))
        #expect(gradcheck({ $0[0][1] * 1 }, inputs: [x], name: "subscript"))
        let idx = Tensor([2, 0, 2] as [Int64], shape: [3])
        #expect(gradcheck({ $0[0].indexSelect(dim: 1, index: idx) }, inputs: [x], name: "indexSelect"))
        #expect(gradcheck({ Tensor.concat($0[0].chunked(2, dim: 1).reversed(), dim: 1) }, inputs: [x], name: "chunked"))
        let mask = x.detach().gt(0.5)
        #expect(gradcheck({ $0[0].masked(fill: -1, where: mask) }, inputs: [x], name: "masked"))
        let p = leaf([4, 1], seed: 20), q = leaf([1, 2], seed: 21)
        let cond = Tensor([true, false, true, false, false, true, true, false] as [Bool], shape: [4, 2])
        #expect(gradcheck({ Tensor.where(cond, $0[0], $0[1]) }, inputs: [p, q], name: "where"))
    }

    @Test func composite() {
        let x = leaf([3, 4], seed: 22), w = leaf([4], seed: 23), b = leaf([1], seed: 24)
        #expect(gradcheck({ (($0[0] * $0[1]).sum(dim: 1) + $0[2]).tanh().mean() }, inputs: [x, w, b]))
        // The same tensor used twice accumulates both paths.
        #expect(gradcheck({ $0[0] * $0[0] + $0[0].exp() }, inputs: [x]))
    }

    @Test func maximumAndMinimum() {
        // Distinct values (no ties within eps) so the selected input is unambiguous.
        let a = leaf([3, 1, 4], seed: 25), b = leaf([2, 1], seed: 26)
        #expect(gradcheck({ $0[0].maximum($0[1]) }, inputs: [a, b], name: "maximum"))
        #expect(gradcheck({ $0[0].minimum($0[1]) }, inputs: [a, b], name: "minimum"))
    }

    /// Random broadcast-compatible shape pairs (seeded): every binary op and `where`.
    @Test func randomBroadcastShapes() {
        var rng = SplitMix(seed: 42)
        for trial in 0..<6 {
            let rank = 1 + rng.next(3)
            let full = (0..<rank).map { _ in 1 + rng.next(3) }
            func derived() -> [Int] {
                let drop = rng.next(rank)
                return full.dropFirst(drop).map { rng.next(3) == 0 ? 1 : $0 }
            }
            let sa = derived(), sb = derived()
            let a = leaf(sa, seed: UInt64(100 + trial)), b = leaf(sb, seed: UInt64(200 + trial), lo: 0.5, hi: 2)
            let label = "\(shapeString(sa)) ⊕ \(shapeString(sb))"
            #expect(gradcheck({ $0[0] + $0[1] }, inputs: [a, b], name: "add " + label))
            #expect(gradcheck({ $0[0] - $0[1] }, inputs: [a, b], name: "sub " + label))
            #expect(gradcheck({ $0[0] * $0[1] }, inputs: [a, b], name: "mul " + label))
            #expect(gradcheck({ $0[0] / $0[1] }, inputs: [a, b], name: "div " + label))
            #expect(gradcheck({ $0[1].pow($0[0]) }, inputs: [a, b], name: "pow " + label))
            let cond = Kernels.compare(.gt, Tensor.uniform(sa, low: -1, high: 1, generator: Generator(seed: UInt64(300 + trial))), 0)
            #expect(gradcheck({ Tensor.where(cond, $0[0], $0[1]) }, inputs: [a, b], name: "where " + label))
        }
    }
}

/// A tiny deterministic generator for test shapes.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}
