import Metrics
import Prometheus

/// The Prometheus side of the worker's metrics: one registry, bootstrapped once per process.
public enum MetricsExport {
    /// Makes swift-metrics report into a new Prometheus registry and returns it.
    public static func bootstrapPrometheus() -> PrometheusCollectorRegistry {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = WorkerMetrics.durationBuckets.map { .microseconds(Int64($0 * 1_000_000)) }
        factory.durationHistogramBuckets = ["intone_stage_duration_seconds": factory.defaultDurationHistogramBuckets]
        factory.valueHistogramBuckets = ["intone_batch_size": WorkerMetrics.batchSizeBuckets]
        MetricsSystem.bootstrap(factory)
        return registry
    }
}
