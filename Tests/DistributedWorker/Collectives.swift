import DistributedScenarios
import Foundation
import SwiftNN

/// Every collective of the process group, each on values whose result the test can work out.
func runCollectives(_ g: any ProcessGroup, _ report: inout WorkerReport) throws {
    let r = Double(g.rank + 1)
    for op in [ReduceOp.sum, .average, .max, .min] {
        let name = "\(op)"
        let f32 = Tensor([1, 2, 3, 0.5, -4].map { Float($0 * r) }, shape: [5])
        try g.allReduce(f32, op: op)
        report.record("f32.\(name)", f32)
        let f64 = Tensor([0.001, -2.5, 1e10].map { $0 * r }, shape: [3])
        try g.allReduce(f64, op: op)
        report.record("f64.\(name)", f64)
        let i64 = Tensor([Int64(g.rank + 1), -7 * Int64(g.rank + 1), (1 << 40) + Int64(g.rank)], shape: [3])
        try g.allReduce(i64, op: op)
        report.record("i64.\(name)", i64)
    }
    // Variable-size all-gather: rank r sends r rows (rank 0 sends none).
    let rows = Tensor((0..<(2 * g.rank)).map { Double(100 * g.rank + $0) }, shape: [g.rank, 2])
    let gathered = try g.allGather(rows)
    for (k, t) in gathered.enumerated() { report.record("gather.\(k)", t) }
    report.record("gatherInto", try g.allGatherIntoTensor(Tensor((0..<3).map { Float(10 * g.rank + $0) }, shape: [3])))
    let strings = try g.allGather(string: String(repeating: "rank \(g.rank) ", count: g.rank + 1))
    report.texts["strings"] = strings.joined(separator: "|")
    // Broadcast from the last rank.
    let b = Tensor((0..<4).map { Int64(g.rank * 1000 + $0) }, shape: [4])
    try g.broadcast(b, from: g.worldSize - 1)
    report.record("broadcast", b)
    // Non-blocking all-reduce overlapping some work.
    let big = Tensor.full([100_000], r)
    let work = try g.allReduceAsync(big, op: .sum)
    var busy = Tensor.randn([64, 64], generator: Generator(seed: 1))
    var polls = 0
    while try !work.isCompleted() {
        busy = busy.matmul(busy) / 64
        polls += 1
        if polls > 100_000 { try work.wait() }
    }
    report.values["async.first_last"] = [big.doubleValue(at: 0), big.doubleValue(at: big.count - 1)]
    let avg = Tensor([Float(r), Float(2 * r)], shape: [2])
    try g.allReduceAsync(avg, op: .average).wait()
    report.record("async.average", avg)
    try g.barrier()
    // Dtypes that differ between ranks: every rank gets the same error, nobody hangs.
    do {
        _ = try g.allGather(Tensor.zeros([2], dtype: g.rank == 0 ? .float32 : .float64))
        report.texts["dtype_mismatch"] = "no error"
    } catch {
        report.texts["dtype_mismatch"] = "\(error)"
    }
    report.texts["backend"] = g.backendName
}

/// Rank 1 fails (by throwing, or by a trap) while the others wait in a collective.
func runAbort(_ g: any ProcessGroup, trap: Bool) throws {
    if g.rank == 1 {
        if trap { fatalError("simulated crash on rank 1") }
        throw WorkerFailure(description: "simulated failure on rank 1")
    }
    try g.barrier()
    let t = Tensor.ones([4])
    try g.allReduce(t, op: .sum)
}
