import TensorCore
import NN

/// Copies of every buffer (running statistics, counters), taken before a forward pass in
/// training mode and written back afterwards: the doctor's passes leave no trace in the model.
struct BufferSnapshot {
    private let saved: [(String, Tensor)]
    private let model: Module

    init(_ model: Module) {
        self.model = model
        saved = model.namedBuffers().map { ($0.0, $0.1.clonedData()) }
    }

    /// Writes the saved values back, into whatever tensor each name holds now (a layer may have
    /// replaced a buffer rather than updated it in place).
    func restore() {
        let now = Dictionary(model.namedBuffers().map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        for (name, copy) in saved {
            guard let current = now[name], current.shape == copy.shape, current.dtype == copy.dtype else { continue }
            current.copyData(from: copy)
        }
    }
}
