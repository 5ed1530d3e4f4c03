/// Writes a batch's results, dead letters, audio and done markers, and acknowledges and
/// deletes its job entries, in one MULTI/EXEC round trip (see `FinishScript`).
public struct BatchFinisher {
    public struct Limits: Sendable {
        public var resultsMaxLength: Int
        public var deadMaxLength: Int
        public var markerTTLSeconds: Int
        public var audioTTLSeconds: Int

        public init(resultsMaxLength: Int, deadMaxLength: Int, markerTTLSeconds: Int, audioTTLSeconds: Int) {
            self.resultsMaxLength = resultsMaxLength
            self.deadMaxLength = deadMaxLength
            self.markerTTLSeconds = markerTTLSeconds
            self.audioTTLSeconds = audioTTLSeconds
        }
    }

    public struct Written: Sendable, Equatable {
        public var results: Int
        public var duplicates: Int
    }

    let keys: QueueKeys
    let limits: Limits
    let script: RedisScript

    /// Entry ids that are pending but whose data is gone (deleted by someone else) are
    /// passed as `acknowledgeOnly`: acknowledged and removed, nothing written.
    public func finish(_ jobs: [FinishedJob], acknowledgeOnly: [String] = [], on connection: RedisConnection) throws(RedisError) -> Written
    {
        for attempt in 0..<2 {
            // Rebuilt on the second attempt: the reloaded script's SHA goes into the call.
            let replies = try connection.send(commands(jobs, acknowledgeOnly: acknowledgeOnly))
            let exec = replies[replies.count - 1]
            // EXEC's replies: one per audio SET, then the script's.
            let scriptIndex = jobs.count { if case .ok = $0.outcome { true } else { false } }
            guard let results = exec.array, results.count > scriptIndex else {
                // EXECABORT or a nil EXEC: nothing ran.
                let message = exec.errorMessage ?? replies.compactMap(\.errorMessage).first ?? "EXEC returned \(exec)"
                if message.hasPrefix("NOSCRIPT") || replies.contains(where: { $0.errorMessage?.hasPrefix("NOSCRIPT") == true }),
                    attempt == 0
                {
                    try script.load(on: connection)
                    continue
                }
                throw RedisError(.server, "finishing a batch: \(message)")
            }
            let first = results[scriptIndex]
            if let message = first.errorMessage {
                // NOSCRIPT inside EXEC: the script did not run, so nothing was written for
                // the batch; reload and run it again.
                if message.hasPrefix("NOSCRIPT"), attempt == 0 {
                    try script.load(on: connection)
                    continue
                }
                throw RedisError(.server, "finishing a batch: \(message)")
            }
            guard let counts = first.array, counts.count == 2, let written = counts[0].integer, let duplicates = counts[1].integer else {
                throw RedisError.unexpected("finish script", first)
            }
            if let message = results.compactMap(\.errorMessage).first {
                throw RedisError(.server, "finishing a batch: \(message)")
            }
            return Written(results: Int(written), duplicates: Int(duplicates))
        }
        throw RedisError(.server, "finishing a batch: the finish script is still missing after SCRIPT LOAD")
    }

    private func commands(_ jobs: [FinishedJob], acknowledgeOnly: [String]) -> RedisCommands {
        var commands = RedisCommands()
        commands.append("MULTI")
        for job in jobs {
            if case .ok(let audioKey, let audio, _) = job.outcome {
                commands.append("SET", .string(audioKey), .bytes(audio.wav), "EX", .integer(limits.audioTTLSeconds))
            }
        }
        commands.append(script.call(keys: scriptKeys(jobs), arguments: scriptArguments(jobs)))
        if !acknowledgeOnly.isEmpty {
            commands.append(["XACK", .string(keys.jobs), .string(QueueKeys.group)] + acknowledgeOnly.map { .string($0) })
            commands.append(["XDEL", .string(keys.jobs)] + acknowledgeOnly.map { .string($0) })
        }
        commands.append("EXEC")
        return commands
    }

    private func scriptKeys(_ jobs: [FinishedJob]) -> [String] {
        var list = [keys.jobs, keys.dead, keys.results, keys.stats]
        list.reserveCapacity(4 + 2 * jobs.count)
        for job in jobs {
            list += [keys.done(jobID: job.jobID), job.resultStream]
        }
        return list
    }

    private func scriptArguments(_ jobs: [FinishedJob]) -> [RedisArgument] {
        var arguments: [RedisArgument] = [
            .string(QueueKeys.group), .integer(limits.resultsMaxLength), .integer(limits.deadMaxLength),
            .integer(limits.markerTTLSeconds), .integer(limits.audioTTLSeconds), .integer(jobs.count),
        ]
        for job in jobs {
            arguments.append(.string(job.job.entryID))
            arguments.append(.string(job.outcome.status))
            if case .ok(_, let audio, _) = job.outcome {
                arguments.append(.integer(audio.durationMilliseconds))
            } else {
                arguments.append(.integer(0))
            }
            arguments.append(.integer(job.resultFields.count))
            for field in job.resultFields { arguments += [.bytes(field.name), .bytes(field.value)] }
            arguments.append(.integer(job.deadLetterFields.count))
            for field in job.deadLetterFields { arguments += [.bytes(field.name), .bytes(field.value)] }
        }
        return arguments
    }
}
