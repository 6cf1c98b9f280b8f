import Foundation
import Synchronization

/// A counter-based random number generator.
///
/// Every random operation takes one *stream* from the generator: a key derived from
/// `(seed, offset)`, after which `offset` advances by one. Element `i` of the operation's output is
/// a pure function of `(key, i)`, so results do not depend on the number of threads, a mask can
/// be regenerated in backward instead of stored, and saving `state` and restoring it later
/// reproduces every following draw exactly.
///
/// ```swift
/// Tensor.manualSeed(0)                 // seeds the default generator
/// let g = Generator(seed: 42)          // or keep your own
/// let noise = Tensor.randn([4, 4], generator: g)
/// let saved = g.state; _ = Tensor.rand([3], generator: g); g.state = saved   // replay
/// ```
public final class Generator: @unchecked Sendable {
    /// The generator's full state: restoring it reproduces all later draws.
    public struct State: Codable, Equatable, Sendable {
        public var seed: UInt64
        public var offset: UInt64
        public init(seed: UInt64, offset: UInt64) {
            self.seed = seed
            self.offset = offset
        }
    }

    private let lock = Mutex<State>(State(seed: 0, offset: 0))

    /// The generator `Tensor.manualSeed` seeds and random ops use when given none: the process-wide
    /// one, or the one installed for the current task by ``withDefault(_:_:)``.
    public static var `default`: Generator { scopedDefault ?? processDefault }

    private static let processDefault = Generator(seed: 0x5EED)
    @TaskLocal private static var scopedDefault: Generator?

    /// Runs `body` with `generator` as the default generator of the current task (and the tasks it
    /// creates), leaving the process-wide default untouched. Code that must be reproducible while
    /// other work draws random numbers concurrently (parallel tests, several trainings in one
    /// process) scopes its own default this way.
    ///
    /// ```swift
    /// let run = Generator(seed: 7)
    /// let w = Generator.withDefault(run) { Tensor.randn([3]) }    // drawn from `run`
    /// ```
    public static func withDefault<R>(_ generator: Generator, _ body: () throws -> R) rethrows -> R {
        try $scopedDefault.withValue(generator, operation: body)
    }

    public init(seed: UInt64) {
        lock.withLock { $0 = State(seed: seed, offset: 0) }
    }

    /// Restarts the generator from `seed`.
    public func manualSeed(_ seed: UInt64) {
        lock.withLock { $0 = State(seed: seed, offset: 0) }
    }

    /// The seed and how many streams have been taken since.
    public var state: State {
        get { lock.withLock { $0 } }
        set { lock.withLock { $0 = newValue } }
    }

    /// Takes the next stream.
    public func nextStream() -> RandomStream {
        let s = lock.withLock { s -> State in
            let current = s
            s.offset &+= 1
            return current
        }
        return RandomStream(seed: s.seed, offset: s.offset)
    }
}

/// The random values of one operation: element `i` is a pure function of the stream's key and `i`.
public struct RandomStream: Sendable, Equatable {
    public let key0: UInt32
    public let key1: UInt32

    public init(seed: UInt64, offset: UInt64) {
        var z = seed &+ 0x9E37_79B9_7F4A_7C15 &* (offset &+ 1)
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        key0 = UInt32(truncatingIfNeeded: z)
        key1 = UInt32(truncatingIfNeeded: z >> 32)
    }

    /// 32 random bits for element `index` (indices above 2³² fold the high half into the key).
    @inlinable @inline(__always)
    public func bits(_ index: Int) -> UInt32 {
        let lo = UInt32(truncatingIfNeeded: index)
        let hi = UInt32(truncatingIfNeeded: index >> 32)
        return RandomStream.mix(RandomStream.mix(lo ^ key0) ^ (key1 &+ hi &* 0x9E37_79B9))
    }

    /// The same hash on 16 lanes at once: `bits(base + lane)` for each lane. `base` must be below 2³².
    @inlinable @inline(__always)
    public func bits16(_ base: UInt32) -> SIMD16<UInt32> {
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let idx = SIMD16<UInt32>(repeating: base) &+ lanes
        return RandomStream.mix16(RandomStream.mix16(idx ^ SIMD16(repeating: key0)) ^ SIMD16(repeating: key1))
    }

    /// The same hash on 16 lanes for any `base` that is a multiple of 16: lane `l` equals
    /// `bits(base + l)`, including indices at or above 2³² (a 16-aligned block never straddles a
    /// multiple of 2³², so the high half is the same for every lane).
    @inlinable @inline(__always)
    public func bits16(block base: Int) -> SIMD16<UInt32> {
        let lanes = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let lo = UInt32(truncatingIfNeeded: base)
        let hi = UInt32(truncatingIfNeeded: base >> 32)
        let idx = SIMD16<UInt32>(repeating: lo) &+ lanes
        let k1 = key1 &+ hi &* 0x9E37_79B9
        return RandomStream.mix16(RandomStream.mix16(idx ^ SIMD16(repeating: key0)) ^ SIMD16(repeating: k1))
    }

    /// Uniform in [0, 1) with 24 random bits.
    @inlinable @inline(__always)
    public func uniform(_ index: Int) -> Float {
        Float(bits(index) >> 8) * (1.0 / 16_777_216.0)
    }

    /// Uniform in [0, 1) with 53 random bits (two hashes).
    @inlinable @inline(__always)
    public func uniformDouble(_ index: Int) -> Double {
        let a = UInt64(bits(2 &* index)) << 21
        let b = UInt64(bits(2 &* index &+ 1) >> 11)
        return Double(a | b) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// "lowbias32" integer hash (Chris Wellons): a strong 32-bit bijective mix.
    @inlinable @inline(__always)
    public static func mix(_ v: UInt32) -> UInt32 {
        var x = v
        x ^= x >> 16
        x &*= 0x7FEB_352D
        x ^= x >> 15
        x &*= 0x846C_A68B
        x ^= x >> 16
        return x
    }

    @inlinable @inline(__always)
    public static func mix16(_ v: SIMD16<UInt32>) -> SIMD16<UInt32> {
        var x = v
        x ^= x &>> 16
        x &*= SIMD16(repeating: 0x7FEB_352D)
        x ^= x &>> 15
        x &*= SIMD16(repeating: 0x846C_A68B)
        x ^= x &>> 16
        return x
    }
}
