import Foundation

/// Runs a program to its end with a deadline: output (standard output and error
/// together) goes to a temporary file, so a chatty program cannot fill a pipe and hang,
/// and a program still running at the deadline is killed.
enum BoundedProcess {
    struct Run {
        var status: Int32
        var output: String
    }

    static func run(_ executable: String, _ arguments: [String], seconds: Double, environment: [String: String] = [:]) throws -> Run {
        let outputPath = NSTemporaryDirectory() + "intone-run-\(UUID().uuidString).out"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil), let output = FileHandle(forWritingAtPath: outputPath)
        else {
            throw TestSupportError("cannot create \(outputPath)")
        }
        defer {
            try? output.close()
            try? FileManager.default.removeItem(atPath: outputPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            throw TestSupportError("\(executable) \(arguments.prefix(3).joined(separator: " ")) … ran over \(seconds) s and was killed")
        }
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        return Run(status: process.terminationStatus, output: text)
    }

    /// The first executable of that name on PATH (or in /usr/bin), if any.
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/local/bin", "/usr/bin"] {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
