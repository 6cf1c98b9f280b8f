import CKernelSupport
import Foundation

/// The input rows that a block of panels of a 3×3, stride-2, padding-1 convolution reads, split
/// into their four phase planes (even or odd rows × even or odd columns, each of the output's size)
/// in a per-task buffer that stays in L2.
///
/// In the planes every tap of a panel is one masked contiguous load per sample
/// (`swiftnn_conv_gather_phases_f32`), whatever the output width; reading the input itself takes
/// two loads and three permutes per kernel row and output row of the panel (`gather_runs`), and a
/// 16-position panel spans one to four output rows on SmallCNN's stride-2 layers. The split reads
/// each input row the block needs once (and the one above it).
struct PhaseSplitSamples {
    /// `SWIFTNN_CONV_GATHER=runs` reads stride-2 taps from the input rows (to compare).
    static let enabled: Bool = !["runs", "hardware"].contains(ProcessInfo.processInfo.environment["SWIFTNN_CONV_GATHER"] ?? "")

    /// Whether ``ImplicitConvolution`` reads `g`'s taps from phase planes.
    static func used(_ g: swiftnn_conv_geometry) -> Bool {
        var g = g
        return enabled && swiftnn_conv_phases_supported(&g) != 0
    }

    private let x: UnsafePointer<Float>
    private let geo: ConvGeometry
    private let samples: Int
    private let channels: Int
    private let pointers: UnsafeMutablePointer<UnsafePointer<Float>?>
    private let planes: UnsafeMutablePointer<Float>

    /// Bytes of memory for blocks of at most `samples` samples and `channels` channels.
    static func bytes(samples: Int, channels: Int, _ geo: ConvGeometry) -> Int {
        header(samples) + (samples * channels * 4 * geo.outputCount * 4 + 63) / 64 * 64
    }

    private static func header(_ samples: Int) -> Int { (samples * 8 + 63) / 64 * 64 }

    /// Samples of at most `channels` channels of `x`, at most `samples` of them at a time, in
    /// `memory` (``bytes(samples:channels:_:)`` bytes).
    init(x: UnsafePointer<Float>, _ geo: ConvGeometry, samples: Int, channels: Int, memory: UnsafeMutableRawPointer) {
        self.x = x
        self.geo = geo
        self.samples = samples
        self.channels = channels
        pointers = memory.bindMemory(to: UnsafePointer<Float>?.self, capacity: samples)
        planes = (memory + Self.header(samples)).bindMemory(to: Float.self, capacity: samples * channels * 4 * geo.outputCount)
    }

    /// Splits what the output positions `positions` (global, over N·OH·OW) read of channels
    /// `c0..<c0 + count`: entry `n − first` of `samples` points at sample n's channel c0 (the
    /// arguments `samples` and `nBase` of `swiftnn_conv_gather_phases_f32`).
    func prepare(positions: Range<Int>, channels c0: Int, count: Int) -> (samples: UnsafePointer<UnsafePointer<Float>?>, first: Int) {
        let L = geo.outputCount, OH = geo.outputSize[0], OW = geo.outputSize[1]
        let C = geo.inChannels, H = geo.inputSize[0], W = geo.inputSize[1]
        let n0 = positions.lowerBound / L, n1 = (positions.upperBound - 1) / L
        precondition(n1 - n0 < samples && count <= channels)
        for n in n0...n1 {
            // Output rows of the block in this sample, and the plane row above the first (kernel row 0).
            let first = max(positions.lowerBound - n * L, 0), last = min(positions.upperBound - n * L, L) - 1
            let dst = planes + (n - n0) * channels * 4 * L
            swiftnn_conv_split_phases_f32(x + (n * C + c0) * geo.inputCount, count, H, W, OH, OW,
                                          max(first / OW - 1, 0), last / OW + 1, dst)
            pointers[n - n0] = UnsafePointer(dst)
        }
        return (UnsafePointer(pointers), n0)
    }
}

/// A panel of 16 output positions of one sample whose taps the forward's phase tiles
/// (`swiftnn_conv_phase_tile_12x32_f32`) read straight from the phase planes, instead of gathering
/// them into a packed panel first (same values, same products): `base` nil for any other panel.
struct PhasePanel {
    /// `SWIFTNN_CONV_PHASE_TILES=0` gathers every panel (to compare).
    static let enabled: Bool = ProcessInfo.processInfo.environment["SWIFTNN_CONV_PHASE_TILES"] != "0"

    var base: UnsafePointer<Float>?
    var top: UInt16 = 0
    var left: UInt16 = 0

    init() {}

    init(_ planes: (samples: UnsafePointer<UnsafePointer<Float>?>, first: Int), _ outW: Int, runs: UnsafePointer<swiftnn_conv_run>,
         count: Int) {
        var base: UnsafePointer<Float>?
        if swiftnn_conv_phase_panel_f32(planes.samples, planes.first, outW, runs, count, &base, &top, &left) != 0 {
            self.base = base
        }
    }
}
