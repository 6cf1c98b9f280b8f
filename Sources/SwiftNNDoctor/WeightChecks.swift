import TensorCore
import NN

/// Weights that can only give garbage.
enum WeightChecks {
    /// A parameter holding NaN or infinity (the classic trace of a diverged run): every output that
    /// depends on it is NaN. Reported once per module, naming the first such parameter.
    static func run(_ modules: [(String, Module)]) -> [Diagnosis] {
        var out: [Diagnosis] = []
        // Leaf modules own the weights; a container would report its children's again.
        for (path, m) in modules where m.children().isEmpty {
            for (key, p) in m.namedParameters() where p.dtype.isFloatingPoint {
                let values = p.scalars
                let nan = values.filter(\.isNaN).count, inf = values.filter(\.isInfinite).count
                guard nan + inf > 0 else { continue }
                out.append(Diagnosis(.nonFiniteWeights, .error, path: path,
                                     "\(m.typeName).\(key) holds \(nan) NaN and \(inf) infinite values of \(values.count); every output that depends on it is NaN.",
                                     fix: "the training diverged (lower the learning rate, check the data for NaN) or the checkpoint is corrupted; load an earlier checkpoint."))
                break
            }
        }
        return out
    }
}
