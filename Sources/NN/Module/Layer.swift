import TensorCore

/// Anything that can be a stage of a ``Sequential``: every ``Module`` is a `Layer`.
///
/// The protocol exists so that heterogeneous layer lists read like PyTorch:
///
/// ```swift
/// var layers: [any Layer] = [Linear(4, 8), ReLU()]
/// layers.append(Linear(8, 2))
/// let net = Sequential(layers)
/// ```
public protocol Layer: AnyObject {
    /// The module itself (every conforming type is a ``Module``). Named so that it does not
    /// collide with a `module` property of a user's wrapper class.
    var asModule: Module { get }
    /// Runs the layer.
    func callAsFunction(_ x: Tensor) -> Tensor
}

extension Module: Layer {
    public var asModule: Module { self }
}

/// Builds a list of layers for ``Sequential``'s trailing-closure initializer:
///
/// ```swift
/// let net = Sequential {
///     Linear(4, 8)
///     ReLU()
///     if useDropout { Dropout(p: 0.1) }
///     for _ in 0..<2 { Linear(8, 8) }
/// }
/// ```
@resultBuilder
public enum LayerBuilder {
    public static func buildExpression(_ layer: any Layer) -> [any Layer] { [layer] }
    public static func buildExpression(_ layers: [any Layer]) -> [any Layer] { layers }
    public static func buildBlock(_ parts: [any Layer]...) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildOptional(_ part: [any Layer]?) -> [any Layer] { part ?? [] }
    public static func buildEither(first part: [any Layer]) -> [any Layer] { part }
    public static func buildEither(second part: [any Layer]) -> [any Layer] { part }
    public static func buildArray(_ parts: [[any Layer]]) -> [any Layer] { parts.flatMap { $0 } }
    public static func buildLimitedAvailability(_ part: [any Layer]) -> [any Layer] { part }
}
