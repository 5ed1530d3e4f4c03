/// What a write-back reports, the faults that hold write-backs back, and how a job is
/// prepared for writing once its check is back.
extension WriteBackQueue {
    /// What became of a write-back, for the loop to count and log.
    enum Report {
        case written([FinishedJob], duplicates: Int, acknowledged: Int, nanoseconds: Int64)
        case fault(Fault, RedisError)
        case cleared(Fault)
        /// A result refused inside a transaction that went through: answered again.
        case resultRefused(FinishedJob, RedisError)
        /// A dead letter refused inside a transaction that wrote the result: written again.
        case deadLetterRefused(FinishedJob, RedisError)
        case refusedInTransaction(RedisError)
    }

    /// Conditions that hold write-backs back, each reported once while it lasts.
    enum Fault: Hashable, CaseIterable {
        /// Redis refused whole transactions (OOM, NOPERM…), or the check itself.
        case refused
        /// The queue's result stream, dead-letter stream or statistics hash is a key of
        /// another type.
        case resultsKey
        case deadKey
        case statsKey
        /// Redis refused the queue's own result or dead-letter entries inside a
        /// transaction that went through (a stream changed just before EXEC): they are
        /// written again after a backoff, until it takes them.
        case entriesRefused
    }

    /// A job as it will be written, given the check: a reply whose deadline passed while
    /// it rendered is `expired` (its audio is not stored), and a result whose `reply_to`
    /// cannot take it goes to the queue's result stream as `failed`/`bad_reply_to`.
    static func prepare(_ job: inout FinishedJob, check: WriteBackCheck.Output) {
        let keys = job.keys
        if case .ok = job.outcome, job.streamed == nil, let expires = job.valid?.expiresAtMilliseconds, check.serverMilliseconds > expires {
            job.outcome = .expired
        }
        // Another worker wrote more chunks than this one (it died after them): the last
        // entry goes after its chunks.
        if var streamed = job.streamed, let written = check.audioEntries[keys.audio(jobID: job.jobID)], written > streamed.chunks {
            streamed.chunks = written
            job.streamed = streamed
        }
        let state = check.state(of: job.resultStream)
        if job.resultStream != keys.resultsBytes, !state.acceptsEntries {
            let why =
                switch state {
                case .exhaustedStream: "has reached the largest stream id and takes no more entries"
                case .other(let type): "is a \(type), not a stream"
                default: "cannot take entries"
                }
            redirect(&job, because: "reply_to '\(job.resultStream)' \(why); the result is on \(keys.results) instead")
        }
    }

    /// The result goes to the queue's result stream, as `failed`/`bad_reply_to`.
    static func redirect(_ job: inout FinishedJob, because message: String) {
        job.outcome = .failed(JobFailure(.badReplyTo, message))
        job.resultStream = job.keys.resultsBytes
    }

    static func typeError(_ key: String, _ state: WriteBackCheck.KeyState, _ wanted: String) -> RedisError {
        if state == .exhaustedStream {
            return RedisError(
                .wrongType, "\(key) is a stream at the largest id and takes no more entries; jobs that need it wait until it is fixed")
        }
        let found: String =
            switch state {
            case .other(let type): "a \(type)"
            case .exhaustedStream: "a stream at the largest id"
            case .stream: "a stream"
            case .absent: "missing"
            }
        return RedisError(.wrongType, "\(key) is \(found), not a \(wanted); jobs that need it wait until it is fixed")
    }
}
