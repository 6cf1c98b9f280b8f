import Testing
import Foundation
@testable import SwiftNN

/// Pooling by its definition on [planes, H, W] Double data.
private func naivePool(_ x: Tensor, kind: String, k: (Int, Int), s: (Int, Int), p: (Int, Int), d: (Int, Int) = (1, 1),
                       ceil: Bool = false, countIncludePad: Bool = true, divisor: Int? = nil) -> [Double] {
    let H = x.shape[x.rank - 2], W = x.shape[x.rank - 1], planes = x.count / (H * W)
    func outSize(_ n: Int, _ k: Int, _ s: Int, _ p: Int, _ d: Int) -> Int {
        let num = n + 2 * p - d * (k - 1) - 1 + (ceil ? s - 1 : 0)
        var o = num / s + 1
        if ceil && (o - 1) * s >= n + p { o -= 1 }
        return o
    }
    let OH = outSize(H, k.0, s.0, p.0, d.0), OW = outSize(W, k.1, s.1, p.1, d.1)
    var out: [Double] = []
    for pl in 0..<planes { for oh in 0..<OH { for ow in 0..<OW {
        if kind == "max" {
            var best = -Double.infinity
            for i in 0..<k.0 { for j in 0..<k.1 {
                let h = oh * s.0 - p.0 + i * d.0, w = ow * s.1 - p.1 + j * d.1
                if h >= 0 && h < H && w >= 0 && w < W { best = max(best, x.doubleValue(at: pl * H * W + h * W + w)) }
            } }
            out.append(best)
        } else {
            let hs = oh * s.0 - p.0, ws = ow * s.1 - p.1
            let he = min(hs + k.0, H + p.0), we = min(ws + k.1, W + p.1)
            let poolSize = (he - hs) * (we - ws)
            var sum = 0.0, n = 0
            for h in max(hs, 0)..<min(he, H) { for w in max(ws, 0)..<min(we, W) { sum += x.doubleValue(at: pl * H * W + h * W + w); n += 1 } }
            out.append(sum / Double(divisor ?? (countIncludePad ? poolSize : n)))
        }
    } } }
    return out
}

private func close(_ t: Tensor, _ want: [Double], _ tol: Double = 1e-12) -> Bool {
    t.count == want.count && (0..<t.count).allSatisfy { abs(t.doubleValue(at: $0) - want[$0]) <= tol }
}

@Suite struct PoolingTests {
    @Test func maxPoolMatchesDefinition() {
        let x = filled([2, 3, 7, 8], seed: 1)
        #expect(close(maxPool2d(x, kernelSize: 2), naivePool(x, kind: "max", k: (2, 2), s: (2, 2), p: (0, 0))))
        #expect(maxPool2d(x, kernelSize: 2).shape == [2, 3, 3, 4])
        let y = maxPool2d(x, kernelSize: (3, 2), stride: (2, 1), padding: (1, 1), dilation: (1, 2), ceilMode: true)
        #expect(close(y, naivePool(x, kind: "max", k: (3, 2), s: (2, 1), p: (1, 1), d: (1, 2), ceil: true)))
        let z = maxPool2d(x, kernelSize: 3, stride: 2, ceilMode: true)
        #expect(z.shape == [2, 3, 3, 4])
        #expect(close(z, naivePool(x, kind: "max", k: (3, 3), s: (2, 2), p: (0, 0), ceil: true)))
        // Unbatched, and NaN propagates like PyTorch.
        let u = Tensor([1, .nan, 3, 4] as [Double], shape: [1, 2, 2])
        #expect(maxPool2d(u, kernelSize: 2).itemDouble().isNaN)
        let (_, idx) = maxPool2dWithIndices(Tensor([1, 5, 3, 4] as [Float], shape: [1, 1, 2, 2]), kernelSize: (2, 2))
        #expect(idx.toArray(of: Int64.self) == [1])
    }

    @Test func avgPoolMatchesDefinition() {
        let x = filled([2, 2, 7, 6], seed: 2)
        #expect(close(avgPool2d(x, kernelSize: 2), naivePool(x, kind: "avg", k: (2, 2), s: (2, 2), p: (0, 0))))
        for include in [true, false] {
            for ceil in [true, false] {
                let y = avgPool2d(x, kernelSize: (3, 2), stride: (2, 2), padding: (1, 1), ceilMode: ceil, countIncludePad: include)
                #expect(close(y, naivePool(x, kind: "avg", k: (3, 2), s: (2, 2), p: (1, 1), ceil: ceil, countIncludePad: include)), "include=\(include) ceil=\(ceil)")
            }
        }
        let dv = avgPool2d(x, kernelSize: 3, stride: 1, padding: 1, divisorOverride: 4)
        #expect(close(dv, naivePool(x, kind: "avg", k: (3, 3), s: (1, 1), p: (1, 1), divisor: 4)))
    }

    @Test func adaptiveAvgPoolBins() {
        let x = filled([2, 3, 5, 7], seed: 3)
        let y = adaptiveAvgPool2d(x, outputSize: (3, 4))
        #expect(y.shape == [2, 3, 3, 4])
        var want: [Double] = []
        for pl in 0..<6 { for i in 0..<3 { for j in 0..<4 {
            let h0 = i * 5 / 3, h1 = ((i + 1) * 5 + 2) / 3, w0 = j * 7 / 4, w1 = ((j + 1) * 7 + 3) / 4
            var s = 0.0
            for h in h0..<h1 { for w in w0..<w1 { s += x.doubleValue(at: pl * 35 + h * 7 + w) } }
            want.append(s / Double((h1 - h0) * (w1 - w0)))
        } } }
        #expect(close(y, want))
        let g = adaptiveAvgPool2d(x, outputSize: 1)
        #expect(g.shape == [2, 3, 1, 1])
        #expect(adaptiveAvgPool2d(x, outputSize: (nil, 2)).shape == [2, 3, 5, 2])
    }

    /// A 1×1 output (global pooling) takes its own loop, eight planes at a time: 19 planes cover
    /// full groups and a remainder, float32 and float64, forward and backward.
    @Test(arguments: [DType.float32, .float64])
    func globalAveragePooling(_ dtype: DType) {
        let x = filled([1, 19, 3, 5], dtype, seed: 8)
        x.requiresGrad = true
        let tol = dtype == .float32 ? 1e-6 : 1e-12
        let y = adaptiveAvgPool2d(x, outputSize: 1)
        #expect(y.shape == [1, 19, 1, 1])
        let want = (0..<19).map { p in (0..<15).reduce(0.0) { $0 + x.doubleValue(at: p * 15 + $1) } / 15 }
        #expect(close(y, want, tol))
        let seed = filled([1, 19, 1, 1], dtype, seed: 9)
        (y * seed).sum().backward()
        let wantGrad = (0..<(19 * 15)).map { seed.doubleValue(at: $0 / 15) / 15 }
        #expect(close(x.grad!, wantGrad, tol))
        #expect(convGradcheck({ adaptiveAvgPool2d($0[0], outputSize: 1) }, inputs: [filled([2, 9, 2, 3], seed: 10)]))
    }

    @Test func gradchecks() {
        #expect(convGradcheck({ maxPool2d($0[0], kernelSize: (3, 2), stride: (2, 1), padding: (1, 1), ceilMode: true) }, inputs: [filled([1, 2, 5, 6], seed: 4)]))
        #expect(convGradcheck({ avgPool2d($0[0], kernelSize: (3, 3), stride: (2, 2), padding: (1, 1), countIncludePad: false) }, inputs: [filled([2, 1, 5, 5], seed: 5)]))
        #expect(convGradcheck({ avgPool2d($0[0], kernelSize: 2, ceilMode: true) }, inputs: [filled([1, 2, 5, 5], seed: 6)]))
        #expect(convGradcheck({ adaptiveAvgPool2d($0[0], outputSize: (2, 3)) }, inputs: [filled([2, 5, 7], seed: 7)]))
    }

    @Test func modulesAndErrors() {
        #expect(MaxPool2d(2).description == "MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)")
        #expect(MaxPool2d((3, 2), stride: (1, 1)).description == "MaxPool2d(kernel_size=(3, 2), stride=(1, 1), padding=(0, 0), dilation=(1, 1), ceil_mode=False)")
        #expect(AvgPool2d(2).description == "AvgPool2d(kernel_size=2, stride=2, padding=0)")
        #expect(AdaptiveAvgPool2d(1).description == "AdaptiveAvgPool2d(output_size=1)")
        #expect(AdaptiveAvgPool2d((5, nil)).description == "AdaptiveAvgPool2d(output_size=(5, None))")
        #expect(MaxPool2d(2).stateDict().keys.isEmpty)
        let x = filled([2, 4, 8, 8], .float32, seed: 8)
        #expect(MaxPool2d(2)(x).shape == [2, 4, 4, 4])
        #expect(AvgPool2d(2)(x).shape == [2, 4, 4, 4])
        #expect(AdaptiveAvgPool2d(1)(x).shape == [2, 4, 1, 1])
        func message(_ body: () throws(UsageError) -> Void) -> String? {
            do { try body(); return nil } catch { return error.message }
        }
        #expect(message { () throws(UsageError) in try MaxPool2d(2, padding: 2).validate(x) } == "pad should be at most half of effective kernel size, but got pad=2, kernel_size=2 and dilation=1")
        #expect(message { () throws(UsageError) in try AvgPool2d(2, padding: 2).validate(x) } == "pad should be at most half of kernel size, but got pad=2 and kernel_size=2")
        #expect(message { () throws(UsageError) in try MaxPool2d(2).validate(Tensor.zeros([4, 4])) } == "non-empty 3D or 4D (batch mode) tensor expected for input")
        #expect(message { () throws(UsageError) in try MaxPool2d(3).validate(Tensor.zeros([1, 2, 2, 2])) } == "Given input size: (2x2x2). Calculated output size: (2x0x0). Output size is too small")
        #expect(message { () throws(UsageError) in try AdaptiveAvgPool2d(1).validate(Tensor.zeros([4, 4])) } == "adaptive_avg_pool2d(): Expected 3D or 4D tensor, but got [4, 4]")
    }
}
