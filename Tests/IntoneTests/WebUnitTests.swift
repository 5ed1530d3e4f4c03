import Foundation
import IntoneCore
import Testing

@testable import IntoneWeb

/// The console's pure parts: settings and the token rule, audio wrapping, forms, CSRF.
@Suite struct WebUnitTests {
    /// The console logs in with the password file, as the worker does; a file it cannot
    /// read is refused at start, naming the setting.
    @Test func theConsoleReadsTheRedisPasswordFile() throws {
        let path = NSTemporaryDirectory() + "intone-web-password-\(UUID().uuidString)"
        try "s3cret-from-file\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let configuration = try WebConfiguration(
            flags: ["redis": "redis://:in-url@127.0.0.1:6379"], environment: ["INTONE_REDIS_PASSWORD_FILE": path])
        #expect(configuration.redisURL.currentPassword() == "s3cret-from-file")
        do {
            _ = try WebConfiguration(flags: ["redis-password-file": path + "-missing"], environment: [:])
            Issue.record("a password file that cannot be read was accepted")
        } catch {
            #expect(error.message.contains("--redis-password-file") && error.message.contains("INTONE_REDIS_PASSWORD_FILE"))
        }
    }

    @Test func theConsoleRefusesToListenOffLoopbackWithoutAToken() throws {
        #expect(throws: ConfigurationError.self) { try WebConfiguration(flags: ["listen": "0.0.0.0:8080"], environment: [:]) }
        #expect(throws: ConfigurationError.self) { try WebConfiguration(flags: [:], environment: ["INTONE_WEB_LISTEN": "10.1.2.3:80"]) }
        #expect(throws: ConfigurationError.self) { try WebConfiguration(flags: ["listen": "[::]:8080"], environment: [:]) }
        do {
            _ = try WebConfiguration(flags: ["listen": "0.0.0.0:8080"], environment: [:])
        } catch {
            #expect(error.message.contains("--token") && error.message.contains("INTONE_WEB_TOKEN"))
        }
        // A token that could be guessed is refused too.
        #expect(throws: ConfigurationError.self) {
            try WebConfiguration(flags: ["listen": "0.0.0.0:8080", "token": "short"], environment: [:])
        }
        let open = try WebConfiguration(flags: ["listen": "0.0.0.0:9000"], environment: ["INTONE_WEB_TOKEN": "a-long-enough-token-123"])
        #expect(open.host == "0.0.0.0" && open.port == 9000 && open.token == "a-long-enough-token-123")
        for loopback in ["127.0.0.1:8080", "localhost:1", "[::1]:8080", "127.9.9.9:0", ":8080"] {
            let configuration = try WebConfiguration(flags: ["listen": loopback], environment: [:])
            #expect(configuration.token == nil, "\(loopback) needs no token")
        }
        let defaults = try WebConfiguration(environment: [:])
        #expect(defaults.address == "http://127.0.0.1:8080" && defaults.keys.queue == "tts")
        #expect(throws: ConfigurationError.self) { try WebConfiguration(flags: ["listen": "127.0.0.1:70000"], environment: [:]) }
        #expect(throws: ConfigurationError.self) { try WebConfiguration(flags: ["listen": "nonsense"], environment: [:]) }
    }

    @Test func rawPCMIsWrappedInAWAVHeader() {
        let samples: [UInt8] = [1, 0, 2, 0, 3, 0, 4]  // an odd trailing byte is dropped
        let played = AudioPlayback.playable(samples, encoding: .pcm(sampleRate: 16000))
        #expect(played.contentType == "audio/wav")
        let wav = played.bytes
        #expect(Array(wav[0..<4]) == Array("RIFF".utf8) && Array(wav[8..<16]) == Array("WAVEfmt ".utf8))
        #expect(le32(wav, 4) == wav.count - 8)
        #expect(le32(wav, 16) == 16 && le16(wav, 20) == 1 && le16(wav, 22) == 1)
        #expect(le32(wav, 24) == 16000 && le32(wav, 28) == 32000 && le16(wav, 32) == 2 && le16(wav, 34) == 16)
        #expect(Array(wav[36..<40]) == Array("data".utf8) && le32(wav, 40) == 6)
        #expect(Array(wav[44...]) == [1, 0, 2, 0, 3, 0])
        #expect(AudioPlayback.encoding(format: "pcm_16000", contentType: nil) == .pcm(sampleRate: 16000))
        #expect(AudioPlayback.encoding(format: nil, contentType: "audio/pcm;rate=24000") == .pcm(sampleRate: 24000))
    }

    @Test func g711IsWrappedInAWAVHeaderOfItsOwnFormat() {
        let bytes: [UInt8] = [0xFF, 0x7F, 0x00, 0x80, 0xD5]
        for (encoding, tag) in [(AudioPlayback.Encoding.ulaw, 7), (.alaw, 6)] {
            let wav = AudioPlayback.playable(bytes, encoding: encoding).bytes
            #expect(le32(wav, 16) == 18, "fmt of a non-PCM format has cbSize")
            #expect(le16(wav, 20) == tag && le16(wav, 22) == 1 && le32(wav, 24) == 8000 && le32(wav, 28) == 8000)
            #expect(le16(wav, 32) == 1 && le16(wav, 34) == 8 && le16(wav, 36) == 0)
            #expect(Array(wav[38..<42]) == Array("fact".utf8) && le32(wav, 42) == 4 && le32(wav, 46) == bytes.count)
            #expect(Array(wav[50..<54]) == Array("data".utf8) && le32(wav, 54) == bytes.count)
            #expect(Array(wav[58...]) == bytes, "the G.711 bytes are unchanged")
            #expect(le32(wav, 4) == wav.count - 8)
        }
        #expect(AudioPlayback.encoding(format: "ulaw_8000", contentType: "audio/basic") == .ulaw)
        #expect(AudioPlayback.encoding(format: nil, contentType: "audio/basic") == .ulaw)
        #expect(AudioPlayback.encoding(format: "alaw_8000", contentType: nil) == .alaw)
        #expect(AudioPlayback.encoding(format: nil, contentType: "audio/x-alaw-basic") == .alaw)
    }

    @Test func aStreamedWAVGetsItsRealSizes() {
        var header = AudioPlayback.wavHeader(dataBytes: 0, formatTag: 1, sampleRate: 22050, bitsPerSample: 16)
        for offset in [4, 40] { header.replaceSubrange(offset..<offset + 4, with: [0xFF, 0xFF, 0xFF, 0xFF]) }
        let chunks = [
            StreamEntry(id: "0-1", fields: [.init("seq", "0"), Job.Field(name: Array("data".utf8), value: header + [1, 2, 3, 4])]),
            StreamEntry(id: "0-2", fields: [.init("seq", "1"), Job.Field(name: Array("data".utf8), value: [5, 6])]),
            StreamEntry(id: "0-3", fields: [.init("seq", "2"), .init("data", ""), .init("last", "1"), .init("status", "ok")]),
        ]
        let joined = AudioPlayback.concatenate(chunks)
        #expect(joined.complete)
        let wav = AudioPlayback.playable(joined.bytes, encoding: .wav).bytes
        #expect(le32(wav, 4) == wav.count - 8 && le32(wav, 40) == 6 && Array(wav[44...]) == [1, 2, 3, 4, 5, 6])
        #expect(!AudioPlayback.concatenate(Array(chunks.prefix(2))).complete)
        // Not a WAV: left as it is.
        var other: [UInt8] = [1, 2, 3]
        AudioPlayback.fixWAVSizes(&other)
        #expect(other == [1, 2, 3])
    }

    @Test func onlyAudioContentTypesAreServed() {
        #expect(AudioPlayback.encoding(format: nil, contentType: "text/html") == nil)
        #expect(AudioPlayback.encoding(format: nil, contentType: "image/svg+xml") == nil)
        #expect(AudioPlayback.encoding(format: "html", contentType: nil) == nil)
        #expect(AudioPlayback.encoding(format: nil, contentType: nil) == .wav, "version 1 results are WAV")
        #expect(AudioPlayback.encoding(format: "wav_8000", contentType: "audio/wav") == .wav)
        #expect(AudioPlayback.encoding(format: "opus_24000_32", contentType: nil) == .file(contentType: "audio/ogg;codecs=opus"))
        #expect(AudioPlayback.encoding(format: "mp3_22050_32", contentType: "audio/mpeg") == .file(contentType: "audio/mpeg"))
        #expect(AudioPlayback.encoding(format: nil, contentType: "Audio/FLAC") == .file(contentType: "audio/flac"))
    }

    @Test func formsAndQueriesDecodeToBytes() {
        let form = FormData(Array("csrf=abc&agent=bot%FF%3C&text=a+b%20c&empty=&bad=%G1".utf8))
        #expect(form.bytes("agent") == [0x62, 0x6F, 0x74, 0xFF, 0x3C])
        #expect(form.text("text") == "a b c" && form.text("empty") == nil && form.bytes("bad") == Array("%G1".utf8))
        #expect(FormData.encode([0x62, 0xFF, 0x20, 0x2F]) == "b%FF%20%2F")
        #expect(FormData(query: "agent=" + FormData.encode([0, 0xFE, 0x22])).bytes("agent") == [0, 0xFE, 0x22])
        #expect(FormData.query([("a", Array("x y".utf8)), ("b", nil), ("c", [])]) == "?a=x%20y")
    }

    @Test func idsGivenByPeopleMustBeExactEntryIDs() {
        for good in ["1-0", "1700000000000-12"] { #expect(StreamEntry.isExactID(good)) }
        for bad in ["", "1", "1-", "-1", "1-2-3", "+", "-", "(1-0", "1-0 ", "a-1", "99999999999999999999999-0"] {
            #expect(!StreamEntry.isExactID(bad), "\(bad)")
        }
    }

    @Test func csrfTokensAreRandomAndComparedWhole() {
        let one = AccessControl.randomToken()
        #expect(one.count == 64 && one != AccessControl.randomToken())
        #expect(AccessControl.constantTimeEquals(Array("abc".utf8), Array("abc".utf8)))
        #expect(!AccessControl.constantTimeEquals(Array("abc".utf8), Array("abd".utf8)))
        #expect(!AccessControl.constantTimeEquals(Array("abc".utf8), Array("abcd".utf8)))
        #expect(!AccessControl.constantTimeEquals([], Array("a".utf8)))
        #expect(AccessControl.csrfMatches(form: FormData(Array("csrf=\(one)".utf8)), cookie: one))
        #expect(!AccessControl.csrfMatches(form: FormData(Array("other=1".utf8)), cookie: one))
        #expect(!AccessControl.csrfMatches(form: FormData(Array("csrf=\(one)".utf8)), cookie: nil))
    }

    @Test func audioRangesLetAPlayerSeek() {
        #expect(ConsoleSite.parseRange("bytes=0-99", count: 1000) == .bytes(0, 99))
        #expect(ConsoleSite.parseRange("bytes=900-", count: 1000) == .bytes(900, 999))
        #expect(ConsoleSite.parseRange("bytes=-100", count: 1000) == .bytes(900, 999))
        #expect(ConsoleSite.parseRange("bytes=990-2000", count: 1000) == .bytes(990, 999))
        #expect(ConsoleSite.parseRange("bytes=1000-", count: 1000) == .unsatisfiable)
        for whole in ["bytes=0-10,20-30", "items=0-1", "bytes=a-b", "bytes=5-2", "bytes"] {
            #expect(ConsoleSite.parseRange(whole, count: 1000) == .whole, "\(whole)")
        }
    }

    @Test func signInRedirectsOnlyWithinTheConsole() {
        #expect(ConsoleSite.safeNext(Array("/results?agent=a".utf8)) == "/results?agent=a")
        for bad in ["//evil.example/", "https://evil.example/", "/\\evil", "javascript:alert(1)", "/a b", ""] {
            #expect(ConsoleSite.safeNext(Array(bad.utf8)) == "/", "\(bad)")
        }
    }

    @Test func everyTemplateParsesAndEscapes() throws {
        let renderer = try PageRenderer()
        let view = LayoutView(
            title: "<t>", known: true, nav: [], queue: "q", keyPrefix: "intone:{q}:", redis: "redis://h:1", csrf: "c\"srf",
            refreshSeconds: 0,
            live: false,
            signedIn: false, notice: "<b>n</b>", assetVersion: "1",
            page: ConsoleSite.ErrorView(heading: "<script>alert(1)</script>", message: "a & 'b' \"c\""))
        let html = renderer.render("error", view)
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !html.contains("<script>alert"))
        #expect(html.contains("a &amp; &#39;b&#39; &quot;c&quot;") && html.contains("&lt;b&gt;n&lt;/b&gt;") && html.contains("&lt;t&gt;"))
        for name in Templates.all.keys { #expect(renderer.library.getTemplate(named: name) != nil, "\(name)") }
    }

    @Test func chartScaleIsRoundAndBarsStack() {
        var minutes = (0..<60).map { QueueHistory.Minute(minute: 1000 + Int64($0)) }
        minutes[59] = .init(minute: 1059, statusCounts: ["ok": 90, "failed": 30], audioMilliseconds: 0)
        let chart = HistoryChart(minutes)
        #expect(!chart.empty && chart.bars.count == 2 && chart.legend.map(\.status) == ["ok", "failed"])
        #expect(chart.gridlines.map(\.label) == ["0", "0.5", "1", "1.5", "2"])
        #expect(HistoryChart.niceStep(0.0042) == 0.005 && HistoryChart.niceStep(3) == 5 && HistoryChart.niceStep(10) == 10)
        #expect(HistoryChart(Array(minutes.prefix(59))).empty)
    }

    private func le16(_ bytes: [UInt8], _ offset: Int) -> Int { Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 }
    private func le32(_ bytes: [UInt8], _ offset: Int) -> Int { le16(bytes, offset) | le16(bytes, offset + 2) << 16 }
}
