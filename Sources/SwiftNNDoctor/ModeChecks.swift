import NN

/// train()/eval() mistakes: the single most common source of "my accuracy drops at test time".
enum ModeChecks {
    static func run(_ modules: [(String, Module)], purpose: Doctor.Purpose) -> [Diagnosis] {
        var out: [Diagnosis] = []
        let byPath = Dictionary(uniqueKeysWithValues: modules.map { ($0.0, $0.1) })
        for (path, m) in modules where Kind.isModeDependent(m) {
            switch purpose {
            case .evaluation where m.isTraining:
                let effect = Kind.isDropout(m)
                    ? "drops activations at random, so predictions are noisy and differ between calls"
                    : "normalizes with the statistics of each evaluation batch and overwrites its running statistics with evaluation data"
                out.append(Diagnosis(.trainModeForEvaluation, .error, path: path,
                                     "\(Kind.name(m)) is in training mode during evaluation: it \(effect).",
                                     fix: "call model.eval() before evaluating (and model.train() before the next training step)."))
            case .training where !m.isTraining && !m.isFrozen && !hasFrozenAncestor(path, byPath):
                let parentTraining = parent(of: path, byPath)?.isTraining ?? false
                if parentTraining {
                    out.append(Diagnosis(.batchNormLeftInEval, .warning, path: path,
                                         "\(Kind.name(m)) is in eval mode inside a model that is training, but it is not frozen: the next model.train() silently switches it back.",
                                         fix: "use freezeBatchNorm(model) to freeze normalization on purpose, or call model.train()."))
                } else if path.isEmpty || parent(of: path, byPath) == nil || !(parent(of: path, byPath)!.isTraining) {
                    out.append(Diagnosis(.evalModeForTraining, .warning, path: path,
                                         "\(Kind.name(m)) is in eval mode but the model is about to train: "
                                            + (Kind.isDropout(m) ? "dropout is off, so it does not regularize." : "running statistics are not updated and batches are normalized with stale statistics."),
                                         fix: "call model.train() before the training loop."))
                }
            default:
                break
            }
            if m.isFrozen, m.parameters().contains(where: { $0.requiresGrad }) {
                out.append(Diagnosis(.frozenButTrainable, .warning, path: path,
                                     "\(Kind.name(m)) is frozen in eval mode but its affine parameters still require grad, so the optimizer keeps changing them.",
                                     fix: "freeze with freezeBatchNorm(model), which also stops their gradients."))
            }
        }
        return out
    }

    static func parent(of path: String, _ byPath: [String: Module]) -> Module? {
        guard !path.isEmpty else { return nil }
        guard let dot = path.lastIndex(of: ".") else { return byPath[""] }
        return byPath[String(path[..<dot])]
    }

    static func hasFrozenAncestor(_ path: String, _ byPath: [String: Module]) -> Bool {
        var p = path
        while let dot = p.lastIndex(of: ".") {
            p = String(p[..<dot])
            if byPath[p]?.isFrozen == true { return true }
        }
        return !path.isEmpty && byPath[""]?.isFrozen == true
    }
}
