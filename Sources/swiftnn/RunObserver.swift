import Foundation
import SwiftNN
import SwiftNNDoctor
import SwiftNNMonitor

/// What `swiftnn train` watches besides the metrics: the doctor's findings before training, the
/// training monitor during it (its findings printed as they come and at the end), TensorBoard
/// event files, and `monitor.json` + `report.html` in the run folder after every epoch.
final class RunObserver {
    let monitor: TrainingMonitor
    let runDirectory: URL
    let writer: SummaryWriter?
    /// The same title `swiftnn report` gives, so a rebuilt report equals the one written here.
    let title: String
    private let say: (String) -> Void

    var monitorURL: URL { runDirectory.appendingPathComponent(MonitorLog.fileName) }
    var reportURL: URL { runDirectory.appendingPathComponent("report.html") }

    /// `completedEpochs` / `completedSteps`: where a resumed run starts (its monitor.json continues).
    init(model: Module, description: String, runDirectory: URL, tensorBoard: URL?, completedEpochs: Int, completedSteps: Int,
         say: @escaping (String) -> Void) throws {
        self.runDirectory = runDirectory
        self.say = say
        if let tensorBoard {
            do { writer = try SummaryWriter(logDir: tensorBoard) } catch { throw CLIError("TensorBoard: \(error)") }
        } else {
            writer = nil
        }
        var previous: MonitorLog?
        if completedEpochs > 0, FileManager.default.fileExists(atPath: runDirectory.appendingPathComponent(MonitorLog.fileName).path) {
            // A damaged or foreign monitor.json only costs the record of the earlier epochs.
            previous = try? MonitorLog(contentsOf: runDirectory.appendingPathComponent(MonitorLog.fileName))
        }
        self.title = "Training report: \(runDirectory.lastPathComponent)"
        monitor = TrainingMonitor(model: model, description: description, tensorBoard: writer,
                                  continuing: previous, completedEpochs: completedEpochs, startStep: completedSteps)
    }

    /// Before the first epoch of a new run: the doctor's findings for the model about to train.
    func examine(_ model: Module, inputShape: [Int], batchSize: Int) {
        let found = Doctor.examine(model, inputShape: inputShape, purpose: .training, batchSize: batchSize)
        monitor.recordDoctor(found)
        for d in found { say("doctor: \(d)") }
    }

    func step(loss: Double, input: Tensor, epoch: Int) {
        monitor.recordStep(loss: loss, input: input, epoch: epoch)
    }

    /// After an epoch is validated and saved: prints what the monitor noticed, writes the files.
    func endEpoch(_ m: EpochMetrics) throws {
        let new = monitor.endEpoch(EpochRecord(epoch: m.epoch, trainLoss: m.trainLoss, trainAccuracy: m.trainAccuracy,
                                               valLoss: m.valLoss, valAccuracy: m.valAccuracy, learningRate: m.learningRate))
        for f in new { say("monitor: \(f)") }
        try write()
    }

    /// At the end of the run (or when it stops on an error): the diagnosis, the files.
    func finish(printing: Bool = true) throws {
        let findings = monitor.finish()
        if printing {
            for f in findings { say("diagnosis: \(f)") }
        }
        try write()
        if printing { say("Report: \(reportURL.path)" + (writer.map { " | TensorBoard: tensorboard --logdir \($0.logDir.path)" } ?? "")) }
        writer?.close()
        if let e = monitor.tensorBoardError { say("warning: TensorBoard events incomplete: \(e)") }
    }

    private func write() throws {
        do {
            try monitor.log.write(to: monitorURL)
            try ReportHTML.write(TrainingReport.page(log: monitor.log, title: title), to: reportURL)
        } catch {
            throw CLIError("cannot write the monitor's files to \(runDirectory.path): \(error.localizedDescription)")
        }
    }
}
