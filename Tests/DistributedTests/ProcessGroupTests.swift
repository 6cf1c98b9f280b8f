import DistributedScenarios
import Foundation
import SwiftNN
import Testing

/// The collectives over Open MPI on 2 and 3 ranks, each checked against the value worked out here.
@Suite(.serialized, .enabled(if: MPILauncher.isAvailable, "needs Open MPI (mpirun)"))
struct MPIProcessGroupTests {
    @Test(arguments: [2, 3])
    func collectives(ranks w: Int) throws {
        let reports = try MPILauncher.scenario("collectives", ranks: w)
        try #require(reports.count == w)
        let ranks = (1...w).map(Double.init)
        func reduce(_ base: [Double], _ op: String, integer: Bool = false) -> [Double] {
            base.indices.map { i in
                let vs = ranks.map { base[i] * $0 }
                switch op {
                case "sum": return vs.reduce(0, +)
                case "average": return integer ? Double(Int64(vs.reduce(0, +)) / Int64(w)) : vs.reduce(0, +) / Double(w)
                case "max": return vs.max()!
                default: return vs.min()!
                }
            }
        }
        for report in reports {
            #expect(report.worldSize == w)
            #expect(report.texts["backend"] == "mpi")
            for op in ["sum", "average", "max", "min"] {
                let f32 = reduce([1, 2, 3, 0.5, -4], op).map { Double(Float($0)) }
                #expect(report.values["f32.\(op)"] == f32, "rank \(report.rank) float32 \(op)")
                let f64 = reduce([0.001, -2.5, 1e10], op)
                let got = try #require(report.values["f64.\(op)"])
                // Sums of three or fewer doubles: exact up to the order of additions.
                for (g, e) in zip(got, f64) { #expect(abs(g - e) <= 1e-15 * abs(e), "rank \(report.rank) float64 \(op)") }
                // int64 values beyond float precision: 2^40 + rank.
                let big = (0..<w).map { Int64(1 << 40) + Int64($0) }
                let bigResult: Int64 = switch op {
                case "sum": big.reduce(0, +)
                case "average": big.reduce(0, +) / Int64(w)
                case "max": big.max()!
                default: big.min()!
                }
                let i64 = reduce([1, -7], op, integer: true) + [Double(bigResult)]
                #expect(report.values["i64.\(op)"] == i64, "rank \(report.rank) int64 \(op)")
            }
            for k in 0..<w {
                #expect(report.shapes["gather.\(k)"] == [k, 2])
                #expect(report.values["gather.\(k)"] == (0..<(2 * k)).map { Double(100 * k + $0) })
            }
            #expect(report.shapes["gatherInto"] == [w, 3])
            let gatheredInto: [Double] = (0..<w).flatMap { (r: Int) -> [Double] in (0..<3).map { Double(10 * r + $0) } }
            #expect(report.values["gatherInto"] == gatheredInto)
            #expect(report.texts["strings"] == (0..<w).map { String(repeating: "rank \($0) ", count: $0 + 1) }.joined(separator: "|"))
            #expect(report.values["broadcast"] == (0..<4).map { Double((w - 1) * 1000 + $0) })
            let total = ranks.reduce(0, +)
            #expect(report.values["async.first_last"] == [total, total])
            #expect(report.values["async.average"] == [Double(Float(total) / Float(w)), Double(Float(2 * total) / Float(w))])
            #expect(report.texts["dtype_mismatch"] == "all_gather: rank 0 sent float32 but rank 1 sent float64")
        }
    }

    @Test("a rank that throws takes the whole job down with its message")
    func failingRankAbortsJob() throws {
        let dir = FileManager.default.temporaryDirectory
        let r = try MPILauncher.run(ranks: 3, executable: try MPILauncher.workerURL(), ["abort", dir.path], timeout: 90)
        #expect(!r.timedOut, "the other ranks hung")
        #expect(r.status != 0)
        #expect(r.stderr.contains("error: rank 1 of 3: simulated failure on rank 1"), "\(r.stderr.suffix(1500))")
    }

    @Test("a rank that crashes takes the whole job down")
    func crashingRankEndsJob() throws {
        let dir = FileManager.default.temporaryDirectory
        let r = try MPILauncher.run(ranks: 2, executable: try MPILauncher.workerURL(), ["abort-trap", dir.path], timeout: 90)
        #expect(!r.timedOut, "the other rank hung")
        #expect(r.status != 0)
        #expect(r.stderr.contains("simulated crash on rank 1"), "\(r.stderr.suffix(1500))")
    }
}

/// The single-process group: the identity for every collective, so code runs unchanged.
@Suite struct SingleProcessGroupTests {
    @Test func collectivesAreTheIdentity() throws {
        let g = SingleProcessGroup()
        #expect(g.rank == 0 && g.worldSize == 1)
        let t = Tensor([1.5, -2] as [Float], shape: [2])
        for op in [ReduceOp.sum, .average, .max, .min] {
            try g.allReduce(t, op: op)
            #expect(t.scalars == [1.5, -2])
        }
        let i = Tensor([7] as [Int64], shape: [1])
        try g.allReduce(i, op: .average)
        #expect(i.toArray(of: Int64.self) == [7])
        try g.allReduceAsync(t, op: .sum).wait()
        #expect(t.scalars == [1.5, -2])
        let parts = try g.allGather(Tensor([1, 2, 3] as [Double], shape: [3, 1]))
        #expect(parts.count == 1 && parts[0].shape == [3, 1] && parts[0].toArray(of: Double.self) == [1, 2, 3])
        #expect(try g.allGatherIntoTensor(t).shape == [1, 2])
        #expect(try g.allGather(string: "hello") == ["hello"])
        try g.broadcast(t, from: 0)
        try g.barrier()
        #expect(try g.allReduceSum(5) == 5)
    }

    @Test func defaultGroupOfOneProcess() throws {
        let g = try initProcessGroup(backend: .single)
        #expect(g.worldSize == 1)
        #expect(isProcessGroupInitialized)
        try destroyProcessGroup()
        #expect(!isProcessGroupInitialized)
    }
}

/// Without Open MPI: a clear error, not a crash (these run on every machine).
@Suite struct MPIUnavailableTests {
    func runWorker(libmpi: String) throws -> (status: Int32, stderr: String) {
        let p = Process()
        p.executableURL = try MPILauncher.workerURL()
        p.arguments = ["collectives", FileManager.default.temporaryDirectory.path]
        var env = ProcessInfo.processInfo.environment
        env["SWIFTNN_LIBMPI"] = libmpi
        // Not under mpirun.
        for key in env.keys where key.hasPrefix("OMPI_") || key.hasPrefix("PMIX_") { env[key] = nil }
        p.environment = env
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return (p.terminationStatus, text)
    }

    @Test func missingLibraryIsAClearError() throws {
        let r = try runWorker(libmpi: "/nonexistent/libmpi.so.40")
        #expect(r.status == 1)
        #expect(r.stderr.hasPrefix("error: Open MPI is not available: cannot load Open MPI (/nonexistent/libmpi.so.40: cannot open shared object file"),
                "\(r.stderr)")
        #expect(r.stderr.contains("apt-get install openmpi-bin libopenmpi-dev"))
    }

    @Test func anotherLibraryIsRefused() throws {
        let zlib = ["/usr/lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1", "/usr/lib/aarch64-linux-gnu/libz.so.1"]
            .first { FileManager.default.fileExists(atPath: $0) }
        let lib = try #require(zlib, "zlib is needed to build the package")
        let r = try runWorker(libmpi: lib)
        #expect(r.status == 1)
        #expect(r.stderr.contains("libmpi has no symbol 'MPI_Init_thread' (only Open MPI is supported"), "\(r.stderr)")
    }
}
