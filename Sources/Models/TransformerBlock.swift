import TensorCore
import Autograd
import NN

/// The tutorial's transformer encoder block (post-norm, batch first):
///
///     x = norm1(x + dropout(attn(x, x, x)))
///     x = norm2(x + dropout(ff(x)))        // ff = Linear → GELU → Linear
///
/// ```swift
/// let block = TransformerBlock(embedDim: 512, numHeads: 8, ffDim: 2048)
/// block(Tensor.randn([2, 10, 512])).shape      // [2, 10, 512]
/// ```
public final class TransformerBlock: Module {
    public var attn: MultiheadAttention
    public var ff: Sequential
    public var norm1: LayerNorm
    public var norm2: LayerNorm
    public var drop: Dropout

    public init(embedDim: Int, numHeads: Int, ffDim: Int, dropout: Double = 0.1) {
        attn = MultiheadAttention(embedDim: embedDim, numHeads: numHeads, dropout: dropout, batchFirst: true)
        ff = Sequential {
            Linear(embedDim, ffDim)
            GELU()
            Linear(ffDim, embedDim)
        }
        norm1 = LayerNorm(embedDim)
        norm2 = LayerNorm(embedDim)
        drop = Dropout(p: dropout)
        super.init()
    }

    /// `x`: `(N, L, E)`; `keyPaddingMask` `(N, L)` (true = padding) and `attnMask` `(L, L)`
    /// (true = may not attend) are optional.
    public func callAsFunction(_ x: Tensor, keyPaddingMask: Tensor?, attnMask: Tensor? = nil) -> Tensor {
        withHooks(x) { encode($0, keyPaddingMask: keyPaddingMask, attnMask: attnMask) }
    }

    private func encode(_ x: Tensor, keyPaddingMask: Tensor?, attnMask: Tensor?) -> Tensor {
        let a = attn(x, x, x, keyPaddingMask: keyPaddingMask, needWeights: false, attnMask: attnMask).output
        let h = norm1(x + drop(a))
        return norm2(h + drop(ff(h)))
    }

    override public func forward(_ x: Tensor) -> Tensor { encode(x, keyPaddingMask: nil, attnMask: nil) }
}
