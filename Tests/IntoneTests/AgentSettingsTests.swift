import Testing

@testable import IntoneCore

@Suite struct AgentSettingsTests {
    let catalog = VoiceCatalog(
        voices: [
            Voice(identifier: "gmw/en", name: "English", languages: ["en"]), Voice(identifier: "gmw/de", name: "German", languages: ["de"]),
        ], variants: [])

    @Test func missingHashMeansTheWorkersDefault() {
        #expect(AgentSettings.parse([:], defaultTTS: .on, catalog: catalog).settings == AgentSettings(tts: .on))
        #expect(AgentSettings.parse([:], defaultTTS: .off, catalog: catalog).settings.tts == .off)
    }

    @Test func everyField() throws {
        let (settings, problems) = AgentSettings.parse(
            [
                "tts": "keywords", "voice": "de", "rate": "220", "pitch": "30", "keywords": "Read Aloud, speak ,,",
                "rate_limit": "5/s burst 10",
            ],
            defaultTTS: .on, catalog: catalog)
        #expect(problems.isEmpty)
        #expect(
            settings
                == AgentSettings(
                    tts: .keywords, voice: "de", rate: 220, pitch: 30, keywords: ["read aloud", "speak"],
                    rateLimit: RateLimit(perSecond: 5, burst: 10)))
    }

    @Test func badValuesKeepDefaultsAndAreReported() {
        let (settings, problems) = AgentSettings.parse(
            ["tts": "loud", "voice": "no-such-voice", "rate": "9000", "pitch": "x", "rate_limit": "lots"], defaultTTS: .on, catalog: catalog
        )
        #expect(settings == AgentSettings(tts: .on))
        #expect(problems.count == 5)
    }

    @Test func keywordsMatchWholeWordsCaseInsensitively() {
        let settings = AgentSettings(tts: .keywords, keywords: ["read aloud", "cat", "größe"])
        #expect(settings.keywordOccurs(in: "Please READ ALOUD the summary."))
        #expect(settings.keywordOccurs(in: "cat"))
        #expect(settings.keywordOccurs(in: "Die GRÖSSE? nein: Größe!"))
        #expect(!settings.keywordOccurs(in: "concatenate the files"))
        #expect(!settings.keywordOccurs(in: "read it aloud"))
        #expect(!AgentSettings(tts: .keywords, keywords: []).keywordOccurs(in: "anything"))
    }

    @Test func planFollowsTheSettings() {
        let job = ValidJob(jobID: "j", agentID: "a", userID: "u", text: "The answer.", prompt: "please speak")
        let limit = RateLimit(perSecond: 20, burst: 40)
        #expect(
            JobPlan.make(for: job, settings: AgentSettings(tts: .off), agentLimit: limit, nowMilliseconds: 0)
                == .textOnly(.agentDisabled))
        #expect(
            JobPlan.make(for: job, settings: AgentSettings(tts: .keywords, keywords: ["nope"]), agentLimit: limit, nowMilliseconds: 0)
                == .textOnly(.noKeyword))
        let spoken = JobPlan.make(
            for: job, settings: AgentSettings(tts: .keywords, voice: "de", keywords: ["speak"]), agentLimit: limit, nowMilliseconds: 0)
        #expect(spoken == .speak(SpeechRequest(text: "The answer.", voice: "de", rate: 175, pitch: 50), agentLimit: limit))
    }

    @Test func jobOverridesWinAndAgentRateLimitOverridesTheWorkers() {
        var job = ValidJob(jobID: "j", agentID: "a", userID: "u", text: "Hi.")
        job.voice = "en"
        job.rate = 300
        job.pitch = 1
        let agent = AgentSettings(tts: .on, voice: "de", rate: 100, pitch: 90, rateLimit: RateLimit(perSecond: 1, burst: 1))
        #expect(
            JobPlan.make(for: job, settings: agent, agentLimit: RateLimit(perSecond: 20, burst: 40), nowMilliseconds: 0)
                == .speak(SpeechRequest(text: "Hi.", voice: "en", rate: 300, pitch: 1), agentLimit: RateLimit(perSecond: 1, burst: 1)))
    }

    @Test func keywordsWithoutPromptLookInTheText() {
        let job = ValidJob(jobID: "j", agentID: "a", userID: "u", text: "I will speak now.")
        let plan = JobPlan.make(
            for: job, settings: AgentSettings(tts: .keywords, keywords: ["speak"]), agentLimit: RateLimit(perSecond: 1, burst: 1),
            nowMilliseconds: 0)
        guard case .speak = plan else {
            Issue.record("expected speech, got \(plan)")
            return
        }
    }

    @Test func expiredBeforeAnythingElse() {
        var job = ValidJob(jobID: "j", agentID: "a", userID: "u", text: "Hi.")
        job.expiresAtMilliseconds = 1000
        #expect(
            JobPlan.make(for: job, settings: AgentSettings(tts: .off), agentLimit: RateLimit(perSecond: 1, burst: 1), nowMilliseconds: 1001)
                == .expired)
        #expect(
            JobPlan.make(for: job, settings: AgentSettings(tts: .off), agentLimit: RateLimit(perSecond: 1, burst: 1), nowMilliseconds: 1000)
                == .textOnly(.agentDisabled))
    }
}
