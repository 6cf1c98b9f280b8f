import TensorCore
import Autograd
import NN

/// Finds where a forward pass first produced NaN or ±∞: re-runs `model` on `input` with a forward
/// hook on every module and reports the first module to finish whose input was finite and whose
/// output is not — the innermost layer where the values blew up, through any nesting or custom
/// forward. The re-run leaves the model as it was: running statistics are restored and random
/// operations draw from a private generator.
///
/// ```swift
/// if !loss.item().isFinite, let where = NonFiniteLocator.locate(model, input: x) {
///     print("first non-finite output: \(where.path) (\(where.kind))")
/// }
/// ```
public enum NonFiniteLocator {
    public struct Location: Equatable, Sendable {
        /// State-dict prefix of the module (`""` for the model itself).
        public var path: String
        /// Its class name.
        public var kind: String
    }

    /// nil when the input itself is not finite or no module's output is (the loss is then the
    /// first to go).
    public static func locate(_ model: Module, input: Tensor) -> Location? {
        guard isFinite(input) else { return nil }
        let named = model.namedModules()
        let paths = Dictionary(named.map { (ObjectIdentifier($0.1), $0.0) }, uniquingKeysWith: { a, _ in a })
        var found: Location?
        let handles = named.map { _, m in
            m.registerForwardHook { module, input, output in
                if found == nil, isFinite(input), !isFinite(output) {
                    found = Location(path: paths[ObjectIdentifier(module)] ?? "", kind: module.typeName)
                }
            }
        }
        let saved = model.namedBuffers().map { ($0.0, $0.1.clonedData()) }
        withNoGrad { Generator.withDefault(Generator(seed: 0)) { _ = model(input) } }
        let now = Dictionary(model.namedBuffers().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for (name, copy) in saved where now[name]?.shape == copy.shape { now[name]!.copyData(from: copy) }
        for h in handles { h.remove() }
        return found
    }

    /// Whether every element of a floating-point tensor is finite (other dtypes always are).
    public static func isFinite(_ t: Tensor) -> Bool {
        switch t.dtype {
        case .float32:
            let p = t.pointer(as: Float.self)
            return withExtendedLifetime(t) { (0..<t.count).allSatisfy { p[$0].isFinite } }
        case .float64:
            return (0..<t.count).allSatisfy { t.doubleValue(at: $0).isFinite }
        default:
            return true
        }
    }
}
