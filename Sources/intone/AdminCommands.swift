import ArgumentParser
import IntoneCore
import IntoneTools
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// The admin commands' settings: the worker's flags and variables (`--redis`, `--queue`…).
func queueConfiguration(_ options: QueueOptions) throws -> WorkerConfiguration {
    do {
        return try WorkerConfiguration(flags: options.flags, environment: Environment.all)
    } catch {
        throw fail(error.message)
    }
}

/// The queue as the admin commands reach it, with the worker's flags and variables: a
/// single Redis or a cluster, and the queue's shard count (`QueueAccess`). With `record`,
/// a shard count given is written to a queue that has none yet (a producer's commands).
func openQueue(_ options: QueueOptions, record: Bool = false) throws -> (QueueAccess, WorkerConfiguration) {
    let configuration = try queueConfiguration(options)
    do {
        return (
            try QueueAccess.open(
                url: configuration.redisURL, queue: configuration.keys, shards: options.givenShards(configuration), record: record),
            configuration
        )
    } catch {
        throw redisFailure(error)
    }
}

/// Where a queue's dead letters are, for a message: the one stream, or all of them.
func deadLetterStreams(_ access: QueueAccess) -> String {
    access.shards.count == 1 ? shown(access.queue.dead) : "the dead-letter streams of \(shown(access.queue.queue))'s shards"
}

/// A dead letter's id as the commands print it: with its stream on a sharded queue.
func letterName(_ found: ShardedDeadLetters.Found, _ access: QueueAccess) -> String {
    access.shards.count == 1 ? found.letter.id : ShardedEntryID(id: found.letter.id, stream: access.label(of: found.keys)).description
}

func loadVoices() throws -> VoiceCatalog {
    do {
        return try SynthesizerPool.loadCatalog(executable: SynthesizerPool.currentExecutable())
    } catch {
        throw fail("cannot list espeak-ng voices: \(error.message)")
    }
}

/// One line for the operator, never a raw error reply.
func redisFailure(_ error: RedisError, key: String? = nil) -> ExitCode { fail(error.operatorMessage(key: key)) }

/// Text from Redis or from the command line, safe on a terminal (`DisplayText`).
func shown(_ text: String) -> String { DisplayText.escaped(text) }

func shown(_ bytes: [UInt8]) -> String { DisplayText.escaped(bytes) }

func iso8601(milliseconds: String?) -> String {
    guard let text = milliseconds, let ms = Int64(text) else { return "-" }
    var seconds = time_t(ms / 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

/// Writes text to standard output at once: a frame of `status --watch` read through a
/// pipe must not wait in a buffer.
func printNow(_ text: String) {
    print(text)
    fflush(nil)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a queue: backlog, pending, consumers, dead letters, throughput.",
        discussion: "A queue with no key at all is reported as not existing (exit 1). With --watch, a Redis that goes away is waited for.")

    @OptionGroup var queueOptions: QueueOptions
    @Flag(help: "Refresh every two seconds until interrupted.") var watch = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let configuration = try queueConfiguration(queueOptions)
        let keys = configuration.keys
        let onTerminal = isatty(STDOUT_FILENO) == 1
        var access: QueueAccess?
        var checked = false
        var backoffMilliseconds = 250
        repeat {
            do {
                let open: QueueAccess
                if let existing = access {
                    open = existing
                } else {
                    open = try QueueAccess.open(url: configuration.redisURL, queue: keys, shards: queueOptions.givenShards(configuration))
                    access = open
                }
                if !checked {
                    if case .unused = try queuePresence(keys, on: try open.queueConnection()) {
                        throw fail(
                            "queue '\(shown(keys.queue))' does not exist: no key starts with \(shown(keys.prefix)) (check --queue or INTONE_QUEUE)"
                        )
                    }
                    checked = true
                }
                let status = try QueueStatus.read(open)
                backoffMilliseconds = 250
                show(json ? try status.json() : status.table(), onTerminal: onTerminal)
            } catch let error as RedisError {
                guard watch, error.isTransient else { throw redisFailure(error) }
                // Connected again next time (in a cluster, with a fresh map).
                access = nil
                let reason = error.operatorMessage()
                if json {
                    show(QueueStatus.unreachableJSON(queue: keys.queue, detail: reason), onTerminal: onTerminal)
                } else {
                    show(
                        "queue \(shown(keys.queue))\n\nredis unreachable, retrying in \(backoffMilliseconds) ms\n(\(reason))",
                        onTerminal: onTerminal)
                }
                usleep(useconds_t(backoffMilliseconds * 1000))
                backoffMilliseconds = min(backoffMilliseconds * 2, 5000)
                continue
            }
            if watch { sleep(2) }
        } while watch
    }

    /// Whether the queue has keys; a Redis user that may not SCAN (ACL) is not asked.
    func queuePresence(_ keys: QueueKeys, on connection: RedisConnection) throws(RedisError) -> QueueProbe.Presence {
        do {
            return try QueueProbe(keys: keys).presence(on: connection)
        } catch  where error.code == .noPermission {
            return .unknown(scanned: 0)
        }
    }

    /// One frame: on a terminal the screen is cleared first; through a pipe, frames follow
    /// one another (JSON: one object a line), each flushed at once.
    func show(_ frame: String, onTerminal: Bool) {
        if !watch || json {
            printNow(frame)
        } else if onTerminal {
            printNow("\u{1B}[H\u{1B}[2J" + frame)
        } else {
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            printNow(iso8601(milliseconds: String(Int(now.tv_sec) * 1000)) + "\n" + frame + "\n")
        }
    }
}

struct Dead: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, retry or purge dead letters.", subcommands: [List.self, Show.self, Retry.self, Purge.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @OptionGroup var queueOptions: QueueOptions
        @Option(help: "How many to list.") var count = 50
        @Option(name: .customLong("error"), help: "Only letters with this error code (e.g. bad_parameter).") var errorCode: String?

        func run() throws {
            let (access, _) = try openQueue(queueOptions)
            let listing: ShardedDeadLetters.Listing
            let total: Int
            do {
                let dead = ShardedDeadLetters(access: access)
                listing = try dead.list(count: count, error: errorCode)
                total = try dead.count()
            } catch { throw redisFailure(error, key: access.queue.dead) }
            print(
                Table.render(
                    header: ["id", "job_id", "agent_id", "error", "failed_at"],
                    rows: listing.letters.map { found in
                        let letter = found.letter
                        return [
                            shown(letterName(found, access)), shown(letter.bytes("job_id") ?? letter.bytes("entry_id") ?? []),
                            shown(letter.bytes("agent_id") ?? []), shown(letter.bytes("error") ?? []),
                            iso8601(milliseconds: letter.value("failed_at")),
                        ]
                    }))
            if let errorCode {
                print(
                    "\(listing.letters.count) dead letters with error \(shown(errorCode)) among the \(listing.scanned) oldest of \(total)"
                        + (listing.complete ? "" : " (stopped there; more may match)"))
            } else {
                print("\(listing.letters.count) of \(total) dead letters")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every field of one dead letter, by its id or its job's id.")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(
            help: "The dead letter's entry id (from `intone dead list`, with @SHARD on a sharded queue), or a job_id (its newest letter).")
        var id: String

        func run() throws {
            let (access, _) = try openQueue(queueOptions)
            let dead = ShardedDeadLetters(access: access)
            var letter: ShardedDeadLetters.Found?
            var note = ""
            do {
                let byID = try ShardedEntryID(parsing: id).map { try dead.show($0) } ?? []
                letter = byID.first
                if byID.count > 1 {
                    note = " (letters with this id are in \(byID.count) streams; name one as \(shown(id))@SHARD)"
                }
                if letter == nil {
                    let found = try dead.find(jobID: Array(id.utf8))
                    letter = found.letters.first
                    if found.letters.count > 1 { note = " (the newest of \(found.letters.count) letters of this job)" }
                    if letter == nil {
                        throw fail(
                            "no dead letter with the id or job_id '\(shown(id))' in \(deadLetterStreams(access))"
                                + (found.complete ? "" : " (searched the newest \(found.scanned))"))
                    }
                }
            } catch let error as RedisError { throw redisFailure(error, key: access.queue.dead) }
            guard let letter else { return }
            let stream = access.shards.count == 1 ? "" : " in \(shown(letter.keys.dead))"
            print("dead letter \(shown(letterName(letter, access)))\(note)\(stream)")
            print(Table.render(header: ["field", "value"], rows: letter.letter.fields.map { [shown($0.name), shown($0.value)] }))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back on the jobs stream; each is answered again.",
            discussion: """
                Each letter is retried once: it is deleted and its job added back (with its done marker and audio key \
                deleted) in one step, only if it is still there; running the same retry again changes nothing.
                """)
        @OptionGroup var queueOptions: QueueOptions
        @Flag(help: "Retry every dead letter there is now.") var all = false
        @Argument(help: "Dead letter entry ids, <ms>-<seq> (from `intone dead list`; <ms>-<seq>@SHARD on a sharded queue).")
        var ids: [String] = []

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("give dead letter ids or --all, not both") }
        }

        func run() throws {
            if let bad = ids.first(where: { ShardedEntryID(parsing: $0) == nil }) { throw fail(EntryID.refusal(bad, of: "dead letter")) }
            let (access, _) = try openQueue(queueOptions)
            let dead = ShardedDeadLetters(access: access)
            if all {
                let retried: [(keys: QueueKeys, ids: [String])]
                do { retried = try dead.retryAll() } catch { throw redisFailure(error, key: access.queue.dead) }
                for (keys, ids) in retried where access.shards.count == 1 || !ids.isEmpty {
                    print("retried \(ids.count) dead letters onto \(shown(keys.jobs))")
                }
                if access.shards.count > 1 { print("retried \(retried.reduce(0) { $0 + $1.ids.count }) dead letters in all") }
                return
            }
            let outcomes: [(name: String, outcome: ShardedDeadLetters.RetryOutcome)]
            do { outcomes = try dead.retry(ids) } catch { throw redisFailure(error, key: access.queue.dead) }
            var refused: [String] = []
            var seen: Set<String> = []
            for (id, outcome) in outcomes where seen.insert(id).inserted {
                switch outcome {
                case .retried(let keys, let entryID):
                    print("retried \(shown(id)) onto \(shown(keys.jobs)) as \(shown(entryID))")
                case .alreadyRetried:
                    refused.append("\(shown(id)): already retried")
                case .notFound:
                    refused.append("\(shown(id)): already retried (or purged): it is not in \(deadLetterStreams(access))")
                case .notExactID:
                    refused.append(EntryID.refusal(id, of: "dead letter"))
                case .ambiguous(let labels):
                    refused.append(
                        "\(shown(id)) is a dead letter of \(labels.count) streams; name one: "
                            + labels.map { "\(shown(id))@\($0)" }.joined(separator: " "))
                }
            }
            for line in refused.dropLast() { LocalFiles.printError("intone: \(line)") }
            if let last = refused.last { throw fail(last) }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete dead letters: the ones named, or every one of the queue (asks first).")
        @OptionGroup var queueOptions: QueueOptions
        @Flag(help: "Do not ask for confirmation.") var yes = false
        @Argument(help: "Dead letter entry ids to delete; none: all of them.") var ids: [String] = []

        func run() throws {
            if let bad = ids.first(where: { ShardedEntryID(parsing: $0) == nil }) { throw fail(EntryID.refusal(bad, of: "dead letter")) }
            let (access, _) = try openQueue(queueOptions)
            let dead = ShardedDeadLetters(access: access)
            if !ids.isEmpty {
                let outcomes: [(name: String, outcome: ShardedDeadLetters.DeleteOutcome)]
                do { outcomes = try dead.delete(ids) } catch { throw redisFailure(error, key: access.queue.dead) }
                var missing: [String] = []
                var ambiguous: [String] = []
                var seen: Set<String> = []
                for (id, outcome) in outcomes where seen.insert(id).inserted {
                    switch outcome {
                    case .deleted(let keys):
                        print("deleted dead letter \(shown(id))" + (access.shards.count == 1 ? "" : " from \(shown(keys.dead))"))
                    case .ambiguous(let labels):
                        ambiguous.append("\(shown(id)) (\(labels.map { "\(shown(id))@\($0)" }.joined(separator: " ")))")
                    case .notFound, .notExactID:
                        missing.append(shown(id))
                    }
                }
                if !ambiguous.isEmpty {
                    throw fail("in more than one stream, name one: \(ambiguous.joined(separator: " "))")
                }
                if !missing.isEmpty { throw fail("not in \(deadLetterStreams(access)): \(missing.joined(separator: " "))") }
                return
            }
            if !yes {
                let count: Int
                do { count = try dead.count() } catch { throw redisFailure(error, key: access.queue.dead) }
                print("Delete all \(count) dead letters in \(deadLetterStreams(access))? Type yes to confirm: ", terminator: "")
                fflush(nil)
                guard readLine()?.lowercased() == "yes" else { throw fail("not purged (confirm with yes, or pass --yes)") }
            }
            let purged: Int
            do { purged = try dead.purge() } catch { throw redisFailure(error, key: access.queue.dead) }
            print("purged \(purged) dead letters")
        }
    }
}

struct Agent: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or change an agent's voice settings.", subcommands: [Show.self, Set.self, Unset.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "An agent's settings: as stored, and what the worker will use (a bad value falls back to its default).")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The agent id.") var agent: String

        func run() throws {
            let (access, configuration) = try openQueue(queueOptions)
            let keys = access.queue
            let stored: [String: String]
            do { stored = try AgentAdmin(keys: keys).stored(agent, on: try access.queueConnection()) } catch {
                throw redisFailure(error, key: keys.agent(agent))
            }
            // The worker checks voices against espeak-ng's list; without it a voice is shown as stored.
            var catalog: VoiceCatalog?
            do { catalog = try SynthesizerPool.loadCatalog(executable: SynthesizerPool.currentExecutable()) } catch {
                LocalFiles.printError("warning: cannot list espeak-ng voices (\(shown(error.message))); voices are not checked")
            }
            let effective = AgentAdmin.effective(
                stored, defaultTTS: configuration.defaultTTS, defaultFormat: configuration.format, catalog: catalog)
            let settings = effective.settings
            func inEffect(_ name: String) -> String {
                switch name {
                case "tts": settings.tts.rawValue
                case "voice": settings.voice
                case "rate": "\(settings.rate)"
                case "pitch": "\(settings.pitch)"
                case "keywords": settings.keywords.joined(separator: ",")
                case "rate_limit": (settings.rateLimit ?? configuration.agentRate).description
                case "stream": settings.stream ? "on" : "off"
                case AgentAdmin.formatField: effective.format.name
                default: "?"
                }
            }
            print("agent \(shown(agent)) (\(shown(keys.agent(agent))))")
            print(
                Table.render(
                    header: ["field", "stored", "in effect"],
                    rows: AgentAdmin.fieldNames.map { [$0, shown(stored[$0] ?? ""), shown(inEffect($0))] }))
            for problem in effective.problems { print("warning: \(problem); the worker uses the default") }
            for name in effective.unknownFields {
                print("warning: unknown field '\(shown(name))' = '\(shown(stored[name] ?? ""))' is ignored by the worker")
            }
        }
    }

    struct Set: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Change settings; each value is checked first.")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The agent id.") var agent: String
        @Option(help: "on, off or keywords.") var tts: String?
        @Option(help: "An espeak-ng voice (see `intone voices`).") var voice: String?
        @Option(help: "Words per minute, 80 to 450.") var rate: String?
        @Option(help: "0 to 99.") var pitch: String?
        @Option(help: "Comma-separated keywords for tts=keywords.") var keywords: String?
        @Option(help: "The agent's bucket, \"N/s burst B\".") var rateLimit: String?
        @Option(help: "Audio format of the agent's replies (wav, ulaw_8000, opus, mp3_22050_32…).") var format: String?
        @Option(help: "Stream the agent's replies as chunks: on or off.") var stream: String?

        func run() throws {
            var values: [String: String] = [:]
            values["tts"] = tts
            values["voice"] = voice
            values["rate"] = rate
            values["pitch"] = pitch
            values["keywords"] = keywords
            values["rate_limit"] = rateLimit
            values[AgentAdmin.formatField] = format
            values["stream"] = stream
            guard !values.isEmpty else {
                throw fail("nothing to set: give --tts, --voice, --rate, --pitch, --keywords, --rate-limit, --format or --stream")
            }
            let catalog = voice == nil ? nil : try loadVoices()
            let clean: [String: String]
            do { clean = try AgentAdmin.validate(named: values, catalog: catalog) } catch { throw fail(error.message) }
            let (access, _) = try openQueue(queueOptions)
            let keys = access.queue
            do { try AgentAdmin(keys: keys).set(agent, named: clean, on: try access.queueConnection()) } catch {
                throw redisFailure(error, key: keys.agent(agent))
            }
            print(
                "set " + clean.sorted { $0.key < $1.key }.map { "\($0.key)=\(shown($0.value))" }.joined(separator: " ")
                    + " on \(shown(keys.agent(agent)))")
        }
    }

    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove settings (all of them when no field is named).")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The agent id.") var agent: String
        @Argument(help: "Fields: tts, voice, rate, pitch, keywords, rate_limit, stream, format.") var fields: [String] = []

        func run() throws {
            for name in fields where !AgentAdmin.fieldNames.contains(name) {
                throw fail("unknown field '\(shown(name))' (\(AgentAdmin.fieldNames.joined(separator: ", ")))")
            }
            let (access, _) = try openQueue(queueOptions)
            let keys = access.queue
            do { try AgentAdmin(keys: keys).unset(agent, named: fields, on: try access.queueConnection()) } catch {
                throw redisFailure(error, key: keys.agent(agent))
            }
            print(
                fields.isEmpty ? "removed all settings of \(shown(agent))" : "removed \(fields.joined(separator: ", ")) of \(shown(agent))")
        }
    }
}

struct Audio: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a job's audio to a file, or say why there is none.",
        discussion: """
            The file is named after the job id (letters, digits, '.', '_' and '-' only) with the extension of the audio's \
            format (wav, ulaw, opus, mp3…); a streamed reply's chunks are put together. An existing file is not replaced \
            without --force.
            """)
    @OptionGroup var queueOptions: QueueOptions
    @Argument(help: "The job id.") var jobId: String
    @Option(name: .shortAndLong, help: "Output file (default: JOB_ID.<format>; - for standard output).") var output: String?
    @Flag(help: "Replace the output file if it exists.") var force = false

    func run() throws {
        let (access, configuration) = try openQueue(queueOptions)
        let keys = access.shards.keys(forJobID: ByteString(jobId))
        var outcome = AudioExport.Outcome.unknown
        // The job's shard first; a job enqueued without a job_id, or by a producer that
        // knows nothing of shards, may be on another stream.
        for streamKeys in access.streams(forJobID: ByteString(jobId)) {
            do { outcome = try AudioExport(keys: streamKeys).fetch(jobID: jobId, on: try access.connection(for: streamKeys)) } catch {
                throw redisFailure(error, key: streamKeys.audio(jobID: jobId))
            }
            if case .unknown = outcome { continue }
            break
        }
        switch outcome {
        case .audio(let audio):
            let path = output ?? AudioExport.fileName(jobID: ByteString(jobId), fileExtension: audio.fileExtension)
            if path == "-" {
                var offset = 0
                while offset < audio.bytes.count {
                    let written = audio.bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress! + offset, $0.count - offset) }
                    if written < 0 && errno == EINTR { continue }
                    guard written > 0 else { throw fail("cannot write to standard output: \(String(cString: strerror(errno)))") }
                    offset += written
                }
                return
            }
            do { try AudioExport.write(audio.bytes, to: path, overwrite: force) } catch { throw fail(error.description) }
            let format = audio.formatName.map(shown) ?? "unknown format"
            let how = audio.streamed ? ", streamed in \(audio.chunks) chunks" : ""
            print("wrote \(audio.bytes.count) bytes (\(format)\(how)) to \(shown(path))")
            if audio.chunksAreFiles && audio.fileExtension == "flac" {
                LocalFiles.printError(
                    "note: each chunk of a streamed FLAC reply is a whole FLAC file; the file holds them one after another")
            }
        case .expired:
            throw fail("the audio of job \(shown(jobId)) has expired (audio is kept for \(configuration.audioTTLSeconds) s, --audio-ttl-s)")
        case .notSpoken(let status, let detail):
            throw fail("job \(shown(jobId)) was not spoken: its result is \(shown(status))" + (detail.isEmpty ? "" : " (\(shown(detail)))"))
        case .stillStreaming(let chunks):
            throw fail("the audio of job \(shown(jobId)) is still being streamed (\(chunks) chunks so far); try again when it is finished")
        case .unknown:
            let streams =
                access.shards.count == 1
                ? "\(shown(keys.prefix))…" : "any shard of \(shown(access.queue.queue)) (its own: \(shown(keys.prefix))…)"
            throw fail("no job \(shown(jobId)) has a result in \(streams); it may not be finished yet, or is unknown")
        }
    }
}

struct Voices: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the espeak-ng voices a job or an agent may use.")

    func run() throws {
        let catalog = try loadVoices()
        print(
            Table.render(
                header: ["languages", "identifier", "name"],
                rows: catalog.voices.sorted { $0.identifier < $1.identifier }.map {
                    [$0.languages.joined(separator: ","), $0.identifier, $0.name]
                }))
        print(
            "\(catalog.voices.count) voices; variants (append as voice+variant, e.g. en+f3): "
                + catalog.variants.sorted().joined(separator: " "))
    }
}
