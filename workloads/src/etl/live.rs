//! A follower's live views: after loads, and at most every
//! `etl.live_refresh_ms`, the two marts the live views read are rebuilt, the
//! loaded orders cached and the stats, leaderboards and alerts refreshed
//! ([`super::realtime::refresh_live`]), one refresh at a time, in the
//! background while loading goes on. Each refresh also times its orders:
//! from their send (Kafka timestamp) to the refresh that shows them.

use super::consume::EtlMetrics;
use crate::config::Config;
use sqlx::PgPool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

/// The live views of a follower: refreshed in the background after loads,
/// one refresh at a time, at most every `etl.live_refresh_ms`.
pub(super) struct LiveViews {
    config: Config,
    pool: PgPool,
    metrics: EtlMetrics,
    /// Send times (ms) of the orders loaded since the last refresh started.
    pending: Vec<i64>,
    /// Something was loaded since the last refresh started.
    changed: bool,
    running: Option<JoinHandle<()>>,
    last: Option<Instant>,
    /// How long the last refresh took, milliseconds.
    took_ms: Arc<AtomicU64>,
    /// Orders loaded at or after this (database time) are (re)cached.
    since: Arc<Mutex<Option<chrono::DateTime<chrono::Utc>>>>,
}

impl LiveViews {
    pub(super) fn new(config: &Config, pool: &PgPool, metrics: &EtlMetrics) -> Self {
        LiveViews {
            config: config.clone(),
            pool: pool.clone(),
            metrics: metrics.clone(),
            pending: Vec::new(),
            changed: false,
            running: None,
            last: None,
            took_ms: Arc::default(),
            since: Arc::default(),
        }
    }

    /// A load committed; `sent` are the send times of its orders.
    pub(super) fn loaded(&mut self, sent: Vec<i64>) {
        self.changed = true;
        self.pending.extend(sent);
    }

    /// Starts a refresh when something was loaded, none is running, and
    /// `etl.live_refresh_ms` has passed since the last one started, or three
    /// times its duration if that is longer: refreshes take at most a third
    /// of the time however large the data (each rebuilds marts over every
    /// order), so loading keeps the rest.
    pub(super) fn refresh_when_due(&mut self) {
        let took = Duration::from_millis(self.took_ms.load(Ordering::Relaxed));
        let interval = Duration::from_millis(self.config.etl.live_refresh_ms).max(took * 3);
        let idle = self.running.as_ref().is_none_or(|r| r.is_finished());
        let due = self.last.is_none_or(|t| t.elapsed() >= interval);
        if !(self.changed && idle && due) {
            return;
        }
        self.changed = false;
        self.last = Some(Instant::now());
        let (config, pool, since) = (self.config.clone(), self.pool.clone(), self.since.clone());
        let (metrics, sent) = (self.metrics.clone(), std::mem::take(&mut self.pending));
        let took_ms = self.took_ms.clone();
        self.running = Some(tokio::spawn(async move {
            let clock = Instant::now();
            let started: Result<chrono::DateTime<chrono::Utc>, _> =
                sqlx::query_scalar("SELECT now()").fetch_one(&pool).await;
            // None the first time: every order of the latest days.
            let from = *since.lock().unwrap_or_else(|p| p.into_inner());
            match super::realtime::refresh_live(&config, &pool, from).await {
                Ok(()) => {
                    if let Ok(started) = started {
                        *since.lock().unwrap_or_else(|p| p.into_inner()) = Some(started);
                    }
                    let now = chrono::Utc::now().timestamp_millis();
                    metrics.observe_visible(sent.iter().map(|t| (now - t).max(0) as f64 / 1000.0));
                    tracing::debug!(orders = sent.len(), "live views refreshed");
                }
                // The next load tries again; loading goes on meanwhile.
                Err(e) => tracing::warn!(error = %e, "refreshing the live views"),
            }
            took_ms.store(clock.elapsed().as_millis() as u64, Ordering::Relaxed);
        }));
    }
}
