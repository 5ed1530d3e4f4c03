/// A failure encoding or decoding audio.
public struct AudioError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A codec library refused to open, take or close a stream.
        case encoding
        /// Bytes that are not audio we can read.
        case decoding
        /// A call the encoder does not allow in its state (a chunk cut of a reply
        /// that is not streamed, samples after `finish()`).
        case misuse
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
