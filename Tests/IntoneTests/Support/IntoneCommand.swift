import Foundation

/// What a run of the `intone` binary gave.
struct IntoneRun {
    var status: Int32
    var output: String
    var errors: String
    var outputBytes: [UInt8]
    var errorBytes: [UInt8]
}

/// Runs the built `intone` to its end, in `directory` when given, with `input` on its
/// standard input. Its environment is this process's without any `INTONE_` variable (so
/// that the shell the tests run in cannot change what a test sees), plus `environment`.
/// Output and errors are read as they come, so a chatty command cannot fill a pipe.
func intone(_ arguments: [String], environment: [String: String] = [:], in directory: String? = nil, input: String? = nil) throws
    -> IntoneRun
{
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try intoneExecutable())
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("INTONE_") }.merging(environment) { _, new in new }
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    let output = Pipe()
    let errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    let stdin = Pipe()
    process.standardInput = input == nil ? FileHandle.nullDevice : stdin
    try process.run()
    if let input {
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
    }
    let errorData = CollectedOutput()
    let reader = Thread { errorData.append(errors.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errorData.done { usleep(1000) }
    let err = errorData.data
    return IntoneRun(
        status: process.terminationStatus, output: String(decoding: out, as: UTF8.self), errors: String(decoding: err, as: UTF8.self),
        outputBytes: Array(out), errorBytes: Array(err))
}

/// Bytes a reader thread collects from a pipe.
final class CollectedOutput: @unchecked Sendable {
    private let lock = NSLock()
    private var collected = Data()
    private var finished = false

    /// Appends the last of it.
    func append(_ data: Data) {
        lock.withLock {
            collected += data
            finished = true
        }
    }

    /// Appends without marking the end (a reader that keeps reading).
    func add(_ data: Data) {
        lock.withLock { collected += data }
    }

    var data: Data { lock.withLock { collected } }
    var text: String { String(decoding: data, as: UTF8.self) }
    var done: Bool { lock.withLock { finished } }
}
