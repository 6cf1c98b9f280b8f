import Foundation
import SwiftNNMonitor

/// How the two runs compare, measured against what Figure 1 of Ioffe & Szegedy (2015) shows:
/// (a) the BatchNorm network reaches higher test accuracy, sooner; (b, c) the input distribution of
/// a last-hidden-layer sigmoid drifts in mean and spread without BatchNorm and stays put with it.
struct BNPaperComparison: Codable {
    struct Network: Codable {
        var finalAccuracy: Double
        var bestAccuracy: Double
        /// First evaluated step with at least 90 % / 95 % test accuracy.
        var stepsTo90: Int?
        var stepsTo95: Int?
        /// Over the evaluations from 10 % of training on, for the followed unit: how far its median
        /// moved (max − min) and how much its 15–85 spread changed (max / min), and the median
        /// movement in units of its mean spread.
        var unitMedianRange: Double
        var unitSpreadRatio: Double
        var unitRelativeDrift: Double
        /// The relative drift averaged over all units of the last hidden layer.
        var meanRelativeDrift: Double
        var meanSpreadRatio: Double
        var seconds: Double
    }

    var baseline: Network
    var batchNorm: Network
    /// Fraction of evaluations (after step 0) where the BatchNorm network is at least as accurate.
    var batchNormAheadFraction: Double
    /// One line per claim of the figure: matched or not, with the numbers.
    var lines: [String]
    /// The curves, kept for the report.
    var curves: [BNPaperCurve]

    init(baseline b: BNPaperCurve, batchNorm n: BNPaperCurve) {
        func summarize(_ c: BNPaperCurve) -> Network {
            let from = c.steps.firstIndex { $0 >= (c.steps.last ?? 0) / 10 && $0 > 0 } ?? 0
            let unit = Array(c.unit[from...])
            func drift(_ ps: [Percentiles]) -> (range: Double, spreadRatio: Double, relative: Double) {
                let medians = ps.map(\.p50), spreads = ps.map { $0.p85 - $0.p15 }
                let range = (medians.max() ?? 0) - (medians.min() ?? 0)
                let meanSpread = spreads.reduce(0, +) / Double(max(spreads.count, 1))
                let ratio = (spreads.max() ?? 1) / max(spreads.min() ?? 1, 1e-12)
                return (range, ratio, range / max(meanSpread, 1e-12))
            }
            let u = drift(unit)
            let width = c.allUnits.first?.count ?? 0
            var rel = 0.0, ratio = 0.0
            for k in 0..<width {
                let d = drift(c.allUnits[from...].map { $0[k] })
                rel += d.relative
                ratio += d.spreadRatio
            }
            let acc = c.testAccuracy
            return Network(finalAccuracy: acc.last ?? .nan, bestAccuracy: acc.max() ?? .nan,
                           stepsTo90: acc.firstIndex { $0 >= 0.90 }.map { c.steps[$0] },
                           stepsTo95: acc.firstIndex { $0 >= 0.95 }.map { c.steps[$0] },
                           unitMedianRange: u.range, unitSpreadRatio: u.spreadRatio, unitRelativeDrift: u.relative,
                           meanRelativeDrift: width > 0 ? rel / Double(width) : .nan, meanSpreadRatio: width > 0 ? ratio / Double(width) : .nan,
                           seconds: c.seconds)
        }
        baseline = summarize(b)
        batchNorm = summarize(n)
        let pairs = Array(zip(b.testAccuracy, n.testAccuracy).dropFirst())
        batchNormAheadFraction = pairs.isEmpty ? .nan : Double(pairs.filter { $0.1 >= $0.0 }.count) / Double(pairs.count)
        curves = [b, n]

        func pct(_ x: Double) -> String { String(format: "%.2f %%", 100 * x) }
        func steps(_ s: Int?) -> String { s.map { "step \($0)" } ?? "never" }
        var out: [String] = []
        let higher = batchNorm.finalAccuracy > baseline.finalAccuracy && batchNormAheadFraction >= 0.8
        out.append((higher ? "MATCHED" : "NOT MATCHED") + " (a) higher test accuracy with BatchNorm: final \(pct(batchNorm.finalAccuracy)) vs \(pct(baseline.finalAccuracy)); "
                   + "BatchNorm at least as accurate at \(String(format: "%.0f", 100 * batchNormAheadFraction)) % of the evaluations")
        let faster = (batchNorm.stepsTo95 ?? Int.max) < (baseline.stepsTo95 ?? Int.max) || (batchNorm.stepsTo90 ?? Int.max) < (baseline.stepsTo90 ?? Int.max)
        out.append((faster ? "MATCHED" : "NOT MATCHED") + " (a) faster training with BatchNorm: 90 % at \(steps(batchNorm.stepsTo90)) vs \(steps(baseline.stepsTo90)), "
                   + "95 % at \(steps(batchNorm.stepsTo95)) vs \(steps(baseline.stepsTo95))")
        let stable = baseline.unitRelativeDrift > 2 * batchNorm.unitRelativeDrift
        out.append((stable ? "MATCHED" : "NOT MATCHED") + " (b, c) the followed unit's input drifts without BatchNorm, stays put with it: median moved "
                   + String(format: "%.2f (%.2f spreads) vs %.2f (%.2f spreads); spread changed ×%.2f vs ×%.2f",
                            baseline.unitMedianRange, baseline.unitRelativeDrift, batchNorm.unitMedianRange, batchNorm.unitRelativeDrift,
                            baseline.unitSpreadRatio, batchNorm.unitSpreadRatio))
        let stableAll = baseline.meanRelativeDrift > 2 * batchNorm.meanRelativeDrift
        out.append((stableAll ? "MATCHED" : "NOT MATCHED") + " (b, c) the same over all 100 units of the last hidden layer: mean median movement "
                   + String(format: "%.2f vs %.2f spreads, mean spread change ×%.2f vs ×%.2f",
                            baseline.meanRelativeDrift, batchNorm.meanRelativeDrift, baseline.meanSpreadRatio, batchNorm.meanSpreadRatio))
        lines = out
    }

    /// The experiment's own report.
    func page(options: BNPaperOptions) -> ReportPage {
        let (b, n) = (curves[0], curves[1])
        var page = ReportPage(title: "BatchNorm paper, Figure 1 (Ioffe & Szegedy 2015)",
                              subtitle: "784-100-100-100-10 sigmoid MLP on binarized MNIST (bundled subset), without and with BatchNorm before each sigmoid — \(options.description)")
        let findings = lines.map { ReportFinding(severity: $0.hasPrefix("MATCHED") ? "info" : "warning", source: "experiment", text: $0) }
        page.sections.append(ReportSection(
            title: "What matched the paper's figure",
            note: "The paper trains 50,000 steps of 60 examples on the full MNIST training set (60,000 images); this run uses the bundled 10,000 training and 2,000 test images, so absolute accuracies are lower and the curves noisier. The claims compared are the figure's shape.",
            findings: findings,
            table: [["", "without BatchNorm", "with BatchNorm"],
                    ["final test accuracy", String(format: "%.2f %%", 100 * baseline.finalAccuracy), String(format: "%.2f %%", 100 * batchNorm.finalAccuracy)],
                    ["best test accuracy", String(format: "%.2f %%", 100 * baseline.bestAccuracy), String(format: "%.2f %%", 100 * batchNorm.bestAccuracy)],
                    ["first step at 90 % / 95 %", "\(baseline.stepsTo90.map(String.init) ?? "–") / \(baseline.stepsTo95.map(String.init) ?? "–")",
                     "\(batchNorm.stepsTo90.map(String.init) ?? "–") / \(batchNorm.stepsTo95.map(String.init) ?? "–")"],
                    ["training time", String(format: "%.1f s", baseline.seconds), String(format: "%.1f s", batchNorm.seconds)]]))
        let x = { (c: BNPaperCurve) in c.steps.map(Double.init) }
        page.sections.append(ReportSection(
            title: "Figure 1(a): test accuracy against training steps",
            charts: [ReportChart(id: "accuracy", title: "Test accuracy", xLabel: "training step", yLabel: "fraction correct", series: [
                ReportSeries(name: "without BatchNorm", color: ReportPalette.validation, x: x(b), y: b.testAccuracy, dashed: true),
                ReportSeries(name: "with BatchNorm", color: ReportPalette.train, x: x(n), y: n.testAccuracy),
            ])]))
        func band(_ c: BNPaperCurve, _ color: String) -> ReportBand {
            ReportBand(name: "unit \(options.unit)", color: color, x: x(c), low: c.unit.map(\.p15), median: c.unit.map(\.p50), high: c.unit.map(\.p85))
        }
        page.sections.append(ReportSection(
            title: "Figure 1(b, c): input of a last-hidden-layer sigmoid over training",
            note: "15th, 50th and 85th percentiles over the test images of the input to sigmoid unit \(options.unit) of the last hidden layer (evaluation mode: BatchNorm uses its running statistics).",
            charts: [ReportChart(id: "unit-baseline", title: "(b) without BatchNorm", xLabel: "training step", yLabel: "sigmoid input", bands: [band(b, ReportPalette.validation)]),
                     ReportChart(id: "unit-batchnorm", title: "(c) with BatchNorm", xLabel: "training step", yLabel: "sigmoid input", bands: [band(n, ReportPalette.train)])]))
        // Over all units: how far each unit's median is from where it ends, in its final spreads.
        func distanceToFinal(_ c: BNPaperCurve) -> [Double] {
            guard let last = c.allUnits.last else { return [] }
            return c.allUnits.map { units in
                zip(units, last).map { abs($0.p50 - $1.p50) / max($1.p85 - $1.p15, 1e-12) }.reduce(0, +) / Double(max(units.count, 1))
            }
        }
        page.sections.append(ReportSection(
            title: "All 100 units of the last hidden layer",
            note: "Mean over units of |median now − final median| / final 15–85 spread: how much of the distribution shift happens during training.",
            charts: [ReportChart(id: "all-units", title: "Distance of each unit's median from its final value", xLabel: "training step", yLabel: "final spreads", series: [
                ReportSeries(name: "without BatchNorm", color: ReportPalette.validation, x: x(b), y: distanceToFinal(b), dashed: true),
                ReportSeries(name: "with BatchNorm", color: ReportPalette.train, x: x(n), y: distanceToFinal(n)),
            ], includeZero: true)]))
        return page
    }
}
