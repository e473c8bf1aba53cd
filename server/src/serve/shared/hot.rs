//! The Redis hot tier.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::err;
use crate::serve::store::StoreError;

/// Longest wait for Redis: past it the hot tier is skipped.
const HOT_TIMEOUT: Duration = Duration::from_millis(250);

pub(super) fn hot_key(tenant: &str, pcs_id: &str) -> String {
    format!("flk:o:{tenant}:{pcs_id}")
}

/// The Redis hot tier: one multiplexed, self-reconnecting connection. After a
/// failure it is skipped for [`HOT_BACKOFF`], so a Redis outage costs a request
/// nothing but the authority's round trip.
pub(super) struct Hot {
    pub(super) conn: redis::aio::ConnectionManager,
    pub(super) epoch: Instant,
    /// Milliseconds since `epoch` before which Redis is not asked.
    pub(super) skip_until: AtomicU64,
}

/// How long the hot tier is skipped after it failed.
const HOT_BACKOFF: Duration = Duration::from_secs(1);

impl Hot {
    pub(super) fn new(url: &str) -> Result<Hot, StoreError> {
        let client = redis::Client::open(url).map_err(|e| err(format!("store.hot.url: {e}")))?;
        let cfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_millis(500)))
            .set_response_timeout(Some(HOT_TIMEOUT))
            .set_number_of_retries(1);
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(client, cfg).map_err(err)?;
        Ok(Hot { conn, epoch: Instant::now(), skip_until: AtomicU64::new(0) })
    }

    pub(super) fn skipped(&self) -> bool {
        (self.epoch.elapsed().as_millis() as u64) < self.skip_until.load(Ordering::Relaxed)
    }

    pub(super) async fn run<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<Option<T>, StoreError> {
        if self.skipped() {
            return Ok(None);
        }
        let mut c = self.conn.clone();
        let res = match tokio::time::timeout(HOT_TIMEOUT, cmd.query_async::<T>(&mut c)).await {
            Ok(Ok(v)) => return Ok(Some(v)),
            Ok(Err(e)) => err(e),
            Err(_) => err("redis timed out"),
        };
        let until = (self.epoch.elapsed() + HOT_BACKOFF).as_millis() as u64;
        self.skip_until.store(until, Ordering::Relaxed);
        Err(res)
    }

    pub(super) async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        Ok(self.run::<Option<Vec<u8>>>(cmd).await?.flatten())
    }

    pub(super) async fn set(&self, key: &str, value: Vec<u8>, ttl: u64) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value).arg("EX").arg(ttl);
        self.run::<()>(cmd).await.map(|_| ())
    }
}
