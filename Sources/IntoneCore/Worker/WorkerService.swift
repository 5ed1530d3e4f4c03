import ServiceLifecycle

/// The worker as a swift-service-lifecycle `Service`: its blocking loop runs on a thread
/// of its own; a graceful shutdown (SIGTERM, SIGINT) or a cancellation asks it to stop,
/// and `run()` returns once it has finished the jobs in hand.
public struct WorkerService: Service {
    public let worker: Worker

    public init(worker: Worker) {
        self.worker = worker
    }

    public func run() async throws {
        let worker = worker
        let thread = BackgroundThread.start { try worker.run() }
        try await withTaskCancellationHandler {
            try await withGracefulShutdownHandler {
                try await thread.join()
            } onGracefulShutdown: {
                worker.requestStop()
            }
        } onCancel: {
            worker.requestStop()
        }
    }
}
