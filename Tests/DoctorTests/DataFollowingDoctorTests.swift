import Testing
import SwiftNN
import SwiftNNDoctor

// Models written the way users write them: custom Module subclasses with their own forward,
// functional operations between layers, nested containers. The doctor has to follow the data
// through them; declaration order alone would not tell it what feeds what.

/// conv → BN → relu, with the activation as a functional call.
private final class ConvBlock: Module {
    var conv: Conv2d
    var bn: BatchNorm2d
    init(_ cin: Int, _ cout: Int, bias: Bool) {
        conv = Conv2d(cin, cout, kernelSize: 3, padding: 1, bias: bias)
        bn = BatchNorm2d(cout)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { bn(conv(x)).relu() }
}

/// A residual block: the sum mixes two paths.
private final class Residual: Module {
    var block: ConvBlock
    init(_ c: Int) { block = ConvBlock(c, c, bias: false); super.init() }
    override func forward(_ x: Tensor) -> Tensor { x + block(x) }
}

/// A small CNN: stem, residual stages in a Sequential, a classifier head declared first.
private final class UserCNN: Module {
    var head: Sequential            // declared before the backbone on purpose
    var stem: ConvBlock
    var stages: Sequential
    init(stemBias: Bool = false, headDropout: Double = 0.2, headWidth: Int = 16) {
        head = Sequential { Flatten(); Dropout(p: headDropout); Linear(8, headWidth); ReLU(); Linear(headWidth, 10) }
        stem = ConvBlock(3, 8, bias: stemBias)
        stages = Sequential { Residual(8); MaxPool2d(2); Residual(8); AdaptiveAvgPool2d(1) }
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { head(stages(stem(x))) }
}

/// An MLP block whose forward applies dropout between the Linear and the BatchNorm.
private final class DroppingBlock: Module {
    var fc: Linear
    var drop: Dropout
    var bn: BatchNorm1d
    init(_ i: Int, _ o: Int, p: Double) {
        fc = Linear(i, o, bias: false)
        drop = Dropout(p: p)
        bn = BatchNorm1d(o)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { bn(drop(fc(x)).relu()) }
}

/// Same mistake with functional dropout that follows the mode.
private final class FunctionalDropBlock: Module {
    var fc = Linear(12, 12, bias: false)
    var bn = BatchNorm1d(12)
    override func forward(_ x: Tensor) -> Tensor { bn(dropout(fc(x), p: 0.2, training: isTraining)) }
}

/// A user's attention that forgets `training: isTraining` (the default of PyTorch's F.dropout is
/// training=True): attention dropout stays on in evaluation.
private final class LeakyAttention: Module {
    var qkv = Linear(8, 24)
    var proj = Linear(8, 8)
    override func forward(_ x: Tensor) -> Tensor {
        let parts = qkv(x).chunked(3, dim: -1)
        let scores = parts[0].matmul(parts[1].transposed(1, 2)) * (1 / 8.0.squareRoot())
        let weights = dropout(scores.softmax(dim: -1), p: 0.1, training: true)
        return proj(weights.matmul(parts[2]))
    }
}

private final class TinyTransformer: Module {
    var embed = Linear(4, 8)
    var attention: Module
    var ffn = Sequential { Linear(8, 16); GELU(); Dropout(p: 0.3); Linear(16, 8) }
    init(attention: Module) { self.attention = attention; super.init() }
    override func forward(_ x: Tensor) -> Tensor {
        let h = embed(x)
        let a = h + attention(h)
        return a + ffn(a)
    }
}

@Suite struct DataFollowingDoctorTests {
    func findings(_ ds: [Diagnosis], _ check: Diagnosis.Check) -> [Diagnosis] { ds.filter { $0.check == check } }

    /// Mistake: a bias before BatchNorm ("too many conv parameters"), found inside custom blocks
    /// nested in containers, whatever the declaration order.
    @Test func biasBeforeBatchNormInsideCustomBlocks() {
        let model = UserCNN(stemBias: true)
        let found = Doctor.examine(model, inputShape: [3, 8, 8], purpose: .training, batchSize: 32)
        let bias = findings(found, .biasBeforeBatchNorm)
        #expect(bias.map(\.path) == ["stem.conv"])
        #expect(bias.first?.fix.contains("Conv2d(3, 8, kernelSize: 3, bias: false)") == true)
        #expect(findings(found, .dataNotFollowed).isEmpty)
        // Through a reshape the bias is still cancelled; through a ReLU it is not.
        final class ViaView: Module {
            var fc = Linear(6, 4)
            var bn = BatchNorm1d(4)
            override func forward(_ x: Tensor) -> Tensor { bn(fc(x).reshaped([x.shape[0], 4, 1])).flattened(startDim: 1) }
        }
        final class ViaReLU: Module {
            var fc = Linear(6, 4)
            var bn = BatchNorm1d(4)
            override func forward(_ x: Tensor) -> Tensor { bn(fc(x).relu()) }
        }
        #expect(findings(Doctor.examine(ViaView(), purpose: .training), .biasBeforeBatchNorm).map(\.path) == ["fc"])
        #expect(findings(Doctor.examine(ViaReLU(), purpose: .training), .biasBeforeBatchNorm).isEmpty)
    }

    /// Mistake: Dropout feeding BatchNorm, through a custom forward with a functional ReLU, and as
    /// a functional dropout.
    @Test func dropoutFeedingBatchNormThroughCustomForwards() {
        let model = Sequential { DroppingBlock(10, 12, p: 0.2); FunctionalDropBlock(); Linear(12, 3) }
        let found = findings(Doctor.examine(model, purpose: .training, batchSize: 32), .dropoutBeforeBatchNorm)
        #expect(found.map(\.path) == ["0.drop", "1"])
        #expect(found.allSatisfy { $0.severity == .warning })
        #expect(found[0].message.contains("BatchNorm1d `0.bn`"))
        #expect(found[1].message.contains("functional dropout"))
        // The residual sum mixes the dropped positions with the skip path: not flagged.
        #expect(findings(Doctor.examine(UserCNN(), inputShape: [3, 8, 8]), .dropoutBeforeBatchNorm).isEmpty)
    }

    /// The tutorial's table: Dropout p by layer width and kind, read from the widths the data had.
    @Test func dropoutRatesAgainstTheTutorialsTable() {
        final class MLP: Module {
            var body = Sequential {
                Linear(20, 2048); ReLU(); Dropout(p: 0.5)        // > 1024: 0.5 is the table's value
                Linear(2048, 512); ReLU(); Dropout(p: 0.7)       // 256–1024: 0.3, so 0.7 is a warning
                Linear(512, 64); ReLU(); Dropout(p: 0.4)         // < 256: 0.2, so 0.4 is advice
                Linear(64, 2)
            }
            override func forward(_ x: Tensor) -> Tensor { body(x) }
        }
        let found = findings(Doctor.examine(MLP(), purpose: .training), .dropoutAboveTable)
        #expect(found.map(\.path) == ["body.5", "body.8"])
        #expect(found.map(\.severity) == [.warning, .advice])
        #expect(found[0].message.contains("(512 features)") && found[0].message.contains("0.3"))
        #expect(found[1].fix.contains("p=0.2"))
        // After convolutions: Dropout2d 0.1; plain Dropout on feature maps is pointed to Dropout2d.
        let cnn = Sequential { Conv2d(3, 8, kernelSize: 3, padding: 1, bias: false); BatchNorm2d(8); ReLU(); Dropout2d(p: 0.5); Dropout(p: 0.3) }
        let conv = findings(Doctor.examine(cnn, purpose: .training), .dropoutAboveTable)
        #expect(conv.map(\.path) == ["3", "4"])
        #expect(conv[0].severity == .warning && conv[1].severity == .advice)
        #expect(conv[1].message.contains("Dropout2d"))
        // Transformer FFN: 0.1.
        let transformer = TinyTransformer(attention: MultiheadAttention(embedDim: 8, numHeads: 2, batchFirst: true))
        let tf = findings(Doctor.examine(transformer, inputShape: [5, 4], purpose: .training), .dropoutAboveTable)
        #expect(tf.map(\.path) == ["ffn.2"])
        #expect(tf[0].message.contains("Transformer"))
    }

    /// Mistake: attention dropout in evaluation, as a module left in training mode and as a
    /// functional dropout hard-wired to training inside a user's attention.
    @Test func attentionDropoutInEvaluation() {
        let mha = TinyTransformer(attention: MultiheadAttention(embedDim: 8, numHeads: 2, dropout: 0.1, batchFirst: true))
        mha.train()
        let inTraining = Doctor.examine(mha, inputShape: [5, 4], purpose: .evaluation)
        #expect(findings(inTraining, .attentionDropoutInEvaluation).map(\.path).contains("attention"))
        #expect(findings(inTraining, .attentionDropoutInEvaluation).first?.severity == .error)
        mha.eval()
        #expect(findings(Doctor.examine(mha, inputShape: [5, 4], purpose: .evaluation), .attentionDropoutInEvaluation).isEmpty)

        let leaky = TinyTransformer(attention: LeakyAttention())
        leaky.eval()
        let found = Doctor.examine(leaky, inputShape: [5, 4], purpose: .evaluation)
        let att = findings(found, .attentionDropoutInEvaluation)
        #expect(att.map(\.path) == ["attention"])
        #expect(att.first?.severity == .error)
        #expect(att.first?.message.contains("different outputs for the same input in eval mode") == true)
        // Without a purpose it is still reported, as what would go wrong in evaluation.
        #expect(findings(Doctor.examine(leaky, inputShape: [5, 4]), .attentionDropoutInEvaluation).map(\.path) == ["attention"])
        // The examination left the model as it was.
        #expect(!leaky.isTraining && leaky.modules().allSatisfy { !$0.isTraining })
    }

    /// Mistake five, first form: the backbone's weights are frozen for fine-tuning, its BatchNorm
    /// layers still train (their running statistics drift to the new data: poor transfer).
    @Test func frozenWeightsWithBatchNormStillTraining() {
        let model = UserCNN()
        for p in model.stem.parameters() + model.stages.parameters() where !(p === model.stem.bn.weight || p === model.stem.bn.bias) {
            p.requiresGrad = false
        }
        model.train()
        let found = findings(Doctor.examine(model, inputShape: [3, 8, 8], purpose: .training, batchSize: 32), .batchNormTrainsUnderFrozenWeights)
        #expect(found.map(\.path) == ["stem.bn", "stages.0.block.bn", "stages.2.block.bn"])
        #expect(found.allSatisfy { $0.fix.contains("freezeBatchNorm") })
        // The deliberate way: freezeBatchNorm keeps them in eval mode through model.train().
        freezeBatchNorm(model)
        model.train()
        #expect(findings(Doctor.examine(model, inputShape: [3, 8, 8], purpose: .training, batchSize: 32), .batchNormTrainsUnderFrozenWeights).isEmpty)
    }

    /// Mistake five, second form: BatchNorm frozen by hand (eval() and requiresGrad = false),
    /// then switched back to training by the next model.train().
    @Test func batchNormFrozenByHandThenUnfrozenByTrain() {
        let model = UserCNN()
        for m in model.modules() where m is BatchNormBase {
            m.eval()
            for p in m.parameters() { p.requiresGrad = false }
        }
        #expect(findings(Doctor.examine(model, inputShape: [3, 8, 8], purpose: .training), .batchNormLeftInEval).count == 3)
        model.train()                                   // the start of the next epoch
        let found = findings(Doctor.examine(model, inputShape: [3, 8, 8], purpose: .training), .batchNormUnfrozenByTrain)
        #expect(found.map(\.path) == ["stem.bn", "stages.0.block.bn", "stages.2.block.bn"])
        #expect(found.allSatisfy { $0.severity == .warning })
    }

    /// Mistake: forgetting eval() ("validation loss jumping", "unstable inference").
    @Test func forgettingEvalInNestedModules() {
        let model = UserCNN()
        model.train()
        let found = findings(Doctor.examine(model, inputShape: [3, 8, 8], purpose: .evaluation), .trainModeForEvaluation)
        #expect(found.map(\.path) == ["head.1", "stem.bn", "stages.0.block.bn", "stages.2.block.bn"])
        #expect(found.allSatisfy { $0.severity == .error })
        // Without a purpose: one finding saying what evaluating it now would do.
        let unspecified = findings(Doctor.examine(model, inputShape: [3, 8, 8]), .trainModeForEvaluation)
        #expect(unspecified.count == 1 && unspecified[0].path == "model" && unspecified[0].severity == .advice)
        #expect(unspecified[0].message.contains("if the model is evaluated as it is"))
        model.eval()
        let inEval = Doctor.examine(model, inputShape: [3, 8, 8])
        #expect(findings(inEval, .evalModeForTraining).first?.message.contains("if the model is trained as it is") == true)
        #expect(findings(inEval, .trainModeForEvaluation).isEmpty)
    }

    /// Mistake: a batch too small for BatchNorm ("NaN → BatchNorm with batch one"): a batch of one
    /// gives [N, C] BatchNorm a single value per channel, an image BatchNorm still several.
    @Test func batchOfOneCountsValuesPerChannel() {
        let mlp = Sequential { Linear(6, 4, bias: false); BatchNorm1d(4); ReLU() }
        #expect(findings(Doctor.examine(mlp, purpose: .training, batchSize: 1), .batchOfOne).map(\.path) == ["1"])
        let cnn = UserCNN()
        let found = Doctor.examine(cnn, inputShape: [3, 8, 8], purpose: .training, batchSize: 1)
        #expect(findings(found, .batchOfOne).isEmpty)
        #expect(findings(found, .smallBatchForBatchNorm).count == 3)
    }

    /// The head is declared before the backbone, so a sample guessed from the first declared layer
    /// does not fit: the doctor says so and carries on instead of stopping the program.
    @Test func aSampleThatDoesNotFitIsReportedNotFatal() {
        let model = UserCNN(stemBias: true)
        let found = Doctor.examine(model, purpose: .training)
        let notFollowed = findings(found, .dataNotFollowed)
        #expect(notFollowed.count == 1)
        #expect(notFollowed.first?.message.contains("[2, 8]") == true)
        // What comes after the mismatch was still followed.
        #expect(findings(found, .biasBeforeBatchNorm).map(\.path) == ["stem.conv"])
    }

    /// The doctor's own passes leave running statistics, modes and the caller's random sequence alone.
    @Test func examiningChangesNothing() {
        let model = UserCNN()
        model.train()
        model.stem.bn.eval()
        let before = model.stateDict().cloned()
        // (A generator scoped to this test: other tests draw from the process-wide one in parallel.)
        let expected = Generator.withDefault(Generator(seed: 7)) { Tensor.randn([4]).scalars }
        let got = Generator.withDefault(Generator(seed: 7)) {
            _ = Doctor.examine(model, inputShape: [3, 8, 8])
            return Tensor.randn([4]).scalars
        }
        #expect(got == expected)
        for (k, v) in model.stateDict().entries { #expect(v.scalars == before[k]!.scalars, "\(k) changed") }
        #expect(model.isTraining && !model.stem.bn.isTraining && model.stages.isTraining)
    }
}

/// A user's MLP: a block class of their own (Linear → BatchNorm → functional ReLU → Dropout),
/// repeated in a Sequential, with the head outside it.
private final class UserMLP: Module {
    final class Block: Module {
        var fc: Linear
        var bn: BatchNorm1d
        var drop: Dropout
        init(_ i: Int, _ o: Int, momentum: Double = 0.1) {
            fc = Linear(i, o, bias: false)
            bn = BatchNorm1d(o, momentum: momentum)
            drop = Dropout(p: 0.2)
            super.init()
        }
        override func forward(_ x: Tensor) -> Tensor { drop(bn(fc(x)).relu()) }
    }
    var features: Sequential
    var classifier: Linear
    init(momentum: Double = 0.1) {
        features = Sequential { Block(20, 32, momentum: momentum); Block(32, 16) }
        classifier = Linear(16, 4)
        super.init()
    }
    override func forward(_ x: Tensor) -> Tensor { classifier(features(x)) }
}

@Suite struct UserModelStatisticsTests {
    func findings(_ ds: [Diagnosis], _ check: Diagnosis.Check) -> [Diagnosis] { ds.filter { $0.check == check } }

    /// Row "NaN → BatchNorm with batch one", without being told a batch size: the sample the user
    /// passes is the batch. One example gives an [N, C] BatchNorm one value per channel.
    @Test func batchOfOneFromTheSample() {
        let model = UserMLP()
        model.train()
        let one = Tensor.randn([1, 20], generator: Generator(seed: 1))
        let training = findings(Doctor.examine(model, sample: one, purpose: .training), .batchOfOne)
        #expect(training.map(\.path) == ["features.0.bn", "features.1.bn"])
        #expect(training.allSatisfy { $0.severity == .error && $0.message.contains("Expected more than 1 value per channel when training") })
        // No purpose: what would go wrong if it trained on such batches, as advice.
        let unspecified = findings(Doctor.examine(model, sample: one), .batchOfOne)
        #expect(unspecified.count == 2 && unspecified.allSatisfy { $0.severity == .advice && $0.message.hasPrefix("if the model is trained on batches like the sample") })
        // Evaluating one example at a time is fine; so is a sample of several.
        #expect(findings(Doctor.examine(model, sample: one, purpose: .evaluation), .batchOfOne).isEmpty)
        #expect(findings(Doctor.examine(model, sample: Tensor.randn([4, 20]), purpose: .training), .batchOfOne).isEmpty)
        // A stated batch size wins over the sample's.
        #expect(findings(Doctor.examine(model, sample: one, purpose: .training, batchSize: 32), .batchOfOne).isEmpty)
        // One image still gives an image BatchNorm H·W values per channel.
        #expect(findings(Doctor.examine(UserCNN(), sample: Tensor.randn([1, 3, 8, 8]), purpose: .training), .batchOfOne).isEmpty)
        // The doctor's own pass with the batch of one left the model as it was.
        #expect(model.isTraining && (model.features[0] as! UserMLP.Block).bn.numBatchesTracked == 0)
    }

    /// Keras-style momentum, untrained running statistics and NaN weights, deep inside a user's
    /// blocks: named by their state-dict paths.
    @Test func statisticsAndWeightMistakesInsideCustomBlocks() {
        let keras = UserMLP(momentum: 0.99)
        keras.train()
        let momentum = findings(Doctor.examine(keras, purpose: .training, batchSize: 32), .kerasStyleMomentum)
        #expect(momentum.map(\.path) == ["features.0.bn"])
        #expect(momentum.first?.fix.contains("momentum: 0.01") == true)

        let fresh = UserMLP()
        fresh.eval()
        #expect(findings(Doctor.examine(fresh, purpose: .evaluation), .initialRunningStatistics).map(\.path) == ["features.0.bn", "features.1.bn"])

        let diverged = UserMLP()
        diverged.train()
        withNoGrad { _ = diverged(Tensor.randn([8, 20])) }
        diverged.eval()
        let block = diverged.features[1] as! UserMLP.Block
        block.fc.weight.pointer(as: Float.self)[5] = .nan
        let found = Doctor.examine(diverged, purpose: .evaluation)
        #expect(findings(found, .nonFiniteWeights).map(\.path) == ["features.1.fc"])
        #expect(findings(found, .initialRunningStatistics).isEmpty)
    }
}
