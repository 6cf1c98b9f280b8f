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
            for j in 0..<embeddingDim { weight.setValue(0, at: p * embeddingDim + j) }
        }
        super.init()
    }

    /// Checks the index tensor: int64, every index in `0..<numEmbeddings`.
    public func validate(_ input: Tensor) throws(UsageError) {
        guard input.dtype == .int64 else {
            throw UsageError("Embedding", "Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, Int; but got \(input.dtype) instead")
        }
        let p = input.pointer(as: Int64.self)
        for i in 0..<input.count where p[i] < 0 || p[i] >= Int64(numEmbeddings) {
            throw UsageError("Embedding", "index out of range in self (index \(p[i]), num_embeddings \(numEmbeddings))")
        }
    }

    override public func forward(_ input: Tensor) -> Tensor {
        do { try validate(input) } catch { usageFailure(error) }
        let w = weight, d = embeddingDim, n = input.count, bytes = d * w.dtype.byteSize
        let out = Tensor(uninitializedShape: input.shape + [d], dtype: w.dtype)
        let idx = input.pointer(as: Int64.self)
        let src = w.rawPointer, dst = out.rawPointer
        for i in 0..<n { (dst + i * bytes).copyMemory(from: src + Int(idx[i]) * bytes, byteCount: bytes) }
        guard Autograd.isRecording(w) else { return out }
        let indices = input.clonedData()   // the caller may reuse its index tensor
        let pad = paddingIdx
        return Autograd.record("embedding", output: out, inputs: [w]) { g in
            // Scatter-add every output row's gradient into its table row.
            let gw = Tensor.zeros(w.shape, dtype: w.dtype)
            let ix = indices.pointer(as: Int64.self)
            withExtendedLifetime((g, gw, indices)) {
                switch w.dtype {
                case .float32:
                    let pg = g.pointer(as: Float.self), pw = gw.pointer(as: Float.self)
                    for i in 0..<n where Int(ix[i]) != pad {
                        let row = pw + Int(ix[i]) * d, gr = pg + i * d
                        for j in 0..<d { row[j] += gr[j] }
                    }
                default:
                    let pg = g.pointer(as: Double.self), pw = gw.pointer(as: Double.self)
                    for i in 0..<n where Int(ix[i]) != pad {
                        let row = pw + Int(ix[i]) * d, gr = pg + i * d
                        for j in 0..<d { row[j] += gr[j] }
                    }
                }
            }
            return [gw]
        }
    }

    override public var extraDescription: String {
        "\(numEmbeddings), \(embeddingDim)" + (paddingIdx.map { ", padding_idx=\($0)" } ?? "")
    }
}
