import ArgumentParser
import Foundation
import SwiftNN

/// `swiftnn bench <name>`: kernel benchmarks. Each area adds `Bench<Name>.swift` with a
/// `ParsableCommand` (using the helpers below) and registers it in `subcommands` with one line.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Benchmark kernels: median time per case at 1 and 2 threads against the memory-bandwidth floor.",
        discussion: "Build with native CPU flags for meaningful figures:\n  swift run -c release -Xswiftc -target-cpu -Xswiftc native swiftnn bench gemm",
        subcommands: [
            BenchGEMM.self,
            BenchNorm.self,
            BenchBandwidth.self,
            BenchConv.self,
            BenchDropout.self,
            BenchOps.self,
            BenchOptim.self,
            BenchModule.self,
            BenchFold.self,
            BenchTrain.self,
        ]
    )
}

// MARK: - Shared options

/// Options every benchmark takes: `--repeats 10`, `--threads 1,2`.
struct BenchOptions: ParsableArguments {
    @Option(help: "Timed repetitions per case (the median is reported).")
    var repeats: Int = 10

    @Option(help: "Comma-separated thread counts to run each case with (default: 1 and all cores).",
            transform: { s in
                let parts = s.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
                guard !parts.isEmpty, parts.allSatisfy({ ($0 ?? 0) >= 1 }) else {
                    throw ValidationError("--threads expects positive integers separated by commas, got '\(s)'")
                }
                return parts.map { $0! }
            })
    var threads: [Int] = []

    /// The thread counts to run, capped at the machine's cores, without duplicates.
    var threadCounts: [Int] {
        let wanted = threads.isEmpty ? [1, Parallel.maxThreadCount] : threads
        var seen = Set<Int>()
        return wanted.map { min($0, Parallel.maxThreadCount) }.filter { seen.insert($0).inserted }
    }

    func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, got \(repeats)") }
    }
}

// MARK: - Timing

/// Wall-clock timing of a closure: median and fastest of `repeats` runs after `warmup` runs,
/// plus the median process CPU time per run (on a shared, oversubscribed machine the wall time
/// includes waiting for a core; CPU time does not — with 1 thread it is the kernel's own time).
enum BenchTimer {
    struct Result {
        /// Median wall time in seconds.
        var median: Double
        /// Fastest run in seconds.
        var fastest: Double
        /// Median CPU time of the process per run, in seconds (all threads, spinning included).
        var cpu: Double = 0
    }

    static func measure(repeats: Int, warmup: Int = 2, _ body: () -> Void) -> Result {
        for _ in 0..<warmup { body() }
        var times: [Double] = [], cpus: [Double] = []
        times.reserveCapacity(repeats)
        for _ in 0..<max(repeats, 1) {
            let c0 = processCPUSeconds()
            let t0 = ContinuousClock.now
            body()
            let d = ContinuousClock.now - t0
            cpus.append(processCPUSeconds() - c0)
            times.append(Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18)
        }
        return Result(median: median(times), fastest: times.min()!, cpu: median(cpus))
    }

    static func median(_ xs: [Double]) -> Double {
        let v = xs.sorted()
        let mid = v.count / 2
        return v.count % 2 == 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2
    }

    /// CPU time consumed by this process so far (user + system, all threads).
    static func processCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }
}

/// Runs `body` with ``Parallel/threadCount`` set to `n`, restoring it afterwards.
func withThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let saved = Parallel.threadCount
    Parallel.threadCount = n
    defer { Parallel.threadCount = saved }
    return try body()
}

// MARK: - Memory bandwidth

/// Memory bandwidth measured by copying a 256 MiB float buffer into another (bytes read +
/// written per second), split over `threads` threads; cached per thread count for the run, so
/// that every benchmark's floor uses the figure measured in the same process.
enum Bandwidth {
    static let bufferBytes = 256 << 20
    nonisolated(unsafe) private static var cache: [Int: Double] = [:]

    /// Bytes per second (read + written) with `threads` threads.
    static func measure(threads: Int, repeats: Int = 7) -> Double {
        if let v = cache[threads] { return v }
        let count = bufferBytes / MemoryLayout<Float>.stride
        let src = Tensor.full([count], 1)
        let dst = Tensor.zeros([count])
        let ps = src.pointer(as: Float.self), pd = dst.pointer(as: Float.self)
        let result = withThreads(threads) {
            BenchTimer.measure(repeats: repeats, warmup: 1) {
                Parallel.forRange(0..<count, grain: 1 << 16, alignment: 16) { r in
                    (pd + r.lowerBound).update(from: ps + r.lowerBound, count: r.count)
                }
            }
        }
        withExtendedLifetime((src, dst)) {}
        let bw = Double(2 * bufferBytes) / result.median
        cache[threads] = bw
        return bw
    }

    /// The time it takes to move `bytes` (read + written) at the bandwidth measured with
    /// `threads` threads.
    static func floor(bytes: Int, threads: Int) -> Double {
        Double(bytes) / measure(threads: threads)
    }
}

// MARK: - Output

/// A plain-text table with right-aligned columns (the first left-aligned).
struct BenchTable {
    var header: [String]
    var rows: [[String]] = []

    init(_ header: [String]) { self.header = header }

    /// The usual columns: case, threads, median, floor, ratio.
    static func standard() -> BenchTable { BenchTable(["case", "threads", "median", "floor", "ratio"]) }

    mutating func add(_ row: [String]) { rows.append(row) }

    /// Adds the usual row: case, threads, median, floor (bytes ÷ bandwidth) and their ratio.
    mutating func add(case name: String, threads: Int, result: BenchTimer.Result, floor: Double?) {
        add([name, "\(threads)", formatTime(result.median), floor.map(formatTime) ?? "-",
             floor.map { String(format: "%.2f×", result.median / $0) } ?? "-"])
    }

    func render() -> String {
        let all = [header] + rows
        var widths = [Int](repeating: 0, count: header.count)
        for r in all { for (i, c) in r.enumerated() where i < widths.count { widths[i] = max(widths[i], c.count) } }
        func line(_ r: [String]) -> String {
            r.enumerated().map { i, c in
                let pad = String(repeating: " ", count: max(0, (i < widths.count ? widths[i] : 0) - c.count))
                return i == 0 ? c + pad : pad + c
            }.joined(separator: "  ")
        }
        let rule = widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")
        return ([line(header), rule] + rows.map(line)).joined(separator: "\n")
    }

    func print() { Swift.print(render()) }
}

/// `1.234 ms`, `456.7 µs`, `2.10 s`.
func formatTime(_ seconds: Double) -> String {
    if seconds >= 1 { return String(format: "%.2f s", seconds) }
    if seconds >= 1e-3 { return String(format: "%.3f ms", seconds * 1e3) }
    return String(format: "%.1f µs", seconds * 1e6)
}

/// `27.4 GB/s`.
func formatBandwidth(_ bytesPerSecond: Double) -> String {
    String(format: "%.1f GB/s", bytesPerSecond / 1e9)
}

/// How the binary was built, printed above every benchmark.
func buildNote() -> String {
    #if DEBUG
    let mode = "DEBUG build (figures meaningless; use -c release)"
    #else
    let mode = "release build"
    #endif
    let fma = CPUBackend.gemmUsesFMA ? "yes" : "no (build with -Xswiftc -target-cpu -Xswiftc native)"
    let cores = CoreRoundTrip.note().map { " (\($0))" } ?? ""
    return "\(mode), \(Parallel.maxThreadCount) cores\(cores), GEMM FMA micro-kernel: \(fma)"
}

// MARK: - bench bandwidth

/// `swiftnn bench bandwidth`: the memory bandwidth the floors are computed from.
struct BenchBandwidth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bandwidth",
        abstract: "Memory bandwidth: copy of a 256 MiB float buffer (bytes read + written per second).")

    @OptionGroup var options: BenchOptions

    func run() throws {
        print(buildNote())
        var table = BenchTable(["case", "threads", "median", "bandwidth"])
        for t in options.threadCounts {
            let bw = Bandwidth.measure(threads: t, repeats: options.repeats)
            table.add(["copy 256 MiB", "\(t)", formatTime(Double(2 * Bandwidth.bufferBytes) / bw), formatBandwidth(bw)])
        }
        table.print()
    }
}
