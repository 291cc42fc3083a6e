//! Leader election on a `coordination.k8s.io/v1` Lease: one replica
//! reconciles, the others wait until the holder stops renewing.
//!
//! The timing follows client-go's leader election. The holder renews every
//! `retry period` and must succeed within the `renew deadline` (two thirds
//! of the lease duration) of its last success; a follower takes over only
//! after the lease duration has passed since the last renewal. So the old
//! leader has stopped (its [`LeaderGuard`] refuses every write) a third of
//! a lease before anyone else can start: the two never write at once, even
//! when the old leader was paused or cut off rather than killed. On
//! SIGTERM the holder releases the Lease, and a follower takes over at once.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::{Api, Client};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Whether this replica may write, and until when.
///
/// The operator's own API client refuses every request but reads (see
/// [`LeaderGuard::allows`]) once the guard's time has passed, so no write
/// leaves a replica that may have lost the Lease.
#[derive(Clone, Debug, Default)]
pub struct LeaderGuard(Arc<Mutex<Option<Instant>>>);

impl LeaderGuard {
    /// Writes are allowed until `until`.
    fn allow_until(&self, until: Instant) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(until);
        }
    }

    /// No more writes.
    pub fn revoke(&self) {
        if let Ok(mut g) = self.0.lock() {
            *g = None;
        }
    }

    /// Whether a write sent now is allowed.
    pub fn allows_writes(&self) -> bool {
        self.0
            .lock()
            .ok()
            .and_then(|g| *g)
            .is_some_and(|until| Instant::now() < until)
    }

    /// Whether a request with this method may be sent: reads always, writes
    /// only while this replica leads.
    pub fn allows(&self, method: &http::Method) -> bool {
        matches!(*method, http::Method::GET | http::Method::HEAD) || self.allows_writes()
    }
}

/// A Lease held by `identity`.
pub struct LeaseLock {
    api: Api<Lease>,
    name: String,
    identity: String,
    duration: Duration,
    guard: LeaderGuard,
}

/// Whether `lease` is free for `identity` at `now`: unheld, held by it, or expired.
pub fn claimable(lease: &LeaseSpec, identity: &str, now: Timestamp) -> bool {
    let holder = lease.holder_identity.as_deref().unwrap_or_default();
    if holder.is_empty() || holder == identity {
        return true;
    }
    let seconds = i64::from(lease.lease_duration_seconds.unwrap_or(15));
    match &lease.renew_time {
        Some(MicroTime(renewed)) => renewed
            .checked_add(SignedDuration::from_secs(seconds))
            .map(|expiry| expiry < now)
            .unwrap_or(true),
        None => true,
    }
}

impl LeaseLock {
    /// A lock on the Lease `namespace/name`. `client` must not be guarded
    /// (the Lease is written to find out whether this replica leads).
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        identity: &str,
        duration: Duration,
        guard: LeaderGuard,
    ) -> Self {
        LeaseLock {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity: identity.into(),
            duration,
            guard,
        }
    }

    /// How long after its last successful renewal a leader stops writing.
    pub fn renew_deadline(&self) -> Duration {
        self.duration * 2 / 3
    }

    /// How often the holder renews and a follower tries.
    pub fn retry_period(&self) -> Duration {
        self.duration / 5
    }

    /// Takes or renews the Lease; `Ok(false)` while another replica holds it.
    pub async fn try_acquire(&self) -> Result<bool, kube::Error> {
        let now = Timestamp::now();
        let seconds = i32::try_from(self.duration.as_secs()).unwrap_or(15);
        match self.api.get_opt(&self.name).await? {
            None => {
                let lease = Lease {
                    metadata: ObjectMeta {
                        name: Some(self.name.clone()),
                        ..ObjectMeta::default()
                    },
                    spec: Some(LeaseSpec {
                        holder_identity: Some(self.identity.clone()),
                        lease_duration_seconds: Some(seconds),
                        acquire_time: Some(MicroTime(now)),
                        renew_time: Some(MicroTime(now)),
                        lease_transitions: Some(0),
                        ..LeaseSpec::default()
                    }),
                };
                match self.api.create(&PostParams::default(), &lease).await {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
            Some(mut lease) => {
                let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
                if !claimable(spec, &self.identity, now) {
                    return Ok(false);
                }
                if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                    spec.holder_identity = Some(self.identity.clone());
                    spec.acquire_time = Some(MicroTime(now));
                    spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
                }
                spec.renew_time = Some(MicroTime(now));
                spec.lease_duration_seconds = Some(seconds);
                // resourceVersion makes this a compare-and-swap: a replica
                // that raced us gets 409 and keeps waiting.
                match self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(kube::Error::Api(e)) if e.code == 409 => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    }

    /// One attempt, bounded by `limit`; on success writes are allowed until
    /// the renew deadline counted from the attempt's start.
    async fn attempt(&self, limit: Duration) -> Result<bool, String> {
        let started = Instant::now();
        match tokio::time::timeout(limit, self.try_acquire()).await {
            Ok(Ok(true)) => {
                self.guard.allow_until(started + self.renew_deadline());
                Ok(true)
            }
            Ok(Ok(false)) => Ok(false),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {limit:?}")),
        }
    }

    /// Waits until this replica holds the Lease.
    pub async fn acquire(&self) {
        let mut logged = false;
        loop {
            match self.attempt(self.renew_deadline()).await {
                Ok(true) => return,
                Ok(false) if !logged => {
                    tracing::info!(lease = %self.name, "another replica leads; waiting");
                    logged = true;
                }
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "leader lease"),
            }
            tokio::time::sleep(self.retry_period()).await;
        }
    }

    /// Renews every retry period; returns (with writes already refused)
    /// when the Lease is lost or could not be renewed by the deadline.
    pub async fn keep(&self) {
        let mut valid_until = Instant::now() + self.renew_deadline();
        loop {
            tokio::time::sleep(self.retry_period()).await;
            let started = Instant::now();
            let Some(left) = valid_until.checked_duration_since(started) else {
                break;
            };
            match self.attempt(left).await {
                Ok(true) => valid_until = started + self.renew_deadline(),
                Ok(false) => break,
                Err(e) => tracing::warn!(error = %e, "renewing the leader lease"),
            }
            if Instant::now() >= valid_until {
                break;
            }
        }
        self.guard.revoke();
    }

    /// Gives the Lease up (on shutdown), so a follower takes over at once.
    pub async fn release(&self) {
        self.guard.revoke();
        let release = async {
            let Some(mut lease) = self.api.get_opt(&self.name).await? else {
                return Ok(());
            };
            let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
            if spec.holder_identity.as_deref() != Some(self.identity.as_str()) {
                return Ok(());
            }
            spec.holder_identity = None;
            spec.lease_duration_seconds = Some(1);
            spec.renew_time = Some(MicroTime(Timestamp::now()));
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| ())
        };
        match tokio::time::timeout(Duration::from_secs(5), release).await {
            Ok(Ok(())) => tracing::info!(lease = %self.name, "released the leader lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "releasing the leader lease"),
            Err(_) => tracing::warn!("releasing the leader lease took too long"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: &str, renewed_secs_ago: i64) -> LeaseSpec {
        let now = Timestamp::now();
        LeaseSpec {
            holder_identity: Some(holder.into()),
            lease_duration_seconds: Some(15),
            renew_time: now
                .checked_sub(SignedDuration::from_secs(renewed_secs_ago))
                .ok()
                .map(MicroTime),
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn a_fresh_lease_of_another_replica_is_not_claimable() {
        assert!(!claimable(&spec("b", 2), "a", Timestamp::now()));
    }

    #[test]
    fn an_expired_or_own_or_empty_lease_is_claimable() {
        assert!(claimable(&spec("b", 60), "a", Timestamp::now()));
        assert!(claimable(&spec("a", 2), "a", Timestamp::now()));
        assert!(claimable(&LeaseSpec::default(), "a", Timestamp::now()));
    }

    #[tokio::test]
    async fn a_guard_allows_reads_always_and_writes_only_until_its_time() {
        let guard = LeaderGuard::default();
        assert!(guard.allows(&http::Method::GET));
        assert!(!guard.allows(&http::Method::PATCH));
        guard.allow_until(Instant::now() + Duration::from_secs(60));
        assert!(guard.allows(&http::Method::PATCH));
        guard.allow_until(Instant::now() - Duration::from_millis(1));
        assert!(!guard.allows(&http::Method::POST));
        guard.revoke();
        assert!(!guard.allows(&http::Method::DELETE));
    }
}
