import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

/// One `fixtures/conv/*.safetensors` case (made by `scripts/reference/make_conv_fixtures.py`).
private struct ConvReference {
    let name: String
    let sd: StateDict
    let spatialDims: Int
    let stride: [Int], padding: [Int], dilation: [Int], groups: Int

    init(_ name: String) throws {
        self.name = name
        sd = try StateDict(contentsOf: Fixtures.url("conv/" + name))
        let json = try #require(sd.metadata["case"])
        let c = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        func ints(_ k: String) throws -> [Int] { try #require(c[k] as? [NSNumber]).map(\.intValue) }
        stride = try ints("stride"); padding = try ints("padding"); dilation = try ints("dilation")
        groups = try #require(c["groups"] as? NSNumber).intValue
        let op = try #require(c["op"] as? String)
        spatialDims = try #require(Int(String(op.dropFirst(4).prefix(1))))
    }

    func tensor(_ key: String) -> Tensor? { sd[key]?.clonedData() }

    /// Expects `got` to match the stored `key` at the project's tolerance.
    func check(_ got: Tensor?, _ key: String, _ context: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let want = sd[key] else { Issue.record("\(name): fixture lacks \(key)", sourceLocation: sourceLocation); return }
        let bad = Reference.mismatches(got, want)
        #expect(bad.isEmpty, "\(name) \(context) \(key): \(bad)", sourceLocation: sourceLocation)
    }
}

/// The way a case is run: serially with the default thresholds, or with two threads and the
/// parallel threshold lowered so that even these small problems split their samples (and their
/// GEMMs) over threads and reduce per-thread weight gradients.
enum ConvThreading: String, CaseIterable, Sendable {
    case serial, threaded

    func run(_ body: () throws -> Void) rethrows {
        switch self {
        case .serial:
            try Parallel.withThreadCount(1, body)
        case .threaded:
            var sizes = GEMMBlocking.sizes
            sizes.parallelWork = 1
            try GEMMBlocking.$sizes.withValue(sizes) { try Parallel.withThreadCount(2, body) }
        }
    }
}

/// PyTorch's forward and backward of every convolution path, through the functional form and the
/// `Conv1d`/`Conv2d`/`Conv3d` modules, with every subset of gradients asked for.
@Suite("Convolution fixtures")
struct ConvolutionFixtureTests {
    static let names = Fixtures.files(in: "conv").map(\.lastPathComponent)

    @Test("every convolution fixture is present")
    func fixturesPresent() {
        #expect(Self.names.count == 18)
    }

    @Test("functional convolution: output and all three gradients", arguments: names, ConvThreading.allCases)
    func functional(_ name: String, _ threading: ConvThreading) throws {
        let r = try ConvReference(name)
        try threading.run {
            let x = try #require(r.tensor("input")), w = try #require(r.tensor("weight")), b = r.tensor("bias")
            for t in [x, w] + (b.map { [$0] } ?? []) { t.requiresGrad = true }
            let y = convolution(x, weight: w, bias: b, stride: r.stride, padding: r.padding, dilation: r.dilation, groups: r.groups)
            r.check(y, "output", "\(threading)")
            y.backward(try #require(r.sd["grad_output"]))
            r.check(x.grad, "grad_input", "\(threading)")
            r.check(w.grad, "grad_weight", "\(threading)")
            if let b { r.check(b.grad, "grad_bias", "\(threading)") }
        }
    }

    /// Backward computes only what is asked for (separate kernel branches): each gradient alone.
    @Test("each gradient alone", arguments: names, ConvThreading.allCases)
    func gradientSubsets(_ name: String, _ threading: ConvThreading) throws {
        let r = try ConvReference(name)
        let keys = ["grad_input", "grad_weight"] + (r.sd["bias"] == nil ? [] : ["grad_bias"])
        try threading.run {
            for (i, key) in keys.enumerated() {
                let x = try #require(r.tensor("input")), w = try #require(r.tensor("weight")), b = r.tensor("bias")
                let operands = [x, w] + (b.map { [$0] } ?? [])
                operands[i].requiresGrad = true
                let y = convolution(x, weight: w, bias: b, stride: r.stride, padding: r.padding, dilation: r.dilation, groups: r.groups)
                y.backward(try #require(r.sd["grad_output"]))
                r.check(operands[i].grad, key, "\(threading), only \(key)")
                for (j, t) in operands.enumerated() where j != i { #expect(t.grad == nil) }
            }
        }
    }

    @Test("Conv1d / Conv2d / Conv3d modules with the case's arguments", arguments: names)
    func module(_ name: String) throws {
        let r = try ConvReference(name)
        let w = try #require(r.tensor("weight")), b = r.tensor("bias")
        let cin = w.shape[1] * r.groups, cout = w.shape[0], k = Array(w.shape[2...])
        let conv: ConvNd
        switch r.spatialDims {
        case 1:
            conv = Conv1d(cin, cout, kernelSize: k[0], stride: r.stride[0], padding: r.padding[0], dilation: r.dilation[0],
                          groups: r.groups, bias: b != nil, dtype: w.dtype)
        case 2:
            conv = Conv2d(cin, cout, kernelSize: k, stride: r.stride, padding: r.padding, dilation: r.dilation,
                          groups: r.groups, bias: b != nil, dtype: w.dtype)
        default:
            conv = Conv3d(cin, cout, kernelSize: k, stride: r.stride, padding: r.padding, dilation: r.dilation,
                          groups: r.groups, bias: b != nil, dtype: w.dtype)
        }
        try conv.loadStateDict(StateDict([("weight", w)] + (b.map { [("bias", $0)] } ?? [])), strict: true)
        let y = conv(try #require(r.tensor("input")))
        r.check(y, "output", "module")
        y.backward(try #require(r.sd["grad_output"]))
        r.check(conv.weight.grad, "grad_weight", "module")
        if b != nil { r.check(conv.bias?.grad, "grad_bias", "module") }
    }
}
