import Testing
import SwiftNN

/// float64 finite-difference checks of every normalization in training and evaluation mode,
/// with odd shapes.
@Suite("Normalization gradcheck")
struct NormalizationGradcheckTests {
    static func input(_ shape: [Int], seed: UInt64, scale: Double = 1, offset: Double = 0) -> Tensor {
        Tensor(NormTest.values(shape.reduce(1, *), seed: seed).map { $0 * scale + offset }, shape: shape, requiresGrad: true)
    }

    @Test("BatchNorm train and eval, (N, C), (N, C, L), (N, C, H, W), (N, C, D, H, W)")
    func batchNorm() {
        for (i, shape) in [[5, 3], [3, 2, 5], [2, 3, 3, 1], [2, 2, 1, 3, 2]].enumerated() {
            let c = shape[1]
            let x = Self.input(shape, seed: UInt64(i), scale: 2, offset: 0.3)
            let w = Self.input([c], seed: 100, offset: 1), b = Self.input([c], seed: 101)
            #expect(gradcheck({ SwiftNN.batchNorm($0[0], runningMean: nil, runningVar: nil, weight: $0[1], bias: $0[2], training: true) },
                                       inputs: [x, w, b]), "train \(shape)")
            let rm = Tensor(NormTest.values(c, seed: 5), shape: [c])
            let rv = Tensor(NormTest.values(c, seed: 6).map { 1.5 + $0 }, shape: [c])
            #expect(gradcheck({ SwiftNN.batchNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], training: false) },
                                       inputs: [x, w, b]), "eval \(shape)")
            #expect(gradcheck({ SwiftNN.batchNorm($0[0], runningMean: nil, runningVar: nil, training: true) },
                                       inputs: [x]), "no affine \(shape)")
        }
    }

    @Test("InstanceNorm with input statistics and with running statistics")
    func instanceNorm() {
        for (i, shape) in [[2, 3, 5], [1, 2, 3, 3], [2, 1, 2, 2, 3]].enumerated() {
            let c = shape[1]
            let x = Self.input(shape, seed: UInt64(10 + i), scale: 2)
            let w = Self.input([c], seed: 102, offset: 1), b = Self.input([c], seed: 103)
            #expect(gradcheck({ SwiftNN.instanceNorm($0[0], weight: $0[1], bias: $0[2]) }, inputs: [x, w, b]), "\(shape)")
            let rm = Tensor(NormTest.values(c, seed: 7), shape: [c])
            let rv = Tensor(NormTest.values(c, seed: 8).map { 1.5 + $0 }, shape: [c])
            #expect(gradcheck({ SwiftNN.instanceNorm($0[0], runningMean: rm, runningVar: rv, weight: $0[1], bias: $0[2], useInputStats: false) },
                                       inputs: [x, w, b]), "eval \(shape)")
        }
    }

    @Test("GroupNorm: several groups, one group, one channel per group, (N, C) input")
    func groupNorm() {
        for (i, (shape, groups)) in [([2, 6, 3], 3), ([1, 4, 2, 3], 1), ([2, 3, 5], 3), ([3, 4], 2)].enumerated() {
            let c = shape[1]
            let x = Self.input(shape, seed: UInt64(20 + i), scale: 2, offset: -0.4)
            let w = Self.input([c], seed: 104, offset: 1), b = Self.input([c], seed: 105)
            #expect(gradcheck({ SwiftNN.groupNorm($0[0], numGroups: groups, weight: $0[1], bias: $0[2]) },
                                       inputs: [x, w, b]), "\(shape) groups \(groups)")
        }
    }

    @Test("LayerNorm and RMSNorm over one and several trailing dims")
    func rowNorms() {
        for (i, (shape, norm)) in [([3, 7], [7]), ([2, 3, 5], [3, 5]), ([1, 17], [17])].enumerated() {
            let x = Self.input(shape, seed: UInt64(30 + i), scale: 2, offset: 0.2)
            let w = Self.input(norm, seed: 106, offset: 1), b = Self.input(norm, seed: 107)
            #expect(gradcheck({ SwiftNN.layerNorm($0[0], normalizedShape: norm, weight: $0[1], bias: $0[2]) },
                                       inputs: [x, w, b]), "layerNorm \(shape)")
            #expect(gradcheck({ SwiftNN.layerNorm($0[0], normalizedShape: norm, weight: $0[1], eps: 1e-3) },
                                       inputs: [x, w]), "layerNorm no bias \(shape)")
            #expect(gradcheck({ SwiftNN.rmsNorm($0[0], normalizedShape: norm, weight: $0[1], eps: 1e-6) },
                                       inputs: [x, w]), "rmsNorm \(shape)")
            #expect(gradcheck({ SwiftNN.rmsNorm($0[0], normalizedShape: norm) }, inputs: [x]), "rmsNorm no affine \(shape)")
        }
    }
}
