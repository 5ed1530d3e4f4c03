import IntoneCore
import Testing

@Suite struct RedisURLTests {
    @Test func hostAndPort() throws {
        let url = try RedisURL(parsing: "redis://cache.internal:6380")
        #expect(url.endpoint == .tcp(host: "cache.internal", port: 6380))
        #expect(url.password == nil && url.username == nil && url.database == 0)
    }

    @Test func defaultPortAndDatabase() throws {
        let url = try RedisURL(parsing: "redis://localhost/3")
        #expect(url.endpoint == .tcp(host: "localhost", port: 6379))
        #expect(url.database == 3)
    }

    @Test func userPasswordPercentDecoded() throws {
        let url = try RedisURL(parsing: "redis://intone:p%40ss%3Aword@10.0.0.5:6379/2")
        #expect(url.username == "intone")
        #expect(url.password == "p@ss:word")
        #expect(url.database == 2)
        #expect(!url.description.contains("p@ss"), "the password never shows in logs")
    }

    @Test func passwordOnly() throws {
        let url = try RedisURL(parsing: "redis://:secret@host:1")
        #expect(url.username == nil && url.password == "secret")
        let legacy = try RedisURL(parsing: "redis://secret@host:1")
        #expect(legacy.username == nil && legacy.password == "secret")
    }

    @Test func ipv6() throws {
        let url = try RedisURL(parsing: "redis://[::1]:7000")
        #expect(url.endpoint == .tcp(host: "::1", port: 7000))
    }

    @Test func unixSocket() throws {
        let url = try RedisURL(parsing: "unix:///run/redis/redis.sock?db=4&password=pw")
        #expect(url.endpoint == .unix(path: "/run/redis/redis.sock"))
        #expect(url.database == 4 && url.password == "pw")
    }

    @Test(arguments: [
        "http://host:6379", "redis://", "redis://host:0", "redis://host:99999", "redis://host:port",
        "redis://host/-1", "redis://host/x", "unix://relative.sock", "unix:///s.sock?db=x", "unix:///s.sock?tls=1",
        "redis://[::1", "redis://u:%zz@host",
    ])
    func rejected(_ text: String) {
        #expect(throws: RedisURLError.self) { try RedisURL(parsing: text) }
    }
}
