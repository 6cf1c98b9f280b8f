import Foundation
import Testing
import TestSupport
@testable import swiftnn
import SwiftNN
import SwiftNNMonitor

/// `swiftnn experiment bn-paper`: the networks are the paper's, the comparison says MATCHED only
/// when the numbers show the figure's claims, and a short run writes its results and a report
/// that renders.
@Suite(.serialized) struct ExperimentCLITests {
    /// 784 → 100 → 100 → 100 → 10 with sigmoids; with BatchNorm, BN(Wu) replaces Wu + b.
    @Test func networksAreThePapers() throws {
        var o = BNPaperOptions()
        o.quiet = true
        let experiment = try BNPaperExperiment(options: o)
        let plain = experiment.makeNetwork(batchNorm: false), normalized = experiment.makeNetwork(batchNorm: true)
        #expect(plain.stateDict().keys.sorted() == ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight", "6.bias", "6.weight"])
        #expect(normalized.layers.map(\.typeName) == ["Linear", "BatchNorm1d", "Sigmoid", "Linear", "BatchNorm1d", "Sigmoid", "Linear", "BatchNorm1d", "Sigmoid", "Linear"])
        #expect(normalized.layers.compactMap { $0 as? Linear }.map { [$0.inFeatures, $0.outFeatures, $0.bias == nil ? 0 : 1] }
                == [[784, 100, 0], [100, 100, 0], [100, 100, 0], [100, 10, 1]])
        // Weights from N(0, 0.01²), biases zero.
        let w = (plain[0] as! Linear).weight.scalars.map(Double.init)
        let mean = w.reduce(0, +) / Double(w.count)
        let std = (w.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(abs(mean) < 2e-4 && abs(std - 0.01) < 2e-4, "mean \(mean) std \(std)")
        #expect((plain[0] as! Linear).bias!.scalars.allSatisfy { $0 == 0 })
    }

    /// The claims are judged from the curves: a BatchNorm curve that is ahead and a baseline whose
    /// sigmoid input wanders match; swapped curves match nothing.
    @Test func comparisonJudgesTheFiguresClaims() {
        func curve(_ name: String, accuracy: [Double], median: (Int) -> Double) -> BNPaperCurve {
            var c = BNPaperCurve(name: name)
            c.steps = Array(stride(from: 0, through: 1000, by: 100))
            c.testAccuracy = accuracy
            var units: [[Percentiles]] = []
            for i in c.steps.indices {
                var row: [Percentiles] = []
                for u in 0..<100 {
                    let m: Double = median(i) + Double(u % 3) * 0.01
                    row.append(Percentiles(p15: m - 1, p50: m, p85: m + 1))
                }
                units.append(row)
            }
            c.allUnits = units
            c.unit = units.map { $0[0] }
            return c
        }
        let slow = curve("without BatchNorm", accuracy: [0.1, 0.1, 0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.88, 0.9, 0.91], median: { -3 + 0.4 * Double($0) })
        let fast = curve("with BatchNorm", accuracy: [0.1, 0.8, 0.85, 0.88, 0.9, 0.91, 0.92, 0.93, 0.94, 0.95, 0.95], median: { _ in 0 })
        let good = BNPaperComparison(baseline: slow, batchNorm: fast)
        #expect(good.lines.count == 4)
        #expect(good.lines.allSatisfy { $0.hasPrefix("MATCHED") }, "\(good.lines)")
        #expect(good.baseline.stepsTo90 == 900 && good.batchNorm.stepsTo90 == 400 && good.batchNorm.stepsTo95 == 900)
        #expect(good.batchNormAheadFraction == 1)
        let swapped = BNPaperComparison(baseline: fast, batchNorm: slow)
        #expect(swapped.lines.allSatisfy { $0.hasPrefix("NOT MATCHED") }, "\(swapped.lines)")
    }

    /// A short run through the command line: results file, report, the four claims printed; the
    /// report draws its four charts in a real browser when there is one.
    @Test func shortRunWritesResultsAndAReport() throws {
        let root = makeTempDirectory("bn-paper")
        defer { cleanUp(root) }
        let out = root.appendingPathComponent("run")
        // (A debug build runs the paper's sizes slowly: few steps of small batches, 200 test images.)
        let r = try runSwiftNN(["experiment", "bn-paper", "--steps", "20", "--eval-every", "10", "--batch-size", "10", "--test-limit", "200",
                                "--out", out.path, "--threads", "1"])
        #expect(r.status == 0, "\(r.stderr)")
        let claims = r.stdout.split(separator: "\n").filter { $0.hasPrefix("MATCHED") || $0.hasPrefix("NOT MATCHED") }
        #expect(claims.count == 4, "\(r.stdout)")
        let results = try JSONDecoder().decode(BNPaperResults.self, from: Data(contentsOf: out.appendingPathComponent("bn-paper.json")))
        for c in [results.baseline, results.batchNorm] {
            #expect(c.steps == [0, 10, 20])
            #expect(c.testAccuracy.count == 3 && c.testAccuracy.allSatisfy { (0...1).contains($0) })
            #expect(c.allUnits.count == 3 && c.allUnits.allSatisfy { $0.count == 100 })
            #expect(c.unit.allSatisfy { $0.p15 <= $0.p50 && $0.p50 <= $0.p85 })
        }
        // Before any step both networks guess (ten classes).
        #expect(results.baseline.testAccuracy[0] < 0.3 && results.batchNorm.testAccuracy[0] < 0.3)
        #expect(results.comparison.lines == claims.map(String.init))
        let html = out.appendingPathComponent("report.html")
        #expect(FileManager.default.fileExists(atPath: html.path))
        if Chromium.isAvailable {
            let dom = try Chromium.dumpDOM(html)
            #expect(dom.stdout.contains("charts-drawn:4"), "status: \(dom.stdout.suffix(600))")
            #expect(dom.stdout.contains(#"<ul id="report-errors"></ul>"#), "script errors: \(dom.stdout.suffix(1500))")
        }
    }

    @Test func badSettingsAreRefused() throws {
        for (args, needle) in [(["--steps", "0"], "--steps must be in 1...10000000, got 0"),
                               (["--batch-size", "1"], "--batch-size must be at least 2"),
                               (["--unit", "100"], "--unit must be in 0..<100, got 100"),
                               (["--lr=-1"], "--lr must be a positive number"),
                               (["--test-limit", "0"], "--test-limit must be at least 1, got 0")] {
            let r = try runSwiftNN(["experiment", "bn-paper", "--out", "/nonexistent-unused"] + args)
            #expect(r.status == 1 && r.stderr.contains(needle), "\(args): \(r.stderr)")
        }
    }
}
