import Foundation
import Testing
import SwiftNN
import TestSupport

/// One `fixtures/modules/*.safetensors` case (made by `scripts/reference/make_argument_fixtures.py`):
/// a module built with non-default PyTorch constructor arguments.
private struct ModuleReference {
    let name: String
    let sd: StateDict
    let module: String
    let kind: String
    let kwargs: [String: Any]
    let call: [String: Any]
    let selfAttention: Bool

    init(_ name: String) throws {
        self.name = name
        sd = try StateDict(contentsOf: Fixtures.url("modules/" + name))
        let json = try #require(sd.metadata["case"])
        let c = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        module = try #require(c["module"] as? String)
        kind = try #require(c["kind"] as? String)
        kwargs = c["kwargs"] as? [String: Any] ?? [:]
        call = c["call"] as? [String: Any] ?? [:]
        selfAttention = (c["self_attention"] as? NSNumber)?.boolValue ?? false
    }

    func int(_ k: String) -> Int? { (kwargs[k] as? NSNumber)?.intValue }
    func double(_ k: String) -> Double? { (kwargs[k] as? NSNumber)?.doubleValue }
    func bool(_ k: String) -> Bool? { (kwargs[k] as? NSNumber)?.boolValue }
    /// An int or a two-element list, as PyTorch's `_pair` reads it.
    func pair(_ k: String) -> (Int, Int)? {
        if let v = kwargs[k] as? [NSNumber] { return (v[0].intValue, v[1].intValue) }
        return int(k).map { ($0, $0) }
    }
    var reduction: Reduction { Reduction(rawValue: kwargs["reduction"] as? String ?? "mean")! }

    /// The layer the case describes.
    func makeModule() throws -> Module {
        switch module {
        case "ELU": return double("alpha").map { ELU(alpha: $0) } ?? ELU()
        case "GELU": return GELU(approximate: GELUApproximation(rawValue: kwargs["approximate"] as? String ?? "none")!)
        case "Softmax": return Softmax(dim: try #require(int("dim")))
        case "LogSoftmax": return LogSoftmax(dim: try #require(int("dim")))
        case "SiLU": return SiLU()
        case "LeakyReLU": return double("negative_slope").map { LeakyReLU(negativeSlope: $0) } ?? LeakyReLU()
        case "Hardtanh": return Hardtanh(minVal: double("min_val") ?? -1, maxVal: double("max_val") ?? 1)
        case "ReLU6": return ReLU6()
        case "Hardswish": return Hardswish()
        case "Hardsigmoid": return Hardsigmoid()
        case "MaxPool2d":
            return MaxPool2d(try #require(pair("kernel_size")), stride: pair("stride"), padding: pair("padding") ?? (0, 0),
                             dilation: pair("dilation") ?? (1, 1), ceilMode: bool("ceil_mode") ?? false)
        case "AvgPool2d":
            return AvgPool2d(try #require(pair("kernel_size")), stride: pair("stride"), padding: pair("padding") ?? (0, 0),
                             ceilMode: bool("ceil_mode") ?? false, countIncludePad: bool("count_include_pad") ?? true,
                             divisorOverride: int("divisor_override"))
        case "AdaptiveAvgPool2d":
            if let v = kwargs["output_size"] as? [Any] {
                return AdaptiveAvgPool2d(((v[0] as? NSNumber)?.intValue, (v[1] as? NSNumber)?.intValue))
            }
            return AdaptiveAvgPool2d(try #require(int("output_size")))
        case "Embedding":
            return Embedding(try #require(int("num_embeddings")), try #require(int("embedding_dim")), paddingIdx: int("padding_idx"))
        case "MultiheadAttention":
            return MultiheadAttention(embedDim: try #require(int("embed_dim")), numHeads: try #require(int("num_heads")),
                                      bias: bool("bias") ?? true, batchFirst: bool("batch_first") ?? false)
        default:
            throw FixtureError("unknown module \(module)")
        }
    }

    /// The loss the case describes, as a function of (input, target).
    func makeLoss() throws -> (Tensor, Tensor) -> Tensor {
        let weight = sd["kwarg.weight"], posWeight = sd["kwarg.pos_weight"]
        let ignore = int("ignore_index") ?? -100
        switch module {
        case "CrossEntropyLoss":
            let l = CrossEntropyLoss(weight: weight, ignoreIndex: ignore, reduction: reduction, labelSmoothing: double("label_smoothing") ?? 0)
            return { l($0, targets: $1) }
        case "NLLLoss":
            let l = NLLLoss(weight: weight, ignoreIndex: ignore, reduction: reduction)
            return { l($0, targets: $1) }
        case "MSELoss":
            let l = MSELoss(reduction: reduction)
            return { l($0, $1) }
        case "BCEWithLogitsLoss":
            let l = BCEWithLogitsLoss(weight: weight, reduction: reduction, posWeight: posWeight)
            return { l($0, $1) }
        default:
            throw FixtureError("unknown loss \(module)")
        }
    }

    func check(_ got: Tensor?, _ key: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let want = sd[key] else { Issue.record("\(name): fixture lacks \(key)", sourceLocation: sourceLocation); return }
        let bad = Reference.mismatches(got, want)
        #expect(bad.isEmpty, "\(name) \(key): \(bad)", sourceLocation: sourceLocation)
    }

    /// Every `grad.<parameter>` of the fixture against the module's gradients, and no extra ones.
    func checkParameterGradients(_ m: Module) {
        let params = m.namedParameters()
        #expect(Set(params.map { "grad." + $0.0 }) == Set(sd.keys.filter { $0.hasPrefix("grad.") }), "\(name): parameters")
        for (key, p) in params { check(p.grad, "grad." + key) }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// PyTorch's forward and backward for every argument of the activations, pooling layers,
/// Embedding, MultiheadAttention and the losses that changes a result.
@Suite("Module argument fixtures")
struct ModuleArgumentFixtureTests {
    static let names = Fixtures.files(in: "modules").map(\.lastPathComponent)

    @Test("every module fixture is present")
    func fixturesPresent() {
        #expect(Self.names.count == 49)
    }

    @Test("PyTorch reference case", arguments: names)
    func referenceCase(_ name: String) throws {
        let r = try ModuleReference(name)
        switch r.kind {
        case "loss":
            let f = try r.makeLoss()
            let x = try #require(r.sd["input"]).clonedData()
            x.requiresGrad = true
            let y = f(x, try #require(r.sd["target"]))
            r.check(y, "output")
            y.backward(try #require(r.sd["grad_output"]))
            r.check(x.grad, "grad_input")
        case "attention":
            try attention(r)
        default:
            let m = try r.makeModule()
            try m.loadStateDict(r.sd.scoped("init"), strict: true)
            let x = try #require(r.sd["input"]).clonedData()
            if x.dtype.isFloatingPoint { x.requiresGrad = true }
            let y = m(x)
            r.check(y, "output")
            y.backward(try #require(r.sd["grad_output"]))
            if x.dtype.isFloatingPoint { r.check(x.grad, "grad_input") }
            r.checkParameterGradients(m)
        }
    }

    private func attention(_ r: ModuleReference) throws {
        let attn = try #require(try r.makeModule() as? MultiheadAttention)
        try attn.loadStateDict(r.sd.scoped("init"), strict: true)
        let q = try #require(r.sd["query"]).clonedData()
        q.requiresGrad = true
        // Self-attention passes one tensor three times (the packed projection path).
        let k = r.selfAttention ? q : try #require(r.sd["key"]).clonedData()
        let v = r.selfAttention ? q : try #require(r.sd["value"]).clonedData()
        k.requiresGrad = true; v.requiresGrad = true
        let average = (r.call["average_attn_weights"] as? NSNumber)?.boolValue ?? true
        let (out, weights) = attn(q, k, v, keyPaddingMask: r.sd["key_padding_mask"], needWeights: true,
                                  attnMask: r.sd["attn_mask"], averageAttnWeights: average)
        r.check(out, "output")
        r.check(weights, "weights")
        out.backward(try #require(r.sd["grad_output"]))
        r.check(q.grad, "grad_query")
        if !r.selfAttention {
            r.check(k.grad, "grad_key")
            r.check(v.grad, "grad_value")
        }
        r.checkParameterGradients(attn)
    }
}
