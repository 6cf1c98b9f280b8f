import Testing
import SwiftNN
import SwiftNNDoctor

@Suite struct DoctorTests {
    /// The tutorial's block order, as it should be: no findings in either mode.
    func goodMLP() -> Sequential {
        Sequential {
            Linear(8, 16, bias: false); BatchNorm1d(16); ReLU(); Dropout(p: 0.3)
            Linear(16, 4)
        }
    }

    /// A model whose BatchNorm has seen one training batch (running statistics off their initial values).
    func warmedMLP() -> Sequential {
        let model = goodMLP()
        model.train()
        withNoGrad { _ = model(Tensor.randn([4, 8])) }
        return model
    }

    func checks(_ ds: [Diagnosis]) -> Set<Diagnosis.Check> { Set(ds.map(\.check)) }

    @Test func aWellBuiltModelHasNoFindings() {
        let model = goodMLP()
        model.train()
        #expect(Doctor.examine(model, purpose: .training, batchSize: 64).isEmpty)
        withNoGrad { _ = model(Tensor.randn([4, 8])) }      // running statistics move off their initial values
        model.eval()
        #expect(Doctor.examine(model, purpose: .evaluation).isEmpty)
        #expect(Doctor.report([]) == "No BatchNorm or Dropout problems found.")
    }

    @Test func evaluatingInTrainingModeIsAnError() {
        let model = goodMLP()
        model.train()
        let found = Doctor.examine(model, purpose: .evaluation)
        let modeErrors = found.filter { $0.check == .trainModeForEvaluation }
        #expect(modeErrors.map(\.path) == ["1", "3"])
        #expect(modeErrors.allSatisfy { $0.severity == .error && $0.fix.contains("model.eval()") })
        #expect(found.first?.severity == .error)          // most serious first
    }

    @Test func trainingInEvalModeIsAWarning() {
        let model = goodMLP()
        model.eval()
        let found = Doctor.examine(model, purpose: .training, batchSize: 32)
        #expect(found.filter { $0.check == .evalModeForTraining }.map(\.path) == ["1", "3"])
    }

    @Test func batchNormSwitchedToEvalByHandIsCaughtButFreezingIsNot() {
        let model = warmedMLP()
        model.train()
        model[1].eval()                                      // the trap: the next train() undoes it
        #expect(checks(Doctor.examine(model, purpose: .training, batchSize: 32)) == [.batchNormLeftInEval])
        model.train()
        freezeBatchNorm(model)                               // the deliberate way
        model.train()
        #expect(Doctor.examine(model, purpose: .training, batchSize: 32).isEmpty)
        #expect(!model[1].isTraining)
    }

    @Test func frozenBatchNormWithTrainableParametersIsCaught() {
        let model = warmedMLP()
        model[1].isFrozen = true                             // frozen by hand, gradients still on
        let found = Doctor.examine(model, purpose: .training, batchSize: 32)
        #expect(found.map(\.check) == [.frozenButTrainable])
        #expect(found[0].path == "1")
        // Freezing a BatchNorm that never saw a batch normalizes with mean 0 / variance 1.
        let fresh = goodMLP()
        freezeBatchNorm(fresh)
        #expect(checks(Doctor.examine(fresh, purpose: .training, batchSize: 32)) == [.initialRunningStatistics])
    }

    @Test func batchSizesTooSmallForBatchNorm() {
        let model = goodMLP()
        model.train()
        let one = Doctor.examine(model, purpose: .training, batchSize: 1)
        #expect(one.map(\.check) == [.batchOfOne])
        #expect(one[0].severity == .error)
        #expect(Doctor.examine(model, purpose: .training, batchSize: 4).map(\.check) == [.smallBatchForBatchNorm])
        #expect(Doctor.examine(model, purpose: .training, batchSize: 8).isEmpty)
    }

    @Test func kerasMomentumIsCaughtWithTheConvertedValue() {
        let model = Sequential { Linear(4, 4, bias: false); BatchNorm1d(4, momentum: 0.99) }
        model.train()
        let found = Doctor.examine(model, purpose: .training, batchSize: 32)
        #expect(found.map(\.check) == [.kerasStyleMomentum])
        #expect(found[0].fix.contains("momentum: 0.01"))
        // momentum nil (cumulative average) and PyTorch's usual values are fine
        let ok = Sequential { Linear(4, 4, bias: false); BatchNorm1d(4, momentum: nil); BatchNorm1d(4, momentum: 0.1) }
        #expect(Doctor.examine(ok, purpose: .training, batchSize: 32).isEmpty)
    }

    @Test func untrainedOrBrokenRunningStatistics() {
        let model = goodMLP()
        model.eval()
        let found = Doctor.examine(model, purpose: .evaluation)
        #expect(found.map(\.check) == [.initialRunningStatistics])
        let bn = model[1] as! BatchNorm1d
        bn.runningVar!.setValue(-1, at: 2)
        #expect(Doctor.examine(model, purpose: .evaluation).map(\.check) == [.badRunningStatistics])
        bn.runningVar!.setValue(.nan, at: 2)
        #expect(Doctor.examine(model, purpose: .evaluation).first?.severity == .error)
    }

    /// The checks about what feeds a BatchNorm (other findings, such as Dropout rates, are tested apart).
    let orderChecks: Set<Diagnosis.Check> = [.dropoutBeforeBatchNorm, .biasBeforeBatchNorm]
    func orderFindings(_ ds: [Diagnosis]) -> [Diagnosis] { ds.filter { orderChecks.contains($0.check) } }

    @Test func layerOrderMistakes() {
        let mlp = Sequential { Linear(8, 16); Dropout(p: 0.2); BatchNorm1d(16); ReLU() }
        mlp.train()
        let found = Doctor.examine(mlp, purpose: .training, batchSize: 32)
        #expect(checks(found) == [.dropoutBeforeBatchNorm])
        #expect(found.first { $0.check == .dropoutBeforeBatchNorm }?.path == "1")
        #expect(found.first?.severity == .warning)
        let cnn = Sequential { Conv2d(1, 4, kernelSize: 3); BatchNorm2d(4); ReLU() }
        cnn.train()
        let convFound = Doctor.examine(cnn, purpose: .training, batchSize: 32)
        #expect(convFound.map(\.check) == [.biasBeforeBatchNorm])
        #expect(convFound.map(\.path) == ["0"])
        #expect(convFound[0].fix.contains("Conv2d(1, 4, kernelSize: 3, bias: false)"))
    }

    @Test func theTutorialsBlockOrderIsNotFlagged() {
        // Linear → BN → ReLU → Dropout → Linear → BN: a Linear mixes the dropped units before the next BN.
        let model = Sequential {
            Linear(8, 16, bias: false); BatchNorm1d(16); ReLU(); Dropout(p: 0.4)
            Linear(16, 8, bias: false); BatchNorm1d(8); ReLU(); Dropout(p: 0.4); Linear(8, 2)
        }
        #expect(orderFindings(Doctor.examine(model)).isEmpty)
        // Dropout → ReLU → BN still is the misordering.
        let bad = Sequential { Linear(8, 16, bias: false); Dropout(p: 0.4); ReLU(); BatchNorm1d(16) }
        #expect(orderFindings(Doctor.examine(bad)).map(\.check) == [.dropoutBeforeBatchNorm])
    }

    @Test func layersSayThemselvesWhetherTheyArePointwise() {
        // A user's activation that declares itself elementwise does not hide the misordering;
        // a layer that mixes values (the default) does, like a Linear.
        final class Swish: Module {
            override func forward(_ x: Tensor) -> Tensor { x * x.sigmoid() }
            override var isElementwise: Bool { true }
        }
        final class Mixer: Module {
            override func forward(_ x: Tensor) -> Tensor { x }
        }
        let swish = Sequential { Linear(8, 16, bias: false); Dropout(p: 0.2); Swish(); Flatten(); BatchNorm1d(16) }
        #expect(orderFindings(Doctor.examine(swish)).map(\.check) == [.dropoutBeforeBatchNorm])
        let mixed = Sequential { Linear(8, 16, bias: false); Dropout(p: 0.2); Mixer(); BatchNorm1d(16) }
        #expect(orderFindings(Doctor.examine(mixed)).isEmpty)
        let pointwise: [Module] = [ReLU(), GELU(), SELU(), ELU(), Sigmoid(), Tanh(), Identity(), Dropout(p: 0.1), AlphaDropout(p: 0.1)]
        let mixing: [Module] = [Linear(2, 2), BatchNorm1d(2), Softmax(dim: 1), MaxPool2d(2)]
        #expect(pointwise.allSatisfy { $0.isElementwise })
        #expect(mixing.allSatisfy { !$0.isElementwise })
    }

    @Test func alphaDropoutNeedsSELUAndPOneDropsEverything() {
        let plain = Sequential { Linear(4, 4); ReLU(); AlphaDropout(p: 0.1); Linear(4, 2) }
        #expect(checks(Doctor.examine(plain, purpose: .training)) == [.alphaDropoutWithoutSELU])
        let snn = Sequential { Linear(4, 4); SELU(); AlphaDropout(p: 0.1); Linear(4, 2) }
        #expect(Doctor.examine(snn, purpose: .training).isEmpty)
        let all = Sequential { Linear(4, 4); Dropout(p: 1) }
        #expect(checks(Doctor.examine(all, purpose: .training)) == [.dropoutDropsEverything])
    }

    @Test func nestedPathsUseStateDictPrefixes() {
        final class Net: Module {
            let features = Sequential { Linear(4, 4); Dropout(p: 0.2); BatchNorm1d(4) }
            override func forward(_ x: Tensor) -> Tensor { features(x) }
        }
        let found = Doctor.examine(Net())
        #expect(found.first { $0.check == .dropoutBeforeBatchNorm }?.path == "features.1")
        #expect(found.first { $0.check == .dropoutBeforeBatchNorm }!.description.hasPrefix("warning [dropout-before-batchnorm] features.1:"))
    }

    /// Issue 12: NaN or infinite weights (a diverged run) are an error, reported once per layer.
    @Test func nonFiniteWeightsAreAnError() {
        let model = warmedMLP()
        model.eval()
        let first = model[0] as! Linear, last = model[4] as! Linear
        first.weight.pointer(as: Float.self)[3] = .nan
        last.bias!.pointer(as: Float.self)[0] = -.infinity
        let found = Doctor.examine(model, purpose: .evaluation).filter { $0.check == .nonFiniteWeights }
        #expect(found.map(\.path) == ["0", "4"])
        #expect(found.allSatisfy { $0.severity == .error })
        #expect(found[0].message.hasPrefix("Linear.weight holds 1 NaN and 0 infinite values of 128"))
        #expect(found[1].message.hasPrefix("Linear.bias holds 0 NaN and 1 infinite values of 4"))
    }
}
