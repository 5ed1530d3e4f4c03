import Hummingbird

/// What the console knows about a request beyond Hummingbird's own: its CSRF token,
/// whether it came with a session, and a POST's form (read once, by `ConsoleMiddleware`).
public struct ConsoleRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The token to put in this page's forms (from the cookie, or a new one).
    var csrfToken = ""
    /// True when the cookie had no valid token and the response must set one.
    var setsCSRFCookie = false
    var signedIn = false
    /// False when a token is set and the request has not shown it: the page then tells
    /// nothing about the queue or Redis.
    var authorized = true
    /// The body of a POST, decoded.
    var form = FormData(query: nil)

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }
}
