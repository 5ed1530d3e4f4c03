import ArgumentParser
import IntoneCore
import Logging

#if canImport(Glibc)
    import Glibc
#endif

/// Connection and queue for the admin commands, with the worker's flags and variables.
func openQueue(_ options: QueueOptions) throws -> (RedisConnection, QueueKeys, WorkerConfiguration) {
    let configuration: WorkerConfiguration
    do {
        configuration = try WorkerConfiguration(flags: options.flags, environment: Environment.all)
    } catch {
        throw fail(error.message)
    }
    do {
        return (try RedisConnection(url: configuration.redisURL), configuration.keys, configuration)
    } catch {
        throw fail(error.message)
    }
}

func loadVoices() throws -> VoiceCatalog {
    do {
        return try SynthesizerPool.loadCatalog(executable: SynthesizerPool.currentExecutable())
    } catch {
        throw fail("cannot list espeak-ng voices: \(error.message)")
    }
}

func redisFailure(_ error: RedisError) -> ExitCode { fail(error.message) }

func iso8601(milliseconds: String?) -> String {
    guard let text = milliseconds, let ms = Int64(text) else { return "-" }
    var seconds = time_t(ms / 1000)
    var parts = tm()
    gmtime_r(&seconds, &parts)
    func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
    return
        "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday)) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a queue: backlog, pending, consumers, dead letters, throughput.")

    @OptionGroup var queueOptions: QueueOptions
    @Flag(help: "Refresh every two seconds until interrupted.") var watch = false
    @Flag(help: "Print JSON instead of a table.") var json = false

    func run() throws {
        let (connection, keys, _) = try openQueue(queueOptions)
        repeat {
            let status: QueueStatus
            do { status = try QueueStatus.read(keys, on: connection) } catch { throw redisFailure(error) }
            if json {
                print(try status.json())
            } else {
                if watch { print("\u{1B}[H\u{1B}[2J", terminator: "") }
                print(status.table())
            }
            if watch { sleep(2) }
        } while watch
    }
}

struct Dead: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Inspect, retry or purge dead letters.", subcommands: [List.self, Show.self, Retry.self, Purge.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead letters, oldest first.")
        @OptionGroup var queueOptions: QueueOptions
        @Option(help: "How many to list.") var count = 50

        func run() throws {
            let (connection, keys, _) = try openQueue(queueOptions)
            let letters: [DeadLetters.Letter]
            let total: Int
            do {
                let dead = DeadLetters(keys: keys)
                letters = try dead.list(count: count, on: connection)
                total = try dead.count(on: connection)
            } catch { throw redisFailure(error) }
            print(
                Table.render(
                    header: ["id", "job_id", "agent_id", "error", "failed_at"],
                    rows: letters.map {
                        [
                            $0.id, $0.value("job_id") ?? $0.value("entry_id") ?? "", $0.value("agent_id") ?? "", $0.value("error") ?? "",
                            iso8601(milliseconds: $0.value("failed_at")),
                        ]
                    }))
            print("\(letters.count) of \(total) dead letters")
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show every field of one dead letter.")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The dead letter's id (from `intone dead list`).") var id: String

        func run() throws {
            let (connection, keys, _) = try openQueue(queueOptions)
            let letter: DeadLetters.Letter?
            do { letter = try DeadLetters(keys: keys).show(id, on: connection) } catch { throw redisFailure(error) }
            guard let letter else { throw fail("no dead letter \(id) in \(keys.dead)") }
            print(
                Table.render(
                    header: ["field", "value"],
                    rows: letter.fields.map { [String(decoding: $0.name, as: UTF8.self), String(decoding: $0.value, as: UTF8.self)] }))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Put dead letters back on the jobs stream; each is answered again.")
        @OptionGroup var queueOptions: QueueOptions
        @Flag(help: "Retry every dead letter.") var all = false
        @Argument(help: "Dead letter ids.") var ids: [String] = []

        func validate() throws {
            if all == !ids.isEmpty { throw ValidationError("give dead letter ids or --all, not both") }
        }

        func run() throws {
            let (connection, keys, _) = try openQueue(queueOptions)
            let dead = DeadLetters(keys: keys)
            let retried: [String]
            do { retried = all ? try dead.retryAll(on: connection) : try dead.retry(ids, on: connection) } catch {
                throw redisFailure(error)
            }
            let missing = ids.filter { !retried.contains($0) }
            print("retried \(retried.count) dead letters onto \(keys.jobs)")
            if !missing.isEmpty { throw fail("not dead letters: \(missing.joined(separator: " "))") }
        }
    }

    struct Purge: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete every dead letter of the queue.")
        @OptionGroup var queueOptions: QueueOptions
        @Flag(help: "Do not ask for confirmation.") var yes = false

        func run() throws {
            let (connection, keys, _) = try openQueue(queueOptions)
            let dead = DeadLetters(keys: keys)
            if !yes {
                let count: Int
                do { count = try dead.count(on: connection) } catch { throw redisFailure(error) }
                print("Delete all \(count) dead letters in \(keys.dead)? Type yes to confirm: ", terminator: "")
                guard readLine()?.lowercased() == "yes" else { throw fail("not purged (confirm with yes, or pass --yes)") }
            }
            let purged: Int
            do { purged = try dead.purge(on: connection) } catch { throw redisFailure(error) }
            print("purged \(purged) dead letters")
        }
    }
}

struct Agent: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or change an agent's voice settings.", subcommands: [Show.self, Set.self, Unset.self])

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "An agent's settings: stored, and in effect.")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The agent id.") var agent: String

        func run() throws {
            let (connection, keys, configuration) = try openQueue(queueOptions)
            let stored: [String: String]
            do { stored = try AgentAdmin(keys: keys).stored(agent, on: connection) } catch { throw redisFailure(error) }
            let effective = AgentSettings.parse(stored, defaultTTS: configuration.defaultTTS, catalog: nil).settings
            let rows: [[String]] = [
                ["tts", stored["tts"] ?? "", effective.tts.rawValue],
                ["voice", stored["voice"] ?? "", effective.voice],
                ["rate", stored["rate"] ?? "", "\(effective.rate)"],
                ["pitch", stored["pitch"] ?? "", "\(effective.pitch)"],
                ["keywords", stored["keywords"] ?? "", effective.keywords.joined(separator: ",")],
                ["rate_limit", stored["rate_limit"] ?? "", (effective.rateLimit ?? configuration.agentRate).description],
            ]
            print("agent \(agent) (\(keys.agent(agent)))")
            print(Table.render(header: ["field", "stored", "in effect"], rows: rows))
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

        func run() throws {
            var values: [AgentAdmin.Field: String] = [:]
            values[.tts] = tts
            values[.voice] = voice
            values[.rate] = rate
            values[.pitch] = pitch
            values[.keywords] = keywords
            values[.rateLimit] = rateLimit
            guard !values.isEmpty else { throw fail("nothing to set: give --tts, --voice, --rate, --pitch, --keywords or --rate-limit") }
            let catalog = voice == nil ? nil : try loadVoices()
            let clean: [AgentAdmin.Field: String]
            do { clean = try AgentAdmin.validate(values, catalog: catalog) } catch { throw fail(error.message) }
            let (connection, keys, _) = try openQueue(queueOptions)
            do { try AgentAdmin(keys: keys).set(agent, clean, on: connection) } catch { throw redisFailure(error) }
            print(
                "set " + clean.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ")
                    + " on \(keys.agent(agent))")
        }
    }

    struct Unset: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove settings (all of them when no field is named).")
        @OptionGroup var queueOptions: QueueOptions
        @Argument(help: "The agent id.") var agent: String
        @Argument(help: "Fields: tts, voice, rate, pitch, keywords, rate_limit.") var fields: [String] = []

        func run() throws {
            var parsed: [AgentAdmin.Field] = []
            for name in fields {
                guard let field = AgentAdmin.Field(rawValue: name) else {
                    throw fail("unknown field '\(name)' (tts, voice, rate, pitch, keywords, rate_limit)")
                }
                parsed.append(field)
            }
            let (connection, keys, _) = try openQueue(queueOptions)
            do { try AgentAdmin(keys: keys).unset(agent, parsed, on: connection) } catch { throw redisFailure(error) }
            print(parsed.isEmpty ? "removed all settings of \(agent)" : "removed \(fields.joined(separator: ", ")) of \(agent)")
        }
    }
}

struct Audio: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a job's audio to a WAV file.")
    @OptionGroup var queueOptions: QueueOptions
    @Argument(help: "The job id.") var jobId: String
    @Option(name: .shortAndLong, help: "Output file (default: JOB_ID.wav; - for standard output).") var output: String?

    func run() throws {
        let (connection, keys, configuration) = try openQueue(queueOptions)
        let outcome: AudioExport.Outcome
        do { outcome = try AudioExport(keys: keys).fetch(jobID: jobId, on: connection) } catch { throw redisFailure(error) }
        switch outcome {
        case .audio(let bytes):
            let path = output ?? "\(jobId).wav"
            if path == "-" {
                _ = bytes.withUnsafeBytes { write(STDOUT_FILENO, $0.baseAddress, $0.count) }
                return
            }
            do { try LocalFiles.write(bytes, to: path) } catch { throw fail(error.description) }
            print("wrote \(bytes.count) bytes to \(path)")
        case .expired:
            throw fail("the audio of job \(jobId) has expired (audio is kept for \(configuration.audioTTLSeconds) s, --audio-ttl-s)")
        case .notSpoken(let status, let detail):
            throw fail("job \(jobId) was not spoken: its result is \(status)" + (detail.isEmpty ? "" : " (\(detail))"))
        case .unknown:
            throw fail("no job \(jobId) has a result in \(keys.prefix)…; it may not be finished yet, or is unknown")
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
