import TensorCore

/// Returns its input unchanged, like `nn.Identity` (a placeholder layer, e.g. to switch off a
/// stage without changing the state-dict keys of the others).
///
/// ```swift
/// let head = useNorm ? LayerNorm(64) as Module : Identity()
/// ```
public final class Identity: Module {
    override public init() { super.init() }
    override public func forward(_ x: Tensor) -> Tensor { x }
    override public var isElementwise: Bool { true }
}
