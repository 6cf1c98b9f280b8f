import TensorCore
import Autograd

/// Multi-head scaled dot-product attention, like `nn.MultiheadAttention`.
///
/// Parameters (PyTorch's names and initialisation): `in_proj_weight` `[3E, E]` (Xavier uniform),
/// `in_proj_bias` `[3E]` (zeros), `out_proj.weight` `[E, E]`, `out_proj.bias` `[E]` (zeros).
/// Inputs are `(L, N, E)`, or `(N, L, E)` with `batchFirst: true`, or unbatched `(L, E)`.
///
/// ```swift
/// let attn = MultiheadAttention(embedDim: 512, numHeads: 8, batchFirst: true)
/// let x = Tensor.randn([2, 10, 512])
/// let (out, weights) = attn(x, x, x)          // out [2, 10, 512], weights [2, 10, 10]
/// let causal = Tensor((0..<100).map { $0 % 10 > $0 / 10 }, shape: [10, 10])  // true: may not attend
/// let y = attn(x, x, x, needWeights: false, attnMask: causal).output
/// ```
public final class MultiheadAttention: Module {
    /// `[3·embedDim, embedDim]`: the query, key and value projections stacked.
    public var inProjWeight: Parameter
    /// `[3·embedDim]`, nil with `bias: false`.
    public var inProjBias: Parameter?
    /// The output projection.
    public var outProj: Linear
    public let embedDim: Int
    public let numHeads: Int
    public let headDim: Int
    /// Dropout probability on the attention weights (training mode only).
    public var dropout: Double
    public let batchFirst: Bool

    public init(embedDim: Int, numHeads: Int, dropout: Double = 0, bias: Bool = true, batchFirst: Bool = false,
                dtype: DType = .float32, generator: Generator? = nil) {
        usageCheck(embedDim > 0 && numHeads > 0, "MultiheadAttention",
                   "embed_dim and num_heads must be greater than 0, got embed_dim=\(embedDim) and num_heads=\(numHeads) instead")
        usageCheck(embedDim % numHeads == 0, "MultiheadAttention", "embed_dim must be divisible by num_heads")
        usageCheck(dropout >= 0 && dropout <= 1, "MultiheadAttention",
                   "dropout probability has to be between 0 and 1, but got \(PyRepr.float(dropout))")
        self.embedDim = embedDim
        self.numHeads = numHeads
        self.headDim = embedDim / numHeads
        self.dropout = dropout
        self.batchFirst = batchFirst
        inProjWeight = Parameter(Tensor.zeros([3 * embedDim, embedDim], dtype: dtype))
        inProjBias = bias ? Parameter(Tensor.zeros([3 * embedDim], dtype: dtype)) : nil
        outProj = Linear(embedDim, embedDim, bias: bias, dtype: dtype, generator: generator)
        super.init()
        outProj.descriptionName = "NonDynamicallyQuantizableLinear"   // PyTorch's class for out_proj
        // PyTorch's _reset_parameters: Xavier in_proj, zero biases (out_proj.weight keeps Linear's init).
        Init.xavierUniform(inProjWeight, generator: generator)
        if let inProjBias { Init.zeros(inProjBias) }
        if let b = outProj.bias { Init.zeros(b) }
    }

    /// PyTorch's positional form, `MultiheadAttention(512, 8, batchFirst: true)`.
    public convenience init(_ embedDim: Int, _ numHeads: Int, dropout: Double = 0, bias: Bool = true,
                            batchFirst: Bool = false, dtype: DType = .float32, generator: Generator? = nil) {
        self.init(embedDim: embedDim, numHeads: numHeads, dropout: dropout, bias: bias, batchFirst: batchFirst,
                  dtype: dtype, generator: generator)
    }

    /// Checks shapes: query `(L, N, E)` / `(N, L, E)` / `(L, E)`, key and value alike with the same
    /// batch and source length, masks `(L, S)` or `(N·H, L, S)` and `(N, S)`.
    public func validate(_ query: Tensor, _ key: Tensor, _ value: Tensor,
                         keyPaddingMask: Tensor? = nil, attnMask: Tensor? = nil) throws(UsageError) {
        let src = "MultiheadAttention"
        guard query.rank == 3 || query.rank == 2 else {
            throw UsageError(src, "query should be unbatched 2D or batched 3D tensor but received \(query.rank)-D query tensor")
        }
        guard key.rank == query.rank, value.rank == query.rank else {
            throw UsageError(src, "For \(query.rank == 3 ? "batched (3-D)" : "unbatched (2-D)") `query`, expected `key` and `value` to be \(query.rank)-D but found \(key.rank)-D and \(value.rank)-D tensors respectively")
        }
        guard query.shape.last == embedDim else {
            throw UsageError(src, "was expecting embedding dimension of \(embedDim), but got \(query.shape.last!)")
        }
        guard key.shape.last == embedDim, value.shape.last == embedDim else {
            throw UsageError(src, "key and value must have embedding dimension \(embedDim), got \(key.shape.last!) and \(value.shape.last!)")
        }
        guard key.shape == value.shape else {
            throw UsageError(src, "key shape \(shapeString(key.shape)) does not match value shape \(shapeString(value.shape))")
        }
        guard query.dtype == inProjWeight.dtype, key.dtype == query.dtype, value.dtype == query.dtype else {
            throw UsageError(src, "expected query, key and value of dtype \(inProjWeight.dtype)")
        }
        let (n, l, s) = dims(query, key)
        if query.rank == 3 {
            let kb = batchFirst ? key.shape[0] : key.shape[1]
            guard kb == n else { throw UsageError(src, "key batch size \(kb) does not match query batch size \(n)") }
        }
        if let m = attnMask {
            let ok2 = m.shape == [l, s]
            let ok3 = m.shape == [n * numHeads, l, s]
            guard ok2 || ok3 else {
                throw UsageError(src, "The shape of the attn_mask is \(shapeString(m.shape)), but should be \(shapeString([l, s])) or \(shapeString([n * numHeads, l, s])).")
            }
        }
        if let m = keyPaddingMask {
            let want = query.rank == 3 ? [n, s] : [s]
            guard m.shape == want else {
                throw UsageError(src, "expected key_padding_mask of shape \(shapeString(want)), but got \(shapeString(m.shape))")
            }
        }
    }

    /// (batch, target length, source length) for these inputs.
    private func dims(_ query: Tensor, _ key: Tensor) -> (Int, Int, Int) {
        if query.rank == 2 { return (1, query.shape[0], key.shape[0]) }
        return batchFirst ? (query.shape[0], query.shape[1], key.shape[1]) : (query.shape[1], query.shape[0], key.shape[0])
    }

    /// Attention of `query` over `key`/`value`. Returns the output (the query's layout) and, when
    /// `needWeights`, the attention weights `(N, L, S)` averaged over heads (or `(N, H, L, S)`
    /// with `averageAttnWeights: false`; no batch dimension for unbatched input).
    ///
    /// Masks: `true` (bool) means "may not attend"; float masks are added to the scores.
    /// `attnMask` is `(L, S)` or `(N·numHeads, L, S)`, `keyPaddingMask` `(N, S)`.
    ///
    /// Hooks registered on the module see `query` as its input and the attention output as its
    /// output.
    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                               needWeights: Bool = true, attnMask: Tensor? = nil,
                               averageAttnWeights: Bool = true) -> (output: Tensor, weights: Tensor?) {
        guard hasHooks else {
            return attend(query, key, value, keyPaddingMask: keyPaddingMask, needWeights: needWeights,
                          attnMask: attnMask, averageAttnWeights: averageAttnWeights)
        }
        let selfAttention = query === key && key === value
        var weights: Tensor? = nil
        let output = withHooks(query) { q in
            let r = attend(q, selfAttention ? q : key, selfAttention ? q : value, keyPaddingMask: keyPaddingMask,
                           needWeights: needWeights, attnMask: attnMask, averageAttnWeights: averageAttnWeights)
            weights = r.weights
            return r.output
        }
        return (output, weights)
    }

    private func attend(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor?,
                        needWeights: Bool, attnMask: Tensor?, averageAttnWeights: Bool) -> (output: Tensor, weights: Tensor?) {
        do { try validate(query, key, value, keyPaddingMask: keyPaddingMask, attnMask: attnMask) } catch { usageFailure(error) }
        let unbatched = query.rank == 2
        let (n, l, s) = dims(query, key)
        let e = embedDim, h = numHeads, d = headDim
        // Work in (N, L, E).
        func toBatchFirst(_ t: Tensor) -> Tensor {
            if unbatched { return t.unsqueezed(dim: 0) }
            return batchFirst ? t : t.transposed(0, 1)
        }
        let qIn = toBatchFirst(query)
        let selfAttention = query === key && key === value
        let q, k, v: Tensor
        if selfAttention {
            let qkv = qIn.linear(weight: inProjWeight, bias: inProjBias)        // (N, L, 3E)
            let parts = qkv.chunked(3, dim: -1)
            (q, k, v) = (parts[0], parts[1], parts[2])
        } else {
            func proj(_ x: Tensor, _ i: Int) -> Tensor {
                let w = inProjWeight.sliced(dim: 0, start: i * e, end: (i + 1) * e)
                let b = inProjBias?.sliced(dim: 0, start: i * e, end: (i + 1) * e)
                return x.linear(weight: w, bias: b)
            }
            q = proj(qIn, 0)
            k = proj(toBatchFirst(key), 1)
            v = proj(toBatchFirst(value), 2)
        }
        func heads(_ t: Tensor, _ len: Int) -> Tensor {           // (N, len, E) → (N, H, len, D)
            t.reshaped([n, len, h, d]).permuted([0, 2, 1, 3])
        }
        let qh = heads(q, l) * (1 / Double(d)).squareRoot()
        let kh = heads(k, s), vh = heads(v, s)
        var scores = qh.matmul(kh.transposed())                   // (N, H, L, S)
        if let mask = combinedMask(attnMask: attnMask, keyPaddingMask: keyPaddingMask, n: n, l: l, s: s) {
            scores = scores + mask
        }
        var weights = scores.softmax(dim: -1)
        if dropout > 0 && isTraining {
            weights = NN.dropout(weights, p: dropout, training: true)
        }
        let context = weights.matmul(vh)                           // (N, H, L, D)
            .permuted([0, 2, 1, 3]).reshaped([n, l, e])
        var out = outProj(context)
        if unbatched { out = out.squeezed(dim: 0) } else if !batchFirst { out = out.transposed(0, 1) }
        guard needWeights else { return (out, nil) }
        var w = averageAttnWeights ? weights.mean(dim: 1) : weights
        if unbatched { w = w.squeezed(dim: 0) }
        return (out, w)
    }

    /// Self-attention (`self(x, x, x)`), output only.
    override public func forward(_ x: Tensor) -> Tensor {
        // Not self(x, x, x): `model(x)` has already run the hooks around forward.
        attend(x, x, x, keyPaddingMask: nil, needWeights: false, attnMask: nil, averageAttnWeights: true).output
    }

    /// The masks as one additive float mask broadcastable to (N, H, L, S): bool `true` → −∞.
    private func combinedMask(attnMask: Tensor?, keyPaddingMask: Tensor?, n: Int, l: Int, s: Int) -> Tensor? {
        let dtype = inProjWeight.dtype
        var mask: Tensor? = nil
        if let a = attnMask {
            let f = additive(a, dtype: dtype)
            mask = a.rank == 2 ? f.reshaped([1, 1, l, s]) : f.reshaped([n, numHeads, l, s])
        }
        if let kp = keyPaddingMask {
            let f = additive(kp, dtype: dtype).reshaped([n, 1, 1, s])
            mask = mask.map { $0 + f } ?? f
        }
        return mask
    }

    private func additive(_ m: Tensor, dtype: DType) -> Tensor {
        if m.dtype == .bool {
            return Kernels.where(m, Tensor.full([], -.infinity, dtype: dtype), Tensor.zeros([], dtype: dtype))
        }
        return m.dtype == dtype ? m : m.to(dtype)
    }

    override public var extraDescription: String { "" }
}
