import Hummingbird
import IntoneCore

/// Runs before every route: signs requests in (token), checks the CSRF token of every
/// POST, turns errors into pages, and adds the security headers to every response.
struct ConsoleMiddleware: RouterMiddleware {
    typealias Context = ConsoleRequestContext

    let site: ConsoleSite

    /// Paths served without signing in: the sign-in form, what it needs, the health check.
    static let openPaths: Set<String> = ["/login", "/assets/console.css", "/assets/console.js", "/healthz"]
    /// Forms are small; a larger body is refused.
    static let maxFormBytes = 64 * 1024

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        if let token = AccessControl.csrfCookieValue(request) {
            context.csrfToken = token
        } else {
            context.csrfToken = AccessControl.randomToken()
            context.setsCSRFCookie = true
        }
        context.signedIn = site.access.requiresSignIn && site.access.hasSession(request)
        context.authorized = site.access.isAuthorized(request)
        var response: Response
        do {
            if let refusal = try await admit(request, context: &context) {
                response = refusal
            } else {
                response = try await next(request, context)
            }
        } catch let error as HTTPError {
            response = site.errorPage(
                status: error.status, heading: error.status.reasonPhrase, message: error.body ?? error.status.reasonPhrase, context: context
            )
        } catch let error as RedisError {
            response = site.errorPage(
                status: .serviceUnavailable, heading: "Redis is not answering",
                message: "\(error.message). The page will work again once Redis answers.", context: context)
        } catch {
            site.logger.error("page failed", metadata: ["http.path": "\(request.uri.path)", "error": "\(error)"])
            response = site.errorPage(
                status: .internalServerError, heading: "Something went wrong", message: "The page could not be made.", context: context)
        }
        Self.secure(&response, isAsset: request.uri.path.hasPrefix("/assets/"))
        if context.setsCSRFCookie {
            response.setCookie(
                Cookie(
                    name: AccessControl.csrfCookie, value: context.csrfToken, path: "/", secure: Self.isHTTPS(request), httpOnly: true,
                    sameSite: .strict))
        }
        return response
    }

    /// A response that stops the request here (sign in first, a refused POST), or nil to go on.
    private func admit(_ request: Request, context: inout Context) async throws -> Response? {
        let path = request.uri.path
        if !Self.openPaths.contains(path), !context.authorized {
            if request.method == .get || request.method == .head {
                let next = FormData.encode(Array((path + (request.uri.query.map { "?" + $0 } ?? "")).utf8))
                return site.redirect("/login?next=" + next)
            }
            return site.errorPage(
                status: .unauthorized, heading: "Sign in first", message: "This console needs its token: sign in, then try again.",
                context: context)
        }
        guard request.method == .post else { return nil }
        if let refusal = Self.crossSiteRefusal(request) {
            return site.errorPage(status: .forbidden, heading: "Refused", message: refusal, context: context)
        }
        let contentType = request.headers[.contentType]?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else {
            return site.errorPage(
                status: .unsupportedMediaType, heading: "Refused", message: "The console only takes its own forms.", context: context)
        }
        var request = request
        let body = try await request.collectBody(upTo: Self.maxFormBytes)
        context.form = FormData(body.readableBytesView)
        // A new cookie was just made for this request, so no form can carry it yet.
        guard !context.setsCSRFCookie, AccessControl.csrfMatches(form: context.form, cookie: context.csrfToken) else {
            return site.errorPage(
                status: .forbidden, heading: "Refused",
                message:
                    "The form did not carry this console's CSRF token (it expired or came from somewhere else). Reload the page and try again.",
                context: context)
        }
        return nil
    }

    /// A POST that a browser says came from another site, or whose Origin is not this host.
    static func crossSiteRefusal(_ request: Request) -> String? {
        if let site = request.headers[.secFetchSite], site == "cross-site" {
            return "The request came from another site."
        }
        if let origin = request.headers[.origin], origin != "null", let host = request.head.authority {
            let bare = origin.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map(String.init) ?? ""
            if bare != host { return "The request came from \(origin), not from this console." }
        }
        return nil
    }

    static func isHTTPS(_ request: Request) -> Bool {
        request.headers[.xForwardedProto]?.lowercased() == "https"
    }

    /// Headers that keep pages from being framed, sniffed or made to run anything but
    /// the console's own script.
    static func secure(_ response: inout Response, isAsset: Bool) {
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] =
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "same-origin"
        response.headers[.xFrameOptions] = "DENY"
        if !isAsset, response.headers[.cacheControl] == nil { response.headers[.cacheControl] = "no-store" }
    }
}

extension HTTPFields.Element.Name {
    static let secFetchSite = Self("Sec-Fetch-Site")!
    static let xForwardedProto = Self("X-Forwarded-Proto")!
    static let xFrameOptions = Self("X-Frame-Options")!
    static let referrerPolicy = Self("Referrer-Policy")!
}
