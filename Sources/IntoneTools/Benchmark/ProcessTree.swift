import IntoneCore

#if canImport(Glibc)
    import Glibc
#endif

/// Some processes and their children (the workers and their synthesizers): their
/// resident memory and CPU time, read from `/proc`.
struct ProcessTree {
    let pids: [pid_t]

    init(roots: [pid_t]) {
        var pids = roots
        if let directory = opendir("/proc") {
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                if let pid = pid_t(name), let fields = Self.statFields(pid), fields.count > 1, let parent = pid_t(fields[1]),
                    roots.contains(parent)
                {
                    pids.append(pid)
                }
            }
            closedir(directory)
        }
        self.pids = pids
    }

    /// Resident memory, KiB.
    var residentKilobytes: Int {
        pids.reduce(0) { total, pid in
            let status = LocalFiles.read("/proc/\(pid)/status").map { String(decoding: $0, as: UTF8.self) } ?? ""
            let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            return total + (line.flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") } ?? 0)
        }
    }

    /// User and system time, with that of children already waited for, in seconds.
    var cpuSeconds: Double {
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        return pids.reduce(0.0) { total, pid in
            guard let fields = Self.statFields(pid), fields.count > 14 else { return total }
            return total + (11...14).reduce(0.0) { $0 + (Double(fields[$1]) ?? 0) } / ticks
        }
    }

    /// The fields of `/proc/<pid>/stat` after the command name: state [0], ppid [1],
    /// pgrp [2], session [3], utime [11], stime [12], cutime [13], cstime [14].
    static func statFields(_ pid: pid_t) -> [Substring]? {
        guard let stat = LocalFiles.read("/proc/\(pid)/stat").map({ String(decoding: $0, as: UTF8.self) }),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        return stat[stat.index(after: close)...].split(separator: " ")
    }
}
