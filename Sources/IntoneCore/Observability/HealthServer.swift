import Hummingbird
import Logging
import Prometheus
import ServiceLifecycle

/// `/metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz`
/// (Redis connected and the synthesizer pool up), served by Hummingbird.
public struct HealthServer: Service {
    let application: Application<RouterResponder<BasicRequestContext>>
    let logger: Logger

    public init(
        host: String = "0.0.0.0", port: Int, registry: PrometheusCollectorRegistry,
        readiness: @escaping @Sendable () -> (ready: Bool, reason: String), logger: Logger
    ) {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: .init(byteBuffer: buffer))
        }
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let state = readiness()
            return Response(
                status: state.ready ? .ok : .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(string: state.reason + "\n")))
        }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        application = Application(router: router, configuration: .init(address: .hostname(host, port: port)), logger: quiet)
        self.logger = logger
        self.host = host
        self.port = port
    }

    let host: String
    let port: Int

    /// Serves until shutdown. A port that cannot be bound is logged, not fatal: the
    /// worker's own work goes on without the endpoints.
    public func run() async throws {
        do {
            try await application.run()
        } catch is CancellationError {
            return
        } catch {
            logger.error(
                "metrics and health endpoints are not served: cannot listen on \(host):\(port) (--metrics-host, --metrics-port)",
                metadata: ["error.message": "\(error)"])
        }
    }
}
