import TensorCore
import Autograd
import NN

/// The tutorial's multilayer perceptron: for each hidden width
/// `Linear → BatchNorm1d → ReLU → Dropout`, then a final `Linear` to the class logits.
///
/// State-dict keys as PyTorch's (`net.0.weight`, `net.1.running_mean`, … `net.12.bias` for three
/// hidden layers). Inputs with more than two dimensions (images) are flattened after the batch
/// dimension.
///
/// ```swift
/// let model = MLPClassifier(inDim: 784, hiddenDims: [512, 256, 128], numClasses: 10, dropout: 0.4)
/// let logits = model(Tensor.randn([32, 784]))     // [32, 10]
/// ```
public final class MLPClassifier: Module {
    public var net: Sequential

    public init(inDim: Int, hiddenDims: [Int], numClasses: Int, dropout: Double = 0.5) {
        var layers: [any Layer] = []
        var prev = inDim
        for h in hiddenDims {
            layers += [Linear(prev, h), BatchNorm1d(h), ReLU(), Dropout(p: dropout)]
            prev = h
        }
        layers.append(Linear(prev, numClasses))
        net = Sequential(layers)
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor {
        net(x.rank > 2 ? x.flattened(startDim: 1) : x)
    }
}
