import NN

/// Mistakes in the order of operations, read from a recorded forward pass: what really feeds each
/// BatchNorm, through custom modules, nested containers and functional operations.
enum DataFlowChecks {
    static func run(_ trace: DataTrace, purpose: Doctor.Purpose, modes: ModeSnapshot) -> [Diagnosis] {
        var out: [Diagnosis] = []
        var reported = Set<String>()
        func add(_ d: Diagnosis) {
            if reported.insert("\(d.check.rawValue) \(d.path)").inserted { out.append(d) }
        }
        for call in trace.calls where call.isAtomic && Kind.isBatchNorm(call.module) {
            let bn = call.module
            let bnPath = display(call.path)

            // A bias the BatchNorm cancels: reached through reshapes, pooling or dropout only.
            let (shiftSteps, shiftSource) = trace.origin(of: call.input, consumedBy: call.index, through: Kind.passesShift)
            if case .module(let producer)? = shiftSource, let weights = Kind.weightLayer(producer.module), weights.bias {
                let via = shiftSteps.isEmpty ? "" : " (through \(describe(shiftSteps)))"
                add(Diagnosis(.biasBeforeBatchNorm, .advice, path: producer.path,
                              "the bias of \(producer.module.typeName) `\(display(producer.path))` is cancelled by \(bn.typeName) `\(bnPath)`\(via), which subtracts the batch mean: it wastes parameters and its gradient is rounding noise.",
                              fix: "create it with \(weights.description)."))
            }

            // Dropout whose dropped positions reach the BatchNorm through elementwise steps.
            let (elementwise, elementwiseSource) = trace.origin(of: call.input, consumedBy: call.index, through: Kind.passesElementwise)
            for step in elementwise {
                switch step {
                case .module(let d) where Kind.isDropout(d.module) && !Kind.isAlphaDropout(d.module):
                    add(Diagnosis(.dropoutBeforeBatchNorm, .warning, path: d.path,
                                  "\(d.module.typeName) `\(display(d.path))` feeds \(bn.typeName) `\(bnPath)`\(elementwise.count > 1 ? " (through elementwise layers only)" : ""): BatchNorm learns its running variance from dropped-out activations, which no longer holds in eval mode (the 'variance shift'), so test accuracy drops.",
                                  fix: "put Dropout after the last BatchNorm of the block (Linear → BatchNorm → ReLU → Dropout), as the tutorial's blocks do."))
                case .operation(let name, _) where Kind.dropoutOperations.contains(name):
                    // The functional call sits in the forward of the module that called the BatchNorm.
                    let owner = call.parent.map { trace.calls[$0].path } ?? call.path
                    add(Diagnosis(.dropoutBeforeBatchNorm, .warning, path: owner,
                                  "a functional \(name) in the forward code feeds \(bn.typeName) `\(bnPath)`: BatchNorm learns its running variance from dropped-out activations, which no longer holds in eval mode (the 'variance shift'). It also ignores eval() unless called with training: isTraining.",
                                  fix: "apply dropout after the BatchNorm and its activation, as a Dropout module (it follows train()/eval())."))
                default:
                    break
                }
            }

            // Mistake five, first form: the layer feeding the BatchNorm is frozen, the BatchNorm is not.
            if purpose != .evaluation, modes.wasTraining(bn), !bn.isFrozen {
                var producer: DataTrace.Call?
                if case .module(let p)? = elementwiseSource { producer = p } else if case .module(let p)? = shiftSource { producer = p }
                if let p = producer, Kind.weightLayer(p.module) != nil, !p.module.parameters().isEmpty,
                   p.module.parameters().allSatisfy({ !$0.requiresGrad }) {
                    add(Diagnosis(.batchNormTrainsUnderFrozenWeights, .warning, path: call.path,
                                  "\(bn.typeName) `\(bnPath)` is in training mode although the \(p.module.typeName) feeding it (`\(display(p.path))`) is frozen: its running statistics keep moving to the new data while the frozen layers do not adapt, and evaluation uses statistics that fit neither (the usual cause of poor transfer after fine-tuning).",
                                  fix: "freeze the BatchNorm layers of the frozen part too: freezeBatchNorm(model) (or freezeBatchNorm(backbone)), which keeps them in eval mode through model.train()."))
                }
            }
        }
        return out
    }

    static func display(_ path: String) -> String { path.isEmpty ? "model" : path }

    /// `Dropout \`net.2\`, view`.
    static func describe(_ steps: [DataTrace.Step]) -> String {
        steps.map { step in
            switch step {
            case .module(let c): "\(c.module.typeName) `\(display(c.path))`"
            case .operation(let name, _): name
            }
        }.joined(separator: ", ")
    }
}
