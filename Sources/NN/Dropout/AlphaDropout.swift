import TensorCore
import Autograd

/// Alpha dropout for self-normalizing networks, like `torch.nn.AlphaDropout`: dropped elements
/// take SELU's negative saturation and an affine correction a·x + b keeps a standard-normal input
/// at mean 0 and variance 1 (a = 1/√((α²p + 1)(1 − p)), α = 1.7580993408473766; for p = 0.5
/// dropped elements become -0.779194). Eval mode and p = 0 return the input itself.
///
/// ```swift
/// let net = Sequential { Linear(256, 256); SELU(); AlphaDropout(p: 0.1) }
/// ```
public final class AlphaDropout: DropoutLayer {
    override public class var variantApplied: DropoutVariant { .alphaDropout }
}

/// Channel-wise alpha dropout, like `torch.nn.FeatureAlphaDropout`: one decision per
/// (sample, channel), the alpha-dropout transform applied to whole channels.
///
/// ```swift
/// let drop = FeatureAlphaDropout(p: 0.2)
/// let y = drop(Tensor.randn([8, 16, 10, 10]))
/// ```
public final class FeatureAlphaDropout: DropoutLayer {
    override public class var variantApplied: DropoutVariant { .featureAlphaDropout }
}
