//! The shared stores' metrics (`flk_store_*`).

use std::time::Instant;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

use crate::serve::metrics::Metrics;

/// Metrics of the shared stores.
#[derive(Clone)]
pub struct StoreMetrics {
    /// Reads answered by a tier, by tier (`hot`, `warm`, `cold`).
    pub hits: IntCounterVec,
    /// Reads a tier could not answer, by tier.
    pub misses: IntCounterVec,
    /// Failed operations, by tier and shard.
    pub errors: IntCounterVec,
    /// Operation latency by tier, shard and operation.
    pub latency: HistogramVec,
    /// Copies made into a faster tier, by tier (`hot`: warm/cold → Redis; `warm`: cold → PostgreSQL).
    pub promotions: IntCounterVec,
    /// Outcomes moved to the cold tier, by shard.
    pub demotions: IntCounterVec,
    /// Writes waiting for their shard's batch, by shard.
    pub queue_depth: IntGaugeVec,
    /// 1 while a shard answers, 0 while it is down.
    pub shard_up: IntGaugeVec,
}

impl StoreMetrics {
    pub(super) fn new(m: &Metrics) -> StoreMetrics {
        let hits =
            IntCounterVec::new(Opts::new("flk_store_hits_total", "Reads answered by a tier."), &["tier"]).unwrap();
        let misses =
            IntCounterVec::new(Opts::new("flk_store_misses_total", "Reads a tier could not answer."), &["tier"])
                .unwrap();
        let errors = IntCounterVec::new(
            Opts::new("flk_store_errors_total", "Failed store operations by tier and shard."),
            &["tier", "shard"],
        )
        .unwrap();
        let latency = HistogramVec::new(
            HistogramOpts::new("flk_store_duration_seconds", "Store operation latency by tier, shard and operation.")
                .buckets(prometheus::exponential_buckets(0.0001, 2.0, 16).unwrap()),
            &["tier", "shard", "op"],
        )
        .unwrap();
        let promotions = IntCounterVec::new(
            Opts::new("flk_store_promotions_total", "Outcomes copied into a faster tier."),
            &["tier"],
        )
        .unwrap();
        let demotions =
            IntCounterVec::new(Opts::new("flk_store_demotions_total", "Outcomes moved to the cold tier."), &["shard"])
                .unwrap();
        let queue_depth =
            IntGaugeVec::new(Opts::new("flk_store_queue_depth", "Writes waiting for their shard."), &["shard"])
                .unwrap();
        let shard_up =
            IntGaugeVec::new(Opts::new("flk_store_shard_up", "1 while the shard answers."), &["shard"]).unwrap();
        for c in [
            Box::new(hits.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(misses.clone()),
            Box::new(errors.clone()),
            Box::new(latency.clone()),
            Box::new(promotions.clone()),
            Box::new(demotions.clone()),
            Box::new(queue_depth.clone()),
            Box::new(shard_up.clone()),
        ] {
            m.register(c);
        }
        StoreMetrics { hits, misses, errors, latency, promotions, demotions, queue_depth, shard_up }
    }

    pub(super) fn time(&self, tier: &str, shard: &str, op: &str, started: Instant) {
        self.latency.with_label_values(&[tier, shard, op]).observe(started.elapsed().as_secs_f64());
    }
}
