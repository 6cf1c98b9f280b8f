/// The content of a self-contained HTML report: sections of charts, findings and tables.
/// ``ReportHTML`` renders it; ``TrainingReport`` and the BatchNorm-paper experiment build one.
///
/// ```swift
/// var page = ReportPage(title: "My run")
/// page.sections.append(ReportSection(title: "Loss", charts: [
///     ReportChart(id: "loss", title: "Loss", xLabel: "epoch", yLabel: "loss",
///                 series: [ReportSeries(name: "train", color: ReportPalette.train, x: [1, 2], y: [0.9, 0.5])])
/// ]))
/// let html = ReportHTML.render(page)
/// ```
public struct ReportPage: Codable, Equatable, Sendable {
    public var title: String
    /// One line under the title (model, data, date).
    public var subtitle: String
    public var sections: [ReportSection]

    public init(title: String, subtitle: String = "", sections: [ReportSection] = []) {
        self.title = title
        self.subtitle = subtitle
        self.sections = sections
    }

    /// Charts on the page, in order.
    public var charts: [ReportChart] { sections.flatMap(\.charts) }
}

/// A titled part of a report.
public struct ReportSection: Codable, Equatable, Sendable {
    public var title: String
    /// A paragraph of explanation above the charts.
    public var note: String
    public var charts: [ReportChart]
    public var findings: [ReportFinding]
    /// A small table: first row is the header.
    public var table: [[String]]

    public init(title: String, note: String = "", charts: [ReportChart] = [], findings: [ReportFinding] = [], table: [[String]] = []) {
        self.title = title
        self.note = note
        self.charts = charts
        self.findings = findings
        self.table = table
    }
}

/// One line chart: lines and percentile bands over a shared x axis.
public struct ReportChart: Codable, Equatable, Sendable {
    /// Unique on the page (the browser test finds charts by it).
    public var id: String
    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [ReportSeries]
    public var bands: [ReportBand]
    /// Draw lines as steps (a value holds until the next x), e.g. a learning rate per epoch.
    public var stepped: Bool
    /// Force the y axis to include 0.
    public var includeZero: Bool

    public init(id: String, title: String, xLabel: String, yLabel: String, series: [ReportSeries] = [],
                bands: [ReportBand] = [], stepped: Bool = false, includeZero: Bool = false) {
        self.id = id
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.bands = bands
        self.stepped = stepped
        self.includeZero = includeZero
    }

    /// Colours drawn in the plot area (lines and band medians), for tests that look at pixels.
    public var colors: [String] { series.map(\.color) + bands.map(\.color) }
}

/// A line: y against x; non-finite y values leave a gap.
public struct ReportSeries: Codable, Equatable, Sendable {
    public var name: String
    /// `#rrggbb`.
    public var color: String
    public var x: [Double]
    /// nil (or non-finite when built from Doubles): a gap.
    public var y: [Double?]
    public var dashed: Bool

    public init(name: String, color: String, x: [Double], y: [Double], dashed: Bool = false) {
        self.init(name: name, color: color, x: x, optionalY: y.map { $0.isFinite ? $0 : nil }, dashed: dashed)
    }

    public init(name: String, color: String, x: [Double], optionalY: [Double?], dashed: Bool = false) {
        self.name = name
        self.color = color
        self.x = x
        self.y = optionalY
        self.dashed = dashed
    }
}

/// A distribution over x drawn as the paper's Figure 1 draws it: the 15th–85th percentile range
/// shaded and the median as a line.
public struct ReportBand: Codable, Equatable, Sendable {
    public var name: String
    public var color: String
    public var x: [Double]
    public var low: [Double]
    public var median: [Double]
    public var high: [Double]

    public init(name: String, color: String, x: [Double], low: [Double], median: [Double], high: [Double]) {
        self.name = name
        self.color = color
        self.x = x
        self.low = low
        self.median = median
        self.high = high
    }
}

/// A finding shown in a report: from the doctor, the monitor, or an experiment.
public struct ReportFinding: Codable, Equatable, Sendable {
    /// `error`, `warning`, `advice` or `info`.
    public var severity: String
    /// Who found it: `doctor`, `monitor`, `experiment`.
    public var source: String
    public var text: String

    public init(severity: String, source: String, text: String) {
        self.severity = severity
        self.source = source
        self.text = text
    }
}

/// The report's colours (tests look for them in screenshots).
public enum ReportPalette {
    public static let train = "#1f77b4"
    public static let validation = "#ff7f0e"
    public static let learningRate = "#2ca02c"
    public static let gap = "#d62728"
    public static let band = "#9467bd"
    public static let runningMean = "#8c564b"
    public static let runningVar = "#e377c2"
    public static let deadReLU = "#7f7f7f"
    public static let secondBand = "#17becf"
}
