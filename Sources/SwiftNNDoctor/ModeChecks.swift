import NN

/// train()/eval() mistakes: the single most common source of "my accuracy drops at test time",
/// and the two forms of freezing gone wrong.
enum ModeChecks {
    static func run(_ modules: [(String, Module)], purpose: Doctor.Purpose) -> [Diagnosis] {
        var out: [Diagnosis] = []
        let byPath = Dictionary(modules.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let modeDependent = modules.filter { Kind.isModeDependent($0.1) }
        for (path, m) in modeDependent {
            switch purpose {
            case .evaluation where m.isTraining:
                out.append(Diagnosis(.trainModeForEvaluation, .error, path: path,
                                     "\(m.typeName) is in training mode during evaluation: it \(Kind.trainModeEffect(m)).",
                                     fix: "call model.eval() before evaluating (and model.train() before the next training step)."))
            case .training, .unspecified:
                guard !m.isTraining, !m.isFrozen, !hasFrozenAncestor(path, byPath) else { break }
                if parent(of: path, byPath)?.isTraining ?? false {
                    out.append(Diagnosis(.batchNormLeftInEval, .warning, path: path,
                                         "\(m.typeName) is in eval mode inside a model that is training, but it is not frozen: the next model.train() silently switches it back.",
                                         fix: "use freezeBatchNorm(model) to freeze normalization on purpose, or call model.train()."))
                } else if purpose == .training {
                    out.append(Diagnosis(.evalModeForTraining, .warning, path: path,
                                         "\(m.typeName) is in eval mode but the model is about to train: "
                                            + (Kind.isDropout(m) ? "dropout is off, so it does not regularize." : "running statistics are not updated and batches are normalized with stale statistics."),
                                         fix: "call model.train() before the training loop."))
                }
            default:
                break
            }
            if m.isFrozen, m.parameters().contains(where: { $0.requiresGrad }) {
                out.append(Diagnosis(.frozenButTrainable, .warning, path: path,
                                     "\(m.typeName) is frozen in eval mode but its affine parameters still require grad, so the optimizer keeps changing them.",
                                     fix: "freeze with freezeBatchNorm(model), which also stops their gradients."))
            }
            // Mistake five, second form: frozen by hand (parameters off), un-frozen by train().
            if purpose != .evaluation, Kind.isBatchNorm(m), m.isTraining, !m.isFrozen,
               !m.parameters().isEmpty, m.parameters().allSatisfy({ !$0.requiresGrad }) {
                out.append(Diagnosis(.batchNormUnfrozenByTrain, .warning, path: path,
                                     "\(m.typeName)'s weight and bias are frozen (requiresGrad false) but the layer is in training mode: its running statistics keep changing with every batch. A freeze made by hand (bn.eval()) is undone by the next model.train().",
                                     fix: "freeze with freezeBatchNorm(model): it also keeps the layer in eval mode through model.train()."))
            }
        }
        // Without a purpose, say what would go wrong either way instead of staying silent.
        if purpose == .unspecified {
            let training = modeDependent.filter { $0.1.isTraining }
            if !training.isEmpty {
                out.append(Diagnosis(.trainModeForEvaluation, .advice, path: "",
                                     "if the model is evaluated as it is, \(listing(training)) \(training.count == 1 ? "is" : "are") in training mode: "
                                        + Set(training.map { Kind.trainModeEffect($0.1) }).sorted().joined(separator: "; ") + ".",
                                     fix: "call model.eval() before evaluating."))
            }
            let evalOnly = modeDependent.filter { !$0.1.isTraining && !$0.1.isFrozen && !hasFrozenAncestor($0.0, byPath) && !(parent(of: $0.0, byPath)?.isTraining ?? false) }
            if !evalOnly.isEmpty {
                out.append(Diagnosis(.evalModeForTraining, .advice, path: "",
                                     "if the model is trained as it is, \(listing(evalOnly)) \(evalOnly.count == 1 ? "is" : "are") in eval mode: BatchNorm would not update its running statistics and Dropout would not regularize.",
                                     fix: "call model.train() before the training loop."))
            }
        }
        return out
    }

    /// `net.1, net.3 and 4 more`.
    static func listing(_ modules: [(String, Module)]) -> String {
        let names = modules.map { "\($0.1.typeName) `\($0.0.isEmpty ? "model" : $0.0)`" }
        return names.count <= 4 ? names.joined(separator: ", ") : names.prefix(3).joined(separator: ", ") + " and \(names.count - 3) more layers"
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
