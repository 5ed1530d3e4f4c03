import Foundation
import Testing

@testable import IntoneCore

@Suite struct SpawnTests {
    /// A child (a synthesizer, redis-server) starts with standard input, output and error
    /// only, even when this process holds descriptors without close-on-exec (hiredis
    /// sockets between connect and fcntl, other children's pipes).
    @Test func aChildInheritsOnlyItsStandardDescriptors() throws {
        var leaky: [Int32] = [-1, -1]
        #expect(pipe(&leaky) == 0)
        defer { for fd in leaky { close(fd) } }
        let output = try Spawn.pipe()
        let pid = try Spawn.start(
            "/bin/sh", ["-c", "for fd in \(leaky[0]) \(leaky[1]) \(output.read); do [ -e /proc/$$/fd/$fd ] && echo $fd; done; echo end"],
            redirects: [(STDOUT_FILENO, .descriptor(output.write))])
        close(output.write)
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 256)
        while case let n = read(output.read, &chunk, chunk.count), n > 0 { bytes += chunk[0..<n] }
        close(output.read)
        Spawn.wait(pid)
        let words = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        #expect(words == ["end"], "the child had this process's descriptors \(words.dropLast())")
    }
}
