import Foundation
import Hummingbird
import HummingbirdTesting
import IntoneCore
import IntoneWeb

/// A console for one test's queue, on the suite's redis-server.
func makeConsole(
    _ keys: QueueKeys, token: String? = nil, redisURL: RedisURL? = nil, catalog: VoiceCatalog? = nil
) throws -> WebConsole {
    var flags = ["queue": keys.queue]
    flags["token"] = token
    var configuration = try WebConfiguration(flags: flags, environment: [:])
    guard let url = redisURL ?? TestRedis.server?.url else { throw TestSupportError("no redis server") }
    configuration.redisURL = url
    return try WebConsole(configuration: configuration, voices: { catalog }, logger: testLogger, redisThreads: 2)
}

/// Drives a console's router like a browser: keeps its cookies, fills in the CSRF token.
final class ConsoleClient: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var extraHeaders: HTTPFields = [:]

    init(_ client: any TestClientProtocol) {
        self.client = client
    }

    struct Page {
        var status: HTTPResponse.Status
        var headers: HTTPFields
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
        var location: String? { headers[.location] }
    }

    var csrf: String? { cookies["intone_csrf"] }

    func get(_ uri: String, headers: HTTPFields = [:]) async throws -> Page {
        try await send(uri, method: .get, headers: headers, body: nil)
    }

    /// A form POST; `csrf` true puts the cookie's token in the form (a GET first gets one).
    func post(_ uri: String, _ fields: [(String, String)] = [], csrf: Bool = true, headers: HTTPFields = [:]) async throws -> Page {
        if csrf, self.csrf == nil { _ = try await get("/healthz") }
        var all = fields
        if csrf, let token = self.csrf { all.append(("csrf", token)) }
        let body = all.map { FormData.encode(Array($0.0.utf8)) + "=" + FormData.encode(Array($0.1.utf8)) }.joined(separator: "&")
        var headers = headers
        headers[.contentType] = "application/x-www-form-urlencoded"
        return try await send(uri, method: .post, headers: headers, body: ByteBuffer(string: body))
    }

    private func send(_ uri: String, method: HTTPRequest.Method, headers: HTTPFields, body: ByteBuffer?) async throws -> Page {
        var all = extraHeaders
        for field in headers { all.append(field) }
        if !cookies.isEmpty { all[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        let response = try await client.execute(uri: uri, method: method, headers: all, body: body)
        for value in response.headers[values: .setCookie] {
            let pair = value.split(separator: ";").first ?? ""
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            if value.contains("Max-Age=0") { cookies[String(parts[0])] = nil } else { cookies[String(parts[0])] = String(parts[1]) }
        }
        return Page(status: response.status, headers: response.headers, body: Array(response.body.readableBytesView))
    }
}

/// Runs `body` with a client of the console's router (no sockets).
func withConsole<T: Sendable>(_ console: WebConsole, _ body: @Sendable (ConsoleClient) async throws -> T) async throws -> T {
    let application = Application(router: console.makeRouter())
    return try await application.test(.router) { client in try await body(ConsoleClient(client)) }
}

/// Adds entries to a stream, fields given as bytes.
@discardableResult
func xadd(_ key: String, _ fields: [([UInt8], [UInt8])], id: String = "*", on connection: RedisConnection) throws -> String {
    try connection.command(["XADD", .string(key), .string(id)] + fields.flatMap { [RedisArgument.bytes($0.0), .bytes($0.1)] }).string ?? ""
}

@discardableResult
func xadd(_ key: String, _ fields: [(String, String)], id: String = "*", on connection: RedisConnection) throws -> String {
    try xadd(key, fields.map { (Array($0.0.utf8), Array($0.1.utf8)) }, id: id, on: connection)
}
