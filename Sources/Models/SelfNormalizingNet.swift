import TensorCore
import Autograd
import NN

/// The tutorial's self-normalizing network: `numHidden` blocks of `Linear → SELU → AlphaDropout`,
/// then a final `Linear`. Weights use LeCun-normal initialisation (N(0, 1/fanIn), what SELU's
/// fixed point assumes) and zero biases.
///
/// ```swift
/// let snn = SelfNormalizingNet(inDim: 20, hiddenDim: 64, numClasses: 3)
/// snn.stateDict().keys   // net.0.weight, net.0.bias, net.3.weight, net.3.bias, net.6.weight, net.6.bias
/// ```
public final class SelfNormalizingNet: Module {
    public var net: Sequential

    public init(inDim: Int, hiddenDim: Int, numClasses: Int, numHidden: Int = 2, dropout: Double = 0.1) {
        var layers: [any Layer] = []
        var prev = inDim
        for _ in 0..<numHidden {
            layers += [Linear(prev, hiddenDim), SELU(), AlphaDropout(p: dropout)]
            prev = hiddenDim
        }
        layers.append(Linear(prev, numClasses))
        net = Sequential(layers)
        super.init()
        for case let linear as Linear in net.layers {
            Init.kaimingNormal(linear.weight, nonlinearity: .linear)
            if let b = linear.bias { Init.zeros(b) }
        }
    }

    override public func forward(_ x: Tensor) -> Tensor {
        net(x.rank > 2 ? x.flattened(startDim: 1) : x)
    }
}
