/// Admitted jobs waiting for a synthesizer, first in first out, and those rendering.
///
/// Each job is handed to the next idle synthesizer child in the order it was admitted,
/// and leaves as soon as its render ends: a burst of long replies is answered one by
/// one, not all at the end. A streamed reply's chunks are kept here until written
/// (`StreamChunks`); the job leaves only once all its chunks are in Redis, so its last
/// entry goes after them.
final class RenderStage {
    struct Entry {
        var speakable: BatchDecider.Speakable
        /// Chunks rendered and not yet sent, and chunks sent whose write is not confirmed.
        var pendingChunks: [[UInt8]] = []
        var chunksInFlight = 0
        var chunksWritten = 0
        var bytesWritten = 0
        var firstChunkMilliseconds: Int64?
        /// The deadline had passed before the first chunk: the reply is `expired`.
        var expired = false
        var outcome: Result<RenderedAudio, SynthesisError>?
        /// When a synthesizer took it (unix ms on the worker's clock), for the heartbeat.
        var startedAtMilliseconds: Int64 = 0

        var isDone: Bool { outcome != nil && pendingChunks.isEmpty && chunksInFlight == 0 }
    }

    let pool: SynthesizerPool
    /// The worker's streams: a job's `shard` indexes them.
    let shards: [QueueKeys]
    let audioTTLSeconds: Int
    private(set) var queue: [Int] = []
    private(set) var entries: [Int: Entry] = [:]
    private var nextToken = 0
    /// Tokens with chunks rendered and not yet sent, and tokens whose render ended: the
    /// few entries `takeChunks` and `takeFinished` look at, out of the batch in hand.
    private var withChunks = Set<Int>()
    private var ended = Set<Int>()

    init(pool: SynthesizerPool, shards: [QueueKeys], audioTTLSeconds: Int) {
        self.pool = pool
        self.shards = shards
        self.audioTTLSeconds = audioTTLSeconds
    }

    var queued: Int { queue.count }
    var rendering: Int { pool.rendering }
    var isEmpty: Bool { entries.isEmpty }
    /// Whether jobs of these shards have chunks to write.
    func chunksWaiting(_ lane: Lane) -> Bool {
        withChunks.contains { token in entries[token].map { lane.serves(shard: $0.speakable.job.shard) } ?? false }
    }

    /// The entries in hand here, of the shards a lane serves.
    func entries(of lane: Lane) -> [EntryRef] {
        entries.values.map(\.speakable.job).filter { lane.serves(shard: $0.shard) }.map { EntryRef(keys: shards[$0.shard], id: $0.entryID) }
    }
    func entryCount(of lane: Lane) -> Int {
        var count = 0
        for entry in entries.values where lane.serves(shard: entry.speakable.job.shard) { count += 1 }
        return count
    }

    /// The job rendering longest now, and since when (for the heartbeat).
    var longestRendering: (jobID: ByteString, since: Int64)? {
        pool.renderingTokens.compactMap { entries[$0] }.min { $0.startedAtMilliseconds < $1.startedAtMilliseconds }
            .map { ($0.speakable.valid.jobID, $0.startedAtMilliseconds) }
    }

    func enqueue(_ jobs: [BatchDecider.Speakable]) {
        for job in jobs {
            entries[nextToken] = Entry(speakable: job)
            queue.append(nextToken)
            nextToken += 1
        }
    }

    /// Hands queued jobs to idle children, oldest first. Returns an error when no child
    /// can be started at all (the jobs stay queued: not their fault).
    func dispatch() -> SynthesisError? {
        while let token = queue.first, pool.idleChildren > 0, let entry = entries[token] {
            switch pool.start(entry.speakable.request, token: token) {
            case .success(true):
                queue.removeFirst()
                entries[token]?.startedAtMilliseconds = WallClock.milliseconds()
            case .success(false): return nil
            case .failure(let error): return error
            }
        }
        return nil
    }

    /// Takes the pool's chunks and finished renders.
    func receive(_ events: [SynthesizerPool.Event]) {
        for event in events {
            switch event {
            case .chunk(let token, let bytes):
                guard entries[token]?.expired == false else { continue }
                entries[token]?.pendingChunks.append(bytes)
                withChunks.insert(token)
            case .finished(let token, let outcome):
                guard entries[token] != nil else { continue }
                entries[token]?.outcome = outcome
                ended.insert(token)
            }
        }
    }

    /// The chunks to write now, oldest first for each job. A job's first chunk goes only
    /// if its deadline has not passed (`now` is Redis's clock); otherwise the reply is
    /// `expired` and its chunks are dropped. A job delivered again is exempt: another
    /// worker may have sent its first chunks already.
    func takeChunks(for lane: Lane, now: Int64) -> StreamChunks? {
        var chunks: [StreamChunks.Chunk] = []
        for token in withChunks.sorted() {
            guard var entry = entries[token], !entry.pendingChunks.isEmpty else {
                withChunks.remove(token)
                continue
            }
            guard lane.serves(shard: entry.speakable.job.shard) else { continue }
            withChunks.remove(token)
            let keys = shards[entry.speakable.job.shard]
            if entry.chunksWritten == 0, entry.chunksInFlight == 0, entry.speakable.job.attempts == 1,
                let deadline = entry.speakable.valid.expiresAtMilliseconds, now > deadline
            {
                entry.expired = true
                entry.pendingChunks = []
                entries[token] = entry
                continue
            }
            let first = entry.chunksWritten + entry.chunksInFlight
            for (offset, bytes) in entry.pendingChunks.enumerated() {
                chunks.append(
                    StreamChunks.Chunk(token: token, key: keys.audio(jobID: entry.speakable.valid.jobID), seq: first + offset, bytes: bytes)
                )
            }
            entry.chunksInFlight += entry.pendingChunks.count
            entry.pendingChunks = []
            entries[token] = entry
        }
        return chunks.isEmpty ? nil : StreamChunks(chunks: chunks, ttlSeconds: audioTTLSeconds)
    }

    /// The chunks' writes came back (`now`: Redis's clock as the worker reads it).
    func receiveChunks(_ result: Result<[StreamChunks.Written], RedisError>, sent: StreamChunks, now: Int64) -> [RedisError] {
        var errors: [RedisError] = []
        switch result {
        case .failure:
            // Not known whether they were written: they go again (a chunk already there is
            // refused by its id and counts as written).
            for chunk in sent.chunks.reversed() where entries[chunk.token] != nil {
                entries[chunk.token]?.chunksInFlight -= 1
                entries[chunk.token]?.pendingChunks.insert(chunk.bytes, at: 0)
                withChunks.insert(chunk.token)
            }
        case .success(let written):
            for (chunk, outcome) in zip(sent.chunks, written) {
                guard var entry = entries[chunk.token] else { continue }
                entry.chunksInFlight -= 1
                entry.chunksWritten += 1
                entry.bytesWritten += chunk.bytes.count
                if entry.firstChunkMilliseconds == nil, let enqueued = entry.speakable.job.enqueuedAtMilliseconds {
                    entry.firstChunkMilliseconds = max(0, now - enqueued)
                }
                if case .refused(let error) = outcome { errors.append(error) }
                entries[chunk.token] = entry
            }
        }
        return errors
    }

    /// Jobs whose render ended (and whose chunks are all written), in token order, as
    /// results; and those no synthesizer could take (`unavailable`: not the job's fault,
    /// to render again or leave to another replica).
    func takeFinished() -> (finished: [FinishedJob], unavailable: [BatchDecider.Speakable]) {
        var finished: [FinishedJob] = []
        var unavailable: [BatchDecider.Speakable] = []
        for token in ended.sorted() {
            guard let entry = entries[token] else {
                ended.remove(token)
                continue
            }
            guard entry.isDone, let outcome = entry.outcome else { continue }
            entries[token] = nil
            ended.remove(token)
            withChunks.remove(token)
            let item = entry.speakable
            var streamed =
                item.request.streamed
                ? StreamedAudio(
                    chunks: entry.chunksWritten, bytes: entry.bytesWritten, firstChunkMilliseconds: entry.firstChunkMilliseconds)
                : nil
            let result: JobOutcome
            switch outcome {
            case .success(let audio):
                result = entry.expired ? .expired : .ok(audio: audio, voice: item.request.voice)
                if !entry.expired { streamed?.bytes += audio.bytes.count }
            case .failure(let error) where error.code == .unavailable:
                unavailable.append(item)
                continue
            case .failure(let error):
                let code: JobErrorCode =
                    switch error.code {
                    case .timeout: .synthesisTimeout
                    case .unknownVoice: .unknownVoice
                    default: .synthesisCrashed
                    }
                result = .failed(JobFailure(code, error.message))
            }
            finished.append(
                FinishedJob(job: item.job, valid: item.valid, outcome: result, keys: shards[item.job.shard], streamed: streamed))
        }
        return (finished, unavailable)
    }

    /// Drops every job (the shutdown grace ran out): kills the renders; returns the
    /// entries, to be released to other replicas.
    func abandon() -> [EntryRef] {
        _ = pool.abandonAll()
        let ids = entries.values.map(\.speakable.job).map { EntryRef(keys: shards[$0.shard], id: $0.entryID) }
        entries = [:]
        withChunks = []
        ended = []
        queue = []
        return ids
    }
}

/// `XADD intone:{Q}:audio:<job_id> 0-<seq+1> seq <seq> data <bytes>` for each chunk, and
/// the audio stream's TTL. Redis refuses an id at or below the stream's last: for a chunk
/// that means another replica (or an earlier try) wrote it already, not a failure.
struct StreamChunks: RedisSegment {
    struct Chunk {
        var token: Int
        var key: ByteString
        var seq: Int
        var bytes: [UInt8]
    }

    enum Written {
        case added
        case alreadyThere
        case refused(RedisError)
    }

    let chunks: [Chunk]
    let ttlSeconds: Int

    func encode(into commands: inout RedisCommands) {
        for chunk in chunks {
            commands.append(
                "XADD", chunk.key.argument, .string("0-\(chunk.seq + 1)"), "seq", .integer(chunk.seq), "data", .bytes(chunk.bytes))
            commands.append("EXPIRE", chunk.key.argument, .integer(ttlSeconds))
        }
    }

    func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> [Written] {
        var written: [Written] = []
        var index = replies.startIndex
        for _ in chunks {
            let reply = replies[index]
            index += 2
            if let error = reply.error(command: "XADD") {
                if error.code == .connection { throw error }
                // "ERR The ID specified in XADD is equal or smaller than the target stream
                // top item": the only way to tell it apart is its text.
                written.append(error.message.contains("equal or smaller") ? .alreadyThere : .refused(error))
            } else {
                written.append(.added)
            }
        }
        return written
    }
}
