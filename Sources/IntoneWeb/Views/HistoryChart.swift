import IntoneCore

/// The Overview's chart: results per minute, stacked by status, as SVG geometry for the
/// `chart` template (numbers only; the template escapes the labels).
struct HistoryChart {
    struct Segment {
        var status: String
        var x: String
        var y: String
        var w: String
        var h: String
        var tip: String
    }

    struct Gridline {
        var left: String
        var right: String
        var y: String
        var labelX: String
        var labelY: String
        var label: String
    }

    struct Tick {
        var x: String
        var y: String
        var label: String
        /// The last label ends at its bar, so that it stays inside the chart.
        var anchor: String
    }

    struct Legend {
        var status: String
        var count: String
    }

    static let statusOrder = ["ok", "text_only", "rate_limited", "expired", "failed"]

    let width = 760
    let height = 220
    var bars: [Segment] = []
    var gridlines: [Gridline] = []
    var ticks: [Tick] = []
    var legend: [Legend] = []
    var empty: Bool
    var unitX: String

    /// The contract's statuses in their usual order, then any others by name.
    static func order(_ statuses: Set<String>) -> [String] {
        statusOrder.filter { statuses.contains($0) } + statuses.subtracting(statusOrder).sorted()
    }

    init(_ minutes: [QueueHistory.Minute]) {
        let left = 48.0
        let right = Double(width) - 8
        let top = 18.0
        let bottom = Double(height) - 22
        unitX = Self.format(left - 40)
        let peak = minutes.map(\.results).max() ?? 0
        empty = peak == 0
        // The scale is in jobs/s (a minute's results / 60), with a round step.
        let step = Self.niceStep(Double(max(peak, 1)) / 60 / 4)
        let scaleTop = step * 4
        let plotHeight = bottom - top
        for index in 0...4 {
            let value = step * Double(index)
            let y = bottom - plotHeight * value / scaleTop
            gridlines.append(
                Gridline(
                    left: Self.format(left), right: Self.format(right), y: Self.format(y), labelX: Self.format(left - 6),
                    labelY: Self.format(y + 4), label: Self.rate(value)))
        }
        let slot = (right - left) / Double(max(minutes.count, 1))
        var totals: [String: Int] = [:]
        for (index, minute) in minutes.enumerated() {
            let x = left + slot * Double(index) + 1
            var base = bottom
            for status in Self.order(Set(minute.statusCounts.keys)) {
                let count = minute.statusCounts[status] ?? 0
                guard count > 0 else { continue }
                totals[status, default: 0] += count
                let h = plotHeight * Double(count) / 60 / scaleTop
                base -= h
                bars.append(
                    Segment(
                        status: Self.statusOrder.contains(status) ? status : "other", x: Self.format(x), y: Self.format(base),
                        w: Self.format(max(slot - 2, 1)), h: Self.format(h),
                        tip: "\(Display.clock(minute: minute.minute)) UTC: \(count) \(status)"))
            }
            let last = index == minutes.count - 1
            if index % 10 == 0 || last {
                ticks.append(
                    Tick(
                        x: Self.format(last ? right : x + slot / 2), y: Self.format(bottom + 16),
                        label: Display.clock(minute: minute.minute),
                        anchor: last ? "end" : "middle"))
            }
        }
        legend = Self.order(Set(totals.keys)).map { Legend(status: $0, count: Display.count(totals[$0] ?? 0)) }
    }

    /// 1, 2 or 5 times a power of ten, at least `raw`.
    static func niceStep(_ raw: Double) -> Double {
        var power = 0.001
        while true {
            for factor in [1.0, 2.0, 5.0] where factor * power >= raw { return factor * power }
            power *= 10
        }
    }

    static func rate(_ value: Double) -> String {
        if value == 0 { return "0" }
        if value >= 10 { return String(Int(value.rounded())) }
        var text = String(Int((value * 1000).rounded()))
        while text.count < 4 { text = "0" + text }
        var result = String(text.dropLast(3)) + "." + String(text.suffix(3))
        while result.hasSuffix("0") { result.removeLast() }
        if result.hasSuffix(".") { result.removeLast() }
        return result
    }

    static func format(_ value: Double) -> String {
        Display.oneDecimal(value)
    }
}
