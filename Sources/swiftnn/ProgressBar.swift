import Foundation

/// A one-line progress display for an epoch: redrawn in place on a terminal, silent otherwise
/// (then only the epoch summary lines are printed, so logs stay clean).
final class ProgressBar {
    let total: Int
    let label: String
    let isInteractive: Bool
    private let start = DispatchTime.now()
    private var lastDraw: UInt64 = 0

    init(total: Int, label: String, interactive: Bool = ProgressBar.stdoutIsTerminal) {
        self.total = total
        self.label = label
        self.isInteractive = interactive
    }

    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// Redraws at most ~10 times a second (and always at the last step).
    func update(step: Int, loss: Double, samples: Int) {
        guard isInteractive else { return }
        let now = DispatchTime.now().uptimeNanoseconds
        guard step == total || now - lastDraw > 100_000_000 else { return }
        lastDraw = now
        let width = 24
        let filled = total > 0 ? min(width, step * width / total) : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let t = elapsed
        let rate = t > 0 ? Double(samples) / t : 0
        let line = "\(label) [\(bar)] \(step)/\(total) loss \(String(format: "%.4f", loss)) \(String(format: "%.0f", rate)) samples/s"
        FileHandle.standardOutput.write(Foundation.Data(("\r\u{1B}[K" + line).utf8))
    }

    /// Removes the bar so the next line starts clean.
    func clear() {
        guard isInteractive else { return }
        FileHandle.standardOutput.write(Foundation.Data("\r\u{1B}[K".utf8))
    }
}
