import TensorCore
import Autograd
import NN

/// The tutorial's convolution block: `Conv2d(k×k, stride, padding, no bias) → BatchNorm2d → ReLU`.
/// The convolution has no bias because BatchNorm's shift makes it redundant; a stride of 2 halves
/// the resolution (SmallCNN downsamples this way instead of pooling). Its `Sequential` runs batch
/// norm and ReLU fused in one pass after the convolution (see `convBatchNormReLU(_:conv:batchNorm:)`)
/// unless a hook needs the batch norm's output (a forward or backward hook on it or on the ReLU;
/// the convolution's hooks, the batch norm's forward pre-hooks and the ReLU's output observers
/// keep it fused). As a first layer (at most 12 taps, such as `ConvBNBlock(1, 32)`, an input that needs no gradient, no hooks on
/// the convolution or the batch norm) it does not even store the convolution's output: every pass
/// recomputes it.
///
/// ```swift
/// let block = ConvBNBlock(3, 32)
/// block(Tensor.randn([8, 3, 32, 32])).shape             // [8, 32, 32, 32]
/// ConvBNBlock(32, 64, stride: 2)(x).shape               // [8, 64, 16, 16]
/// ```
public final class ConvBNBlock: Module {
    public var block: Sequential

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int = 3, stride: Int = 1, padding: Int = 1) {
        block = Sequential {
            Conv2d(inChannels, outChannels, kernelSize: kernelSize, stride: stride, padding: padding, bias: false)
            BatchNorm2d(outChannels)
            ReLU()
        }
        super.init()
    }

    override public func forward(_ x: Tensor) -> Tensor { block(x) }
}
