import ArgumentParser
import IntoneCore
import IntoneTools
import IntoneWeb
import Logging
import ServiceLifecycle

struct Web: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the operators' web console: queue, workers, results with audio, dead letters, agents.",
        discussion: """
            It reads Redis and needs no worker running. On an address other than loopback it needs a token \
            (--token or INTONE_WEB_TOKEN, at least 16 characters); prefer the variable, since flags show in ps.
            """)

    @OptionGroup var queueOptions: QueueOptions
    @OptionGroup var logOptions: LogOptions
    @Option(help: "host:port to serve on (env INTONE_WEB_LISTEN; default 127.0.0.1:8080).") var listen: String?
    @Option(help: "Token to sign in with; required off loopback (env INTONE_WEB_TOKEN).") var token: String?

    func run() async throws {
        try logOptions.bootstrap()
        var flags = queueOptions.flags
        flags["listen"] = listen
        flags["token"] = token
        let configuration: WebConfiguration
        do {
            configuration = try WebConfiguration(flags: flags, environment: Environment.all)
        } catch {
            throw fail(error.message)
        }
        let console = try WebConsole(
            configuration: configuration,
            voices: { try SynthesizerPool.loadCatalog(executable: SynthesizerPool.currentExecutable()) },
            logger: Logger(label: "intone.web"))
        var lifecycleLogger = Logger(label: "intone.lifecycle")
        lifecycleLogger.logLevel = .critical
        let group = ServiceGroup(
            configuration: .init(services: [console], gracefulShutdownSignals: [.sigterm, .sigint], logger: lifecycleLogger))
        do {
            try await group.run()
        } catch {
            throw fail("\(error)")
        }
    }
}
