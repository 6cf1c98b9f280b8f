import NN

/// Every module's training flag, taken before the doctor runs its own forward passes and put
/// back afterwards (parents first, so a child's flag set by its parent's `train` is corrected
/// afterwards), so that examining a model leaves it exactly as it was.
struct ModeSnapshot {
    let entries: [(path: String, module: Module, training: Bool)]
    private let byModule: [ObjectIdentifier: Bool]

    init(_ model: Module) {
        entries = model.namedModules().map { ($0.0, $0.1, $0.1.isTraining) }
        byModule = Dictionary(entries.map { (ObjectIdentifier($0.module), $0.training) }, uniquingKeysWith: { a, _ in a })
    }

    /// Whether `module` was in training mode when the snapshot was taken.
    func wasTraining(_ module: Module) -> Bool { byModule[ObjectIdentifier(module)] ?? module.isTraining }

    /// Runs `body` with the whole model in training or eval mode (frozen modules stay in eval
    /// mode), then restores every module's own flag.
    func inMode<R>(_ model: Module, training: Bool, _ body: () -> R) -> R {
        model.train(training)
        defer { restore() }
        return body()
    }

    func restore() {
        for e in entries where e.module.isTraining != e.training {
            e.module.train(e.training)
        }
        // A parent restored after its child (shared modules) could have overwritten it: check again.
        for e in entries where e.module.isTraining != e.training {
            e.module.train(e.training)
        }
    }
}
