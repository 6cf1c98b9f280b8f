import Testing
import TensorCore
import Autograd
import TestSupport

/// `allclose`, `std`, `isnan` / `isfinite`, `unique`, `numel`, typed `item()` and
/// `inferenceMode`, checked against real PyTorch (fixtures/tensor_api/statistics.json, made by
/// scripts/reference/make_tensor_api_fixtures.py) where PyTorch has an answer.
@Suite struct TensorConveniencesTests {
    let reference = try! JSONFixture.load("tensor_api/statistics.json")

    /// NaN-aware closeness with the project's tolerance.
    func same(_ got: [Double], _ want: [Double]) -> Bool {
        got.count == want.count && zip(got, want).allSatisfy { g, w in
            (g.isNaN && w.isNaN) || g == w || abs(g - w) <= 1e-5 + 1e-4 * abs(w)
        }
    }

    @Test func stdMatchesPyTorchForwardAndBackward() throws {
        let cases = try #require(reference["std"] as? [[String: Any]])
        #expect(cases.count == 22)
        for c in cases {
            let dtype = c["dtype"] as! String, shape = JSONFixture.ints(c["shape"])
            let kw = c["kwargs"] as! [String: Any]
            let x = JSONFixture.tensor(dtype: dtype, shape: shape, values: JSONFixture.doubles(c["values"]))
            x.requiresGrad = true
            let dims = JSONFixture.ints(kw["dim"])
            let correction = (kw["correction"]).map(JSONFixture.double) ?? 1
            let keepDim = kw["keepdim"] as? Bool ?? false
            let y = x.std(dims: dims, correction: correction, keepDim: keepDim)
            #expect(y.shape == JSONFixture.ints(c["output_shape"]), "\(shape) \(kw)")
            #expect(same(doubles(y), JSONFixture.doubles(c["output"])), "\(dtype) \(shape) \(kw): \(doubles(y))")
            let g = JSONFixture.tensor(dtype: dtype, shape: y.shape, values: JSONFixture.doubles(c["grad_output"]))
            y.backward(g)
            #expect(same(doubles(try #require(x.grad)), JSONFixture.doubles(c["grad_input"])), "grad \(dtype) \(shape) \(kw)")
        }
    }

    @Test func stdGradcheckAndForms() {
        let x = Tensor([1, 2, 4, 7, 11, 16] as [Double], shape: [2, 3], requiresGrad: true)
        #expect(gradcheck({ $0[0].std(dim: 1) }, inputs: [x]))
        #expect(gradcheck({ $0[0].std(dims: [0, 1], correction: 0) }, inputs: [x]))
        #expect(x.std(dim: 0).shape == [3] && x.std(dim: 0, keepDim: true).shape == [1, 3])
        #expect(abs(x.std().item(as: Double.self) - 5.776388721914988) < 1e-12)   // torch.std
        #expect(abs(x.variance(dims: [], correction: 0).item(as: Double.self) - 27.805555555555557) < 1e-12)
    }

    @Test func uniqueMatchesPyTorch() throws {
        let cases = try #require(reference["unique"] as? [[String: Any]])
        for c in cases {
            let dtype = c["dtype"] as! String
            let t = JSONFixture.tensor(dtype: dtype, shape: JSONFixture.ints(c["shape"]), values: JSONFixture.doubles(c["values"]))
            let (values, inverse, counts) = t.uniqueWithCounts()
            let want = JSONFixture.doubles(c["unique"])
            #expect(values.dtype == t.dtype)
            #expect(doubles(values).count == want.count && zip(doubles(values), want).allSatisfy {
                ($0.isNaN && $1.isNaN) || ($0 == $1 && $0.sign == $1.sign)
            }, "\(dtype): \(doubles(values)) vs \(want)")
            #expect(inverse.dtype == .int64 && inverse.shape == JSONFixture.ints(c["inverse_shape"]))
            #expect(inverse.toArray(of: Int64.self).map(Int.init) == JSONFixture.ints(c["inverse"]), "\(dtype)")
            #expect(counts.toArray(of: Int64.self).map(Int.init) == JSONFixture.ints(c["counts"]), "\(dtype)")
            #expect(doubles(t.unique()).count == want.count)
        }
    }

    @Test func allcloseMatchesPyTorch() throws {
        let cases = try #require(reference["allclose"] as? [[String: Any]])
        for c in cases {
            let a = JSONFixture.tensor(dtype: "float32", shape: JSONFixture.ints(c["a_shape"]), values: JSONFixture.doubles(c["a"]))
            let b = JSONFixture.tensor(dtype: "float32", shape: JSONFixture.ints(c["b_shape"]), values: JSONFixture.doubles(c["b"]))
            let kw = c["kwargs"] as! [String: Any]
            let got = a.allclose(b, rtol: kw["rtol"].map(JSONFixture.double) ?? 1e-5, atol: kw["atol"].map(JSONFixture.double) ?? 1e-8,
                                 equalNan: kw["equal_nan"] as? Bool ?? false)
            #expect(got == (c["result"] as! Bool), "\(c)")
        }
    }

    @Test func isnanAndIsfiniteMatchPyTorch() throws {
        let cases = try #require(reference["isnan"] as? [[String: Any]])
        for c in cases {
            let dtype = c["dtype"] as! String, values = JSONFixture.doubles(c["values"])
            let t = JSONFixture.tensor(dtype: dtype, shape: [values.count], values: values)
            #expect(t.isnan().dtype == .bool && t.isnan().toArray(of: Bool.self) == (c["isnan"] as! [Bool]), "\(dtype)")
            #expect(t.isfinite().toArray(of: Bool.self) == (c["isfinite"] as! [Bool]), "\(dtype)")
        }
        #expect(Tensor([1, .nan] as [Float], shape: [2]).isnan().any())
        #expect(!Tensor([1, 2] as [Float], shape: [2]).isnan().any())
    }

    @Test func itemIsTypedByTheContext() {
        let logits = Tensor([0.1, 2, 0.3, 5, 0.2, 0.1] as [Float], shape: [2, 3])
        let k: Int = logits.argmax(dim: 1)[0].item()          // an int64 tensor's value
        #expect(k == 1)
        let j: Int64 = logits.argmax(dim: 1)[1].item()
        #expect(j == 0)
        let loss: Double = logits.sum().item()
        #expect(abs(loss - 7.7) < 1e-5)
        let f: Float = Tensor(scalar: Float(1.5)).item()
        #expect(f == 1.5)
        #expect(Tensor(scalar: true).item(as: Bool.self))
        #expect(Tensor(scalar: Int64(0)).item(as: Bool.self) == false)
        #expect(Tensor(scalar: Float(4)).item(as: Int.self) == 4)   // an integral float converts exactly
        #expect(Tensor([7] as [UInt8], shape: [1]).item(as: UInt8.self) == 7)
        #expect(logits.numel() == 6 && Tensor(scalar: Float(1)).numel() == 1)
    }

    @Test func itemRefusesALossyConversion() async {
        await #expect(processExitsWith: .failure) {
            let _: Int = Tensor(scalar: Float(2.5)).item()
        }
        await #expect(processExitsWith: .failure) {
            let _: Float = Tensor([1, 2] as [Float], shape: [2]).item()
        }
    }

    @Test func inferenceModeRecordsNothing() {
        let w = Tensor([1, 2] as [Float], shape: [2], requiresGrad: true)
        #expect(!GradMode.isInferenceMode)
        let y = inferenceMode { () -> Tensor in
            #expect(GradMode.isInferenceMode && !GradMode.isEnabled)
            let inner = withGrad { (w * 2).sum() }            // stays off inside inference mode
            #expect(!inner.requiresGrad && inner.gradNode == nil)
            return w * 3
        }
        #expect(!y.requiresGrad && y.gradNode == nil)
        #expect(!GradMode.isInferenceMode && GradMode.isEnabled)
        #expect((w * 2).requiresGrad)
    }
}
