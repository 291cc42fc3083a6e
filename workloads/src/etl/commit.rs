//! Committing a batch so that no single message can stop a partition.
//!
//! A batch is one transaction ([`Batch::write`]). When Postgres refuses it
//! because of the data (a NUL character, a value out of range, a key too
//! long for an index), the batch is split in halves and each half is
//! written on its own, until the refused message is alone: that message is
//! stored as unstorable (raw row, dead letter with Postgres's reason and its
//! Kafka position, offset) and everything around it loads. A deadlock or a
//! serialization failure (readers of one topic run at once) retries the
//! same transaction.

use super::load::{Batch, Committed, LoadStats};
use sqlx::PgPool;
use std::ops::Range;
use std::time::Duration;

/// Attempts of one transaction that Postgres aborted to break a deadlock.
const ATTEMPTS: u32 = 5;

impl Batch {
    /// Writes the batch and its offsets; see the module documentation.
    pub async fn commit(&self, pool: &PgPool) -> Result<Committed, sqlx::Error> {
        let mut stats = LoadStats::default();
        // Ranges of messages still to write, the next one last.
        let mut pending: Vec<Range<usize>> = Vec::new();
        pending.push(0..self.len());
        while let Some(range) = pending.pop() {
            let part;
            let batch = if range.len() == self.len() {
                self
            } else {
                part = self.slice(range.clone());
                &part
            };
            match write_retrying(batch, pool).await {
                Ok(Committed::Loaded(done)) => stats.add(&done),
                Ok(Committed::Superseded) => return Ok(Committed::Superseded),
                Err(e) if refused_for_its_data(&e) && range.len() == 1 => {
                    tracing::warn!(error = %e, "a message Postgres refuses goes to the dead letters");
                    self.write_unstorable(pool, range.start, &e.to_string())
                        .await?;
                    stats.messages += 1;
                    stats.new_messages += 1;
                    stats.unstorable += 1;
                }
                Err(e) if refused_for_its_data(&e) => {
                    let middle = range.start + range.len() / 2;
                    pending.push(middle..range.end);
                    pending.push(range.start..middle);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Committed::Loaded(stats))
    }
}

/// Writes `batch`, again when Postgres broke a deadlock by aborting it.
async fn write_retrying(batch: &Batch, pool: &PgPool) -> Result<Committed, sqlx::Error> {
    let mut attempt = 1;
    loop {
        match batch.write(pool).await {
            Err(e)
                if sqlstate(&e).is_some_and(|c| c == "40P01" || c == "40001")
                    && attempt < ATTEMPTS =>
            {
                tracing::debug!(error = %e, attempt, "retrying a batch");
                tokio::time::sleep(Duration::from_millis(20 * u64::from(attempt))).await;
                attempt += 1;
            }
            done => return done,
        }
    }
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Whether Postgres refused the rows themselves: a data exception (class
/// 22), an integrity violation (23) or a size limit (54). Anything else (a
/// lost connection, a full disk) fails the run, and the next run retries.
fn refused_for_its_data(e: &sqlx::Error) -> bool {
    sqlstate(e).is_some_and(|c| c.starts_with("22") || c.starts_with("23") || c.starts_with("54"))
}
