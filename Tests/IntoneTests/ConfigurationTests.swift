import Testing

@testable import IntoneCore

@Suite struct ConfigurationTests {
    @Test func contractDefaults() throws {
        let c = try WorkerConfiguration(environment: [:])
        #expect(c.redisURL == RedisURL(endpoint: .tcp(host: "127.0.0.1", port: 6379)))
        #expect(c.queue == "tts" && c.keys.jobs == "intone:{tts}:jobs")
        #expect(c.maxAttempts == 5 && c.claimIdleMilliseconds == 30000)
        #expect(c.agentRate == RateLimit(perSecond: 20, burst: 40) && c.userRate == RateLimit(perSecond: 2, burst: 5))
        #expect(c.maxTextBytes == 10000 && c.audioTTLSeconds == 3600 && c.defaultTTS == .on)
        #expect(c.synthesizers >= 1 && !c.consumer.isEmpty)
        #expect(c.format == .wav && c.opusEffort == .fast)
    }

    @Test func flagBeatsEnvironmentBeatsDefault() throws {
        let c = try WorkerConfiguration(
            flags: ["queue": "fromflag"],
            environment: [
                "INTONE_QUEUE": "fromenv", "INTONE_MAX_ATTEMPTS": "9", "INTONE_USER_RATE": "0.5/s burst 2", "INTONE_DEFAULT_TTS": "OFF",
            ])
        #expect(c.queue == "fromflag" && c.maxAttempts == 9)
        #expect(c.userRate == RateLimit(perSecond: 0.5, burst: 2) && c.defaultTTS == .off)
        #expect(try WorkerConfiguration(environment: ["INTONE_OPUS_EFFORT": "Balanced"]).opusEffort == .balanced)
    }

    @Test(arguments: [
        ("redis", "http://x"), ("queue", "bad name"), ("queue", "a{b}"), ("max-attempts", "0"), ("agent-rate", "20 per second"),
        ("user-rate", "0/s burst 1"), ("user-rate", "1/s burst 0"), ("default-tts", "maybe"), ("batch-size", "5000"),
        ("audio-ttl-s", "-1"), ("max-text-bytes", "ten"), ("opus-effort", "max"), ("opus-effort", "10"),
    ])
    func invalidSettingsNameTheFlag(_ key: String, _ value: String) {
        do {
            _ = try WorkerConfiguration(flags: [key: value], environment: [:])
            Issue.record("accepted --\(key) \(value)")
        } catch {
            #expect(error.message.contains("--\(key)") || key == "queue")
        }
    }

    @Test func rateLimitTextForms() throws {
        #expect(try RateLimit(parsing: "20/s burst 40") == RateLimit(perSecond: 20, burst: 40))
        #expect(try RateLimit(parsing: "  0.25/S   BURST 1 ") == RateLimit(perSecond: 0.25, burst: 1))
        #expect(RateLimit(perSecond: 2, burst: 5).maximumAdmitted(overSeconds: 3) == 11)
        #expect(RateLimit(perSecond: 2, burst: 5).description == "2/s burst 5")
    }
}
