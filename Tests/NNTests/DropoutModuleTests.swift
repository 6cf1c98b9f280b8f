import Foundation
import Testing
import SwiftNN
import TestSupport

@Suite struct DropoutModuleTests {
    @Test func evalModeAndZeroPReturnTheInputItself() {
        let x = dropoutTestInput([4, 3, 5, 5])
        let modules: [DropoutLayer] = [Dropout(p: 0.5), Dropout1d(p: 0.5), Dropout2d(p: 0.5), Dropout3d(p: 0.5),
                                       AlphaDropout(p: 0.5), FeatureAlphaDropout(p: 0.5)]
        for m in modules {
            let input = m is Dropout1d ? x.viewData([4, 3, 25]) : x
            m.eval()
            let y = m(input)
            #expect(y === input && y.sharesStorage(with: input), "\(m.typeName) eval")
            m.train()
            m.p = 0
            #expect(m(input) === input, "\(m.typeName) p = 0")
        }
        #expect(dropout(x, p: 0.5, training: false) === x)
        #expect(dropout(x, p: 0) === x)
        #expect(alphaDropout(x, p: 0.5) === x)        // training defaults to false, as in PyTorch
    }

    @Test func trainCallsDifferEvalCallsAreEqual() {
        // The tutorial's check: a BN + Dropout model is random in training, deterministic in eval.
        let model = Sequential {
            Linear(16, 32)
            BatchNorm1d(32)
            Dropout(p: 0.5)
            Linear(32, 4)
        }
        let x = Tensor.randn([8, 16], generator: Generator(seed: 1))
        model.train()
        #expect(model(x).scalars != model(x).scalars)
        model.eval()
        #expect(model(x).scalars == model(x).scalars)
    }

    @Test func pOneGivesTimesZero() {
        let x = Tensor([-2, 3, .nan, .infinity, 0] as [Float], shape: [5], requiresGrad: true)
        let y = dropout(x, p: 1)
        let ys = y.scalars
        #expect(ys[0] == 0 && ys[0].sign == .minus)
        #expect(ys[1] == 0 && ys[1].sign == .plus)
        #expect(ys[2].isNaN && ys[3].isNaN && ys[4] == 0)
        y.backward(Tensor.ones([5]))
        #expect(x.grad?.scalars == [0, 0, 0, 0, 0])
        #expect(Dropout2d(p: 1)(Tensor.ones([2, 3, 4])).scalars.allSatisfy { $0 == 0 })
        #expect(AlphaDropout(p: 1)(Tensor.ones([6])).scalars == [0, 0, 0, 0, 0, 0])
    }

    @Test func droppedElementsAreXTimesZero() {
        let x = Tensor((0..<256).map { -1 - Float($0) }, shape: [256])
        let y = dropout(x, p: 0.5, generator: Generator(seed: 3)).scalars
        let zeros = y.filter { $0 == 0 }
        #expect(!zeros.isEmpty && zeros.allSatisfy { $0.sign == .minus })
    }

    @Test func backwardUsesTheForwardMask() {
        let x = dropoutTestInput([3, 700])
        x.requiresGrad = true
        let y = dropout(x, p: 0.3, generator: Generator(seed: 12))
        #expect(y.gradFunctionName == "dropout")
        let g = Tensor((0..<2_100).map { Float($0 % 7) - 3.5 }, shape: [3, 700])
        y.backward(g)
        let ys = y.scalars, gs = g.scalars, gx = x.grad!.scalars
        let scale = Float(1 / 0.7)
        #expect((0..<2_100).allSatisfy { gx[$0] == (ys[$0] == 0 ? gs[$0] * 0 : gs[$0] * scale) })
        // The raw kernels give the same with the same stream.
        let d = DropoutDecisions(stream: Generator(seed: 12).nextStream(), p: 0.3)
        #expect(Kernels.dropout(x, decisions: d).scalars == ys)
        #expect(Kernels.dropoutBackward(g, decisions: d).scalars == gx)

        let xc = dropoutTestInput([4, 6, 9]); xc.requiresGrad = true
        let yc = dropout2d(xc, p: 0.5, generator: Generator(seed: 13))
        yc.backward(Tensor.ones([4, 6, 9]))
        let ycs = yc.scalars, gcs = xc.grad!.scalars
        #expect((0..<216).allSatisfy { gcs[$0] == (ycs[$0] == 0 ? 0 : 2) })
    }

    @Test func gradcheckWithAFixedMask() {
        let shapes: [(String, [Int], (Tensor) -> Tensor)] = [
            ("dropout", [3, 40], { dropout($0, p: 0.3, generator: Generator(seed: 5)) }),
            ("dropout exact path", [3, 40], { dropout($0, p: 0.001, generator: Generator(seed: 5)) }),
            ("dropout exact path, high p", [3, 40], { dropout($0, p: 0.9995, generator: Generator(seed: 5)) }),
            ("dropout1d", [3, 4, 5], { dropout1d($0, p: 0.5, generator: Generator(seed: 6)) }),
            ("dropout2d", [2, 4, 3, 3], { dropout2d($0, p: 0.4, generator: Generator(seed: 7)) }),
            ("dropout3d", [4, 2, 2, 3], { dropout3d($0, p: 0.4, generator: Generator(seed: 8)) }),
            ("alphaDropout", [50], { alphaDropout($0, p: 0.2, training: true, generator: Generator(seed: 9)) }),
            ("featureAlphaDropout", [3, 4, 5], { featureAlphaDropout($0, p: 0.5, training: true, generator: Generator(seed: 10)) }),
            ("p = 1", [7], { dropout($0, p: 1) }),
        ]
        for (name, shape, f) in shapes {
            let n = shape.reduce(1, *)
            let x = Tensor((0..<n).map { sin(Double($0) * 1.3) }, shape: shape, requiresGrad: true)
            // A fresh generator with the same seed on every call: the same mask throughout.
            #expect(gradcheck({ f($0[0]) }, inputs: [x], name: name))
        }
        // The module with a restored generator state is the same fixed mask.
        let m = Dropout2d(p: 0.5, generator: Generator(seed: 11))
        let saved = m.generator!.state
        let x = Tensor((0..<36).map { cos(Double($0)) }, shape: [2, 2, 3, 3], requiresGrad: true)
        #expect(gradcheck({ m.generator!.state = saved; return m($0[0]) }, inputs: [x], name: "Dropout2d module"))
    }

    @Test func pCanChangeBetweenSteps() throws {
        let m = Dropout(p: 0.5)
        m.p = 0.4
        #expect(m.p == 0.4)
        #expect(m.description == "Dropout(p=0.4, inplace=False)")
        #expect(throws: UsageError("Dropout", "dropout probability has to be between 0 and 1, but got 1.5")) { try m.setP(1.5) }
        #expect(m.p == 0.4)
        try m.setP(0.9)
        let y = m(dropoutTestInput([20_000])).scalars
        #expect(fitsBinomial(y.count { $0 == 0 }, of: 20_000, p: 0.9))
        #expect(throws: UsageError.self) { try AlphaDropout(p: 0.1).setP(-0.5) }
    }

    @Test func descriptionsLikePyTorch() {
        #expect(Dropout(p: 0.5).description == "Dropout(p=0.5, inplace=False)")
        #expect(Dropout().description == "Dropout(p=0.5, inplace=False)")
        #expect(Dropout(0.2).description == "Dropout(p=0.2, inplace=False)")
        #expect(Dropout1d(p: 0.1).description == "Dropout1d(p=0.1, inplace=False)")
        #expect(Dropout2d(p: 0.1, inplace: true).description == "Dropout2d(p=0.1, inplace=True)")
        #expect(Dropout3d(p: 0.2).description == "Dropout3d(p=0.2, inplace=False)")
        #expect(AlphaDropout(p: 0.1).description == "AlphaDropout(p=0.1, inplace=False)")
        #expect(FeatureAlphaDropout(p: 0.1).description == "FeatureAlphaDropout(p=0.1, inplace=False)")
        let seq = Sequential { Identity(); Dropout(p: 0.3) }
        #expect(seq.description.contains("(1): Dropout(p=0.3, inplace=False)"))
        #expect(Dropout(p: 0.3).stateDict().keys.isEmpty)
    }

    @Test func rankRulesAndWarnings() throws {
        #expect(throws: UsageError("Dropout1d", "dropout1d: Expected 2D or 3D input, but received a 4D input. Note that dropout1d exists to provide channel-wise dropout on inputs with 1 spatial dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D inputs).")) {
            try Dropout1d(p: 0.5).validate(Tensor.zeros([2, 3, 4, 5]))
        }
        let evalDrop = Dropout1d(p: 0.5)
        evalDrop.eval()
        #expect(throws: UsageError.self) { try evalDrop.validate(Tensor.zeros([2])) }   // checked in eval too
        try Dropout1d(p: 0.5).validate(Tensor.zeros([3, 4]))
        try Dropout3d(p: 0.5).validate(Tensor.zeros([3, 4, 2, 2]))
        #expect(throws: UsageError("dropout2d", "Feature dropout requires at least 2 dimensions in the input")) {
            try DropoutVariant.dropout2d.validate(Tensor.zeros([5]), p: 0.5, training: true)
        }
        // Dropout2d on 3-D input: (N, C, L), one decision per (n, c), with PyTorch's warning once.
        let x = dropoutTestInput([6, 40, 7])
        let y = Dropout2d(p: 0.5, generator: Generator(seed: 4))(x).scalars
        _ = Dropout2d(p: 0.5)(x)
        let warning = DropoutWarnings.emitted.filter { $0.hasPrefix("dropout2d: Received a 3D input") }
        #expect(warning.count == 1)
        #expect((0..<240).allSatisfy { c in Set((0..<7).map { y[c * 7 + $0] == 0 }).count == 1 })
        // Unbatched Dropout1d (C, L) decides per channel, like (1, C, L).
        let u = dropout1d(dropoutTestInput([50, 8]), p: 0.5, generator: Generator(seed: 6)).scalars
        let b = dropout1d(dropoutTestInput([1, 50, 8]), p: 0.5, generator: Generator(seed: 6)).scalars
        #expect(u == b)
    }

    @Test func inplaceWritesIntoTheInput() {
        let x = dropoutTestInput([1_000])
        let original = x.scalars
        let y = Dropout(p: 0.5, inplace: true, generator: Generator(seed: 2))(x)
        #expect(y.sharesStorage(with: x))
        #expect(x.scalars == y.scalars && x.scalars != original)
        let leaf = dropoutTestInput([10]); leaf.requiresGrad = true
        #expect(throws: UsageError("Dropout", "a leaf Variable that requires grad is being used in an in-place operation.")) {
            try Dropout(p: 0.5, inplace: true).validate(leaf)
        }
        // A recorded intermediate (here tanh's output, which its backward reads) or a view of a
        // leaf would be overwritten under the graph: refused while recording, fine without it.
        let h = leaf.tanh()
        #expect(throws: UsageError.self) { try Dropout(p: 0.5, inplace: true).validate(h) }
        #expect(throws: UsageError.self) { try Dropout(p: 0.5, inplace: true).validate(leaf.reshaped([2, 5])) }
        let quiet = withNoGrad { leaf.tanh() }
        #expect(throws: Never.self) { try Dropout(p: 0.5, inplace: true).validate(quiet) }
        withNoGrad { #expect(Dropout(p: 0.5, inplace: true, generator: Generator(seed: 3))(quiet).sharesStorage(with: quiet)) }
    }

    @Test func everyDropoutErrorRowOfThePyTorchFixtures() throws {
        let data = try Data(contentsOf: Fixtures.url("errors.json"))
        let rows = try #require(JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        let constructors: [String: (Double) throws(UsageError) -> DropoutLayer] = [
            "Dropout": { p throws(UsageError) in try Dropout(validating: p) },
            "Dropout1d": { p throws(UsageError) in try Dropout1d(validating: p) },
            "Dropout2d": { p throws(UsageError) in try Dropout2d(validating: p) },
            "Dropout3d": { p throws(UsageError) in try Dropout3d(validating: p) },
            "AlphaDropout": { p throws(UsageError) in try AlphaDropout(validating: p) },
            "FeatureAlphaDropout": { p throws(UsageError) in try FeatureAlphaDropout(validating: p) },
        ]
        var checked = 0
        for row in rows {
            guard let module = row["module"] as? String, module.contains("Dropout") else { continue }
            let make = try #require(constructors[module], "no constructor for \(module)")
            let kwargs = row["kwargs"] as? [String: Any] ?? [:]
            let p = (kwargs["p"] as? NSNumber)?.doubleValue ?? 0.5
            let message = try #require(row["message"] as? String)
            #expect(row["input_shape"] is NSNull, "only constructor rows are expected")
            #expect(throws: UsageError(module, message)) { _ = try make(p) }
            // The same check guards the functional forms.
            #expect(throws: UsageError.self) { try DropoutVariant.allCases.first { $0.moduleName == module }!.validate(p: p) }
            checked += 1
        }
        #expect(checked >= 4)
    }

    @Test func invalidPTrapsInTheConstructor() async {
        await #expect(processExitsWith: .failure) { _ = Dropout(p: 1.1) }
    }
}
