import TensorCore

/// Runs its layers one after another, like `torch.nn.Sequential`. Children are keyed `0`, `1`,
/// `2` … in the state dict (`net.1.running_mean`).
///
/// ```swift
/// let mlp = Sequential([Linear(784, 128), ReLU(), Linear(128, 10)])
/// let same = Sequential {
///     Linear(784, 128)
///     ReLU()
///     Linear(128, 10)
/// }
/// mlp[0]           // the first Linear (as Module)
/// ```
public final class Sequential: Module {
    /// The stages, in order.
    public private(set) var layers: [Module]

    /// A Sequential running `layers` in order.
    public init(_ layers: [any Layer]) {
        self.layers = layers.map(\.asModule)
        super.init()
    }

    /// A Sequential built with the ``LayerBuilder`` DSL.
    public convenience init(@LayerBuilder _ build: () -> [any Layer]) {
        self.init(build())
    }

    /// The children are the layers themselves, keyed by position (hidden from reflection).
    override public class var stateKeyOverrides: [String: String] { ["layers": ""] }

    override public func reflectedMembers() -> ModuleMembers {
        var m = super.reflectedMembers()
        m.children += layers.enumerated().map { (String($0.offset), $0.element) }
        return m
    }

    override public func forward(_ x: Tensor) -> Tensor {
        var h = x
        for layer in layers { h = layer(h) }
        return h
    }

    /// Number of layers.
    public var count: Int { layers.count }

    /// The layer at `index` (negative indices count from the end, like Python).
    public subscript(index: Int) -> Module {
        let i = index < 0 ? index + layers.count : index
        usageCheck(i >= 0 && i < layers.count, "Sequential", "index \(index) is out of range")
        return layers[i]
    }

    /// Adds a layer at the end (keyed with the next index).
    public func append(_ layer: any Layer) {
        layers.append(layer.asModule)
    }
}
