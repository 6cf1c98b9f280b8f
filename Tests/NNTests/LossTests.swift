import Foundation
import Testing
import SwiftNN
import TestSupport

// Reference values below were printed by PyTorch 2.15 (torch.nn.functional) for the same inputs.
private let logits: [Float] = [2.0, 0.5, -1.0, 0.1, 0.2, 3.0, -2.0, 1.0, 0.0, 1.5, -0.5, 0.25]
private let targetsWithIgnored = Tensor([0, 2, -100, 1] as [Int64], shape: [4])
private let classWeight = Tensor([0.5, 2.0, 1.0] as [Float], shape: [3])

@Suite struct CrossEntropyTests {
    @Test func weightedSmoothedIgnoredMean() {
        let x = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let loss = crossEntropy(x, targets: targetsWithIgnored, weight: classWeight, labelSmoothing: 0.2)
        #expect(loss.shape == [])
        #expect(allClose(loss.scalars, [1.5232374668121338]))
        loss.backward()
        #expect(allClose(x.grad!.scalars, [0.018346130847930908, -0.006376025266945362, -0.01197010651230812, 0.005034771282225847, -0.022005517035722733, 0.016970757395029068, 0, 0, 0, 0.3588787615299225, -0.44538024067878723, 0.08650147914886475]))
    }

    @Test func weightedSmoothedIgnoredSumAndNone() {
        let x = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let sum = crossEntropy(x, targets: targetsWithIgnored, weight: classWeight, reduction: .sum, labelSmoothing: 0.2)
        #expect(allClose(sum.scalars, [5.3313307762146]))
        sum.backward()
        #expect(allClose(x.grad!.scalars, [0.06421144306659698, -0.022316094487905502, -0.04189537465572357, 0.01762169599533081, -0.07701931893825531, 0.05939757823944092, 0, 0, 0, 1.2560756206512451, -1.5588308572769165, 0.3027551770210266]))

        let y = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let none = crossEntropy(y, targets: targetsWithIgnored, weight: classWeight, reduction: .none, labelSmoothing: 0.2)
        #expect(none.shape == [4])
        #expect(allClose(none.scalars, [0.5528305172920227, 0.583254873752594, 0.0, 4.195245265960693]))
        none.backward(Tensor([1, -2, 3, 0.5] as [Float], shape: [4]))
        #expect(allClose(y.grad!.scalars, [0.06421144306659698, -0.022316094487905502, -0.04189537465572357, -0.03524339199066162, 0.15403863787651062, -0.11879515647888184, 0, 0, 0, 0.6280378103256226, -0.7794154286384583, 0.1513775885105133]))
    }

    @Test func plainAndSmoothedWithoutWeights() {
        let x = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let plain = crossEntropy(x, targets: Tensor([0, 2, 1, 1] as [Int64], shape: [4]))
        #expect(allClose(plain.scalars, [0.7629692554473877]))
        plain.backward()
        #expect(allClose(x.grad!.scalars, [-0.0536007434129715, 0.043822597712278366, 0.009778142906725407, 0.01232783030718565, 0.013624360784888268, -0.025952190160751343, 0.008779757656157017, -0.07365386188030243, 0.06487412005662918, 0.1758284866809845, -0.22620420157909393, 0.05037570372223854]))

        let y = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let smoothed = crossEntropy(y, targets: targetsWithIgnored, labelSmoothing: 0.1)
        #expect(allClose(smoothed.scalars, [0.9837327599525452]))
        smoothed.backward()
        #expect(allClose(y.grad!.scalars, [-0.049245432019233704, 0.04731901362538338, 0.0019264117581769824, 0.005325994919985533, 0.007054701913148165, -0.012380696833133698, 0, 0, 0, 0.22332686185836792, -0.2793833613395691, 0.056056488305330276]))
    }

    @Test func handComputedSingleSample() {
        // logits [1, 2, 3], target 2: loss = log(e + e² + e³) − 3.
        let x = Tensor([1, 2, 3] as [Float], shape: [3])
        let loss = crossEntropy(x, targets: Tensor(scalar: Int64(2)))
        let lse = log(exp(1.0) + exp(2.0) + exp(3.0))
        #expect(allClose(loss.scalars, [lse - 3]))
        // With smoothing ε: (1 − ε)(lse − 3) + ε/3 · Σ(lse − x_k).
        let smoothed = crossEntropy(x, targets: Tensor(scalar: Int64(2)), labelSmoothing: 0.3)
        #expect(allClose(smoothed.scalars, [0.7 * (lse - 3) + 0.1 * (3 * lse - 6)]))
    }

    @Test func stableForHugeLogits() {
        let x = Tensor([1000, 0, -1000, -1000, 1000, 0] as [Float], shape: [2, 3], requiresGrad: true)
        let loss = crossEntropy(x, targets: Tensor([0, 2] as [Int64], shape: [2]))
        #expect(allClose(loss.scalars, [500]))
        loss.backward()
        #expect(x.grad!.scalars.allSatisfy { $0.isFinite })
        #expect(allClose(x.grad!.scalars, [0, 0, 0, 0, 0.5, -0.5]))
    }

    @Test func spatialInput() {
        let input: [Float] = [0.0, 0.8414709568023682, 0.9092974066734314, 0.14112000167369843, -0.756802499294281, -0.9589242935180664, -0.279415488243103, 0.6569865942001343, 0.9893582463264465, 0.41211849451065063, -0.5440211296081543, -0.9999902248382568]
        let x = Tensor(input, shape: [2, 3, 2], requiresGrad: true)
        let t = Tensor([0, 2, 1, -100] as [Int64], shape: [2, 2])
        let loss = crossEntropy(x, targets: t, weight: classWeight, reduction: .none, labelSmoothing: 0.3)
        #expect(loss.shape == [2, 2])
        #expect(allClose(loss.scalars, [0.8557302951812744, 2.1135847568511963, 0.9228152632713318, 0.0]))
        loss.backward(Tensor([1, 2, 3, 4] as [Float], shape: [2, 2]))
        #expect(allClose(x.grad!.scalars, [-0.22286292910575867, 1.163807988166809, 0.23975658416748047, 0.2273682951927185, -0.016893630847334862, -1.3911765813827515, 0.8361009955406189, 0.0, -1.292941927909851, 0.0, 0.4568411111831665, 0.0]))
    }

    @Test func probabilityTargets() {
        let q: [Float] = [0.4123266637325287, 0.3375844955444336, 0.25008875131607056, 0.5064803957939148, 0.18632373213768005, 0.30719590187072754, 0.3333333432674408, 0.3333333432674408, 0.3333333432674408, 0.8437947034835815, 0.04201006516814232, 0.11419519037008286]
        let x = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let loss = crossEntropy(x, targets: Tensor(q, shape: [4, 3]), weight: classWeight, labelSmoothing: 0.1)
        #expect(allClose(loss.scalars, [1.4832886457443237]))
        loss.backward()
        #expect(allClose(x.grad!.scalars, [0.17234906554222107, -0.11884341388940811, -0.053505636751651764, -0.049354854971170425, -0.08748143166303635, 0.13683629035949707, -0.03142361715435982, 0.039070501923561096, -0.0076468572951853275, 0.019549880176782608, -0.019514551386237144, -3.533494964358397e-05]))
    }

    @Test func allIgnoredMeanIsNaN() {
        let x = Tensor(logits, shape: [4, 3])
        let loss = crossEntropy(x, targets: Tensor([-100, -100, -100, -100] as [Int64], shape: [4]))
        #expect(loss.item().isNaN)
    }

    @Test func gradcheckFloat64() {
        let x = f64(logits.map(Double.init), [4, 3])
        let w = Tensor([0.5, 2.0, 1.0] as [Double], shape: [3])
        for reduction in Reduction.allCases {
            #expect(gradcheck({ crossEntropy($0[0], targets: targetsWithIgnored, weight: w, reduction: reduction, labelSmoothing: 0.2) }, inputs: [x]))
            #expect(gradcheck({ crossEntropy($0[0], targets: targetsWithIgnored, reduction: reduction) }, inputs: [x]))
        }
        let x3 = f64((0..<12).map { sin(Double($0)) }, [2, 3, 2])
        let t3 = Tensor([0, 2, 1, -100] as [Int64], shape: [2, 2])
        #expect(gradcheck({ crossEntropy($0[0], targets: t3, weight: w, labelSmoothing: 0.3) }, inputs: [x3]))
        let q = f64([0.2, 0.3, 0.5, 0.1, 0.1, 0.8, 1, 0, 0, 0.3, 0.3, 0.4], [4, 3])
        #expect(gradcheck({ crossEntropy($0[0], targets: $0[1], weight: w, labelSmoothing: 0.1) }, inputs: [x, q]))
    }

    @Test func errorsUsePyTorchWords() {
        let x = Tensor(logits, shape: [4, 3])
        #expect(throws: UsageError("cross_entropy", "Target 3 is out of bounds.")) {
            try validateCrossEntropy(x, targets: Tensor([0, 3, 1, 1] as [Int64], shape: [4]))
        }
        #expect(throws: UsageError("cross_entropy", "Expected input batch_size (4) to match target batch_size (2).")) {
            try validateCrossEntropy(x, targets: Tensor([0, 1] as [Int64], shape: [2]))
        }
        #expect(throws: UsageError("cross_entropy", "weight tensor should be defined either for all 3 classes or no classes but got weight tensor of shape: [2]")) {
            try validateCrossEntropy(x, targets: Tensor([0, 1, 1, 1] as [Int64], shape: [4]), weight: Tensor([1, 2] as [Float], shape: [2]))
        }
        #expect(throws: UsageError("cross_entropy", "label_smoothing must be between 0.0 and 1.0. Got: 1.5")) {
            try validateCrossEntropy(x, targets: Tensor([0, 1, 1, 1] as [Int64], shape: [4]), labelSmoothing: 1.5)
        }
        #expect(throws: UsageError("cross_entropy", "expected scalar type Long but found float32")) {
            try validateCrossEntropy(x, targets: Tensor([0, 1, 1, 1] as [Float], shape: [4]))
        }
    }
}

@Suite struct OtherLossTests {
    @Test func nllWeightedIgnored() {
        let x = Tensor(logits, shape: [4, 3], requiresGrad: true)
        let loss = nllLoss(x, targets: targetsWithIgnored, weight: classWeight)
        #expect(allClose(loss.scalars, [-0.8571428656578064]))
        loss.backward()
        #expect(allClose(x.grad!.scalars, [-0.1428571492433548, 0, 0, 0, 0, -0.2857142984867096, 0, 0, 0, 0, -0.5714285969734192, 0]))
        let xd = f64(logits.map(Double.init), [4, 3])
        for reduction in Reduction.allCases {
            #expect(gradcheck({ nllLoss($0[0], targets: targetsWithIgnored, weight: Tensor([0.5, 2.0, 1.0] as [Double], shape: [3]), reduction: reduction) }, inputs: [xd]))
        }
    }

    @Test func mse() {
        let a = Tensor([1, 2, -3, 0.5] as [Float], shape: [4], requiresGrad: true)
        let b = Tensor([0.5, 2.5, -1, 0] as [Float], shape: [4])
        let loss = mseLoss(a, b)
        #expect(allClose(loss.scalars, [1.1875]))        // (0.25 + 0.25 + 4 + 0.25) / 4
        #expect(allClose(mseLoss(a, b, reduction: .sum).scalars, [4.75]))
        loss.backward()
        #expect(allClose(a.grad!.scalars, [0.25, -0.25, -1, 0.25]))   // 2(a − b)/4
        for reduction in Reduction.allCases {
            #expect(gradcheck({ mseLoss($0[0], $0[1], reduction: reduction) },
                                          inputs: [f64([1, 2, -3, 0.5], [2, 2]), f64([0.5, 2.5, -1, 0], [2, 2])]))
        }
    }

    @Test func bceWithLogitsStableAndWeighted() {
        let x = Tensor([100, -100, 0.5, -3, 2, 0] as [Float], shape: [2, 3], requiresGrad: true)
        let y = Tensor([0, 1, 1, 0.3, 0, 1] as [Float], shape: [2, 3], requiresGrad: true)
        let pw = Tensor([2, 0.5, 3] as [Float], shape: [3]), w = Tensor([1, 2, 0.5] as [Float], shape: [3])
        let loss = binaryCrossEntropyWithLogits(x, y, weight: w, posWeight: pw)
        #expect(allClose(loss.scalars, [34.6446418762207]))
        loss.backward()
        #expect(allClose(x.grad!.scalars, [0.1666666716337204, -0.1666666716337204, -0.09438516944646835, -0.08972439914941788, 0.293599009513855, -0.125]))
        #expect(allClose(y.grad!.scalars, [-16.66666603088379, 16.66666603088379, 0.037346165627241135, 1.0080978870391846, -0.6878213882446289, 0.1155245304107666]))
        let none = binaryCrossEntropyWithLogits(x.detach(), y.detach(), reduction: .none)
        #expect(allClose(none.scalars, [100.0, 100.0, 0.4740769863128662, 0.9485874176025391, 2.1269280910491943, 0.6931471824645996]))
        for reduction in Reduction.allCases {
            #expect(gradcheck({ binaryCrossEntropyWithLogits($0[0], $0[1], weight: Tensor([1, 2, 0.5] as [Double], shape: [3]), posWeight: Tensor([2, 0.5, 3] as [Double], shape: [3]), reduction: reduction) },
                                          inputs: [f64([10, -10, 0.5, -3, 2, 0], [2, 3]), f64([0, 1, 1, 0.3, 0, 1], [2, 3])]))
        }
    }
}

@Suite struct LossModuleTests {
    @Test func modulesMatchFunctionalForms() {
        let x = Tensor(logits, shape: [4, 3])
        let ce = CrossEntropyLoss(weight: classWeight, labelSmoothing: 0.2)
        #expect(allClose(ce(x, targets: targetsWithIgnored).scalars, [1.5232374668121338]))
        #expect(ce.stateDict().keys == ["weight"])
        #expect(CrossEntropyLoss().stateDict().keys.isEmpty)
        #expect(ce.description == "CrossEntropyLoss()")
        #expect(allClose(NLLLoss(weight: classWeight)(x, targets: targetsWithIgnored).scalars, [-0.8571428656578064]))
        let a = Tensor([1, 2, -3, 0.5] as [Float], shape: [4]), b = Tensor([0.5, 2.5, -1, 0] as [Float], shape: [4])
        #expect(allClose(MSELoss(reduction: .sum)(a, b).scalars, [4.75]))
        let bce = BCEWithLogitsLoss(weight: Tensor([1, 2, 0.5] as [Float], shape: [3]), posWeight: Tensor([2, 0.5, 3] as [Float], shape: [3]))
        #expect(bce.stateDict().keys == ["weight", "pos_weight"])
        let xb = Tensor([100, -100, 0.5, -3, 2, 0] as [Float], shape: [2, 3]), yb = Tensor([0, 1, 1, 0.3, 0, 1] as [Float], shape: [2, 3])
        #expect(allClose(bce(xb, yb).scalars, [34.6446418762207]))
    }
}

@Suite struct LossTrapTests {
    /// The non-throwing entry point stops the program on a programmer error (the message itself is
    /// checked through `validateCrossEntropy` above).
    @Test func outOfRangeTargetTraps() async {
        await #expect(processExitsWith: .failure) {
            let x = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
            _ = CrossEntropyLoss()(x, targets: Tensor([0, 3] as [Int64], shape: [2]))
        }
    }
}
