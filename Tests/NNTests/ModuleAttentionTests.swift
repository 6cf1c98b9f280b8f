import Testing
@testable import NN
import TensorCore
import Autograd

/// Straightforward loops over Double arrays: batch-first multi-head attention as PyTorch defines it.
private func referenceAttention(q: [Double], k: [Double], v: [Double], n: Int, l: Int, s: Int, e: Int, h: Int,
                                wIn: [Double], bIn: [Double], wOut: [Double], bOut: [Double],
                                mask: [Bool]?) -> (out: [Double], weights: [Double]) {
    let d = e / h
    func proj(_ x: [Double], _ rows: Int, _ part: Int) -> [Double] {
        var y = [Double](repeating: 0, count: rows * e)
        for r in 0..<rows { for o in 0..<e {
            var acc = bIn[part * e + o]
            for i in 0..<e { acc += x[r * e + i] * wIn[(part * e + o) * e + i] }
            y[r * e + o] = acc
        } }
        return y
    }
    let qp = proj(q, n * l, 0), kp = proj(k, n * s, 1), vp = proj(v, n * s, 2)
    var ctx = [Double](repeating: 0, count: n * l * e)
    var avg = [Double](repeating: 0, count: n * l * s)
    for b in 0..<n { for hh in 0..<h { for i in 0..<l {
        var scores = [Double](repeating: 0, count: s)
        for j in 0..<s {
            var acc = 0.0
            for t in 0..<d { acc += qp[(b * l + i) * e + hh * d + t] * kp[(b * s + j) * e + hh * d + t] }
            scores[j] = acc / Double(d).squareRoot()
            if let mask, mask[i * s + j] { scores[j] = -.infinity }
        }
        let m = scores.max()!
        let ex = scores.map { Foundation.exp($0 - m) }
        let z = ex.reduce(0, +)
        for j in 0..<s {
            let w = ex[j] / z
            avg[(b * l + i) * s + j] += w / Double(h)
            for t in 0..<d { ctx[(b * l + i) * e + hh * d + t] += w * vp[(b * s + j) * e + hh * d + t] }
        }
    } } }
    var out = [Double](repeating: 0, count: n * l * e)
    for r in 0..<(n * l) { for o in 0..<e {
        var acc = bOut[o]
        for i in 0..<e { acc += ctx[r * e + i] * wOut[o * e + i] }
        out[r * e + o] = acc
    } }
    return (out, avg)
}

import Foundation

@Suite("MultiheadAttention")
struct ModuleAttentionTests {
    @Test func parametersFollowPyTorch() {
        let attn = MultiheadAttention(embedDim: 16, numHeads: 4, batchFirst: true)
        let sd = attn.stateDict()
        #expect(sd.keys == ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        #expect(sd["in_proj_weight"]!.shape == [48, 16])
        #expect(sd["in_proj_bias"]!.shape == [48])
        #expect(sd["out_proj.weight"]!.shape == [16, 16])
        #expect(sd["in_proj_bias"]!.scalars.allSatisfy { $0 == 0 })
        #expect(sd["out_proj.bias"]!.scalars.allSatisfy { $0 == 0 })
        // Xavier uniform on [48, 16]: bound √(6 / 64).
        let bound = Float((6.0 / 64).squareRoot())
        #expect(sd["in_proj_weight"]!.scalars.allSatisfy { abs($0) <= bound })
        #expect(attn.parameterCount == 48 * 16 + 48 + 256 + 16)
        #expect(attn.description == """
            MultiheadAttention(
              (out_proj): NonDynamicallyQuantizableLinear(in_features=16, out_features=16, bias=True)
            )
            """)
    }

    @Test func matchesReferenceWithMaskBothLayouts() {
        let n = 2, l = 3, s = 4, e = 4, h = 2
        for batchFirst in [true, false] {
            let attn = MultiheadAttention(embedDim: e, numHeads: h, batchFirst: batchFirst, dtype: .float64)
            Init.uniform(attn.inProjBias!, low: -0.5, high: 0.5)
            Init.uniform(attn.outProj.bias!, low: -0.5, high: 0.5)
            let q = Tensor.randn([n, l, e], dtype: .float64)
            let k = Tensor.randn([n, s, e], dtype: .float64)
            let v = Tensor.randn([n, s, e], dtype: .float64)
            let maskValues = (0..<(l * s)).map { $0 % 5 == 1 }
            let mask = Tensor(maskValues, shape: [l, s])
            func layout(_ t: Tensor) -> Tensor { batchFirst ? t : t.transposed(0, 1) }
            let (out, w) = attn(layout(q), layout(k), layout(v), attnMask: mask)
            let ref = referenceAttention(
                q: q.toArray(of: Double.self), k: k.toArray(of: Double.self), v: v.toArray(of: Double.self),
                n: n, l: l, s: s, e: e, h: h,
                wIn: attn.inProjWeight.toArray(of: Double.self), bIn: attn.inProjBias!.toArray(of: Double.self),
                wOut: attn.outProj.weight.toArray(of: Double.self), bOut: attn.outProj.bias!.toArray(of: Double.self),
                mask: maskValues)
            let got = (batchFirst ? out : out.transposed(0, 1)).toArray(of: Double.self)
            #expect(zip(got, ref.out).allSatisfy { abs($0 - $1) < 1e-12 })
            #expect(w!.shape == [n, l, s])
            #expect(zip(w!.toArray(of: Double.self), ref.weights).allSatisfy { abs($0 - $1) < 1e-12 })
        }
    }

    @Test func keyPaddingMaskIgnoresKeysAndWeightsPerHead() {
        let attn = MultiheadAttention(embedDim: 4, numHeads: 2, batchFirst: true)
        let x = Tensor.randn([2, 3, 4])
        let pad = Tensor([false, false, true, false, true, true], shape: [2, 3])
        let (out, w) = attn(x, x, x, keyPaddingMask: pad, averageAttnWeights: false)
        #expect(out.shape == [2, 3, 4])
        #expect(w!.shape == [2, 2, 3, 3])
        let ws = w!.scalars
        for b in 0..<2 { for hh in 0..<2 { for i in 0..<3 {
            let row = (0..<3).map { ws[((b * 2 + hh) * 3 + i) * 3 + $0] }
            #expect(abs(row.reduce(0, +) - 1) < 1e-5)
            if b == 0 { #expect(row[2] == 0) } else { #expect(row[1] == 0 && row[2] == 0) }
        } } }
        // needWeights: false gives the same output and no weights.
        let (out2, none) = attn(x, x, x, keyPaddingMask: pad, needWeights: false)
        #expect(none == nil)
        #expect(out2.scalars == out.scalars)
        #expect(attn(x).scalars == attn(x, x, x).output.scalars)
    }

    @Test func unbatchedInput() {
        let attn = MultiheadAttention(embedDim: 4, numHeads: 1)
        let x = Tensor.randn([5, 4])
        let (out, w) = attn(x, x, x)
        #expect(out.shape == [5, 4])
        #expect(w!.shape == [5, 5])
    }

    @Test func validationMessages() {
        let attn = MultiheadAttention(embedDim: 8, numHeads: 2, batchFirst: true)
        #expect(throws: UsageError("MultiheadAttention", "was expecting embedding dimension of 8, but got 6")) {
            try attn.validate(Tensor.zeros([2, 3, 6]), Tensor.zeros([2, 3, 6]), Tensor.zeros([2, 3, 6]))
        }
        #expect(throws: UsageError.self) {
            let x = Tensor.zeros([2, 3, 8])
            try attn.validate(x, x, x, attnMask: Tensor.zeros([3, 4], dtype: .bool))
        }
    }

    @Test func gradcheckSelfAndCrossAttention() {
        let attn = MultiheadAttention(embedDim: 4, numHeads: 2, batchFirst: true, dtype: .float64)
        Init.uniform(attn.inProjBias!, low: -0.5, high: 0.5)
        let x = Tensor.randn([2, 3, 4], dtype: .float64, requiresGrad: true)
        #expect(gradcheck({ attn($0[0], $0[0], $0[0]).output }, inputs: [x, attn.inProjWeight, attn.inProjBias!,
                                                                         attn.outProj.weight, attn.outProj.bias!]))
        let q = Tensor.randn([2, 2, 4], dtype: .float64, requiresGrad: true)
        let kv = Tensor.randn([2, 3, 4], dtype: .float64, requiresGrad: true)
        let mask = Tensor([false, true, false, false, false, true], shape: [2, 3])
        #expect(gradcheck({ attn($0[0], $0[1], $0[1], attnMask: mask).weights! }, inputs: [q, kv, attn.inProjWeight]))
        #expect(gradcheck({ attn($0[0], $0[1], $0[1], attnMask: mask).output }, inputs: [q, kv, attn.inProjWeight]))
    }
}
