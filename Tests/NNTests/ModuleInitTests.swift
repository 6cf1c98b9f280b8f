import Testing
@testable import NN
import TensorCore
import Autograd

@Suite("Init and Embedding")
struct ModuleInitTests {
    @Test func fansAndGains() {
        let f = Init.fans(Tensor.zeros([8, 3, 3, 3]))
        #expect(f.fanIn == 27 && f.fanOut == 72)
        let f2 = Init.fans(Tensor.zeros([5, 4]))
        #expect(f2.fanIn == 4 && f2.fanOut == 5)
        #expect(abs(Init.gain(.leakyRelu, param: 5.0.squareRoot()) - (1.0 / 3).squareRoot()) < 1e-15)
        #expect(Init.gain(.relu) == 2.0.squareRoot())
        #expect(Init.gain(.tanh) == 5.0 / 3)
        #expect(Init.gain(.selu) == 0.75)
    }

    @Test func kaimingUniformWithLinearDefaultsIsOneOverSqrtFanIn() {
        let w = Tensor.zeros([64, 100])
        Init.kaimingUniform(w, a: 5.0.squareRoot(), generator: Generator(seed: 3))
        let v = w.scalars
        let bound: Float = 0.1
        #expect(v.allSatisfy { abs($0) <= bound })
        #expect(v.max()! > 0.09 && v.min()! < -0.09)        // fills the range
        let mean = v.reduce(0, +) / Float(v.count)
        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(v.count)
        #expect(abs(variance - bound * bound / 3) < 0.1 * bound * bound / 3)   // U(±b): b²/3
    }

    @Test func normalAndXavier() {
        let w = Tensor.zeros([200, 300], dtype: .float64)
        Init.xavierNormal(w, generator: Generator(seed: 1))
        let v = w.toArray(of: Double.self)
        let std = (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
        #expect(abs(std - (2.0 / 500).squareRoot()) < 0.02 * (2.0 / 500).squareRoot())
        Init.xavierUniform(w, gain: 2)
        let b = 2 * (6.0 / 500).squareRoot()
        #expect(w.toArray(of: Double.self).allSatisfy { abs($0) <= b })
        Init.constant(w, 0.25)
        #expect(w.toArray(of: Double.self).allSatisfy { $0 == 0.25 })
    }

    @Test func generatorMakesInitReproducible() {
        let a = Tensor.zeros([4, 4]), b = Tensor.zeros([4, 4])
        Init.kaimingNormal(a, generator: Generator(seed: 7))
        Init.kaimingNormal(b, generator: Generator(seed: 7))
        #expect(a.scalars == b.scalars)
    }

    @Test func embeddingLooksUpAndScatterAdds() {
        let emb = Embedding(5, 3, paddingIdx: 0, dtype: .float64)
        #expect(emb.weight.shape == [5, 3])
        #expect((0..<3).allSatisfy { emb.weight.doubleValue(at: $0) == 0 })
        #expect(emb.stateDict().keys == ["weight"])
        #expect(emb.description == "Embedding(5, 3, padding_idx=0)")
        let idx = Tensor([1, 4, 1, 0, 2, 1] as [Int64], shape: [2, 3])
        let out = emb(idx)
        #expect(out.shape == [2, 3, 3])
        for (i, row) in [1, 4, 1, 0, 2, 1].enumerated() {
            for j in 0..<3 { #expect(out.doubleValue(at: i * 3 + j) == emb.weight.doubleValue(at: row * 3 + j)) }
        }
        let g = Tensor((0..<18).map { Double($0) }, shape: [2, 3, 3])
        out.backward(g)
        let gw = emb.weight.grad!.toArray(of: Double.self)
        // Row 1 gathers positions 0, 2, 5; row 0 is padding; row 3 unused.
        let want1: [Double] = [21, 24, 27]   // 0+6+15, 1+7+16, 2+8+17
        #expect(Array(gw[3..<6]) == want1)
        #expect(Array(gw[0..<3]) == [0, 0, 0])
        #expect(Array(gw[9..<12]) == [0, 0, 0])
        #expect(Array(gw[12..<15]) == [3, 4, 5])
        #expect(Array(gw[6..<9]) == [12, 13, 14])
    }

    @Test func embeddingRejectsBadIndices() {
        let emb = Embedding(4, 2)
        #expect(throws: UsageError.self) { try emb.validate(Tensor([4] as [Int64], shape: [1])) }
        #expect(throws: UsageError.self) { try emb.validate(Tensor([1] as [Float], shape: [1])) }
        #expect(throws: Never.self) { try emb.validate(Tensor([3, 0] as [Int64], shape: [2])) }
    }
}
