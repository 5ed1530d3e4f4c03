import Hummingbird
import Synchronization

/// Who may use the console, and how a form proves that it came from the console.
///
/// - With a token (`--token`, `INTONE_WEB_TOKEN`; required on any address other than
///   loopback), every page needs either the header `Authorization: Bearer <token>` or
///   the session cookie that the sign-in form sets. Sessions live in this process (at
///   most `maxSessions`, each for `sessionLifetime`): a restart signs everyone out.
/// - Every state-changing request is a POST that carries the CSRF token: a random value
///   the console puts in a cookie (`SameSite=Strict`, `HttpOnly`) and in each of its
///   forms; a POST whose form field does not equal the cookie is refused. Another site
///   can neither read the cookie nor, with `SameSite=Strict`, send it.
public final class AccessControl: Sendable {
    static let sessionCookie = "intone_session"
    static let csrfCookie = "intone_csrf"
    static let maxSessions = 1000
    static let sessionLifetime = Duration.seconds(12 * 3600)

    let token: [UInt8]?
    private let sessions = Mutex<[String: ContinuousClock.Instant]>([:])

    public init(token: String?) {
        self.token = token.map { Array($0.utf8) }
    }

    var requiresSignIn: Bool { token != nil }

    /// Whether the request may see pages: no token is set, or it presents the token or a session.
    func isAuthorized(_ request: Request) -> Bool {
        guard let token else { return true }
        for value in request.headers[values: .authorization] {
            let parts = value.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer", Self.constantTimeEquals(Array(parts[1].utf8), token) { return true }
        }
        return hasSession(request)
    }

    func hasSession(_ request: Request) -> Bool {
        guard let id = request.cookies[Self.sessionCookie]?.value else { return false }
        let now = ContinuousClock.now
        return sessions.withLock { sessions in
            guard let expiry = sessions[id] else { return false }
            if expiry < now {
                sessions[id] = nil
                return false
            }
            return true
        }
    }

    func tokenMatches(_ candidate: [UInt8]) -> Bool {
        guard let token else { return false }
        return Self.constantTimeEquals(candidate, token)
    }

    /// A new session id; the oldest sessions make room when there are too many.
    func openSession() -> String {
        let id = Self.randomToken()
        let now = ContinuousClock.now
        sessions.withLock { sessions in
            sessions = sessions.filter { $0.value > now }
            if sessions.count >= Self.maxSessions, let oldest = sessions.min(by: { $0.value < $1.value })?.key {
                sessions[oldest] = nil
            }
            sessions[id] = now + Self.sessionLifetime
        }
        return id
    }

    func closeSession(_ request: Request) {
        guard let id = request.cookies[Self.sessionCookie]?.value else { return }
        _ = sessions.withLock { $0.removeValue(forKey: id) }
    }

    /// The CSRF token a request carries in its cookie, when it is one the console made.
    static func csrfCookieValue(_ request: Request) -> String? {
        guard let value = request.cookies[csrfCookie]?.value, value.utf8.count == 64, value.utf8.allSatisfy(isLowerHex) else {
            return nil
        }
        return value
    }

    /// Whether a form's `csrf` field equals the cookie (both present).
    static func csrfMatches(form: FormData, cookie: String?) -> Bool {
        guard let cookie, let field = form.bytes("csrf") else { return false }
        return constantTimeEquals(field, Array(cookie.utf8))
    }

    /// 32 random bytes from the system's generator, in lower-case hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let hex = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for _ in 0..<4 {
            var word = generator.next() as UInt64
            for _ in 0..<8 {
                let byte = UInt8(word & 0xFF)
                out += [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
                word >>= 8
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Compares without an early exit, so the time taken does not tell how much matched.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}
