import Foundation
import SwiftNN

/// A non-finite value as people write it ("NaN", "inf", "-inf"; Swift prints NaN as "nan" or "-nan").
func describeValue(_ v: Double) -> String {
    v.isNaN ? "NaN" : v.isInfinite ? (v > 0 ? "inf" : "-inf") : "\(v)"
}

/// The first state-dict entry (parameter or buffer) holding NaN or ±infinity, with that value.
func firstNonFiniteState(_ model: Module) -> (key: String, value: Float)? {
    for (key, t) in model.stateDict() where t.dtype == .float32 {
        let p = t.pointer(as: Float.self)
        let bad: Float? = withExtendedLifetime(t) {
            for i in 0..<t.count where !p[i].isFinite { return p[i] }
            return nil
        }
        if let bad { return (key, bad) }
    }
    return nil
}

/// Where a forward pass first produced a non-finite value.
struct NonFiniteLocation: CustomStringConvertible {
    /// The input batch itself holds NaN or infinity.
    var inputIsNonFinite = false
    /// The first module (in the order outputs were produced) whose output is non-finite although
    /// its input was finite: its state-dict path and type.
    var module: (path: String, type: String)?
    /// A parameter or buffer of that module holding a non-finite value (the weights diverged).
    var nonFiniteState: (key: String, value: Float)?

    var description: String {
        if inputIsNonFinite { return "the input batch itself holds NaN or infinity" }
        guard let module else { return "re-running the batch gave no non-finite layer output (the loss itself overflowed)" }
        var s = "the first layer with a non-finite output is \(module.path.isEmpty ? "the model" : module.path) (\(module.type))"
        if let (key, v) = nonFiniteState { s += ", whose \(key) holds \(describeValue(Double(v)))" }
        return s
    }
}

/// Re-runs `model` on `input` (without recording gradients) with a forward hook on every module,
/// and reports the first module whose output is non-finite while its input was finite — the layer
/// where the values blew up. Hooks fire as each module finishes, so inner layers are seen before
/// the blocks containing them, whatever the model's structure (residual connections, custom
/// forwards); it needs nothing but ``Module/registerForwardHook(_:)``.
func locateNonFinite(_ model: Module, input: Tensor) -> NonFiniteLocation {
    var location = NonFiniteLocation()
    if !allFinite(input) { location.inputIsNonFinite = true; return location }
    let named = model.namedModules()
    var found: Module?
    let handles = named.map { _, m in
        m.registerForwardHook { module, input, output in
            if found == nil, allFinite(input), !allFinite(output) { found = module }
        }
    }
    withNoGrad { _ = model(input) }
    for h in handles { h.remove() }
    guard let found, let (path, _) = named.first(where: { $0.1 === found }) else { return location }
    location.module = (path, found.typeName)
    for (key, t) in found.stateDict() where t.dtype == .float32 {
        if let v = t.scalars.first(where: { !$0.isFinite }) {
            location.nonFiniteState = ((path.isEmpty ? "" : path + ".") + key, v)
            break
        }
    }
    return location
}

/// Whether every element of a float tensor is finite (other dtypes always are).
func allFinite(_ t: Tensor) -> Bool {
    guard t.dtype == .float32 else { return t.dtype != .float64 || (0..<t.count).allSatisfy { t.doubleValue(at: $0).isFinite } }
    let p = t.pointer(as: Float.self)
    return withExtendedLifetime(t) { (0..<t.count).allSatisfy { p[$0].isFinite } }
}
