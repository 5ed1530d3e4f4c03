import CSpawn

#if canImport(Glibc)
    import Glibc
#endif

/// Starts programs with posix_spawn (never fork: the worker is multi-threaded).
public enum Spawn {
    public enum Target {
        /// The child's descriptor becomes a copy of this one of ours.
        case descriptor(Int32)
        /// The child's descriptor is /dev/null.
        case null
    }

    /// Starts `path` with `arguments` (without argv[0]); `redirects` map child descriptors.
    /// `extraEnvironment` entries (`NAME=value`) come before this process's environment.
    public static func start(
        _ path: String, _ arguments: [String], redirects: [(Int32, Target)] = [], extraEnvironment: [String] = [],
        newProcessGroup: Bool = false
    ) throws(SpawnError) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (fd, target) in redirects {
            switch target {
            case .descriptor(let source): posix_spawn_file_actions_adddup2(&actions, source, fd)
            case .null: posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY, 0)
            }
        }
        // The child gets standard input, output and error, nothing else: not this
        // process's Redis sockets, nor the pipes of other children. (Closing them in the
        // child itself would race its own runtime: the Swift runtime's Dispatch opens its
        // epoll descriptor on a thread of its own, and closing that made it spin.)
        intone_spawn_file_actions_addclosefrom(&actions, STDERR_FILENO + 1)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        var environment: [UnsafeMutablePointer<CChar>?] = extraEnvironment.map { strdup($0) }
        var cursor = environ
        while let entry = cursor.pointee {
            environment.append(strdup(entry))
            cursor += 1
        }
        environment.append(nil)
        defer {
            for pointer in argv { free(pointer) }
            for pointer in environment { free(pointer) }
        }
        // The spawning thread may block signals (Dispatch's threads do) and this process
        // ignores SIGPIPE; a child must start with neither, or SIGTERM would not stop it.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGTERM, SIGINT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        var flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF
        if newProcessGroup {
            flags |= POSIX_SPAWN_SETPGROUP
            posix_spawnattr_setpgroup(&attributes, 0)
        }
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var pid: pid_t = 0
        let status = posix_spawn(&pid, path, &actions, &attributes, argv, environment)
        guard status == 0 else { throw SpawnError(path: path, code: status) }
        return pid
    }

    /// Waits for a child and returns its raw wait status.
    @discardableResult
    public static func wait(_ pid: pid_t) -> Int32? {
        var status: Int32 = 0
        var result: pid_t
        repeat { result = waitpid(pid, &status, 0) } while result < 0 && errno == EINTR
        return result < 0 ? nil : status
    }

    /// Waits up to `milliseconds` for a child; nil if it is still running.
    public static func wait(_ pid: pid_t, milliseconds: Int) -> Int32? {
        let deadline = Monotonic.milliseconds() + Int64(milliseconds)
        var status: Int32 = 0
        while true {
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid { return status }
            if result < 0 && errno != EINTR { return -1 }
            if Monotonic.milliseconds() >= deadline { return nil }
            usleep(5000)
        }
    }

    /// A pipe whose ends are close-on-exec, so no child inherits them by accident
    /// (pipe2 is not visible from Swift; spawns happen on one thread per pipe owner).
    public static func pipe() throws(SpawnError) -> (read: Int32, write: Int32) {
        var fds: [Int32] = [-1, -1]
        guard Glibc.pipe(&fds) == 0 else { throw SpawnError(path: "pipe", code: errno) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return (fds[0], fds[1])
    }
}

public struct SpawnError: Error, CustomStringConvertible {
    public var path: String
    public var code: Int32
    public var description: String { "cannot start \(path): \(String(cString: strerror(code)))" }
}
