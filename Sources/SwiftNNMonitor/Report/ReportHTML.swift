import Foundation

/// Renders a ``ReportPage`` as one self-contained HTML file: the data as inline JSON, the charts
/// drawn as inline SVG by an inline script. No external resources, so it opens offline and can
/// be mailed or archived with the run.
///
/// When every chart has drawn, the script writes `charts-drawn:<n>` into `#report-status` and
/// each chart's plot-area rectangle (page pixels) into its `data-plot-box` attribute; script
/// errors are listed in `#report-errors`. The browser test reads these from the rendered DOM.
///
/// ```swift
/// try ReportHTML.write(page, to: runFolder.appendingPathComponent("report.html"))
/// ```
public enum ReportHTML {
    /// The page as HTML text.
    public static func render(_ page: ReportPage) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let json = (try? encoder.encode(page)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // Inside <script>, only "</" and "<!--" could end or confuse the element; escape every "<".
        let safeJSON = json.replacingOccurrences(of: "<", with: "\\u003c")
        return """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(escape(page.title))</title>
        <style>\(ReportAssets.css)</style>
        </head>
        <body>
        <header><h1>\(escape(page.title))</h1><p class="subtitle">\(escape(page.subtitle))</p></header>
        <main id="report"></main>
        <footer><span id="report-status">charts-pending</span><ul id="report-errors"></ul></footer>
        <script type="application/json" id="report-data">\(safeJSON)</script>
        <script>\(ReportAssets.script)</script>
        </body>
        </html>

        """
    }

    /// Writes the page atomically (a reader never sees half a report).
    public static func write(_ page: ReportPage, to url: URL) throws {
        try Data(render(page).utf8).write(to: url, options: .atomic)
    }

    /// Text made safe for HTML element content and attributes.
    static func escape(_ s: String) -> String {
        var out = ""
        out.reserveCapacity(s.count)
        for ch in s {
            switch ch {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(ch)
            }
        }
        return out
    }
}
