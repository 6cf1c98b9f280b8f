import ArgumentParser
import Foundation
import SwiftNNMonitor

/// `swiftnn report RUN_DIR`: rebuilds a run's report.html from what its folder holds.
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Rebuild a training run's report.html from its folder.",
        discussion: """
            Reads the run folder's monitor.json (written by 'swiftnn train': BatchNorm statistics, the \
            monitor's and the doctor's findings) and metrics.json, and writes a self-contained \
            report.html: loss and accuracy curves, the learning-rate schedule, the train/validation \
            gap, per BatchNorm layer its running statistics and its input distribution over training.
            """)

    @Argument(help: ArgumentHelp("The run folder (what --out named for 'swiftnn train').", valueName: "run-dir"))
    var runDirectory: String

    @Option(help: ArgumentHelp("Where to write the report (default: <run-dir>/report.html).", valueName: "file"))
    var out: String?

    func run() throws {
        do {
            let dir = URL(fileURLWithPath: runDirectory)
            let page = try ReportCommand.page(for: dir)
            let target = out.map { URL(fileURLWithPath: $0) } ?? dir.appendingPathComponent("report.html")
            do { try ReportHTML.write(page, to: target) } catch {
                throw CLIError("cannot write \(target.path): \(error.localizedDescription)")
            }
            say("Wrote \(target.path) (\(page.charts.count) charts)")
        } catch {
            printError(error)
            throw ExitCode.failure
        }
    }

    /// The report of a run folder: its monitor log, with the epochs of metrics.json when present
    /// (a run trained with --no-monitor has only those).
    static func page(for dir: URL) throws -> ReportPage {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dir.path, isDirectory: &isDir), isDir.boolValue else {
            throw CLIError("\(dir.path): no such run folder")
        }
        let monitorURL = dir.appendingPathComponent(MonitorLog.fileName), metricsURL = dir.appendingPathComponent("metrics.json")
        var log: MonitorLog?
        if FileManager.default.fileExists(atPath: monitorURL.path) {
            do { log = try MonitorLog(contentsOf: monitorURL) } catch { throw CLIError("\(error)") }
        }
        var epochs: [EpochRecord]?
        if FileManager.default.fileExists(atPath: metricsURL.path) {
            let data: Foundation.Data
            do { data = try Foundation.Data(contentsOf: metricsURL) } catch { throw CLIError("\(metricsURL.path): cannot read (\(error.localizedDescription))") }
            guard data.count <= 64 << 20 else { throw CLIError("\(metricsURL.path): \(data.count) bytes is too large for a metrics file") }
            do { epochs = try JSONDecoder().decode([EpochRecord].self, from: data) } catch {
                throw CLIError("\(metricsURL.path): not a list of epoch metrics (\(error))")
            }
        }
        guard log != nil || epochs != nil else {
            throw CLIError("\(dir.path): neither \(MonitorLog.fileName) nor metrics.json found; is it a 'swiftnn train' run folder?")
        }
        let title = "Training report: \(dir.lastPathComponent)"
        return TrainingReport.page(log: log ?? MonitorLog(model: "(no monitor log: trained with --no-monitor)"), epochs: epochs, title: title)
    }
}
