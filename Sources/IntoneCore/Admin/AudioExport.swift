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
        guard let marker = replies[1].string else { return .unknown }
        // The done marker holds the status, and for a job not spoken, why
        // (`FinishedJob.markerValue`); it outlives the result, which may be trimmed.
        let parts = marker.split(separator: " ", maxSplits: 1)
        let status = parts.first.map(String.init) ?? "?"
        if status == "ok" { return .expired }
        return .notSpoken(status: status, detail: parts.count > 1 ? String(parts[1]) : "")
    }
}
