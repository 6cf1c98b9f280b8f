import Foundation

/// Builds the `report.html` page of a training run from what the run folder holds: the per-epoch
/// metrics and, when the monitor was on, its log (BatchNorm statistics, findings).
///
/// ```swift
/// let page = TrainingReport.page(log: try MonitorLog(contentsOf: runDir.appendingPathComponent("monitor.json")))
/// try ReportHTML.write(page, to: runDir.appendingPathComponent("report.html"))
/// ```
public enum TrainingReport {
    /// The report page. `epochs` overrides the log's epochs (e.g. read from `metrics.json`).
    public static func page(log: MonitorLog, epochs: [EpochRecord]? = nil, title: String = "Training report") -> ReportPage {
        let epochs = epochs ?? log.epochs
        var page = ReportPage(title: title, subtitle: log.model)
        page.sections.append(summarySection(log: log, epochs: epochs))
        page.sections.append(curvesSection(epochs))
        page.sections.append(scheduleSection(epochs))
        for trace in log.batchNorms { page.sections.append(batchNormSection(trace)) }
        return page
    }

    /// The first section: final numbers, the doctor's findings before training and the monitor's
    /// diagnosis after it.
    static func summarySection(log: MonitorLog, epochs: [EpochRecord]) -> ReportSection {
        var table: [[String]] = []
        if let last = epochs.last {
            let best = epochs.filter { $0.valAccuracy.isFinite }.max { $0.valAccuracy < $1.valAccuracy }
            table = [["", "train", "validation"],
                     ["final loss (epoch \(last.epoch))", number(last.trainLoss), number(last.valLoss)],
                     ["final accuracy", percent(last.trainAccuracy), percent(last.valAccuracy)]]
            if let best { table.append(["best validation accuracy (epoch \(best.epoch))", "", percent(best.valAccuracy)]) }
        }
        var findings = log.doctor.map { ReportFinding(severity: $0.severity, source: "doctor", text: text($0)) }
        findings += log.findings.map { ReportFinding(severity: $0.severity, source: "monitor", text: text($0)) }
        if let nf = log.nonFinite, !log.findings.contains(where: { $0.check == "non-finite" }) {
            findings.append(ReportFinding(severity: "error", source: "monitor",
                                          text: "non-finite values first in \(nf.stage) of \(nf.layer) (\(nf.kind)) at epoch \(nf.epoch), step \(nf.step)"))
        }
        if findings.isEmpty { findings.append(ReportFinding(severity: "info", source: "monitor", text: "No problems found.")) }
        return ReportSection(title: "Summary and findings", note: epochs.isEmpty ? "No epoch finished." : "", findings: findings, table: table)
    }

    private static func text(_ f: MonitorFinding) -> String {
        let place = f.path == "model" ? "" : "`\(f.path)`: "
        let when = f.epoch.map { "epoch \($0): " } ?? ""
        return when + place + f.message + (f.advice.isEmpty ? "" : " — " + f.advice)
    }

    static func curvesSection(_ epochs: [EpochRecord]) -> ReportSection {
        let x = epochs.map { Double($0.epoch) }
        let loss = ReportChart(id: "loss", title: "Loss", xLabel: "epoch", yLabel: "cross-entropy", series: [
            ReportSeries(name: "train", color: ReportPalette.train, x: x, y: epochs.map(\.trainLoss)),
            ReportSeries(name: "validation", color: ReportPalette.validation, x: x, y: epochs.map(\.valLoss)),
        ])
        let accuracy = ReportChart(id: "accuracy", title: "Accuracy", xLabel: "epoch", yLabel: "%", series: [
            ReportSeries(name: "train", color: ReportPalette.train, x: x, y: epochs.map(\.trainAccuracy)),
            ReportSeries(name: "validation", color: ReportPalette.validation, x: x, y: epochs.map(\.valAccuracy)),
        ])
        return ReportSection(title: "Loss and accuracy", note: "Train metrics are averaged over each epoch with Dropout active and BatchNorm using batch statistics; validation runs in eval mode after the epoch.",
                             charts: [loss, accuracy])
    }

    static func scheduleSection(_ epochs: [EpochRecord]) -> ReportSection {
        let x = epochs.map { Double($0.epoch) }
        let lr = ReportChart(id: "lr", title: "Learning rate", xLabel: "epoch", yLabel: "lr", series: [
            ReportSeries(name: "learning rate", color: ReportPalette.learningRate, x: x, y: epochs.map(\.learningRate)),
        ], stepped: true, includeZero: true)
        let gap = ReportChart(id: "gap", title: "Train − validation gap", xLabel: "epoch", yLabel: "accuracy points", series: [
            ReportSeries(name: "train acc − val acc", color: ReportPalette.gap, x: x, y: epochs.map { $0.trainAccuracy - $0.valAccuracy }),
        ], includeZero: true)
        return ReportSection(title: "Learning-rate schedule and generalisation gap",
                             note: "A gap that keeps growing while validation loss rises is overfitting (more Dropout or weight decay); a negative gap is normal early on, when Dropout handicaps the training pass.",
                             charts: [lr, gap])
    }

    static func batchNormSection(_ t: BatchNormTrace) -> ReportSection {
        let s = t.samples
        let x = s.map { Double($0.step) }
        let input = ReportChart(id: "bn-input-\(t.path)", title: "Input of `\(t.path)` over training", xLabel: "training step", yLabel: "value", bands: [
            ReportBand(name: "channel 0", color: ReportPalette.band, x: x, low: s.map(\.unit.p15), median: s.map(\.unit.p50), high: s.map(\.unit.p85)),
            ReportBand(name: "all channels", color: ReportPalette.secondBand, x: x, low: s.map(\.input.p15), median: s.map(\.input.p50), high: s.map(\.input.p85)),
        ])
        let withRunning = s.filter { $0.runningMean != nil && $0.runningVar != nil }
        let rx = withRunning.map { Double($0.step) }
        var charts = [input]
        if !withRunning.isEmpty {
            charts.append(ReportChart(id: "bn-running-\(t.path)", title: "Running statistics of `\(t.path)` across channels", xLabel: "training step", yLabel: "value", bands: [
                ReportBand(name: "running mean", color: ReportPalette.runningMean, x: rx,
                           low: withRunning.map { $0.runningMean!.p15 }, median: withRunning.map { $0.runningMean!.p50 }, high: withRunning.map { $0.runningMean!.p85 }),
                ReportBand(name: "running var", color: ReportPalette.runningVar, x: rx,
                           low: withRunning.map { $0.runningVar!.p15 }, median: withRunning.map { $0.runningVar!.p50 }, high: withRunning.map { $0.runningVar!.p85 }),
            ]))
        }
        var health: [ReportSeries] = []
        let drift = s.filter { $0.drift != nil }
        if !drift.isEmpty {
            health.append(ReportSeries(name: "running-stat drift (σ)", color: ReportPalette.gap, x: drift.map { Double($0.step) }, y: drift.map { $0.drift! }))
        }
        let dead = s.filter { $0.deadReLU != nil }
        if !dead.isEmpty {
            health.append(ReportSeries(name: "dead ReLU fraction" + (t.reluPath.map { " (`\($0)`)" } ?? ""), color: ReportPalette.deadReLU,
                                       x: dead.map { Double($0.step) }, y: dead.map { $0.deadReLU! }))
        }
        if !health.isEmpty {
            charts.append(ReportChart(id: "bn-health-\(t.path)", title: "Drift and dead units after `\(t.path)`", xLabel: "training step", yLabel: "", series: health, includeZero: true))
        }
        return ReportSection(title: "\(t.kind) `\(t.path)` (\(t.features) features)",
                             note: "The distribution of the layer's input over training, shown as 15th/50th/85th percentiles in the form of Figure 1 of Ioffe & Szegedy (2015); the running statistics it will use in evaluation; how far they are from the current batches (in running standard deviations) and the fraction of ReLU units after it that were zero for a whole batch.",
                             charts: charts)
    }

    private static func number(_ v: Double) -> String { v.isFinite ? String(format: "%.4f", v) : "\(v)" }
    private static func percent(_ v: Double) -> String { v.isFinite ? String(format: "%.2f %%", v) : "\(v)" }
}
