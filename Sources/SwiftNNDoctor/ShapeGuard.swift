import TensorCore
import NN

/// Keeps the doctor's forward pass from stopping on a sample that does not fit: before each layer
/// whose expected input it knows (Linear, convolutions, BatchNorm, LayerNorm, attention), a
/// pre-hook checks the shape and, on a mismatch, records it and hands the layer zeros of a shape
/// it accepts, so the pass goes on and the rest of the model is still followed. (A guessed
/// sample can miss when the first layer declared is not the first one applied.)
final class ShapeGuard {
    struct Mismatch: Equatable {
        var path: String
        var got: [Int]
        var expected: String
    }

    private(set) var mismatches: [Mismatch] = []
    private var handles: [RemovableHandle] = []

    init(_ model: Module) {
        for (path, m) in model.namedModules() {
            guard ShapeGuard.knows(m) else { continue }
            handles.append(m.registerForwardPreHook(replacingInput: { [unowned self] module, input in
                guard let (expected, replacement) = ShapeGuard.check(module, input) else { return nil }
                self.mismatches.append(Mismatch(path: path, got: input.shape, expected: expected))
                return replacement
            }))
        }
    }

    func remove() {
        for h in handles { h.remove() }
        handles = []
    }

    static func knows(_ m: Module) -> Bool {
        m is Linear || m is ConvNd || m is BatchNormBase || m is LayerNorm || m is MultiheadAttention
    }

    /// nil when `x` fits `m`; otherwise what `m` expects and zeros that fit.
    static func check(_ m: Module, _ x: Tensor) -> (String, Tensor)? {
        let n = x.rank >= 2 ? max(x.shape[0], 1) : 2
        func zeros(_ shape: [Int]) -> Tensor {
            let t = Tensor.zeros(shape, dtype: x.dtype.isFloatingPoint ? x.dtype : .float32)
            t.requiresGrad = true
            return t
        }
        switch m {
        case let l as Linear:
            if x.rank >= 1, x.shape.last == l.inFeatures, x.dtype.isFloatingPoint { return nil }
            return ("[…, \(l.inFeatures)]", zeros([n, l.inFeatures]))
        case let c as ConvNd:
            let k = c.kernelSize.count
            let needed = (0..<k).map { i in max(1, (c.kernelSize[i] - 1) * c.dilation[i] + 1 - 2 * c.padding[i]) }
            let spatialFits = x.rank == k + 2 && zip(x.shape.suffix(k), needed).allSatisfy { $0 >= $1 }
            if spatialFits, x.shape[1] == c.inChannels, x.dtype.isFloatingPoint { return nil }
            return ("[N, \(c.inChannels)" + String(repeating: ", …", count: k) + "]", zeros([n, c.inChannels] + needed.map { max($0, 8) }))
        case let bn as BatchNormBase:
            let ranks: [Int] = bn is BatchNorm1d ? [2, 3] : bn is BatchNorm2d ? [4] : [5]
            if ranks.contains(x.rank), x.shape[1] == bn.numFeatures, x.dtype.isFloatingPoint { return nil }
            return ("[N, \(bn.numFeatures)\(String(repeating: ", …", count: ranks[0] - 2))]", zeros([n, bn.numFeatures] + Array(repeating: 4, count: ranks[0] - 2)))
        case let ln as LayerNorm:
            if x.rank > ln.normalizedShape.count, Array(x.shape.suffix(ln.normalizedShape.count)) == ln.normalizedShape { return nil }
            return ("[…, " + ln.normalizedShape.map(String.init).joined(separator: ", ") + "]", zeros([n] + ln.normalizedShape))
        case let a as MultiheadAttention:
            if (x.rank == 3 || x.rank == 2), x.shape.last == a.embedDim, x.dtype.isFloatingPoint { return nil }
            return ("[N, L, \(a.embedDim)]", zeros(a.batchFirst ? [n, 4, a.embedDim] : [4, n, a.embedDim]))
        default:
            return nil
        }
    }
}
