// One rank of a multi-process check, started by DistributedTests under mpirun:
//
//     mpirun -np 2 DistributedWorker <scenario> <report-dir> [options]
//
// Each rank runs the scenario through the public API and writes what it computed to
// <report-dir>/<scenario>-rank<r>.json; the test compares those values with single-process
// references. A scenario that fails takes the job down (abortingOnError) so the test sees a
// non-zero exit instead of a hang.
import DistributedScenarios
import Foundation
import SwiftNN

struct WorkerFailure: Error, CustomStringConvertible {
    let description: String
}

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: DistributedWorker <scenario> <report-dir> [options]\n".utf8))
    exit(2)
}
let scenario = arguments[1]
let directory = URL(fileURLWithPath: arguments[2])
let options = Array(arguments.dropFirst(3))

/// `--sizes 5,0,11`: rows per rank.
func sizes(_ options: [String]) throws -> [Int] {
    guard let i = options.firstIndex(of: "--sizes"), i + 1 < options.count else { throw WorkerFailure(description: "missing --sizes") }
    return options[i + 1].split(separator: ",").compactMap { Int($0) }
}

let group: any ProcessGroup
do { group = try initProcessGroup(backend: .mpi) } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}

group.abortingOnError {
    var report = WorkerReport(rank: group.rank, worldSize: group.worldSize)
    switch scenario {
    case "collectives": try runCollectives(group, &report)
    case "ddp": try runDDP(group, &report, overlap: !options.contains("--no-overlap"))
    case "ddp-mismatch": try runDDPMismatch(group, &report)
    case "syncbn": try runSyncBatchNorm(group, &report, sizes: sizes(options))
    case "syncbn-ddp": try runSyncBatchNormDDP(group, &report, sizes: sizes(options), overlap: !options.contains("--no-overlap"))
    case "abort": try runAbort(group, trap: false)
    case "abort-trap": try runAbort(group, trap: true)
    default: throw WorkerFailure(description: "unknown scenario '\(scenario)'")
    }
    try report.write(directory: directory, scenario: scenario)
    try group.barrier()
}
do { try destroyProcessGroup() } catch {
    FileHandle.standardError.write(Data("error: \(error)\n".utf8))
    exit(1)
}
