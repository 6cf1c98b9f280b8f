import TensorCore
import Autograd

/// A lookup table of `numEmbeddings` vectors of size `embeddingDim`, like `nn.Embedding`.
/// Input: an int64 tensor of indices (any shape); output: its shape + `[embeddingDim]`.
/// The weight starts as N(0, 1); the row `paddingIdx` (if given) starts at zero and gets no
/// gradient.
///
/// ```swift
/// let emb = Embedding(1000, 64)
/// let tokens = Tensor([3, 1, 4] as [Int64], shape: [1, 3])
/// let h = emb(tokens)           // [1, 3, 64]
/// ```
public final class Embedding: Module {
    /// `[numEmbeddings, embeddingDim]`.
    public var weight: Parameter
    public let numEmbeddings: Int
    public let embeddingDim: Int
    public let paddingIdx: Int?

    public init(_ numEmbeddings: Int, _ embeddingDim: Int, paddingIdx: Int? = nil,
                dtype: DType = .float32, generator: Generator? = nil) {
        usageCheck(numEmbeddings >= 0 && embeddingDim >= 0, "Embedding", "sizes must be non-negative")
        var pad = paddingIdx
        if let p = pad {
            usageCheck(p < numEmbeddings && p >= -numEmbeddings, "Embedding", "Padding_idx must be within num_embeddings")
            if p < 0 { pad = p + numEmbeddings }
        }
        self.numEmbeddings = numEmbeddings
        self.embeddingDim = embeddingDim
        self.paddingIdx = pad
        weight = Parameter(Tensor.randn([numEmbeddings, embeddingDim], dtype: dtype, generator: generator))
        if let p = pad {
            // The padding row, viewed in place.
            Tensor(storage: weight.storage, shape: [embeddingDim], dtype: dtype, offset: p * embeddingDim).fill(0)
        }
        super.init()
    }

    /// Checks the index tensor: int64, every index in `0..<numEmbeddings`.
    public func validate(_ input: Tensor) throws(UsageError) {
        guard input.dtype == .int64 else {
            throw UsageError("Embedding", "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got \(input.dtype) instead")
        }
        if let bad = Kernels.firstIndexOutOfRange(input, bound: numEmbeddings) {
            throw UsageError("Embedding", "index out of range in self (index \(bad), num_embeddings \(numEmbeddings))")
        }
    }

    override public func forward(_ input: Tensor) -> Tensor {
        do { try validate(input) } catch { usageFailure(error) }
        let w = weight, d = embeddingDim
        let out = Kernels.indexSelect(w, dim: 0, index: input.viewData([input.count])).viewData(input.shape + [d])
        guard Autograd.isRecording(w) else { return out }
        let indices = input.clonedData().viewData([input.count])   // the caller may reuse its index tensor
        let pad = paddingIdx.map(Int64.init)
        return Autograd.record("embedding", output: out, inputs: [w]) { g in
            // Every output row's gradient added into its table row; the padding row gets none.
            [Kernels.indexAdd(shape: w.shape, dim: 0, index: indices, source: g.viewData([indices.count, d]), skipping: pad)]
        }
    }

    override public var extraDescription: String {
        "\(numEmbeddings), \(embeddingDim)" + (paddingIdx.map { ", padding_idx=\($0)" } ?? "")
    }
}
