import TensorCore
import Autograd
import NN

/// The tutorial's network whose dropout rate changes during training (e.g. high early, lower
/// later): `Linear → ReLU → Dropout` blocks and a final `Linear`; ``setDropout(_:)`` changes
/// every Dropout layer's `p` between steps.
///
/// ```swift
/// let model = DynamicDropoutNet(inDim: 784, hiddenDims: [256, 128], numClasses: 10, dropout: 0.5)
/// for epoch in 0..<10 {
///     model.setDropout(0.5 * (1 - Double(epoch) / 10))   // anneal
///     // … train one epoch …
/// }
/// ```
public final class DynamicDropoutNet: Module {
    public var net: Sequential

    public init(inDim: Int, hiddenDims: [Int], numClasses: Int, dropout: Double = 0.5) {
        var layers: [any Layer] = []
        var prev = inDim
        for h in hiddenDims {
            layers += [Linear(prev, h), ReLU(), Dropout(p: dropout)]
            prev = h
        }
        layers.append(Linear(prev, numClasses))
        net = Sequential(layers)
        super.init()
    }

    /// The current dropout probability (of the first Dropout layer).
    public var dropout: Double {
        net.layers.lazy.compactMap { $0 as? Dropout }.first?.p ?? 0
    }

    /// Sets `p` of every Dropout layer (takes effect at the next forward).
    public func setDropout(_ p: Double) {
        for case let d as Dropout in modules() { d.p = p }
    }

    override public func forward(_ x: Tensor) -> Tensor {
        net(x.rank > 2 ? x.flattened(startDim: 1) : x)
    }
}
