import Testing
import TensorCore
import Autograd
import TestSupport

/// PyTorch's values and gradients for the ops whose special cases a finite-difference check cannot
/// see: kinks and ties (clamp bounds, maximum/minimum and max()/min() ties, relu/abs at 0), pow's
/// exponent branches, squeeze(), elu's alpha, the kinks of silu, leaky_relu, hardtanh/relu6, hardswish
/// and hardsigmoid. Cases from `fixtures/ops/elementwise.json`
/// (`scripts/reference/make_argument_fixtures.py`), all float64.
@Suite struct OpReferenceTests {
    static let cases = JSONReferenceCase.load("ops/elementwise.json")

    @Test func everyCaseIsPresent() {
        #expect(Self.cases.count == 33)
    }

    static func apply(_ c: JSONReferenceCase, _ x: [Tensor]) -> Tensor? {
        let a = c.args
        switch c.op {
        case "clamp": return x[0].clamp(min: a["min"], max: a["max"])
        case "pow": return a["exponent"].map { x[0].pow($0) }
        case "maximum": return x[0].maximum(x[1])
        case "minimum": return x[0].minimum(x[1])
        case "max": return x[0].max()
        case "min": return x[0].min()
        case "max_dim": return a["dim"].map { x[0].max(dim: Int($0)).values }
        case "min_dim": return a["dim"].map { x[0].min(dim: Int($0)).values }
        case "squeeze": return x[0].squeezed() * 2
        case "relu": return x[0].relu()
        case "abs": return x[0].abs()
        case "elu": return a["alpha"].map { x[0].elu(alpha: $0) }
        case "silu": return x[0].silu()
        case "leaky_relu": return a["negative_slope"].map { x[0].leakyReLU(negativeSlope: $0) }
        case "hardtanh":
            guard let lo = a["min"], let hi = a["max"] else { return nil }
            return lo == 0 && hi == 6 ? x[0].relu6() : x[0].hardtanh(min: lo, max: hi)
        case "hardswish": return x[0].hardswish()
        case "hardsigmoid": return x[0].hardsigmoid()
        default: return nil
        }
    }

    @Test(arguments: cases)
    func matchesPyTorch(_ c: JSONReferenceCase) throws {
        let inputs = c.inputs.map { v -> Tensor in
            let t = v.tensor
            t.requiresGrad = true
            return t
        }
        let y = try #require(Self.apply(c, inputs), "unknown op \(c.op)")
        let tight = (atol: 1e-12, rtol: 1e-12)
        #expect(Reference.mismatches(y, c.output.tensor, atol: tight.atol, rtol: tight.rtol).isEmpty, "\(c.name): output")
        y.backward(c.gradOutput.tensor)
        for (i, want) in c.gradInputs.enumerated() {
            guard let want else { #expect(inputs[i].grad == nil, "\(c.name): input \(i)"); continue }
            let bad = Reference.mismatches(inputs[i].grad, want.tensor, atol: tight.atol, rtol: tight.rtol)
            #expect(bad.isEmpty, "\(c.name): gradient of input \(i): \(bad)")
        }
    }
}
