import TensorCore
import Autograd
import NN

/// The tutorial's small CNN: four ``ConvBNBlock``s (32, 64, 128, 256 channels; the last three with
/// stride 2), global average pooling, and a classifier
/// `Flatten → Linear(256, 128) → ReLU → Dropout → Linear(128, numClasses)`.
///
/// ```swift
/// let cnn = SmallCNN(inChannels: 3, numClasses: 10)
/// cnn(Tensor.randn([2, 3, 32, 32])).shape     // [2, 10]
/// let mnist = SmallCNN(inChannels: 1, numClasses: 10)
/// ```
public final class SmallCNN: Module {
    public var features: Sequential
    public var classifier: Sequential

    public init(inChannels: Int = 3, numClasses: Int = 10, dropout: Double = 0.5) {
        features = Sequential {
            ConvBNBlock(inChannels, 32)
            ConvBNBlock(32, 64, stride: 2)
            ConvBNBlock(64, 128, stride: 2)
            ConvBNBlock(128, 256, stride: 2)
            AdaptiveAvgPool2d(1)
        }
        classifier = Sequential {
            Flatten()
            Linear(256, 128)
            ReLU()
            Dropout(p: dropout)
            Linear(128, numClasses)
        }
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor { classifier(features(x)) }
}
