import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// A private `redis-server` on a Unix socket in a temporary folder, for `intone demo`
/// and the test suite: no Redis of the user's own is needed.
///
/// The server is started under a small shell that waits on a pipe this process holds;
/// when this process exits, however it exits, the pipe closes and the shell stops the
/// server, so no server is left behind.
public final class EmbeddedRedisServer: @unchecked Sendable {
    public let directory: String
    public let socketPath: String
    public var url: RedisURL { RedisURL(endpoint: .unix(path: socketPath)) }
    private var shellPID: pid_t
    private var lifeline: Int32
    private let arguments: [String]

    /// Starts the server and waits until it answers PING.
    /// `extraArguments` are passed to redis-server (`--appendonly yes`, …).
    /// The TCP port, when one was asked for (0: Unix socket only).
    public let port: Int

    public init(port: Int = 0, extraArguments: [String] = []) throws {
        self.port = port
        var template = Array("/tmp/intone-redis-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else {
            throw EmbeddedRedisError("cannot create a temporary folder: \(String(cString: strerror(errno)))")
        }
        directory = String(cString: made)
        socketPath = directory + "/redis.sock"
        guard let server = Self.findInPath("redis-server") else {
            throw EmbeddedRedisError("redis-server is not installed (apt-get install -y redis-server)")
        }
        arguments =
            [
                server, "--port", "\(port)", "--bind", "127.0.0.1", "--unixsocket", socketPath, "--unixsocketperm", "700", "--dir",
                directory,
                "--save", "", "--appendonly", "no", "--logfile", directory + "/redis.log",
            ] + extraArguments
        shellPID = 0
        lifeline = -1
        try launch()
    }

    deinit {
        stop()
    }

    /// Stops the server (SIGTERM, then waits); the folder stays so that it can be restarted.
    public func kill() {
        guard lifeline >= 0 else { return }
        close(lifeline)
        lifeline = -1
        // The shell stops the server when the pipe closes; should that ever hang, the
        // whole process group (shell and server) is killed.
        if Spawn.wait(shellPID, milliseconds: 10_000) == nil {
            Glibc.kill(-shellPID, SIGKILL)
            Spawn.wait(shellPID)
        }
    }

    /// Starts the server again on the same socket and folder (after `kill()`).
    public func restart() throws {
        kill()
        try launch()
    }

    /// Stops the server and removes its folder.
    public func stop() {
        kill()
        removeDirectory()
    }

    private func launch() throws {
        unlink(socketPath)
        let quoted = arguments.map { "'" + $0.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'" }
        let script = quoted.joined(separator: " ") + " & pid=$!; read line; kill $pid; wait $pid"
        let lifelinePipe = try Spawn.pipe()
        defer { close(lifelinePipe.read) }
        do {
            shellPID = try Spawn.start(
                "/bin/sh", ["-c", script], redirects: [(STDIN_FILENO, .descriptor(lifelinePipe.read)), (STDOUT_FILENO, .null)],
                newProcessGroup: true)
        } catch {
            close(lifelinePipe.write)
            throw EmbeddedRedisError(error.description)
        }
        lifeline = lifelinePipe.write
        let deadline = Monotonic.milliseconds() + 10_000
        while Monotonic.milliseconds() < deadline {
            if let connection = try? RedisConnection(url: url, connectTimeoutMilliseconds: 500),
                (try? connection.command("PING")) != nil
            {
                return
            }
            usleep(20_000)
        }
        kill()
        throw EmbeddedRedisError("redis-server did not start within 10 s; see \(directory)/redis.log")
    }

    private func removeDirectory() {
        if let pid = try? Spawn.start("/bin/rm", ["-rf", directory]) { Spawn.wait(pid) }
    }

    static func findInPath(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") + ["/usr/sbin", "/usr/bin"] {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

public struct EmbeddedRedisError: Error, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
