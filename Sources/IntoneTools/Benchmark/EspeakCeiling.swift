import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// The most the machine can render: espeak-ng speaking the benchmark reply in-process,
/// over and over, with nothing around it (no queue, no pipe, no encoding; the samples are
/// counted, not kept). The two-core ceiling is two such processes side by side, summed
/// (the cores are not independent: two together render less than twice one alone).
///
/// Each process is `intone bench --espeak-ceiling N`, or an external program that prints
/// the same JSON object (`bench/peers/espeak_ceiling.c`).
public enum EspeakCeiling {
    /// One side-by-side measurement.
    public struct Measure: Sendable {
        public var rendersEach: Int
        public var jobsPerSecondEach: [Double]
        public var jobsPerSecond: Double { jobsPerSecondEach.reduce(0, +) }

        public var json: BenchJSON {
            .object([
                ("renders_each", .integer(rendersEach)), ("jobs_per_s_each", .array(jobsPerSecondEach.map { .rounded($0) })),
                ("jobs_per_s", .rounded(jobsPerSecond)),
            ])
        }
    }

    /// Renders `text` `renders` times in this process and returns the JSON line the
    /// measuring process reads: renders, seconds, jobs_per_s, audio_s_per_render.
    public static func renderHere(renders: Int, text: String = Bench.reply) throws -> String {
        let engine = try EspeakEngine()
        let request = SpeechRequest(
            text: text, voice: AgentSettings.defaultVoice, rate: AgentSettings.defaultRate, pitch: AgentSettings.defaultPitch)
        var samples = 0
        let started = Monotonic.nanoseconds()
        for _ in 0..<max(renders, 1) {
            try engine.render(request) { piece, _ in samples += piece.count }
        }
        let seconds = Double(Monotonic.nanoseconds() - started) / 1e9
        return BenchJSON.object([
            ("renders", .integer(renders)), ("seconds", .rounded(seconds, 4)), ("jobs_per_s", .rounded(Double(renders) / seconds)),
            ("audio_s_per_render", .rounded(Double(samples) / Double(engine.sampleRate) / Double(max(renders, 1)), 3)),
        ]).text
    }

    /// Two processes of `command` (program and arguments; the render count is appended)
    /// started together; their rates summed.
    static func measure(command: [String], renders: Int) throws -> Measure {
        var running: [(pid: pid_t, output: Int32)] = []
        defer {
            for process in running {
                close(process.output)
                kill(process.pid, SIGKILL)
                Spawn.wait(process.pid)
            }
        }
        for _ in 0..<2 {
            let pipe = try Spawn.pipe()
            do {
                let pid = try Spawn.start(
                    command[0], Array(command.dropFirst()) + ["\(renders)"], redirects: [(STDOUT_FILENO, .descriptor(pipe.write))])
                running.append((pid, pipe.read))
                close(pipe.write)
            } catch {
                close(pipe.read)
                close(pipe.write)
                throw error
            }
        }
        var rates: [Double] = []
        for process in running {
            let text = String(decoding: readToEnd(process.output), as: UTF8.self)
            guard let rate = jobsPerSecond(in: text) else {
                throw EmbeddedRedisError("the espeak-ng ceiling (\(command.joined(separator: " "))) printed no jobs_per_s: \(text)")
            }
            rates.append(rate)
        }
        return Measure(rendersEach: renders, jobsPerSecondEach: rates)
    }

    private static func readToEnd(_ fd: Int32) -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return bytes }
            bytes += chunk[0..<n]
        }
    }

    /// The `jobs_per_s` number of a one-line JSON object.
    static func jobsPerSecond(in text: String) -> Double? {
        guard let key = text.range(of: "\"jobs_per_s\":") else { return nil }
        let rest = text[key.upperBound...].drop { $0 == " " }
        return Double(rest.prefix { $0.isNumber || $0 == "." || $0 == "e" || $0 == "-" || $0 == "+" })
    }
}
