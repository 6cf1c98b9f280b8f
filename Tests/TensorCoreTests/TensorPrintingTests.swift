import Testing
import TensorCore
import TestSupport

/// `print(tensor)` reads like PyTorch: every case's repr was printed by real PyTorch
/// (scripts/reference/make_tensor_api_fixtures.py → fixtures/tensor_api/printing.json).
@Suite struct TensorPrintingTests {
    @Test func reprMatchesPyTorch() throws {
        let root = try JSONFixture.load("tensor_api/printing.json")
        let cases = try #require(root["cases"] as? [[String: Any]])
        #expect(cases.count > 60)
        for c in cases {
            let dtype = c["dtype"] as! String
            let shape = JSONFixture.ints(c["shape"])
            let n = shape.reduce(1, *)
            let values = (c["formula"] as? [String: Any]).map { JSONFixture.formulaValues(count: n, $0) }
                ?? JSONFixture.doubles(c["values"])
            let t = JSONFixture.tensor(dtype: dtype, shape: shape, values: values)
            if c["requires_grad"] as? Bool == true { t.requiresGrad = true }
            let want = c["repr"] as! String
            #expect(t.description == want, "\(dtype) \(shape)")
        }
    }

    @Test func smallExamples() {
        #expect(Tensor([1, 2, 3] as [Float], shape: [3]).description == "tensor([1., 2., 3.])")
        #expect(Tensor([0.5, -0.25] as [Float], shape: [2]).description == "tensor([ 0.5000, -0.2500])")
        #expect(Tensor([3] as [Int64], shape: [1]).description == "tensor([3])")
        #expect(Tensor(scalar: Float(2.5)).description == "tensor(2.5000)")
    }
}
