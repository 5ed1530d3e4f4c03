import Foundation
import Hummingbird
import IntoneCore
import IntoneTools
import Testing

@testable import IntoneWeb

/// The console against a real redis-server, through its router.
@Suite(.redisServer) struct WebConsoleTests {
    @Test func everyPageLoadsOnAnEmptyQueue() async throws {
        let keys = try uniqueQueue()
        try await withConsole(try makeConsole(keys)) { browser in
            for path in ["/", "/workers", "/results", "/dead", "/agents", "/agents/edit?agent=new-bot", "/dead/1-0"] {
                let page = try await browser.get(path)
                #expect(page.status == (path == "/dead/1-0" ? .notFound : .ok), "\(path)")
                #expect(page.text.contains("<main id=\"live-region\">"), "\(path)")
                #expect(page.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
                #expect(page.headers[.contentType] == "text/html; charset=utf-8")
            }
            #expect(try await browser.get("/nowhere").status == .notFound)
            let css = try await browser.get("/assets/console.css")
            #expect(css.status == .ok && css.headers[.contentType]?.hasPrefix("text/css") == true)
            #expect(try await browser.get("/assets/console.js", headers: [.ifNoneMatch: css.headers[.eTag] ?? ""]).status == .notModified)
        }
    }

    @Test func everyValueFromRedisIsEscaped() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let script = "<script>alert(1)</script>"
        let invalid: [UInt8] = [0x6A, 0xFF, 0xFE, 0x3C, 0x62, 0x3E]  // "j", invalid UTF-8, "<b>"
        try xadd(
            keys.results,
            [
                (Array("job_id".utf8), invalid), (Array("agent_id".utf8), Array("bot\"><img src=x onerror=alert(2)>".utf8)),
                (Array("user_id".utf8), Array(script.utf8)), (Array("status".utf8), Array("failed".utf8)),
                (Array("error".utf8), Array("bad_parameter".utf8)), (Array("message".utf8), Array("it's <b>bold</b> & \"quoted\"".utf8)),
            ], on: connection)
        try xadd(
            keys.dead,
            [
                ("job_id", script), ("agent_id", "a'b"), ("user_id", "u"), ("text", "Hello \(script)"), ("error", "bad_parameter"),
                ("message", "<iframe>"), ("entry_id", "1-0"), ("attempts", "1"), ("failed_at", "1700000000000"),
            ], on: connection)
        try connection.command(
            "HSET", .bytes(Array(keys.agent("").utf8) + Array("<svg onload=alert(3)>".utf8)), "voice", "</td><script>x</script>")
        try await withConsole(try makeConsole(keys)) { browser in
            let results = try await browser.get("/results").text
            #expect(!results.contains("<script>alert") && !results.contains("<img src=x") && !results.contains("<b>bold"))
            #expect(results.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
            #expect(results.contains("bot&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"))
            #expect(results.contains("j\u{FFFD}\u{FFFD}&lt;b&gt;"), "invalid UTF-8 is shown as U+FFFD, the rest escaped")
            #expect(results.contains("it&#39;s &lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;"))
            let dead = try await browser.get("/dead").text
            #expect(!dead.contains("<script>alert") && !dead.contains("<iframe>") && dead.contains("a&#39;b"))
            let id = try #require(dead.firstMatch(of: /data-id="([0-9]+-[0-9]+)"/)?.1)
            let letter = try await browser.get("/dead/\(id)").text
            #expect(letter.contains("Hello &lt;script&gt;alert(1)&lt;/script&gt;") && !letter.contains("<script>alert"))
            let agents = try await browser.get("/agents").text
            #expect(agents.contains("&lt;svg onload=alert(3)&gt;") && !agents.contains("<svg onload"))
            #expect(agents.contains("&lt;/td&gt;&lt;script&gt;x&lt;/script&gt;"))
        }
    }

    @Test func aPostWithoutTheCSRFTokenIsRefused() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let id = try xadd(
            keys.dead, [("job_id", "j1"), ("agent_id", "a"), ("user_id", "u"), ("text", "t"), ("error", "bad_parameter")], on: connection)
        try await withConsole(try makeConsole(keys)) { browser in
            let connection = try TestRedis.connect()
            // No cookie and no field.
            var page = try await browser.post("/dead/\(id)/delete", csrf: false)
            #expect(page.status == .forbidden && page.text.contains("CSRF"))
            // A cookie, but the form does not carry it.
            _ = try await browser.get("/dead")
            page = try await browser.post("/dead/\(id)/delete", [("csrf", "0" + String(repeating: "a", count: 63))], csrf: false)
            #expect(page.status == .forbidden)
            // The right token, from another site.
            page = try await browser.post("/dead/\(id)/delete", headers: [.origin: "http://evil.example"])
            #expect(page.status == .forbidden)
            page = try await browser.post("/dead/\(id)/delete", headers: [HTTPFields.Element.Name("Sec-Fetch-Site")!: "cross-site"])
            #expect(page.status == .forbidden)
            #expect(try DeadLetterActions(keys: keys).show(id, on: connection) != nil, "nothing was deleted")
            // A GET never changes anything.
            #expect(try await browser.get("/dead/\(id)/delete").status.code >= 400)
            page = try await browser.post("/dead/\(id)/delete", headers: [.origin: "http://localhost"])
            #expect(page.status == .seeOther && page.location == "/dead?done=deleted&n=1")
            #expect(try DeadLetterActions(keys: keys).show(id, on: connection) == nil)
            #expect(try await browser.get(page.location!).text.contains("Deleted 1 dead letter."))
        }
    }

    @Test func withATokenPagesNeedTheBearerHeaderOrASession() async throws {
        let keys = try uniqueQueue()
        let token = "s3cret-console-token-0123"
        try await withConsole(try makeConsole(keys, token: token)) { browser in
            var page = try await browser.get("/results?agent=a")
            #expect(page.status == .seeOther && page.location == "/login?next=%2Fresults%3Fagent%3Da")
            #expect(try await browser.post("/dead/1-0/delete").status == .unauthorized)
            #expect(try await browser.get("/healthz").status == .ok)
            let login = try await browser.get("/login").text
            #expect(login.contains("name=\"token\"") && !login.contains(keys.queue) && !login.contains("redis.sock"))
            #expect(try await browser.get("/", headers: [.authorization: "Bearer \(token)"]).status == .ok)
            #expect(try await browser.get("/", headers: [.authorization: "Bearer \(token)x"]).status == .seeOther)

            page = try await browser.post("/login", [("token", "wrong-token-wrong-token"), ("next", "/results")])
            #expect(page.status == .unauthorized && page.text.contains("not the console"))
            #expect(browser.cookies["intone_session"] == nil)
            page = try await browser.post("/login", [("token", token), ("next", "/results?agent=a")])
            #expect(page.status == .seeOther && page.location == "/results?agent=a")
            let cookie = try #require(page.headers[values: .setCookie].first { $0.hasPrefix("intone_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
            page = try await browser.get("/results")
            #expect(page.status == .ok && page.text.contains("sign out"))
            #expect(try await browser.post("/logout").status == .seeOther)
            #expect(try await browser.get("/").status == .seeOther)
        }
    }

    @Test func theRedisPasswordNeverAppearsInAPage() async throws {
        let password = "pw-Zebra-7781-secret"
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        try RedisConnection(url: server.url).command("CONFIG", "SET", "requirepass", .string(password))
        let keys = try uniqueQueue()
        var url = server.url
        url.password = password
        let admin = try RedisConnection(url: url)
        try xadd(keys.results, [("job_id", "j"), ("agent_id", "a"), ("user_id", "u"), ("status", "expired")], on: admin)
        try await withConsole(try makeConsole(keys, redisURL: url)) { browser in
            for path in ["/", "/workers", "/results", "/dead", "/agents"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok && !page.text.contains(password) && page.text.contains("password=***"), "\(path)")
            }
        }
        url.password = "wrong-" + password
        try await withConsole(try makeConsole(keys, redisURL: url)) { browser in
            let page = try await browser.get("/")
            #expect(page.status == .serviceUnavailable && !page.text.contains(password))
        }
    }

    @Test func resultsAreFilteredWithinABoundedScan() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        var commands = RedisCommands()
        for index in 0..<2500 {
            let status = index % 5 == 0 ? "failed" : "ok"
            commands.append(
                "XADD", .string(keys.results), "*", "job_id", .string("job-\(index)"), "agent_id", .string("agent-\(index % 3)"), "user_id",
                .string("user-\(index % 7)"), "status", .string(status))
        }
        _ = try connection.send(commands)
        // Unfiltered: only the page shown is read.
        var page = try ResultQuery(keys: keys).read(on: connection)
        #expect(page.entries.count == 50 && page.scanned == 50 && page.kept == 2500)
        #expect(page.entries.first?.text("job_id") == "job-2499")
        // Filtered: at most 1,000 entries are read, whatever matches.
        page = try ResultQuery(keys: keys, filter: .init(status: Array("failed".utf8))).read(on: connection)
        #expect(page.scanned == 1000 && page.matching == 200 && page.entries.count == 50)
        #expect(page.entries.allSatisfy { $0.text("status") == "failed" })
        page = try ResultQuery(keys: keys, filter: .init(job: Array("job-5".utf8))).read(on: connection)
        #expect(page.scanned == 1000 && page.matching == 0 && page.next != nil, "job-5 is older than the newest 1,000")
        var before = page.next
        var found = false
        while let cursor = before, !found {
            let older = try ResultQuery(keys: keys, filter: .init(job: Array("job-5".utf8)), before: cursor).read(on: connection)
            #expect(older.scanned <= 1000)
            found = older.entries.count == 1
            before = older.next
        }
        #expect(found, "paging down finds it")
        page = try ResultQuery(keys: keys, filter: .init(agent: Array("agent-1".utf8), user: Array("user-2".utf8))).read(on: connection)
        #expect(page.entries.allSatisfy { $0.text("agent_id") == "agent-1" && $0.text("user_id") == "user-2" } && page.matching > 0)

        try await withConsole(try makeConsole(keys)) { browser in
            let text = try await browser.get("/results?status=failed&agent=agent-2").text
            #expect(text.contains("Showing the newest 50 matching among the last 1,000 results"))
            #expect(text.contains("<option value=\"failed\" selected>") && text.contains("name=\"agent\" value=\"agent-2\""))
            let rows = text.matches(of: /data-status="([a-z_]+)"/).map { String($0.1) }
            #expect(rows.count == 50 && Set(rows) == ["failed"])
            #expect(text.contains("id=\"older\""))
            let plain = try await browser.get("/results").text
            #expect(plain.contains("Showing the newest 50 of 2,500 results kept."))
        }
    }

    @Test func deadLettersAreRetriedAndDeletedByExactIdAndByCode() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        func letter(_ job: String, _ code: String) throws -> String {
            try xadd(
                keys.dead,
                [
                    ("job_id", job), ("agent_id", "a"), ("user_id", "u"), ("text", "Hi."), ("error", code), ("message", "m"),
                    ("entry_id", "1-1"), ("attempts", "1"), ("failed_at", "1700000000000"),
                ], on: connection)
        }
        let voice1 = try letter("v1", "unknown_voice")
        _ = try letter("p1", "bad_parameter")
        _ = try letter("v2", "unknown_voice")
        _ = try letter("p2", "bad_parameter")
        let last = try letter("v3", "unknown_voice")
        try await withConsole(try makeConsole(keys)) { browser in
            let connection = try TestRedis.connect()
            // One, by its exact id: back on the jobs stream with its own fields, gone from the dead letters.
            var page = try await browser.post("/dead/\(voice1)/retry")
            #expect(page.status == .seeOther && page.location == "/dead?done=retried&n=1")
            let jobs = try streamEntries(keys.jobs, on: connection)
            #expect(jobs.count == 1 && jobs[0]["job_id"] == "v1" && jobs[0]["error"] == nil && jobs[0]["text"] == "Hi.")
            #expect(try DeadLetterActions(keys: keys).show(voice1, on: connection) == nil)
            // Retrying it again finds nothing: a letter is retried once.
            page = try await browser.post("/dead/\(voice1)/retry")
            #expect(page.location == "/dead?done=retried&n=0")
            #expect(try await browser.post("/dead/\(voice1.split(separator: "-")[0])/retry").status == .badRequest, "not an exact id")

            // By code: only the matching ones, from the newest shown down.
            let list = try await browser.get("/dead?code=unknown_voice").text
            #expect(list.contains("name=\"newest\" value=\"\(last)\""))
            page = try await browser.post("/dead/retry", [("code", "unknown_voice"), ("newest", last)])
            #expect(page.location == "/dead?done=retried&n=2&code=unknown_voice")
            #expect(try streamEntries(keys.jobs, on: connection).map { $0["job_id"] ?? "" } == ["v1", "v2", "v3"])
            let left = try streamEntries(keys.dead, on: connection)
            #expect(left.map { $0["job_id"] ?? "" } == ["p1", "p2"])
            page = try await browser.post("/dead/delete", [("code", ""), ("newest", left[1]["_id"]!)])
            #expect(page.location == "/dead?done=deleted&n=2")
            #expect(try connection.command("XLEN", .string(keys.dead)).integer == 0)
            #expect(try await browser.post("/dead/retry", [("code", ""), ("newest", "+")]).status == .badRequest)
        }
    }

    @Test func bulkActionsAreBoundedPerRequest() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        var commands = RedisCommands()
        for index in 0..<1500 {
            commands.append("XADD", .string(keys.dead), "*", "job_id", .string("j\(index)"), "error", "bad_parameter")
        }
        _ = try connection.send(commands)
        let newest = try #require(
            StreamEntry.list(try connection.command("XREVRANGE", .string(keys.dead), "+", "-", "COUNT", "1")).first?.id)
        let selection = try DeadLetterActions(keys: keys).matching(code: nil, newest: newest, on: connection)
        #expect(selection.ids.count == 1000 && selection.more)
        let page = try DeadLetterActions(keys: keys).list(code: Array("bad_parameter".utf8), before: nil, on: connection)
        #expect(page.scanned == 1000 && page.entries.count == 50 && page.total == 1500)
        try await withConsole(try makeConsole(keys)) { browser in
            let response = try await browser.post("/dead/delete", [("newest", newest)])
            #expect(response.location == "/dead?done=deleted&n=1000&more=1")
            #expect(try await browser.get(response.location!).text.contains("Older matching letters may remain"))
        }
        #expect(try connection.command("XLEN", .string(keys.dead)).integer == 500)
    }

    @Test func agentsAreListedWithABoundedScanAndEditedWithTheCLIsValidation() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let catalog = VoiceCatalog(
            voices: [Voice(identifier: "gmw/en-US", name: "English (America)", languages: ["en-us", "en"])], variants: [])
        let odd: [UInt8] = Array("bot-".utf8) + [0xFF, 0x20, 0x26]
        try connection.command("HSET", .bytes(Array(keys.agent("").utf8) + odd), "tts", "on")
        try connection.command("HSET", .string(keys.agent("support-bot")), "tts", "keywords", "keywords", "a,b", "rate", "180")
        // Keys of other queues and other kinds, which the scan walks past.
        var filler = RedisCommands()
        for index in 0..<3000 { filler.append("SET", .string("other:\(keys.queue):\(index)"), "x") }
        _ = try connection.send(filler)

        let page = try AgentDirectory(keys: keys).list(cursor: 0, on: connection)
        #expect(page.scanCalls <= AgentDirectory.maxScanCalls)
        try await withConsole(try makeConsole(keys, catalog: catalog)) { browser in
            let connection = try TestRedis.connect()
            var cursor = "0"
            var listed: [String] = []
            repeat {
                let text = try await browser.get("/agents?cursor=\(cursor)").text
                listed += text.matches(of: /href="\/agents\/edit\?agent=([^"]+)"/).map { String($0.1) }
                cursor = text.firstMatch(of: /href="\/agents\?cursor=([0-9]+)"/).map { String($0.1) } ?? "0"
            } while cursor != "0"
            #expect(Set(listed) == ["support-bot", "bot-%FF%20%26"])

            // The id that is not UTF-8 keeps its bytes through the link and the form.
            let link = "/agents/edit?agent=bot-%FF%20%26"
            var form = try await browser.get(link)
            #expect(form.text.contains("action=\"/agents/edit?agent=bot-%FF%20%26\""))
            var saved = try await browser.post(
                link,
                [("tts", "off"), ("voice", "en-us"), ("rate", " 200 "), ("pitch", ""), ("keywords", ""), ("rate_limit", "5/s burst 9")])
            #expect(saved.status == .seeOther && saved.location == link + "&saved=1")
            let stored = try connection.command("HGETALL", .bytes(Array(keys.agent("").utf8) + odd)).pairs ?? []
            #expect(
                Dictionary(uniqueKeysWithValues: stored.map { ($0.0, $0.1.string ?? "") }) == [
                    "tts": "off", "voice": "en-us", "rate": "200", "rate_limit": "5/s burst 9",
                ])

            // Bad values are refused with the CLI's message, and nothing is written.
            for (field, value, words) in [
                ("rate", "79", "80 to 450"), ("voice", "xx-nope", "an espeak-ng voice"), ("tts", "loud", "on, off or keywords"),
                ("rate_limit", "fast", "rate-limit"),
            ] {
                var fields = [("tts", "on"), ("voice", ""), ("rate", ""), ("pitch", ""), ("keywords", ""), ("rate_limit", "")]
                fields.removeAll { $0.0 == field }
                fields.append((field, value))
                saved = try await browser.post("/agents/edit?agent=support-bot", fields)
                #expect(saved.status == .unprocessableContent && saved.text.contains(words), "\(field)")
            }
            #expect(try connection.command("HGET", .string(keys.agent("support-bot")), "rate").string == "180")
            // Empty fields are removed: the defaults apply.
            saved = try await browser.post("/agents/edit?agent=support-bot", [("tts", "on"), ("keywords", "")])
            #expect(saved.status == .seeOther)
            #expect(try AgentAdmin(keys: keys).stored("support-bot", on: connection) == ["tts": "on"])
            form = try await browser.get("/agents/edit?agent=support-bot&saved=1")
            #expect(form.text.contains("id=\"saved\"") && form.text.contains("<option value=\"on\" selected>"))
            #expect(try await browser.get("/agents/edit").status == .badRequest)
        }
    }

    @Test func audioIsServedPlayableWithItsContentType() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        // A real WAV from a real worker.
        try JobProducer(keys: keys).add(
            [("job_id", "spoken"), ("agent_id", "a"), ("user_id", "u"), ("text", "Hello there.")], on: connection)
        let worker = try RunningWorker(queue: keys)
        let results = try await waitForEntries(keys.results, count: 1, on: connection)
        try await worker.stop()
        let spoken = try #require(results.first { $0["job_id"] == "spoken" })
        let wav = try #require(try connection.command("GET", .string(keys.audio(jobID: "spoken"))).bytes)

        func result(_ job: String, _ fields: [(String, String)]) throws -> String {
            try xadd(
                keys.results,
                [("job_id", job), ("agent_id", "a"), ("user_id", "u"), ("status", "ok"), ("audio_key", keys.audio(jobID: job))] + fields,
                on: connection)
        }
        let pcm: [UInt8] = (0..<800).map { UInt8($0 & 0xFF) }
        try connection.command("SET", .string(keys.audio(jobID: "pcm")), .bytes(pcm))
        let pcmID = try result("pcm", [("format", "pcm_16000"), ("content_type", "audio/pcm;rate=16000")])
        try connection.command("SET", .string(keys.audio(jobID: "mulaw")), .bytes(Array(repeating: 0xFF, count: 400)))
        let ulawID = try result("mulaw", [("format", "ulaw_8000"), ("content_type", "audio/basic")])
        // A streamed WAV: a header with unknown sizes, then chunks.
        var header = Array(wav[0..<44])
        for offset in [4, 40] { header.replaceSubrange(offset..<offset + 4, with: [0xFF, 0xFF, 0xFF, 0xFF]) }
        let body = Array(wav[44...])
        let split = body.count / 2 & ~1
        let streamKey = keys.audio(jobID: "streamed")
        try xadd(
            streamKey, [(Array("seq".utf8), Array("0".utf8)), (Array("data".utf8), header + body[..<split])], id: "0-1", on: connection)
        try xadd(streamKey, [(Array("seq".utf8), Array("1".utf8)), (Array("data".utf8), Array(body[split...]))], id: "0-2", on: connection)
        try xadd(streamKey, [("seq", "2"), ("data", ""), ("last", "1"), ("status", "ok")], id: "0-3", on: connection)
        let streamedID = try result("streamed", [("format", "wav"), ("content_type", "audio/wav"), ("streamed", "1"), ("chunks", "3")])
        // Opus chunks are files of their own: one player per chunk.
        let opusKey = keys.audio(jobID: "opus")
        try xadd(opusKey, [("seq", "0"), ("data", "OggS-one")], id: "0-1", on: connection)
        try xadd(opusKey, [("seq", "1"), ("data", "OggS-two"), ("last", "1"), ("status", "ok")], id: "0-2", on: connection)
        let opusID = try result(
            "opus", [("format", "opus_24000_32"), ("content_type", "audio/ogg;codecs=opus"), ("streamed", "1"), ("chunks", "2")])
        // A crafted result: HTML as "audio", and an audio_key outside the queue's audio keys.
        try connection.command("SET", .string(keys.prefix + "secret"), "do not serve")
        let evilID = try xadd(
            keys.results, [("job_id", "evil"), ("status", "ok"), ("content_type", "text/html"), ("audio_key", keys.prefix + "secret")],
            on: connection)
        let goneID = try result("gone", [])
        let textOnlyID = try xadd(keys.results, [("job_id", "quiet"), ("status", "text_only")], on: connection)

        try await withConsole(try makeConsole(keys)) { browser in
            let connection = try TestRedis.connect()
            var page = try await browser.get("/audio/\(spoken["_id"]!)")
            #expect(page.status == .ok && page.headers[.contentType] == "audio/wav" && page.body == wav)
            #expect(page.headers[.contentSecurityPolicy] == "sandbox" && page.headers[.acceptRanges] == "bytes")
            page = try await browser.get("/audio/\(spoken["_id"]!)", headers: [.range: "bytes=0-11"])
            #expect(
                page.status == .partialContent && page.body == Array(wav[0..<12])
                    && page.headers[.contentRange] == "bytes 0-11/\(wav.count)")

            page = try await browser.get("/audio/\(pcmID)")
            #expect(page.headers[.contentType] == "audio/wav" && page.body.count == 44 + 800 && Array(page.body[44...]) == pcm)
            page = try await browser.get("/audio/\(pcmID)?download=1")
            #expect(page.body == pcm && page.headers[.contentDisposition] == "attachment; filename=\"pcm.pcm\"")
            page = try await browser.get("/audio/\(ulawID)")
            #expect(page.headers[.contentType] == "audio/wav" && page.body[20] == 7 && page.body.count == 58 + 400)

            page = try await browser.get("/audio/\(streamedID)")
            #expect(page.status == .ok && page.body.count == wav.count && Array(page.body[44...]) == body)
            #expect(Array(page.body[4..<8]) == Array(wav[4..<8]) && Array(page.body[40..<44]) == Array(wav[40..<44]), "sizes fixed")

            page = try await browser.get("/audio/\(opusID)?chunk=1")
            #expect(page.headers[.contentType] == "audio/ogg;codecs=opus" && page.text == "OggS-two")
            let list = try await browser.get("/results").text
            #expect(list.contains("src=\"/audio/\(opusID)?chunk=0\"") && list.contains("src=\"/audio/\(opusID)?chunk=1\""))
            #expect(list.contains("src=\"/audio/\(pcmID)\""))

            page = try await browser.get("/audio/\(evilID)")
            #expect(page.status == .gone, "the audio_key outside the queue's audio keys is not read")
            try connection.command("SET", .string(keys.audio(jobID: "evil")), "<script>alert(1)</script>")
            #expect(try await browser.get("/audio/\(evilID)").status == .unsupportedMediaType)
            page = try await browser.get("/audio/\(evilID)?download=1")
            #expect(page.headers[.contentType] == "application/octet-stream")
            #expect(try await browser.get("/audio/\(goneID)").status == .gone)
            #expect(try await browser.get("/audio/\(textOnlyID)").status == .notFound)
            #expect(try await browser.get("/audio/1-0").status == .notFound)
            #expect(try await browser.get("/audio/nonsense").status == .notFound)
        }
    }

    @Test func overviewAndWorkersShowHistoryAndHeartbeats() async throws {
        let keys = try uniqueQueue()
        let connection = try TestRedis.connect()
        let now = Display.milliseconds(fromTime: try connection.command("TIME"))
        let minute = QueueHistory.minute(ofUnixMilliseconds: now)
        var commands = RedisCommands()
        // What workers write with each write-back, over a few minutes.
        QueueHistory.appendRecord(
            statusCounts: ["ok": 120, "failed": 6], audioMilliseconds: 90_000, minute: minute - 2, keys: keys, to: &commands)
        QueueHistory.appendRecord(
            statusCounts: ["ok": 30, "text_only": 12], audioMilliseconds: 30_000, minute: minute - 1, keys: keys, to: &commands)
        QueueHistory.appendRecord(statusCounts: ["ok": 6], audioMilliseconds: 4_000, minute: minute, keys: keys, to: &commands)
        commands.append("HSET", .string(keys.stats), "ok", "500", "failed", "7", "audio_ms", "3600000")
        _ = try connection.send(commands)
        // A heartbeat lives ten seconds: it is published again right before each read.
        @Sendable func publish(on connection: RedisConnection) throws {
            let now = Display.milliseconds(fromTime: try connection.command("TIME"))
            var heartbeat = RedisCommands()
            WorkerHeartbeat.appendPublish(
                WorkerHeartbeat(
                    consumer: "vm-1-4242", host: "vm-1", pid: 4242, version: "1.1.0", startedAtMilliseconds: now - 600_000,
                    updatedAtMilliseconds: now, jobsDone: 1234, jobsInHand: 3, currentJobID: Array("reply-<42>".utf8),
                    currentJobStartedAtMilliseconds: now - 1500), keys: keys, to: &heartbeat)
            // As a worker that keeps publishing would: the page is read within a minute even
            // on a machine busy with the rest of the suite.
            heartbeat.append("PEXPIRE", .string(keys.worker("vm-1-4242")), 60000)
            _ = try connection.send(heartbeat)
        }
        try publish(on: connection)
        try JobProducer(keys: keys).add([("agent_id", "a"), ("user_id", "u"), ("text", "waiting")], on: connection)
        try xadd(keys.dead, [("job_id", "d"), ("error", "bad_parameter")], on: connection)

        let overview = try QueueOverview.read(keys: keys, on: connection)
        #expect(overview.history.count == 60 && overview.history.last?.minute == minute)
        #expect(overview.history.suffix(3).map(\.results) == [126, 42, 6] && overview.lag == 1 && overview.deadLetters == 1)
        #expect(overview.liveWorkers == 1 && overview.totals["ok"] == 500)

        try await withConsole(try makeConsole(keys)) { browser in
            let connection = try TestRedis.connect()
            try publish(on: connection)
            let text = try await browser.get("/").text
            #expect(text.contains("id=\"lag\">1<") && text.contains("id=\"dead-letters\">1<") && text.contains("id=\"live-workers\">1<"))
            #expect(text.contains("id=\"audio-hour\">2.1 min<"))
            #expect(text.matches(of: /<rect class="s-/).count == 5, "one segment per status and minute")
            #expect(text.contains("data-refresh=\"5\""))
            try publish(on: connection)
            var workers = try await browser.get("/workers").text
            #expect(workers.contains("data-consumer=\"vm-1-4242\"") && workers.contains("reply-&lt;42&gt;") && workers.contains("1,234"))
            // A worker that stops removes itself at once.
            var remove = RedisCommands()
            WorkerHeartbeat.appendRemove(consumer: "vm-1-4242", keys: keys, to: &remove)
            _ = try connection.send(remove)
            workers = try await browser.get("/workers").text
            #expect(!workers.contains("vm-1-4242") && workers.contains("id=\"no-workers\""))
        }
    }

    @Test func theConsoleNeverReadsThroughTheGroup() async throws {
        // A server of its own: command statistics are per server, and other tests run workers.
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        let keys = try uniqueQueue()
        let connection = try RedisConnection(url: server.url)
        try JobProducer(keys: keys).add([("agent_id", "a"), ("user_id", "u"), ("text", "waiting")], on: connection)
        try connection.command("CONFIG", "RESETSTAT")
        try await withConsole(try makeConsole(keys, redisURL: server.url)) { browser in
            for path in ["/", "/workers", "/results?status=ok", "/dead?code=bad_parameter", "/agents"] {
                let page = try await browser.get(path)
                #expect(page.status == .ok, "\(path)")
            }
        }
        let stats = try connection.command("INFO", "commandstats").string ?? ""
        #expect(!stats.contains("cmdstat_xreadgroup") && !stats.contains("cmdstat_xgroup") && !stats.contains("cmdstat_xack"))
        #expect(!stats.contains("cmdstat_keys:"), "no unbounded KEYS")
        #expect(try connection.command("XINFO", "GROUPS", .string(keys.jobs)).array?.isEmpty == true, "no group was created")
    }

    @Test func theRedisThreadsReconnectAfterARestart() async throws {
        let server = try EmbeddedRedisServer()
        defer { server.stop() }
        let pool = RedisThreadPool(url: server.url, threadCount: 1)
        defer { pool.shutdown() }
        #expect(try await pool.run { connection throws(RedisError) in try connection.command("PING").string } == "PONG")
        try server.restart()
        #expect(try await pool.run { connection throws(RedisError) in try connection.command("PING").string } == "PONG")
        server.kill()
        await #expect(throws: RedisError.self) { try await pool.run { connection throws(RedisError) in try connection.command("PING") } }
        try server.restart()
        #expect(try await pool.run(idempotent: false) { connection throws(RedisError) in try connection.command("PING").string } == "PONG")
    }
}
