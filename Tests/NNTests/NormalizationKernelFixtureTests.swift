import Foundation
import Testing
@testable import TensorCore
import SwiftNN
import TestSupport

/// The tests' deterministic values in [-1, 1) (a 64-bit LCG), as the generator recomputes them.
private func lcgValues(_ n: Int, seed: UInt64) -> [Double] {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<n).map { _ in
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Double(s >> 11) / Double(1 << 53) * 2 - 1
    }
}

/// PyTorch's results for the float32 normalization kernels' fast paths (SIMD bodies and tails,
/// offset data, the (N, C) and whole-tensor batch norms, unaligned non-temporal stores), from
/// `fixtures/normkernels/` (`scripts/reference/make_norm_kernel_fixtures.py`).
@Suite("Normalization kernel fixtures")
struct NormalizationKernelFixtureTests {
    static let names = Fixtures.files(in: "normkernels").map(\.lastPathComponent)

    @Test func everyFixtureIsPresent() {
        #expect(Self.names.count == 24)
    }

    /// Calls the functional form a case names, with gradients for input, weight and bias.
    private static func evaluate(_ function: String, _ args: [String: Any], _ sd: StateDict, input x: Tensor)
        -> (output: Tensor, params: [String: Tensor])
    {
        let weight = sd["weight"]?.clonedData(), bias = sd["bias"]?.clonedData()
        var params: [String: Tensor] = [:]
        if let weight { weight.requiresGrad = true; params["weight"] = weight }
        if let bias { bias.requiresGrad = true; params["bias"] = bias }
        func ints(_ k: String) -> [Int] { (args[k] as? [NSNumber] ?? []).map(\.intValue) }
        let eps = (args["eps"] as? NSNumber)?.doubleValue ?? 1e-5
        let y: Tensor
        switch function {
        case "batch_norm":
            y = batchNorm(x, runningMean: sd["running_mean"]?.clonedData(), runningVar: sd["running_var"]?.clonedData(),
                          weight: weight, bias: bias, training: (args["training"] as? NSNumber)?.boolValue ?? false, eps: eps)
        case "instance_norm":
            y = instanceNorm(x, weight: weight, bias: bias, eps: eps)
        case "group_norm":
            y = groupNorm(x, numGroups: (args["num_groups"] as! NSNumber).intValue, weight: weight, bias: bias, eps: eps)
        case "layer_norm":
            let view = ints("view")
            y = layerNorm(view.isEmpty ? x : x.reshaped(view), normalizedShape: ints("normalized_shape"),
                          weight: weight, bias: bias, eps: eps)
        default:
            y = rmsNorm(x, normalizedShape: ints("normalized_shape"), weight: weight, eps: eps)
        }
        return (y, params)
    }

    private static func check(_ got: Tensor?, _ want: Tensor?, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let want else { Issue.record("fixture lacks \(what)", sourceLocation: sourceLocation); return }
        let bad = Reference.mismatches(got, want)
        #expect(bad.isEmpty, "\(what): \(bad)", sourceLocation: sourceLocation)
    }

    private static func run(_ name: String) throws {
        let sd = try StateDict(contentsOf: Fixtures.url("normkernels/" + name))
        let json = try #require(sd.metadata["case"])
        let meta = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let function = try #require(meta["function"] as? String)
        let args = meta["args"] as? [String: Any] ?? [:]
        if let recipe = meta["lcg"] as? [String: [String: Double]] {
            // Stored by recipe; results at sampled positions.
            let shape = try #require(meta["shape"] as? [NSNumber]).map(\.intValue)
            func make(_ r: [String: Double]?) throws -> Tensor {
                let r = try #require(r)
                let v = lcgValues(shape.reduce(1, *), seed: UInt64(r["seed"]!)).map { Float(r["offset"]! + $0 * r["scale"]!) }
                return Tensor(v, shape: shape)
            }
            let x = try make(recipe["input"]), gy = try make(recipe["grad_output"])
            x.requiresGrad = true
            let (y, _) = evaluate(function, args, sd, input: x)
            y.backward(gy)
            let idx = try #require(sd["sample_index"]).toArray(of: Int64.self).map(Int.init)
            let out = y.scalars, grad = try #require(x.grad).scalars
            check(Tensor(idx.map { out[$0] }, shape: [idx.count]), sd["output"], "\(name) output")
            check(Tensor(idx.map { grad[$0] }, shape: [idx.count]), sd["grad_input"], "\(name) grad_input")
            return
        }
        let x = try #require(sd["input"]).clonedData()
        x.requiresGrad = true
        let (y, params) = evaluate(function, args, sd, input: x)
        check(y.viewData(x.shape), sd["output"]?.viewData(x.shape), "\(name) output")
        y.backward(try #require(sd["grad_output"]).viewData(y.shape))
        check(x.grad, sd["grad_input"], "\(name) grad_input")
        for (k, p) in params { check(p.grad, sd["grad_" + k], "\(name) grad_\(k)") }
    }

    @Test("PyTorch reference case", arguments: names)
    func referenceCase(_ name: String) throws {
        try Parallel.withThreadCount(1) { try Self.run(name) }
        try Parallel.withThreadCount(2) { try Self.run(name) }
    }

    @Test("unaligned segments with non-temporal stores")
    func streamingStores() throws {
        let saved = Kernels.normalizationStreamingBytes
        Kernels.normalizationStreamingBytes = 0
        defer { Kernels.normalizationStreamingBytes = saved }
        for name in Self.names where name.hasPrefix("unaligned_") {
            try Self.run(name)
        }
    }
}
