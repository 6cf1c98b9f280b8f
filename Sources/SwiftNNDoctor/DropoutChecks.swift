import TensorCore
import NN

/// Dropout mistakes: a probability far above the tutorial's table for the layer's width and kind,
/// dropout that drops everything, AlphaDropout without SELU, and dropout still active in evaluation.
enum DropoutChecks {
    /// The tutorial's table: fully connected layers by width (> 1024: 0.5, 256–1024: 0.3,
    /// < 256: 0.2), channel dropout after convolutions 0.1, Transformer FFN and attention 0.1.
    struct Recommendation: Equatable {
        var p: Double
        var kind: String
    }

    static func recommendation(width: Int) -> Recommendation {
        width > 1024 ? Recommendation(p: 0.5, kind: "a fully connected layer wider than 1024")
            : width >= 256 ? Recommendation(p: 0.3, kind: "a fully connected layer of 256–1024 units")
            : Recommendation(p: 0.2, kind: "a fully connected layer narrower than 256")
    }
    static let convolution = Recommendation(p: 0.1, kind: "channel dropout after convolutions")
    static let transformer = Recommendation(p: 0.1, kind: "a Transformer's attention or feed-forward dropout")

    /// How far above the table counts: 0.15 gives advice, 0.35 a warning (0.4 after 128 units is
    /// advice, 0.5 after a convolution a warning).
    static let adviceMargin = 0.15, warningMargin = 0.35

    static func run(_ modules: [(String, Module)], trace: DataTrace?, purpose: Doctor.Purpose, modes: ModeSnapshot) -> [Diagnosis] {
        var out: [Diagnosis] = []
        let attentionPaths = modules.filter { $0.1 is MultiheadAttention }.map(\.0)
        // A module is part of a Transformer block when a sibling or ancestor container holds attention.
        func inTransformer(_ path: String) -> Bool {
            attentionPaths.contains { a in
                let container = a.split(separator: ".").dropLast().joined(separator: ".")
                return container.isEmpty || path == container || path.hasPrefix(container + ".")
            }
        }
        var tableChecked = Set<ObjectIdentifier>()
        for call in trace?.calls ?? [] where call.isAtomic {
            guard let d = call.module as? DropoutLayer, !Kind.isAlphaDropout(d), d.p < 1,
                  tableChecked.insert(ObjectIdentifier(d)).inserted else { continue }
            let shape = call.input.shape
            let rec: Recommendation
            var note = ""
            if inTransformer(call.path) {
                rec = transformer
            } else if d.variant != .dropout {
                rec = convolution
            } else if shape.count >= 4 {
                rec = convolution
                note = " On convolution feature maps, Dropout2d (whole channels) is the usual choice; plain Dropout drops single pixels, which neighbouring pixels make up for."
            } else {
                rec = recommendation(width: shape.last ?? 0)
            }
            out += tableFinding(path: call.path, name: d.typeName, p: d.p, width: shape.count < 4 ? shape.last : nil, rec, note: note)
        }
        for (path, m) in modules {
            if let d = m as? DropoutLayer, d.p == 1 {
                out.append(Diagnosis(.dropoutDropsEverything, .warning, path: path,
                                     "\(d.typeName)(p=1) zeroes its whole input in training, so nothing after it learns.",
                                     fix: "use a probability below 1 (0.1–0.5 is usual)."))
            }
            if let a = m as? MultiheadAttention, a.dropout > 0 {
                out += tableFinding(path: path, name: "MultiheadAttention's attention dropout", p: a.dropout, width: nil, transformer, note: "")
                if modes.wasTraining(a) && purpose != .training {
                    out.append(Diagnosis(.attentionDropoutInEvaluation, purpose == .evaluation ? .error : .advice, path: path,
                                         (purpose == .evaluation ? "" : "if the model is evaluated as it is, ")
                                            + "MultiheadAttention is in training mode: its attention dropout (p=\(PyRepr.float(a.dropout))) drops attention weights at random, so predictions differ between calls.",
                                         fix: "call model.eval() before evaluating."))
                }
            }
        }
        let hasAlpha = modules.contains { Kind.isAlphaDropout($0.1) }
        let hasSELU = modules.contains { $0.1 is SELU }
        if hasAlpha && !hasSELU {
            for (path, m) in modules where Kind.isAlphaDropout(m) {
                out.append(Diagnosis(.alphaDropoutWithoutSELU, .warning, path: path,
                                     "\(m.typeName) keeps mean 0 and variance 1 only for self-normalizing (SELU) activations; the model has no SELU.",
                                     fix: "use SELU activations with LeCun-normal initialisation, or plain Dropout."))
            }
        }
        return out
    }

    static func tableFinding(path: String, name: String, p: Double, width: Int?, _ rec: Recommendation, note: String) -> [Diagnosis] {
        let excess = p - rec.p
        guard excess >= adviceMargin - 1e-9 else { return [] }
        let widthText = width.map { " (\($0) features)" } ?? ""
        return [Diagnosis(.dropoutAboveTable, excess >= warningMargin - 1e-9 ? .warning : .advice, path: path,
                          "\(name) p=\(PyRepr.float(p))\(widthText) is far above the tutorial's \(PyRepr.float(rec.p)) for \(rec.kind): too much dropout slows training and leaves the training accuracy well below the validation accuracy.\(note)",
                          fix: "start from p=\(PyRepr.float(rec.p)) and raise it only if the model overfits (training accuracy well above validation).")]
    }

    /// Runs the sample twice in eval mode with different random streams; a module whose output
    /// changes although its input and its own sub-modules' outputs did not is random in eval mode
    /// (typically a functional dropout called with `training: true`, the default of PyTorch's
    /// `F.dropout`).
    static func randomInEvaluation(_ first: DataTrace, _ second: DataTrace, purpose: Doctor.Purpose) -> [Diagnosis] {
        guard first.calls.count == second.calls.count, !first.calls.isEmpty else { return [] }
        // The first place the two passes part: a layer whose output differs although its input
        // did not (its own forward is random), or a call whose input differs while everything
        // before it agreed (the module calling it did something random in between). Everything
        // after that differs as a consequence, so only this one is reported.
        var culprit: DataTrace.Call?
        for (a, b) in zip(first.calls, second.calls) {
            if !identical(a.input, b.input) {
                culprit = a.parent.map { first.calls[$0] } ?? a
                break
            }
            if a.isAtomic, let oa = a.output, let ob = b.output, !identical(oa, ob) {
                culprit = a
                break
            }
        }
        if culprit == nil, let oa = first.calls[0].output, let ob = second.calls[0].output, !identical(oa, ob) {
            // Random after its last sub-module: the innermost call whose output differs.
            culprit = Array(zip(first.calls, second.calls)).last { a, b in
                guard let x = a.output, let y = b.output else { return false }
                return !identical(x, y)
            }?.0
        }
        guard let a = culprit else { return [] }
        let attention = a.module is MultiheadAttention || a.module.typeName.lowercased().contains("attention")
            || a.children.contains { first.calls[$0].module is MultiheadAttention }
        let place = purpose == .evaluation ? "" : "if the model is evaluated: "
        return [Diagnosis(attention ? .attentionDropoutInEvaluation : .randomInEvaluation, purpose == .training ? .advice : .error, path: a.path,
                          place + "\(a.module.typeName) gives different outputs for the same input in eval mode: a random operation in its forward ignores eval()"
                            + (attention ? " — attention dropout left on in evaluation." : "."),
                          fix: "use a Dropout module (it follows train()/eval()), or pass training: isTraining to the functional dropout.")]
    }

    static func identical(_ a: Tensor, _ b: Tensor) -> Bool {
        guard a.shape == b.shape, a.dtype == b.dtype else { return false }
        return (0..<a.count).allSatisfy { a.doubleValue(at: $0).bitPattern == b.doubleValue(at: $0).bitPattern }
    }
}
