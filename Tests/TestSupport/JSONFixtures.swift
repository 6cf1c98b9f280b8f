import Foundation
import TensorCore

/// Reading the JSON reference files (`fixtures/tensor_api/*.json` …): numbers, with non-finite
/// values spelled `"nan"`, `"inf"`, `"-inf"` (JSON has no literal for them).
public enum JSONFixture {
    /// The parsed JSON file at `relativePath` below the fixtures root.
    public static func load(_ relativePath: String) throws -> [String: Any] {
        let data = try Data(contentsOf: Fixtures.url(relativePath))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        return object
    }

    /// A number (or `"nan"`, `"inf"`, `"-inf"`, or a bool as 0/1) as a Double.
    public static func double(_ value: Any) -> Double {
        switch value {
        case let s as String:
            switch s {
            case "nan": return .nan
            case "inf": return .infinity
            case "-inf": return -.infinity
            default: fatalError("not a number: \(s)")
            }
        case let n as NSNumber: return n.doubleValue
        case let b as Bool: return b ? 1 : 0
        default: fatalError("not a number: \(value)")
        }
    }

    /// An array of numbers as Doubles.
    public static func doubles(_ value: Any?) -> [Double] {
        (value as? [Any] ?? []).map(double)
    }

    /// An array of integers.
    public static func ints(_ value: Any?) -> [Int] {
        (value as? [Any] ?? []).map { Int(double($0)) }
    }

    /// A tensor of `dtype` (`"float32"`, `"float64"`, `"int64"`, `"uint8"`, `"bool"`) holding
    /// `values` (converted from Double, which holds every stored value exactly).
    public static func tensor(dtype: String, shape: [Int], values: [Double]) -> Tensor {
        switch dtype {
        case "float32": return Tensor(values.map { Float($0) }, shape: shape)
        case "float64": return Tensor(values, shape: shape)
        case "int64": return Tensor(values.map { Int64($0) }, shape: shape)
        case "uint8": return Tensor(values.map { UInt8($0) }, shape: shape)
        case "bool": return Tensor(values.map { $0 != 0 }, shape: shape)
        default: fatalError("unknown dtype \(dtype)")
        }
    }

    /// The values a `"formula"` case describes: `((i·mul) mod m − off)·scale` in Double.
    public static func formulaValues(count: Int, _ f: [String: Any]) -> [Double] {
        let mul = Int(double(f["mul"]!)), mod = Int(double(f["mod"]!)), off = Int(double(f["off"]!))
        let scale = double(f["scale"]!)
        return (0..<count).map { Double((($0 * mul) % mod) - off) * scale }
    }
}
