import Foundation
import Testing
import SwiftNN
import SwiftNNMonitor
import TestSupport

/// `swiftnn train` with its monitor (on by default): monitor.json, report.html and TensorBoard
/// events in the run folder; `swiftnn report RUN_DIR` rebuilds the report from them.
@Suite(.serialized) struct MonitorCLITests {
    let common = ["--epochs", "2", "--batch-size", "32", "--hidden", "32,16", "--seed", "3"]

    @Test func trainWritesTheMonitorsFilesAndReportRebuildsThem() throws {
        let data = try writeTinyMNIST(train: 200, test: 50)
        let root = makeTempDirectory("cli-monitor")
        defer { cleanUp(data); cleanUp(root) }
        let run = root.appendingPathComponent("run")
        let r = try runSwiftNN(["train", "--data", data.path, "--out", run.path] + common)
        #expect(r.status == 0, "\(r.stderr)")
        // The doctor before training (the MLP's Linear layers have biases before BatchNorm) …
        #expect(r.stdout.contains("doctor: advice [bias-before-batchnorm] net.0"), "\(r.stdout)")
        // … and the report and TensorBoard afterwards.
        #expect(r.stdout.contains("Report: \(run.appendingPathComponent("report.html").path) | TensorBoard: tensorboard --logdir \(run.appendingPathComponent("tensorboard").path)"))

        let log = try MonitorLog(contentsOf: run.appendingPathComponent("monitor.json"))
        #expect(log.epochs.map(\.epoch) == [1, 2])
        #expect(log.batchNorms.map(\.path) == ["net.1", "net.5"])
        #expect(log.batchNorms.map(\.reluPath) == ["net.2", "net.6"])
        // Sampled at the first step of each epoch and every 25 steps (7 steps per epoch here).
        #expect(log.batchNorms[0].samples.map(\.step) == [1, 8])
        #expect(log.batchNorms[0].epochDrift.count == 2)
        #expect(log.doctor.contains { $0.check == "bias-before-batchnorm" })
        let events = try FileManager.default.contentsOfDirectory(atPath: run.appendingPathComponent("tensorboard").path)
        #expect(events.count == 1 && events[0].hasPrefix("events.out.tfevents."))

        let written = try Data(contentsOf: run.appendingPathComponent("report.html"))
        try FileManager.default.removeItem(at: run.appendingPathComponent("report.html"))
        let rebuilt = try runSwiftNN(["report", run.path])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("(10 charts)"), "\(rebuilt.stdout)")
        #expect(try Data(contentsOf: run.appendingPathComponent("report.html")) == written)
    }

    /// The whole path as a user meets it: a run that overfits (100 training images, little
    /// Dropout) ends with the diagnosis naming the Dropout layer and the change; its report draws
    /// in a real browser and TensorBoard (record reader, multiplexer, `tensorboard --logdir`'s HTTP
    /// API) reads its event files — each when the tool is installed.
    @Test func anOverfittingRunIsDiagnosedAndItsFilesAreRead() throws {
        let data = try writeTinyMNIST(train: 100, test: 100)
        let root = makeTempDirectory("cli-overfit")
        defer { cleanUp(data); cleanUp(root) }
        let run = root.appendingPathComponent("run")
        let r = try runSwiftNN(["train", "--data", data.path, "--out", run.path, "--epochs", "6", "--batch-size", "20",
                                "--hidden", "64", "--dropout", "0.1", "--weight-decay", "0", "--seed", "5"])
        #expect(r.status == 0, "\(r.stderr)")
        let diagnosis = r.stdout.split(separator: "\n").filter { $0.hasPrefix("diagnosis: ") }
        #expect(diagnosis.contains { $0.hasPrefix("diagnosis: warning [train-val-gap] net.3: train ") && $0.hasSuffix("the model overfits → raise Dropout p in `net.3` from 0.1 towards 0.2") },
                "\(r.stdout)")
        let log = try MonitorLog(contentsOf: run.appendingPathComponent("monitor.json"))
        let last = try #require(log.epochs.last)
        #expect(last.trainAccuracy - last.valAccuracy >= 3, "\(last)")
        #expect(log.findings.contains { $0.check == "train-val-gap" && $0.path == "net.3" })

        if Chromium.isAvailable {
            let dom = try Chromium.dumpDOM(run.appendingPathComponent("report.html"))
            #expect(dom.stdout.contains("charts-drawn:7"), "status: \(dom.stdout.suffix(600))")
            #expect(dom.stdout.contains(#"<ul id="report-errors"></ul>"#), "script errors: \(dom.stdout.suffix(1500))")
            #expect(dom.stdout.contains("raise Dropout p in"))
        }
        if TensorBoardPython.path != nil {
            let tb = try TensorBoardPython.verify(run.appendingPathComponent("tensorboard"), ["--serve"] + [
                "loss/train", "loss/val", "accuracy/train", "accuracy/val", "accuracy/train_minus_val", "lr",
                "batchnorm/net.1/input", "batchnorm/net.1/batch_mean", "batchnorm/net.1/running_mean", "batchnorm/net.1/running_var",
                "batchnorm/net.1/dead_relu_fraction",
            ].flatMap { ["--expect-tag", $0] })
            #expect(tb.status == 0, "\(tb.stdout)\n\(tb.stderr.suffix(2000))")
            #expect(tb.stdout.contains("every tag served") && tb.stdout.contains("OK: TensorBoard reads every record"), "\(tb.stdout)")
        }
    }

    @Test func noMonitorAndTensorBoardOptions() throws {
        let data = try writeTinyMNIST(train: 64, test: 20)
        let root = makeTempDirectory("cli-monitor")
        defer { cleanUp(data); cleanUp(root) }
        let plain = root.appendingPathComponent("plain")
        let r = try runSwiftNN(["train", "--data", data.path, "--out", plain.path, "--no-monitor"] + common)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("doctor:") && !r.stdout.contains("Report:"))
        #expect(Set(directoryListing(plain)).isDisjoint(with: ["monitor.json", "report.html", "tensorboard"]))
        // A report from metrics.json alone: curves, schedule and gap, no BatchNorm sections.
        let rep = try runSwiftNN(["report", plain.path, "--out", root.appendingPathComponent("plain.html").path])
        #expect(rep.status == 0 && rep.stdout.contains("(4 charts)"), "\(rep.stdout) \(rep.stderr)")

        let tb = root.appendingPathComponent("elsewhere")
        let custom = try runSwiftNN(["train", "--data", data.path, "--out", root.appendingPathComponent("custom").path,
                                     "--tensorboard", tb.path, "--epochs", "1", "--batch-size", "32", "--hidden", "16"])
        #expect(custom.status == 0, "\(custom.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tb.path).count == 1)
        let none = root.appendingPathComponent("none")
        #expect(try runSwiftNN(["train", "--data", data.path, "--out", none.path, "--no-tensorboard", "--epochs", "1", "--batch-size", "32", "--hidden", "16"]).status == 0)
        #expect(!directoryListing(none).contains("tensorboard") && directoryListing(none).contains("report.html"))
        let clash = try runSwiftNN(["train", "--data", data.path, "--out", none.path, "--no-monitor", "--tensorboard", tb.path])
        #expect(clash.status == 1 && clash.stderr.hasPrefix("error: --tensorboard") && clash.stderr.contains("--no-monitor"))
    }

    @Test func reportRefusesWhatIsNotARunFolder() throws {
        let root = makeTempDirectory("cli-report")
        defer { cleanUp(root) }
        for (setup, needle) in [
            ({ () throws -> Void in }, "neither monitor.json nor metrics.json"),
            ({ try Data(#"{"format":"swiftnn-monitor","version":7,"model":"m"}"#.utf8).write(to: root.appendingPathComponent("monitor.json")) }, "version 7"),
            ({ try Data("[{\"epoch\": \"one\"}]".utf8).write(to: root.appendingPathComponent("metrics.json")) }, "metrics.json: not a list of epoch metrics"),
        ] as [(() throws -> Void, String)] {
            for f in ["monitor.json", "metrics.json"] { try? FileManager.default.removeItem(at: root.appendingPathComponent(f)) }
            try setup()
            let r = try runSwiftNN(["report", root.path])
            let lines = r.stderr.split(separator: "\n")
            #expect(r.status == 1 && lines.count == 1 && lines[0].hasPrefix("error: ") && lines[0].contains(needle), "\(needle): \(r.stderr)")
        }
        let missing = try runSwiftNN(["report", root.appendingPathComponent("nope").path])
        #expect(missing.status == 1 && missing.stderr.contains("no such run folder"))
    }
}
