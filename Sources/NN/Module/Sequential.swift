import TensorCore

/// Runs its layers one after another, like `torch.nn.Sequential`. Children are keyed `0`, `1`,
/// `2` … in the state dict (`net.1.running_mean`).
///
/// Elements are read, replaced, inserted and removed as in PyTorch; negative indices count from
/// the end. A typed read needs no cast:
///
/// ```swift
/// let mlp = Sequential(Linear(784, 128), ReLU(), Linear(128, 10))
/// let same = Sequential {
///     Linear(784, 128)
///     ReLU()
///     Linear(128, 10)
/// }
/// mlp[-1] = Linear(128, 3)                     // a new head (PyTorch: mlp[-1] = nn.Linear(128, 3))
/// let fc = mlp[0, as: Linear.self]             // typed: fc.weight, fc.inFeatures …
/// let first: Linear = mlp[0]                   // the same, from the type context
/// let body = mlp[0..<2]                        // a Sequential sharing the first two layers
/// for layer in mlp { print(layer) }
/// ```
public final class Sequential: Module, Sequence {
    /// The stages, in order.
    public private(set) var layers: [Module]

    /// A Sequential running `layers` in order.
    public init(_ layers: [any Layer]) {
        self.layers = layers.map(\.asModule)
        super.init()
    }

    /// `Sequential(Linear(4, 8), ReLU())`, PyTorch's positional form.
    public convenience init(_ first: any Layer, _ rest: any Layer...) {
        self.init([first] + rest)
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

    /// Runs the layers in order. A `Conv2d → BatchNorm2d → ReLU` run goes through
    /// ``convBatchNormReLU(_:conv:batchNorm:)``'s fused batch norm + ReLU whenever that gives
    /// exactly what the three layers give (no hooks on them, float32, …).
    override public func forward(_ x: Tensor) -> Tensor {
        var h = x
        var i = 0
        while i < layers.count {
            if i + 2 < layers.count, let conv = layers[i] as? Conv2d, let bn = layers[i + 1] as? BatchNorm2d,
               let relu = layers[i + 2] as? ReLU, let y = fusedConvBatchNormReLU(h, conv, bn, relu) {
                h = y
                i += 3
                continue
            }
            h = layers[i](h)
            i += 1
        }
        return h
    }

    /// Number of layers (`len(seq)`).
    public var count: Int { layers.count }

    public func makeIterator() -> IndexingIterator<[Module]> { layers.makeIterator() }

    /// `index` made non-negative (Python's negative indices), or PyTorch's IndexError.
    private func position(_ index: Int) -> Int {
        let i = index < 0 ? index + layers.count : index
        usageCheck(i >= 0 && i < layers.count, "Sequential", "index \(index) is out of range")
        return i
    }

    /// The layer at `index` (negative indices count from the end, like Python). Assigning
    /// replaces it, like `seq[3] = nn.Linear(8, 3)`.
    public subscript(index: Int) -> Module {
        get { layers[position(index)] }
        set { layers[position(index)] = newValue }
    }

    /// The layer at `index` as a `T` — `seq[1, as: BatchNorm1d.self]`, or `let bn: BatchNorm1d =
    /// seq[1]` — stopping with a clear message when it is another type.
    public subscript<T: Module>(index: Int, as type: T.Type = T.self) -> T {
        let layer = layers[position(index)]
        guard let typed = layer as? T else {
            usageFailure(UsageError("Sequential", "layer \(index) is \(layer.typeName), not \(String(describing: T.self))"))
        }
        return typed
    }

    /// A new Sequential holding the layers in `range` (the same module objects, re-keyed from 0),
    /// like PyTorch's `seq[1:3]`.
    public subscript<R: RangeExpression>(range: R) -> Sequential where R.Bound == Int {
        let r = range.relative(to: layers)
        usageCheck(r.lowerBound >= 0 && r.upperBound <= layers.count, "Sequential",
                   "range \(r) is out of range for \(layers.count) layers")
        return Sequential(Array(layers[r]))
    }

    /// Adds a layer at the end (keyed with the next index).
    public func append(_ layer: any Layer) {
        layers.append(layer.asModule)
    }

    /// Adds layers at the end, like PyTorch's `extend`.
    public func append(contentsOf newLayers: [any Layer]) {
        layers += newLayers.map(\.asModule)
    }

    /// Inserts a layer before `index` (negative counts from the end; `count` appends), like
    /// PyTorch's `insert`.
    public func insert(_ layer: any Layer, at index: Int) {
        let i = index < 0 ? index + layers.count : index
        usageCheck(i >= 0 && i <= layers.count, "Sequential", "index \(index) is out of range")
        layers.insert(layer.asModule, at: i)
    }

    /// Removes and returns the layer at `index`, like PyTorch's `pop` / `del seq[i]`; later
    /// layers move down one key.
    @discardableResult
    public func remove(at index: Int) -> Module {
        layers.remove(at: position(index))
    }
}
