/// A part of a pipeline that owns its commands and reads its own replies.
///
/// Several owners (the write-back, the token buckets, the read of the next jobs…)
/// share one round trip; each adds a segment and gets back a typed `Slot` to read its
/// output from, instead of slicing the pipeline's replies by offset.
public protocol RedisSegment {
    associatedtype Output
    /// Appends this segment's commands.
    func encode(into commands: inout RedisCommands)
    /// Reads the replies of exactly the commands `encode` appended, in order.
    func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> Output
}

/// Where a segment sits in a pipeline.
public struct RedisSlot<Segment: RedisSegment> {
    public let segment: Segment
    let range: Range<Int>
}

/// Segments gathered into one write.
public struct RedisPipeline {
    public private(set) var commands = RedisCommands()

    public init() {}

    public var isEmpty: Bool { commands.count == 0 }

    /// Adds a segment; its output is read from the replies with the slot returned.
    public mutating func add<Segment: RedisSegment>(_ segment: Segment) -> RedisSlot<Segment> {
        let start = commands.count
        segment.encode(into: &commands)
        return RedisSlot(segment: segment, range: start..<commands.count)
    }
}

/// The replies of a pipeline, read segment by segment.
public struct RedisPipelineReplies: Sendable {
    public let replies: [RedisReply]

    public init(_ replies: [RedisReply]) {
        self.replies = replies
    }

    /// The segment's output; throws what its decoding throws (an error reply it does not
    /// accept, or a reply of the wrong shape).
    public func output<Segment>(_ slot: RedisSlot<Segment>) throws(RedisError) -> Segment.Output {
        guard slot.range.upperBound <= replies.count else {
            throw RedisError(.unexpectedReply, "\(replies.count) replies for a pipeline of at least \(slot.range.upperBound) commands")
        }
        return try slot.segment.decode(replies[slot.range])
    }
}

/// One command whose reply is taken as it is (an error reply throws, classified).
public struct RedisCommandSegment: RedisSegment {
    public let arguments: [RedisArgument]

    public init(_ arguments: [RedisArgument]) {
        self.arguments = arguments
    }

    public init(_ arguments: RedisArgument...) {
        self.arguments = arguments
    }

    public func encode(into commands: inout RedisCommands) { commands.append(arguments) }

    public func decode(_ replies: ArraySlice<RedisReply>) throws(RedisError) -> RedisReply {
        let reply = replies[replies.startIndex]
        if let error = reply.error(command: commandName) { throw error }
        return reply
    }

    var commandName: String {
        if case .string(let name) = arguments.first { return name }
        return "command"
    }
}

extension RedisConnection {
    /// Sends a pipeline and waits for all its replies (for callers that may block: the
    /// command line, tests). The worker's loop writes and reads pipelines itself.
    public func send(_ pipeline: RedisPipeline) throws(RedisError) -> RedisPipelineReplies {
        RedisPipelineReplies(try send(pipeline.commands))
    }
}
