import Hummingbird

extension ConsoleSite {
    struct LoginView {
        var next: String
        var error: String?
    }

    func loginPage(_ request: Request, context: ConsoleRequestContext) -> Response {
        guard access.requiresSignIn else { return redirect("/") }
        let next = Self.safeNext(FormData(query: request.uri.query).bytes("next"))
        return page("login", title: "Sign in", section: .none, context: context, LoginView(next: next, error: nil))
    }

    func signIn(_ request: Request, context: ConsoleRequestContext) async throws -> Response {
        guard access.requiresSignIn else { return redirect("/") }
        let next = Self.safeNext(context.form.bytes("next"))
        guard access.tokenMatches(context.form.bytes("token") ?? []) else {
            // A pause on every wrong token makes guessing slow.
            try await Task.sleep(for: .milliseconds(400))
            return page(
                "login", title: "Sign in", section: .none, status: .unauthorized, context: context,
                LoginView(next: next, error: "That is not the console's token."))
        }
        var response = redirect(next)
        response.setCookie(
            Cookie(
                name: AccessControl.sessionCookie, value: access.openSession(),
                maxAge: Int(AccessControl.sessionLifetime.components.seconds), path: "/",
                secure: ConsoleMiddleware.isHTTPS(request), httpOnly: true, sameSite: .strict))
        return response
    }

    func signOut(_ request: Request, context: ConsoleRequestContext) -> Response {
        access.closeSession(request)
        var response = redirect(access.requiresSignIn ? "/login" : "/")
        response.setCookie(
            Cookie(name: AccessControl.sessionCookie, value: "", maxAge: 0, path: "/", httpOnly: true, sameSite: .strict))
        return response
    }

    /// Where to go after signing in: a path of this console only (no `//host`, no scheme).
    static func safeNext(_ bytes: [UInt8]?) -> String {
        let text = Display.text(bytes)
        guard text.hasPrefix("/"), !text.hasPrefix("//"), !text.contains("\\"),
            text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
        else { return "/" }
        return text
    }
}
