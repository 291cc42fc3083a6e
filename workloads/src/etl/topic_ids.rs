//! Topics deleted and made again since the ETL first read them.
//!
//! The stored positions (`etl_offsets`) and the raw layer are keyed by topic
//! name, partition and offset. A topic made again under the same name
//! starts its offsets at zero: once it holds as many messages as were read
//! from the old one, its offsets look like the old positions, and reading on
//! would skip its first messages, or take them for the stored ones. Offsets
//! alone cannot tell; the topic's ID (KIP-516), which Kafka gives each topic
//! it creates, can. The ETL records each topic's ID (`etl_topic_ids`) until
//! it has read from the topic, and then reads no topic whose ID has changed.

use super::EtlError;
use crate::config::Config;
use serde::Serialize;
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::time::Duration;

/// A topic whose ID differs from the one recorded when it was first read.
#[derive(Debug, Clone, Serialize)]
pub struct TopicMadeAgain {
    pub topic: String,
    /// The ID recorded when the ETL first read the topic.
    pub recorded_id: String,
    /// The ID the broker gives the topic now.
    pub broker_id: String,
}

/// The topics made again (see [`TopicMadeAgain`]), named in one line.
#[derive(Debug, Default, Clone, Serialize)]
pub struct MadeAgain(pub Vec<TopicMadeAgain>);

impl MadeAgain {
    /// Is `topic` one of them?
    pub fn holds(&self, topic: &str) -> bool {
        self.0.iter().any(|t| t.topic == topic)
    }
}

impl std::fmt::Display for MadeAgain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        super::write_comma_separated(f, &self.0)
    }
}

impl std::fmt::Display for TopicMadeAgain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (first read as ID {}, now ID {})",
            self.topic, self.recorded_id, self.broker_id
        )
    }
}

/// Returns the topics read before whose ID has changed since it was
/// recorded, and records the ID of every other topic of `topics` the broker
/// has. A topic the broker does not have is neither recorded nor compared.
pub async fn check(
    config: &Config,
    pool: &PgPool,
    topics: &[String],
) -> Result<MadeAgain, EtlError> {
    let client = crate::kafka::client_config(config);
    let on_broker = tokio::task::block_in_place(|| {
        baedal_contract::librdkafka::topic_ids(&client, topics, Duration::from_secs(10))
    })
    .map_err(|e| EtlError::TopicIds(e.to_string()))?;
    let (names, ids): (Vec<String>, Vec<String>) = on_broker.clone().into_iter().unzip();
    // Compared: the topics read before (with stored positions) whose ID is
    // recorded. Every other topic on the broker gets its ID recorded now:
    // one not read yet is whatever topic it is now (it may have been made
    // again before anything was read from it); one read before migration
    // 0007 can only be checked from here on.
    let recorded: BTreeMap<String, String> = sqlx::query_as::<_, (String, String)>(
        "WITH recorded AS (
             SELECT i.topic, i.topic_id FROM etl_topic_ids i
             WHERE i.topic = ANY($1)
               AND EXISTS (SELECT 1 FROM etl_offsets o WHERE o.topic = i.topic)),
         recording AS (
             INSERT INTO etl_topic_ids (topic, topic_id)
             SELECT u.topic, u.topic_id FROM UNNEST($1::text[], $2::text[]) AS u(topic, topic_id)
             WHERE u.topic NOT IN (SELECT topic FROM recorded)
             ON CONFLICT (topic) DO UPDATE SET topic_id = EXCLUDED.topic_id, first_seen = now())
         SELECT topic, topic_id FROM recorded",
    )
    .bind(&names)
    .bind(&ids)
    .fetch_all(pool)
    .await
    .map_err(EtlError::Load)?
    .into_iter()
    .collect();
    let made_again: Vec<TopicMadeAgain> = on_broker
        .into_iter()
        .filter_map(|(topic, broker_id)| {
            let recorded_id = recorded.get(&topic)?;
            (*recorded_id != broker_id).then(|| TopicMadeAgain {
                recorded_id: recorded_id.clone(),
                topic,
                broker_id,
            })
        })
        .collect();
    for t in &made_again {
        tracing::error!(
            topic = t.topic,
            recorded_id = t.recorded_id,
            broker_id = t.broker_id,
            "the topic was deleted and made again since it was first read; it is not read"
        );
    }
    Ok(MadeAgain(made_again))
}
