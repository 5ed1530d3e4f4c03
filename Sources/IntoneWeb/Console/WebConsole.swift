import Hummingbird
import IntoneCore
import Logging
import ServiceLifecycle
import Synchronization

/// `intone web`: a server-rendered console for operators, on Hummingbird. It reads Redis
/// and needs no worker running; it writes only dead letters (retry, delete) and agent
/// settings. It never reads through the consumer group (no XREADGROUP, no XGROUP CREATE)
/// and never reads more than a fixed number of entries or keys per request.
public struct WebConsole: Service {
    public let configuration: WebConfiguration
    let site: ConsoleSite

    /// `voices` lists the espeak-ng voices for checking an agent's voice; it is called
    /// once, on the first edit that needs it (nil: voices are not checked).
    public init(
        configuration: WebConfiguration, voices: @escaping @Sendable () throws -> VoiceCatalog?, logger: Logger, redisThreads: Int = 4
    ) throws {
        self.configuration = configuration
        site = ConsoleSite(
            configuration: configuration,
            redis: RedisThreadPool(
                url: configuration.redisURL, queue: configuration.keys, shards: configuration.shards, threadCount: redisThreads),
            renderer: try PageRenderer(), voices: VoiceCatalogLoader(load: voices, logger: logger), logger: logger)
    }

    /// Every route, behind the middleware (sign-in, CSRF, errors, headers).
    public func makeRouter() -> Router<ConsoleRequestContext> {
        let router = Router(context: ConsoleRequestContext.self)
        router.middlewares.add(ConsoleMiddleware(site: site))
        let site = site
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/assets/console.css") { request, _ in Assets.response(Assets.css, contentType: "text/css; charset=utf-8", request) }
        router.get("/assets/console.js") { request, _ in
            Assets.response(Assets.javaScript, contentType: "text/javascript; charset=utf-8", request)
        }
        router.get("/login") { request, context in site.loginPage(request, context: context) }
        router.post("/login") { request, context in try await site.signIn(request, context: context) }
        router.post("/logout") { request, context in site.signOut(request, context: context) }
        router.get("/") { request, context in try await site.overview(request, context: context) }
        router.get("/workers") { request, context in try await site.workers(request, context: context) }
        router.get("/results") { request, context in try await site.results(request, context: context) }
        router.get("/audio/:entry") { request, context in try await site.audio(request, context: context) }
        router.get("/dead") { request, context in try await site.deadLetters(request, context: context) }
        router.get("/dead/:id") { request, context in try await site.deadLetter(request, context: context) }
        router.post("/dead/:id/retry") { request, context in try await site.retryOne(request, context: context) }
        router.post("/dead/:id/delete") { request, context in try await site.deleteOne(request, context: context) }
        router.post("/dead/retry") { request, context in try await site.retryMatching(request, context: context) }
        router.post("/dead/delete") { request, context in try await site.deleteMatching(request, context: context) }
        router.get("/agents") { request, context in try await site.agents(request, context: context) }
        router.get("/agents/edit") { request, context in try await site.agentForm(request, context: context) }
        router.post("/agents/edit") { request, context in try await site.saveAgent(request, context: context) }
        return router
    }

    /// Serves until a graceful shutdown; the Redis threads end with it.
    public func run() async throws {
        let logger = site.logger
        let configuration = configuration
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        let application = Application(
            router: makeRouter(), configuration: .init(address: .hostname(configuration.host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? configuration.port
                var shown = configuration
                shown.port = port
                logger.info(
                    "console serving",
                    metadata: [
                        "address": "\(shown.address)", "queue": "\(configuration.keys.queue)", "redis": "\(configuration.redisURL)",
                        "sign_in": "\(configuration.token == nil ? "off (loopback)" : "token")",
                    ])
            }, logger: quiet)
        defer { site.redis.shutdown() }
        try await application.run()
    }
}

/// What the routes share: settings, the Redis threads, sign-in, the templates.
final class ConsoleSite: Sendable {
    let configuration: WebConfiguration
    let keys: QueueKeys
    let redis: RedisThreadPool
    let access: AccessControl
    let renderer: PageRenderer
    let voices: VoiceCatalogLoader
    let logger: Logger

    init(configuration: WebConfiguration, redis: RedisThreadPool, renderer: PageRenderer, voices: VoiceCatalogLoader, logger: Logger) {
        self.configuration = configuration
        keys = configuration.keys
        self.redis = redis
        access = AccessControl(token: configuration.token)
        self.renderer = renderer
        self.voices = voices
        self.logger = logger
    }

    /// A whole page: `page` fills the template's `{{#page}}` section inside the layout.
    func page(
        _ template: String, title: String, section: Section, refreshSeconds: Int = 0, status: HTTPResponse.Status = .ok,
        notice: String? = nil, context: ConsoleRequestContext, _ page: Any
    ) -> Response {
        let view = LayoutView(
            title: title, known: context.authorized,
            nav: Section.allCases.filter { $0 != .none }.map { .init(href: $0.href, label: $0.label, current: $0 == section) },
            queue: keys.queue, keyPrefix: keys.prefix, redis: configuration.redisURL.description, csrf: context.csrfToken,
            refreshSeconds: refreshSeconds, live: refreshSeconds > 0, signedIn: context.signedIn, notice: notice,
            assetVersion: Assets.version, page: page)
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: renderer.render(template, view))))
    }

    struct ErrorView {
        var heading: String
        var message: String
    }

    func errorPage(status: HTTPResponse.Status, heading: String, message: String, context: ConsoleRequestContext) -> Response {
        page("error", title: heading, section: .none, status: status, context: context, ErrorView(heading: heading, message: message))
    }

    /// 303 See Other: after a POST, the browser GETs the page to show.
    func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// Runs blocking Redis work on the console's own threads, on every stream of the queue.
    func withQueue<T: Sendable>(idempotent: Bool = true, _ body: @escaping @Sendable (QueueAccess) throws(RedisError) -> T)
        async throws(RedisError) -> T
    {
        try await redis.run(idempotent: idempotent, queue: body)
    }

    /// Runs blocking Redis work on the console's own threads, on the queue's `{Q}` slot.
    func withRedis<T: Sendable>(idempotent: Bool = true, _ body: @escaping @Sendable (RedisConnection) throws(RedisError) -> T)
        async throws(RedisError) -> T
    {
        try await redis.run(idempotent: idempotent, body)
    }
}

/// Loads the voice list once, off the cooperative pool (it starts a synthesizer child).
final class VoiceCatalogLoader: Sendable {
    private let load: @Sendable () throws -> VoiceCatalog?
    private let logger: Logger
    private let loaded = Mutex<VoiceCatalog??>(nil)

    init(load: @escaping @Sendable () throws -> VoiceCatalog?, logger: Logger) {
        self.load = load
        self.logger = logger
    }

    func catalog() async -> VoiceCatalog? {
        if let cached = loaded.withLock({ $0 }) { return cached }
        let load = load
        let logger = logger
        let result = Outcome()
        let thread = BackgroundThread.start {
            do {
                let catalog = try load()
                result.catalog.withLock { $0 = catalog }
            } catch {
                logger.warning("voices cannot be listed; agent voices are not checked", metadata: ["error": "\(error)"])
            }
        }
        try? await thread.join()
        let catalog = result.catalog.withLock { $0 }
        loaded.withLock { $0 = .some(catalog) }
        return catalog
    }

    private final class Outcome: Sendable {
        let catalog = Mutex<VoiceCatalog?>(nil)
    }
}
