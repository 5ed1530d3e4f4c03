import Testing

@testable import IntoneCore

@Suite struct JobValidationTests {
    let keys = try! QueueKeys(queue: "tts")
    let catalog = VoiceCatalog(
        voices: [
            Voice(identifier: "gmw/en", name: "English (Great Britain)", languages: ["en-gb", "en"]),
            Voice(identifier: "gmw/de", name: "German", languages: ["de"]),
        ],
        variants: ["f3", "klatt"])
    var validation: JobValidation { JobValidation(maxTextBytes: 100, keys: keys, catalog: catalog) }

    func job(_ fields: [(String, String)]) -> Job {
        Job(entryID: "1700000000000-0", fields: fields.map { Job.Field($0.0, $0.1) })
    }

    let base: [(String, String)] = [("agent_id", "a1"), ("user_id", "u1"), ("text", "Hello there.")]

    func code(_ fields: [(String, String)]) -> JobErrorCode? {
        if case .failure(let failure) = validation.validate(job(fields)) { return failure.code }
        return nil
    }

    @Test func validJobDefaultsItsIDToTheEntryID() throws {
        let valid = try validation.validate(job(base)).get()
        #expect(valid.jobID == "1700000000000-0")
        #expect(valid.agentID == "a1" && valid.userID == "u1" && valid.text == "Hello there.")
        #expect(valid.voice == nil && valid.rate == nil && valid.pitch == nil)
    }

    @Test func optionalFieldsAreRead() throws {
        let valid = try validation.validate(
            job(
                base + [
                    ("job_id", "j-9"), ("voice", "de"), ("rate", "200"), ("pitch", "10"), ("prompt", "hi"),
                    ("reply_to", "intone:{tts}:replies:abc"), ("expires_at", "1800000000000"), ("traceparent", "00-abc-def-01"),
                ])
        ).get()
        #expect(valid.jobID == "j-9" && valid.voice == "de" && valid.rate == 200 && valid.pitch == 10)
        #expect(valid.replyTo == "intone:{tts}:replies:abc" && valid.expiresAtMilliseconds == 1_800_000_000_000)
        #expect(valid.traceparent == "00-abc-def-01" && valid.prompt == "hi")
    }

    @Test func missingFields() {
        #expect(code([("user_id", "u"), ("text", "t")]) == .missingField)
        #expect(code([("agent_id", "a"), ("text", "t")]) == .missingField)
        #expect(code([("agent_id", "a"), ("user_id", "u")]) == .missingField)
        #expect(code([("agent_id", " "), ("user_id", "u"), ("text", "t")]) == .missingField)
    }

    @Test func emptyText() {
        #expect(code([("agent_id", "a"), ("user_id", "u"), ("text", "  \n\t ")]) == .emptyText)
        #expect(code([("agent_id", "a"), ("user_id", "u"), ("text", "\u{01}\u{02}")]) == .emptyText)
    }

    @Test func invalidUTF8() {
        let bad = Job(
            entryID: "1-0",
            fields: [
                Job.Field("agent_id", "a"), Job.Field("user_id", "u"), Job.Field(name: Array("text".utf8), value: [0x48, 0xC3, 0x28]),
            ])
        guard case .failure(let failure) = validation.validate(bad) else {
            Issue.record("accepted invalid UTF-8")
            return
        }
        #expect(failure.code == .invalidUTF8)
    }

    @Test func textTooLong() {
        #expect(code([("agent_id", "a"), ("user_id", "u"), ("text", String(repeating: "x", count: 101))]) == .textTooLong)
        #expect(code([("agent_id", "a"), ("user_id", "u"), ("text", String(repeating: "x", count: 100))]) == nil)
    }

    @Test func unknownVoice() {
        #expect(code(base + [("voice", "no-such-voice")]) == .unknownVoice)
        #expect(code(base + [("voice", "en+nosuch")]) == .unknownVoice)
        #expect(code(base + [("voice", "EN+f3")]) == nil)
        #expect(code(base + [("voice", "gmw/de")]) == nil)
    }

    @Test(arguments: [
        ("rate", "79"), ("rate", "451"), ("rate", "fast"), ("pitch", "-1"), ("pitch", "100"), ("pitch", "5.5"), ("expires_at", "soon"),
    ])
    func badParameter(_ field: String, _ value: String) {
        #expect(code(base + [(field, value)]) == .badParameter)
    }

    @Test func unsupportedVersion() {
        #expect(code(base + [("v", "2")]) == .unsupportedVersion)
        #expect(code(base + [("v", "1")]) == nil)
    }

    @Test(arguments: [
        "results", "intone:{other}:results", "intone:{tts}:jobs", "intone:{tts}:dead", "intone:{tts}:audio:x", "intone:{tts}:agent:a",
        "intone:{tts}:rl:user:u", "intone:{tts}:done:j",
    ])
    func badReplyTo(_ key: String) {
        #expect(code(base + [("reply_to", key)]) == .badReplyTo)
    }

    @Test func controlCharactersAreRemovedButTabsAndNewlinesStay() throws {
        let valid = try validation.validate(job([("agent_id", "a"), ("user_id", "u"), ("text", "\u{01}Hi\u{07}\tthere\nfriend\u{7F}")]))
            .get()
        #expect(valid.text == "Hi\tthere\nfriend")
    }

    @Test func overlongIDsAndPromptsAreRefused() {
        let long = String(repeating: "x", count: 257)
        #expect(code([("agent_id", long), ("user_id", "u"), ("text", "Hi.")]) == .badParameter)
        #expect(code([("agent_id", "a"), ("user_id", long), ("text", "Hi.")]) == .badParameter)
        #expect(code(base + [("job_id", long)]) == .badParameter)
        #expect(code(base + [("job_id", String(repeating: "x", count: 256))]) == nil)
        #expect(code(base + [("prompt", String(repeating: "p", count: 101))]) == .badParameter)
    }
}
