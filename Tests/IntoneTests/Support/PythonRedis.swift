import Foundation

/// Python with redis-py, for tests that check Intone against a producer that is not ours.
/// The virtual environment is made once under /tmp and reused by later runs.
enum PythonRedis {
    static let environment = "/tmp/intone-test-redis-py"

    /// The venv's python with `redis` importable; nil (with the reason) when python3 or
    /// pip is not available here, so the caller can skip with a clear message.
    static func interpreter() throws -> (path: String?, reason: String) {
        let python = environment + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python),
            (try? BoundedProcess.run(python, ["-c", "import redis.cluster"], seconds: 30).status) == 0
        {
            return (python, "")
        }
        guard let system = BoundedProcess.find("python3") else { return (nil, "python3 is not installed") }
        let venv = try BoundedProcess.run(system, ["-m", "venv", environment], seconds: 120)
        guard venv.status == 0 else { return (nil, "python3 -m venv failed: \(venv.output.suffix(500))") }
        let pip = try BoundedProcess.run(python, ["-m", "pip", "install", "-q", "redis>=4.1"], seconds: 300)
        guard pip.status == 0 else { return (nil, "pip install redis failed (no pip or no index): \(pip.output.suffix(500))") }
        return (python, "")
    }

    /// Runs a Python program; its standard output (and error) as text. Fails the call on
    /// a non-zero exit.
    static func run(_ python: String, _ program: String, _ arguments: [String] = [], seconds: Double = 60) throws -> String {
        let run = try BoundedProcess.run(python, ["-c", program] + arguments, seconds: seconds)
        guard run.status == 0 else { throw TestSupportError("python failed (\(run.status)): \(run.output.suffix(2000))") }
        return run.output
    }
}
