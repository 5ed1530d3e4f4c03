import Testing

@testable import IntoneCore
@testable import IntoneTools

/// The arithmetic `intone bench` reports with: percentiles, per-job command costs without
/// the bench's own calls, the JSON lines the charts read, the ceiling's output.
@Suite struct BenchTests {
    @Test func percentilesAreNearestRank() {
        let samples = Distribution((1...100).map(Double.init).reversed())
        #expect(samples.percentile(0) == 1)
        #expect(samples.percentile(0.5) == 50)
        #expect(samples.percentile(0.99) == 99)
        #expect(samples.percentile(1) == 100)
        #expect(samples.max == 100)
        #expect(samples.mean == 50.5)
        #expect(Distribution([]).percentile(0.5) == nil)
        #expect(Distribution([7]).percentile(0.99) == 7)
    }

    @Test func theBenchsOwnCallsAreTakenOutOfCommandStats() {
        let before = ["xadd": CommandCost(calls: 10, microseconds: 20), "xlen": CommandCost(calls: 5, microseconds: 5)]
        let after = [
            "xadd": CommandCost(calls: 110, microseconds: 220),
            // 20 calls, 4 of them the bench's: the workers keep 16/20 of the 40 µs.
            "xlen": CommandCost(calls: 25, microseconds: 45),
            // Only the bench sent INFO: it disappears.
            "info": CommandCost(calls: 3, microseconds: 90),
            "exec": CommandCost(calls: 10, microseconds: 300),
        ]
        let profile = CommandProfile(before: before, after: after, benchCalls: ["xlen": 4, "info": 3], jobs: 100)
        let byName = Dictionary(uniqueKeysWithValues: profile.commands.map { ($0.name, $0) })
        #expect(byName["info"] == nil)
        #expect(byName["xadd"]?.callsPerJob == 1)
        #expect(byName["xadd"]?.microsecondsPerJob == 2)
        #expect(byName["xlen"]?.callsPerJob == 0.16)
        #expect(byName["xlen"]?.microsecondsPerJob == 0.32)
        #expect(profile.commands.first?.name == "exec")
        // EXEC's time includes the commands it ran: counted in the sum, not in "once".
        #expect(abs(profile.microsecondsPerJob - 5.32) < 1e-9)
        #expect(abs(profile.microsecondsPerJobOnce - 2.32) < 1e-9)
        #expect(abs(profile.callsPerJob - 1.26) < 1e-9)
    }

    @Test func jsonKeepsFieldOrderAndEscapes() {
        let value = BenchJSON.object([
            ("workload", .string("on")), ("jobs", .integer(3000)), ("jobs_per_s", .rounded(299.456, 1)), ("share", .rounded(0.92345, 2)),
            ("whole", .number(12)), ("missing", .rounded(nil)), ("note", .string("a \"b\"\n")), ("flags", .array([.bool(true), .null])),
        ])
        #expect(
            value.text
                == #"{"workload": "on", "jobs": 3000, "jobs_per_s": 299.5, "share": 0.92, "whole": 12, "missing": null, "note": "a \"b\"\n", "flags": [true, null]}"#
        )
    }

    @Test func aLineCarriesTimeHostAndLabel() {
        let line = BenchReport.line(.object([("workload", .string("off"))]), label: "smoke")
        #expect(line.hasPrefix(#"{"workload": "off", "time": ""#))
        #expect(line.contains(#""host": {"cores": "#))
        #expect(line.hasSuffix(#""label": "smoke"}"#))
    }

    @Test func theCeilingsLineIsRead() {
        let c = #"{"renders": 300, "seconds": 1.8519, "jobs_per_s": 162.00, "audio_s_per_render": 7.288, "text_chars": 134}"#
        #expect(EspeakCeiling.jobsPerSecond(in: c) == 162)
        #expect(EspeakCeiling.jobsPerSecond(in: #"{"jobs_per_s":98.5}"#) == 98.5)
        #expect(EspeakCeiling.jobsPerSecond(in: "espeak-ng: no voice") == nil)
    }

    @Test func aBurstThatWaitsForTheWholeBatchShowsInMedianOverMax() {
        var burst = BurstResult(
            jobs: 4, streamed: false, synthesizers: 2, textCharacters: 167, audio: Distribution([9200]),
            elapsed: Distribution([100, 200, 300, 400]), firstChunk: Distribution([]), spanMilliseconds: 400, statuses: ["ok": 4])
        #expect(burst.medianOverMax == 0.5)
        burst.elapsed = Distribution([400, 400, 400, 400])
        #expect(burst.medianOverMax == 1)
    }
}
