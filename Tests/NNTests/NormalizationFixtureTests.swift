import Foundation
import Testing
import SwiftNN
import TestSupport

/// Every PyTorch reference case in `fixtures/layers/`: outputs, gradients for input, weight and
/// bias, running buffers and `num_batches_tracked` after every step, through the public API.
@Suite("Normalization fixtures")
struct NormalizationFixtureTests {
    static let files = Fixtures.files(in: "layers")

    @Test("every layer fixture is present")
    func fixturesPresent() {
        #expect(Self.files.count == 49)
    }

    @Test("PyTorch reference case", arguments: Self.files.map(\.lastPathComponent))
    func referenceCase(_ name: String) throws {
        let sd = try StateDict(contentsOf: Fixtures.url("layers/" + name))
        let caseJSON = try #require(sd.metadata["case"])
        let spec = try #require(try JSONSerialization.jsonObject(with: Data(caseJSON.utf8)) as? [String: Any])
        let moduleName = try #require(spec["module"] as? String)
        let kwargs = spec["kwargs"] as? [String: Any] ?? [:]
        let steps = try #require(spec["steps"] as? [[String: Any]])
        let m = NormTest.makeModule(moduleName, kwargs)

        // The initial state (deliberately not the default initialisation), loaded strictly.
        let initState = sd.scoped("init")
        try m.loadStateDict(initState, strict: true)
        #expect(m.stateDict().keys.sorted() == initState.keys.sorted(), "\(name): state keys")

        let params = Dictionary(uniqueKeysWithValues: m.namedParameters())
        for (i, step) in steps.enumerated() {
            let s = sd.scoped("step\(i)")
            let mode = step["mode"] as? String
            m.train(mode == "train")
            let x = try #require(s["input"]).clonedData()
            x.requiresGrad = true
            m.zeroGrad()
            let y = m(x)
            #expect(NormTest.mismatches(y, try #require(s["output"])).isEmpty,
                    "\(name) step \(i) output: \(NormTest.mismatches(y, s["output"]!))")
            y.backward(try #require(s["grad_output"]))
            #expect(NormTest.mismatches(x.grad, try #require(s["grad_input"])).isEmpty,
                    "\(name) step \(i) grad_input: \(NormTest.mismatches(x.grad, s["grad_input"]!))")
            for (key, p) in [("grad_weight", params["weight"]), ("grad_bias", params["bias"])] {
                if let want = s[key] {
                    let p = try #require(p, "\(name): \(key) expected a parameter")
                    #expect(NormTest.mismatches(p.grad, want).isEmpty,
                            "\(name) step \(i) \(key): \(NormTest.mismatches(p.grad, want))")
                } else {
                    #expect(p == nil, "\(name): unexpected parameter for \(key)")
                }
            }
            let buffers = Dictionary(uniqueKeysWithValues: m.namedBuffers())
            for key in ["running_mean", "running_var"] {
                if let want = s[key] {
                    #expect(NormTest.mismatches(buffers[key], want).isEmpty,
                            "\(name) step \(i) \(key): \(NormTest.mismatches(buffers[key], want))")
                }
            }
            if let want = s["num_batches_tracked"] {
                let got = try #require(buffers["num_batches_tracked"])
                #expect(got.dtype == .int64 && got.shape == [])
                #expect(got.doubleValue(at: 0) == want.doubleValue(at: 0), "\(name) step \(i) num_batches_tracked")
            }
        }
    }
}
