/// Inputs for the float32 kernels' bit-for-bit tests against their Swift definitions: special
/// values, a few ulps around the definitions' branch points, random mantissas of every exponent with
/// both signs, and uniform draws, from a fixed linear congruential sequence.
///
/// ```swift
/// var inputs = KernelInputs(seed: 7, specials: [0, .nan])
/// inputs.addEdges([1, -1])
/// inputs.addExponents(0..<255, perExponent: 48)
/// inputs.addUniform(1000, scale: 24, offset: -12)    // [−12, 12)
/// ```
struct KernelInputs {
    private var state: UInt32
    private(set) var values: [Float]

    init(seed: UInt32, specials: [Float]) {
        state = seed
        values = specials
    }

    mutating func next() -> UInt32 {
        state = state &* 1_664_525 &+ 1_013_904_223
        return state
    }

    /// Values of the caller's choosing (a grid, say).
    mutating func add(_ more: [Float]) { values += more }

    /// Each edge and the two floats on either side of it.
    mutating func addEdges(_ edges: [Float]) {
        for e in edges { values += [e.nextDown.nextDown, e.nextDown, e, e.nextUp, e.nextUp.nextUp] }
    }

    /// `perExponent` random mantissas of every biased exponent in `exponents`, each with both signs.
    mutating func addExponents(_ exponents: Range<UInt32>, perExponent: Int) {
        for exponent in exponents {
            for _ in 0..<perExponent {
                let bits = exponent << 23 | (next() >> 9)
                values.append(Float(bitPattern: bits))
                values.append(-Float(bitPattern: bits))
            }
        }
    }

    /// `count` draws u·scale + offset with u uniform in [0, 1) on a 2⁻²⁴ grid.
    mutating func addUniform(_ count: Int, scale: Float, offset: Float) {
        for _ in 0..<count { values.append(Float(next() >> 8) / Float(1 << 24) * scale + offset) }
    }
}
