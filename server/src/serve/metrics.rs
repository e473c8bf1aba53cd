//! Prometheus metrics. The established names (`flk_ingest_total`, `flk_dedup_hits`,
//! `flk_accepted`, `flk_escalated`, `flk_signature_errors`, `flk_wal_errors`) count
//! across tenants; each has a twin `…_by_tenant` family with a `tenant` label.
//!
//! The `prometheus` crate is used rather than `prometheus-client` because the
//! latter appends `_total` to every counter, which would rename the established
//! metrics that dashboards already query.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// One tenant's counters, resolved once so the hot path does no label lookup.
#[derive(Clone)]
pub struct TenantCounters {
    /// Submissions received.
    pub ingest: IntCounter,
    /// Answers served from the dedup store.
    pub dedup_hits: IntCounter,
    /// Stored outcomes with `accepted=true`.
    pub accepted: IntCounter,
    /// Stored outcomes with `escalated=true`.
    pub escalated: IntCounter,
    /// 401 answers.
    pub signature_errors: IntCounter,
    /// Submissions that failed to reach the log.
    pub wal_errors: IntCounter,
}

/// Every metric of the server.
pub struct Metrics {
    registry: Registry,
    total: TenantCounters,
    by_tenant: [IntCounterVec; 6],
    /// Request latency by route.
    pub latency: HistogramVec,
    /// Time of one WAL write + fdatasync.
    pub wal_fsync: Histogram,
    /// Records per WAL group commit.
    pub wal_batch: Histogram,
    /// Time of one durable store checkpoint.
    pub checkpoint: Histogram,
    /// Answers by status code.
    pub responses: IntCounterVec,
    /// Open HTTP connections.
    pub open_connections: IntGauge,
    /// Failed write transactions of the outcome store (each is retried).
    pub store_errors: IntCounter,
}

/// Counters for one tenant that also feed the totals.
#[derive(Clone)]
pub struct Counters {
    total: TenantCounters,
    tenant: TenantCounters,
}

macro_rules! both {
    ($name:ident) => {
        /// Increments the total and the tenant's counter.
        pub fn $name(&self) {
            self.total.$name.inc();
            self.tenant.$name.inc();
        }
    };
}

impl Counters {
    both!(ingest);
    both!(dedup_hits);
    both!(accepted);
    both!(escalated);
    both!(signature_errors);
    both!(wal_errors);
}

const NAMES: [(&str, &str, &str); 6] = [
    ("flk_ingest_total", "flk_ingest_by_tenant_total", "Submissions received."),
    ("flk_dedup_hits", "flk_dedup_hits_by_tenant", "Submissions answered from the dedup store."),
    ("flk_accepted", "flk_accepted_by_tenant", "Stored outcomes with accepted=true."),
    ("flk_escalated", "flk_escalated_by_tenant", "Stored outcomes with escalated=true."),
    (
        "flk_signature_errors",
        "flk_signature_errors_by_tenant",
        "Submissions refused for a missing or invalid signature.",
    ),
    ("flk_wal_errors", "flk_wal_errors_by_tenant", "Submissions that could not be written to the log."),
];

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let mut totals = Vec::new();
        let mut vecs = Vec::new();
        for (name, by, help) in NAMES {
            let c = IntCounter::new(name, help).unwrap();
            registry.register(Box::new(c.clone())).unwrap();
            totals.push(c);
            let v = IntCounterVec::new(Opts::new(by, format!("{help} By tenant.")), &["tenant"]).unwrap();
            registry.register(Box::new(v.clone())).unwrap();
            vecs.push(v);
        }
        let latency_buckets =
            vec![0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0];
        let latency = HistogramVec::new(
            HistogramOpts::new("flk_request_duration_seconds", "Time from request to answer, by route.")
                .buckets(latency_buckets),
            &["route"],
        )
        .unwrap();
        let wal_fsync = Histogram::with_opts(
            HistogramOpts::new("flk_wal_fsync_duration_seconds", "Time of one WAL group commit (write + fdatasync).")
                .buckets(prometheus::exponential_buckets(0.00005, 2.0, 14).unwrap()),
        )
        .unwrap();
        let wal_batch = Histogram::with_opts(
            HistogramOpts::new("flk_wal_batch_records", "Records per WAL group commit.")
                .buckets(prometheus::exponential_buckets(1.0, 2.0, 12).unwrap()),
        )
        .unwrap();
        let checkpoint = Histogram::with_opts(
            HistogramOpts::new("flk_store_checkpoint_duration_seconds", "Time of one durable store checkpoint.")
                .buckets(prometheus::exponential_buckets(0.001, 2.0, 14).unwrap()),
        )
        .unwrap();
        let responses =
            IntCounterVec::new(Opts::new("flk_http_responses_total", "Answers by HTTP status."), &["status"]).unwrap();
        let open_connections = IntGauge::new("flk_open_connections", "Open HTTP connections.").unwrap();
        let store_errors =
            IntCounter::new("flk_store_write_errors", "Failed write transactions of the outcome store (retried).")
                .unwrap();
        for m in [
            Box::new(open_connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(store_errors.clone()),
            Box::new(latency.clone()),
            Box::new(wal_fsync.clone()),
            Box::new(wal_batch.clone()),
            Box::new(checkpoint.clone()),
            Box::new(responses.clone()),
        ] {
            registry.register(m).unwrap();
        }
        let mut t = totals.into_iter();
        let total = TenantCounters {
            ingest: t.next().unwrap(),
            dedup_hits: t.next().unwrap(),
            accepted: t.next().unwrap(),
            escalated: t.next().unwrap(),
            signature_errors: t.next().unwrap(),
            wal_errors: t.next().unwrap(),
        };
        let by_tenant: [IntCounterVec; 6] = vecs.try_into().ok().unwrap();
        Metrics {
            registry,
            total,
            by_tenant,
            latency,
            wal_fsync,
            wal_batch,
            checkpoint,
            responses,
            open_connections,
            store_errors,
        }
    }

    /// The counters of one tenant (create them at start so they show as 0).
    pub fn tenant(&self, id: &str) -> Counters {
        let c = |i: usize| self.by_tenant[i].with_label_values(&[id]);
        Counters {
            total: self.total.clone(),
            tenant: TenantCounters {
                ingest: c(0),
                dedup_hits: c(1),
                accepted: c(2),
                escalated: c(3),
                signature_errors: c(4),
                wal_errors: c(5),
            },
        }
    }

    /// Registers another collector (the shared stores' metrics).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) {
        self.registry.register(c).expect("metric names are unique");
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8192);
        TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding cannot fail");
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The content type of [`Metrics::render`].
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
