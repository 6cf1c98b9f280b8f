import Foundation
import Testing
import TestSupport
@testable import SwiftNNMonitor

/// A monitor log with everything the report draws: epochs with a growing gap, a NaN validation
/// loss (a gap in the curve), two BatchNorm layers with drifting input distributions, findings
/// from both sources, one of them holding markup that must stay text.
func sampleMonitorLog() -> MonitorLog {
    var log = MonitorLog(model: "MLPClassifier(784, [64, 32], 10, dropout=0.4) <b>not bold</b>")
    for e in 1...8 {
        let t = Double(e)
        log.epochs.append(EpochRecord(epoch: e, trainLoss: 2 / t, trainAccuracy: 100 - 40 / t, valLoss: e == 5 ? .nan : 2.2 / t + 0.02 * t,
                                      valAccuracy: 100 - 45 / t - 0.3 * t, learningRate: 1e-3 * (1 + cos(Double.pi * (t - 1) / 8)) / 2))
    }
    for (k, path) in ["net.1", "net.5"].enumerated() {
        var trace = BatchNormTrace(path: path, kind: "BatchNorm1d", features: 64 >> k, reluPath: "net.\(2 + 4 * k)")
        for s in stride(from: 10, through: 800, by: 10) {
            let shift = 0.5 * log1p(Double(s) / 100) * (k == 0 ? 1 : -1)
            trace.samples.append(BatchNormSample(
                step: s, epoch: 1 + s / 100,
                unit: Percentiles(p15: shift - 1.1, p50: shift, p85: shift + 0.9),
                input: Percentiles(p15: shift - 1.6, p50: shift + 0.1, p85: shift + 1.5),
                batchMean: shift, batchVar: 1 + 0.1 * shift,
                runningMean: Percentiles(p15: shift * 0.8 - 0.2, p50: shift * 0.8, p85: shift * 0.8 + 0.2),
                runningVar: Percentiles(p15: 0.8, p50: 1.0 + 0.05 * Double(s) / 800, p85: 1.3),
                drift: 0.1 + 0.05 * sin(Double(s) / 50), deadReLU: 0.05 + 0.1 * Double(s) / 800))
        }
        log.batchNorms.append(trace)
    }
    log.doctor = [MonitorFinding(severity: "advice", check: "bias-before-batchnorm", path: "net.0",
                                 message: "the bias of Linear is cancelled by the following BatchNorm1d", advice: "create it with bias: false")]
    log.findings = [MonitorFinding(severity: "warning", check: "train-val-gap", path: "net.3", epoch: 8,
                                   message: "train 99.8 % vs val 95.2 % after epoch 8 </script><script>document.title='pwned'</script>",
                                   advice: "raise Dropout p in `net.3` from 0.4 towards 0.5")]
    return log
}

@Suite(.serialized) struct ReportBrowserTests {
    @Test func pageIsSelfContained() {
        let html = ReportHTML.render(TrainingReport.page(log: sampleMonitorLog()))
        // Opens offline: no URL of any kind is referenced.
        // (The SVG namespace name and clip-path fragment references `url(#…)` are not fetched.)
        for needle in ["http://", "https://", "src=", "href=", "@import", "url("] {
            let allowed = needle == "http://" ? html.components(separatedBy: "http://www.w3.org/2000/svg").count - 1
                : needle == "url(" ? html.components(separatedBy: "url(#").count - 1 : 0
            #expect(html.components(separatedBy: needle).count - 1 == allowed, "found \(needle)")
        }
        #expect(html.components(separatedBy: "<script").count - 1 == 2)
        #expect(!html.contains("<b>not bold</b>"))
    }

    /// The report in a real browser: every chart draws, no script error, markup in findings stays
    /// text, and the screenshot holds each chart's colours inside its plot area.
    @Test(.enabled(if: Chromium.isAvailable, "needs chromium (installed by .ci/run)"))
    func reportRendersInHeadlessChromium() throws {
        let page = TrainingReport.page(log: sampleMonitorLog())
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("report-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { if ProcessInfo.processInfo.environment["KEEP_REPORT"] == nil { try? FileManager.default.removeItem(at: dir) } else { print("kept \(dir.path)") } }
        let file = dir.appendingPathComponent("report.html")
        try ReportHTML.write(page, to: file)

        // The layout depends on the width only: the same width for the DOM dump and the screenshot.
        let dom = try Chromium.run(file, ["--dump-dom", "--window-size=1280,1000"])
        #expect(dom.status == 0, "chromium: \(dom.stderr.suffix(2000))")
        let expected = page.charts.count
        #expect(expected == 2 + 2 + 2 * 3)
        #expect(dom.stdout.contains("charts-drawn:\(expected)"), "status: \(dom.stdout.suffix(600))")
        #expect(dom.stdout.contains(#"<ul id="report-errors"></ul>"#), "script errors: \(dom.stdout.suffix(1500))")
        #expect(!dom.stderr.contains("Uncaught"), "console: \(dom.stderr.suffix(2000))")
        #expect(!dom.stdout.contains("pwned") || dom.stdout.contains("&lt;script&gt;document.title='pwned'"))
        #expect(dom.stdout.contains("<title>Training report</title>"))

        // Where each chart's plot area is, and how tall the page is.
        func attribute(_ name: String, after marker: String) -> String? {
            guard let r = dom.stdout.range(of: marker) else { return nil }
            let tail = dom.stdout[r.upperBound...]
            guard let a = tail.range(of: name + "=\"") else { return nil }
            return String(tail[a.upperBound...].prefix { $0 != "\"" })
        }
        let height = try #require(attribute("data-page-height", after: "<body").flatMap { Int($0) })
        let shot = dir.appendingPathComponent("shot.png")
        let run = try Chromium.run(file, ["--screenshot=\(shot.path)", "--window-size=1280,\(height + 20)"])
        #expect(run.status == 0, "chromium: \(run.stderr.suffix(2000))")
        let image = try PNGImage([UInt8](Data(contentsOf: shot)))
        #expect(image.width == 1280)
        for chart in page.charts {
            let box = try #require(attribute("data-plot-box", after: "id=\"chart-\(chart.id)\""), "no plot box for \(chart.id)")
                .split(separator: ",").compactMap { Int($0) }
            try #require(box.count == 4)
            #expect(box[2] > 300 && box[3] > 150, "plot area of \(chart.id): \(box)")
            for color in chart.colors {
                let n = image.count(color: color, in: (box[0], box[1], box[2], box[3]))
                #expect(n >= 100, "chart \(chart.id): \(n) pixels of \(color) in its plot area")
            }
        }
    }
}
