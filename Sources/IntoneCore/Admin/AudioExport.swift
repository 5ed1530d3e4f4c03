/// Finds a job's audio, or says plainly why there is none.
public struct AudioExport {
    public enum Outcome: Sendable {
        case audio([UInt8])
        /// The job has a result that is not `ok` (its status and reason or error).
        case notSpoken(status: String, detail: String)
        /// The job was spoken, but the audio's TTL has run out.
        case expired
        /// Nothing is known of this job id (never finished, or long forgotten).
        case unknown
    }

    public let keys: QueueKeys

    public init(keys: QueueKeys) {
        self.keys = keys
    }

    public func fetch(jobID: String, on connection: RedisConnection) throws(RedisError) -> Outcome {
        var commands = RedisCommands()
        commands.append("GET", .string(keys.audio(jobID: jobID)))
        commands.append("GET", .string(keys.done(jobID: jobID)))
        let replies = try connection.send(commands)
        if let audio = replies[0].bytes { return .audio(audio) }
        guard let resultID = replies[1].string else { return .unknown }
        // The marker holds the result's entry id; the result may sit in a reply_to stream,
        // or may have been trimmed, in which case all that is known is that it finished.
        let entries = try connection.command("XRANGE", .string(keys.results), .string(resultID), .string(resultID)).array ?? []
        guard let fields = entries.first?.array?.last?.pairs else { return .expired }
        var values: [String: String] = [:]
        for (name, value) in fields { values[name] = value.string ?? "" }
        let status = values["status"] ?? "?"
        if status == "ok" { return .expired }
        return .notSpoken(status: status, detail: values["reason"] ?? values["error"] ?? values["limit"] ?? "")
    }
}
