import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// Real `intone work` processes for a bench run. They stay in the bench's process group,
/// so an interrupt from the terminal stops them too (and their synthesizers with them).
final class WorkerProcesses {
    let pids: [pid_t]
    /// The `/metrics` port of each worker (0 when the run did not ask for them).
    let metricsPorts: [Int]
    /// Workers already waited for: their pids may belong to someone else by now.
    private var exited: Set<pid_t> = []

    /// Starts `count` workers on `url` and `queue`; `arguments` are added to each.
    init(executable: String, count: Int, url: String, queue: String, arguments: [String], metrics: Bool) throws {
        var pids: [pid_t] = []
        var ports: [Int] = []
        do {
            for index in 0..<count {
                let port = metrics ? try LocalPorts.free() : 0
                ports.append(port)
                pids.append(
                    try Spawn.start(
                        executable,
                        [
                            "work", "--redis", url, "--queue", queue, "--consumer", "bench-\(index)", "--metrics-port", "\(port)",
                            "--log-level", "error",
                        ] + arguments, redirects: [(STDOUT_FILENO, .null)]))
            }
        } catch {
            for pid in pids {
                kill(pid, SIGKILL)
                Spawn.wait(pid)
            }
            throw error
        }
        self.pids = pids
        metricsPorts = ports
    }

    deinit {
        stop()
    }

    var tree: ProcessTree { ProcessTree(roots: pids.filter { !exited.contains($0) }) }

    /// True once every worker has exited (a bench waiting on them must give up).
    var allExited: Bool {
        for pid in pids where !exited.contains(pid) && Spawn.wait(pid, milliseconds: 0) != nil { exited.insert(pid) }
        return exited.count == pids.count
    }

    /// SIGTERM (a worker finishes its batch and stops its synthesizers), then SIGKILL to
    /// a worker still there after 30 s.
    func stop() {
        let running = pids.filter { !exited.contains($0) }
        for pid in running { kill(pid, SIGTERM) }
        for pid in running where Spawn.wait(pid, milliseconds: 30_000) == nil {
            kill(pid, SIGKILL)
            Spawn.wait(pid)
        }
        exited.formUnion(running)
    }

    /// One sample of every worker's `/metrics`, summed.
    func metricsSum(_ series: String) -> Double {
        metricsPorts.filter { $0 > 0 }.reduce(0.0) { $0 + PrometheusText.sample(HTTPGet.text(port: $1, path: "/metrics"), series) }
    }
}
