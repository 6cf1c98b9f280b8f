import Foundation
import TensorCore

/// Comparing results with PyTorch reference values at the project's tolerance.
public enum Reference {
    /// Elementwise |got − want| ≤ atol + rtol·|want| (the project's parity tolerance by default);
    /// returns the first few failures, empty when everything matches.
    public static func mismatches(_ got: Tensor?, _ want: Tensor, atol: Double = 1e-5, rtol: Double = 1e-4) -> [String] {
        guard let got else { return ["missing tensor"] }
        guard got.shape == want.shape else { return ["shape \(got.shape) != \(want.shape)"] }
        return mismatches((0..<got.count).map { got.doubleValue(at: $0) }, (0..<want.count).map { want.doubleValue(at: $0) },
                          atol: atol, rtol: rtol)
    }

    /// The same check on plain arrays.
    public static func mismatches(_ got: [Double], _ want: [Double], atol: Double = 1e-5, rtol: Double = 1e-4) -> [String] {
        guard got.count == want.count else { return ["count \(got.count) != \(want.count)"] }
        var out: [String] = []
        for i in want.indices {
            let g = got[i], w = want[i]
            // NaN and infinities must match exactly.
            let ok = g == w || (g.isNaN && w.isNaN) || abs(g - w) <= atol + rtol * abs(w)
            if !ok {
                out.append("[\(i)] got \(g) want \(w)")
                if out.count >= 4 { break }
            }
        }
        return out
    }
}

/// Reference cases stored as JSON (for test targets that have no safetensors reader):
/// `{"cases": [{"name", "op", "args", "inputs": [{"shape", "values"}], "output", "grad_output",
/// "grad_inputs": [...]}]}`, every tensor float64 with its values in row-major order.
public struct JSONReferenceCase: Decodable, Sendable, CustomStringConvertible {
    public struct Values: Decodable, Sendable {
        public let shape: [Int]
        public let values: [Double]
        /// A float64 tensor of these values.
        public var tensor: Tensor { Tensor(values, shape: shape) }
    }
    public let name: String
    public let op: String
    public let args: [String: Double]
    public let inputs: [Values]
    public let output: Values
    public let gradOutput: Values
    /// One per input; nil where PyTorch gives no gradient.
    public let gradInputs: [Values?]

    enum CodingKeys: String, CodingKey {
        case name, op, args, inputs, output
        case gradOutput = "grad_output", gradInputs = "grad_inputs"
    }

    public var description: String { name }

    /// Every case in a JSON fixture file, e.g. `JSONReferenceCase.load("ops/elementwise.json")`.
    public static func load(_ relativePath: String) -> [JSONReferenceCase] {
        struct File: Decodable { let cases: [JSONReferenceCase] }
        guard let data = try? Data(contentsOf: Fixtures.url(relativePath)),
              let file = try? JSONDecoder().decode(File.self, from: data) else { return [] }
        return file.cases
    }
}
