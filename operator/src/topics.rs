//! Kafka topics: the desired set from the spec, a pure plan (current vs
//! desired → actions), and carrying the plan out through the admin API.
//!
//! The operator owns the configuration keys it sets (`retention.ms`) and
//! only those: it sets them with IncrementalAlterConfigs, so keys set by
//! others stay as they are. It creates missing topics, raises partition
//! counts (CreatePartitions), and refuses to lower a partition count (Kafka
//! cannot, and it would reorder keys): a refusal is a condition, not an
//! error. A broker that does not support an admin call (Kafka before 2.3 has
//! no IncrementalAlterConfigs) gives a condition naming the call, not a crash.

use crate::crd::{DeliveryPipelineSpec, TopicStatus, TOPICS};
use crate::topic_configs::set_topic_configs;
use baedal_contract::config::Config;
use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::time::Duration;

/// A topic as the spec wants it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DesiredTopic {
    pub name: String,
    pub partitions: i32,
    pub replication_factor: i32,
    /// Topic configs the operator manages (e.g. `retention.ms`).
    pub configs: BTreeMap<String, String>,
}

/// A topic as the broker has it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentTopic {
    pub partitions: i32,
    /// The values of the managed keys; `None` when the broker did not say.
    pub configs: Option<BTreeMap<String, String>>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicAction {
    /// Create the topic.
    Create(DesiredTopic),
    /// Raise the partition count.
    IncreasePartitions { topic: String, from: i32, to: i32 },
    /// Set the managed configs.
    UpdateConfigs {
        topic: String,
        configs: BTreeMap<String, String>,
    },
    /// The spec asks for fewer partitions than the topic has: not done.
    RefuseDecrease {
        topic: String,
        current: i32,
        desired: i32,
    },
}

/// Something the operator could not do, for the `Kafka` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TopicProblem {
    /// A partition decrease was asked for and refused.
    DecreaseRefused {
        topic: String,
        current: i32,
        desired: i32,
    },
    /// The broker does not support an admin call.
    Unsupported {
        topic: String,
        call: &'static str,
        code: String,
    },
}

impl std::fmt::Display for TopicProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TopicProblem::DecreaseRefused {
                topic,
                current,
                desired,
            } => write!(
                f,
                "{topic}: partitions cannot decrease ({current} → {desired}); keeping {current}"
            ),
            TopicProblem::Unsupported { topic, call, code } => {
                write!(f, "{topic}: the broker does not support {call} ({code})")
            }
        }
    }
}

/// What provisioning found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TopicsOutcome {
    /// Every desired topic as it now is.
    pub topics: Vec<TopicStatus>,
    /// What was done (empty on a re-run with nothing to change).
    pub applied: Vec<TopicAction>,
    /// What could not be done.
    pub problems: Vec<TopicProblem>,
}

/// The topics of a pipeline: one per record kind, with the spec's defaults
/// and per-topic overrides.
pub fn desired_topics(spec: &DeliveryPipelineSpec) -> Vec<DesiredTopic> {
    let t = &spec.kafka.topics;
    TOPICS
        .iter()
        .map(|kind| {
            let o = t.overrides.get(*kind);
            let retention = o.and_then(|o| o.retention_hours).or(t.retention_hours);
            let mut configs = BTreeMap::new();
            if let Some(hours) = retention {
                configs.insert(
                    "retention.ms".to_string(),
                    (hours.saturating_mul(3_600_000)).to_string(),
                );
            }
            DesiredTopic {
                name: format!("{}{}", spec.kafka.topic_prefix, kind),
                partitions: o.and_then(|o| o.partitions).unwrap_or(t.partitions),
                replication_factor: o
                    .and_then(|o| o.replication_factor)
                    .unwrap_or(t.replication_factor),
                configs,
            }
        })
        .collect()
}

/// The plan: for each desired topic, what to do given the current state.
/// Pure; the order follows `desired`.
pub fn plan(
    current: &BTreeMap<String, CurrentTopic>,
    desired: &[DesiredTopic],
) -> Vec<TopicAction> {
    let mut actions = Vec::new();
    for d in desired {
        let Some(c) = current.get(&d.name) else {
            actions.push(TopicAction::Create(d.clone()));
            continue;
        };
        if d.partitions > c.partitions {
            actions.push(TopicAction::IncreasePartitions {
                topic: d.name.clone(),
                from: c.partitions,
                to: d.partitions,
            });
        } else if d.partitions < c.partitions {
            actions.push(TopicAction::RefuseDecrease {
                topic: d.name.clone(),
                current: c.partitions,
                desired: d.partitions,
            });
        }
        let differs = match &c.configs {
            Some(have) => d.configs.iter().any(|(k, v)| have.get(k) != Some(v)),
            None => !d.configs.is_empty(),
        };
        if differs {
            actions.push(TopicAction::UpdateConfigs {
                topic: d.name.clone(),
                configs: d.configs.clone(),
            });
        }
    }
    actions
}

/// Whether an admin error code means "this broker cannot do that".
fn unsupported(code: RDKafkaErrorCode) -> bool {
    matches!(
        code,
        RDKafkaErrorCode::UnsupportedFeature
            | RDKafkaErrorCode::UnsupportedVersion
            | RDKafkaErrorCode::InvalidRequest
            | RDKafkaErrorCode::ClusterAuthorizationFailed
    )
}

const TIMEOUT: Duration = Duration::from_secs(10);

/// The partition count of every topic the brokers' metadata lists.
async fn topic_partitions(config: &Config) -> Result<BTreeMap<String, i32>, String> {
    let owned = config.clone();
    // Metadata is a blocking librdkafka call: off the async threads. A
    // failure names the brokers and the reason (TLS, login, refused).
    tokio::task::spawn_blocking(move || {
        let metadata = baedal_contract::kafka::metadata(&owned, None, TIMEOUT)
            .map_err(|e| format!("reading metadata: {e}"))?;
        Ok::<_, String>(
            metadata
                .topics()
                .iter()
                .filter(|t| t.error().is_none())
                .map(|t| (t.name().to_string(), t.partitions().len() as i32))
                .collect::<BTreeMap<_, _>>(),
        )
    })
    .await
    .map_err(|e| format!("metadata task: {e}"))?
}

/// Waits until the brokers' metadata lists every one of `names`, and returns
/// their partition counts. A broker answers CreateTopics once its controller
/// has committed the topics; its metadata cache learns of them a moment
/// later. Reporting the topics ready only once they are listed means that a
/// workload started on that report finds them, and that the next reconcile
/// does not plan to create them again.
async fn wait_until_listed(
    config: &Config,
    names: &[&str],
) -> Result<BTreeMap<String, i32>, String> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let listed = topic_partitions(config).await?;
        let missing: Vec<&str> = names
            .iter()
            .copied()
            .filter(|n| !listed.contains_key(*n))
            .collect();
        if missing.is_empty() {
            return Ok(listed);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "created topics not listed by the brokers after {TIMEOUT:?}: {}",
                missing.join(", ")
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Reads the partition counts (and managed configs) of the desired topics.
async fn current_topics(
    config: &Config,
    admin: &AdminClient<DefaultClientContext>,
    desired: &[DesiredTopic],
) -> Result<BTreeMap<String, CurrentTopic>, String> {
    let partitions = topic_partitions(config).await?;

    let existing: Vec<&DesiredTopic> = desired
        .iter()
        .filter(|d| partitions.contains_key(&d.name))
        .collect();
    let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let wanted_keys: Vec<&String> = existing.iter().flat_map(|d| d.configs.keys()).collect();
    if !wanted_keys.is_empty() {
        let specifiers: Vec<ResourceSpecifier> = existing
            .iter()
            .map(|d| ResourceSpecifier::Topic(&d.name))
            .collect();
        let options = AdminOptions::new().request_timeout(Some(TIMEOUT));
        // A broker without DescribeConfigs leaves the configs unknown: they are then set.
        if let Ok(results) = admin.describe_configs(&specifiers, &options).await {
            for (d, result) in existing.iter().zip(results) {
                if let Ok(resource) = result {
                    let values = d
                        .configs
                        .keys()
                        .filter_map(|k| {
                            resource
                                .get(k)
                                .and_then(|e| e.value.clone())
                                .map(|v| (k.clone(), v))
                        })
                        .collect();
                    configs.insert(d.name.clone(), values);
                }
            }
        }
    }
    Ok(partitions
        .into_iter()
        .map(|(name, partitions)| {
            let c = configs.remove(&name);
            (
                name,
                CurrentTopic {
                    partitions,
                    configs: c,
                },
            )
        })
        .collect())
}

/// Carries out the plan for `desired` on the brokers of `config`.
/// Connection and unexpected admin failures are `Err`; a refused decrease or
/// an unsupported call is a [`TopicProblem`] in the outcome.
pub async fn ensure(config: &Config, desired: &[DesiredTopic]) -> Result<TopicsOutcome, String> {
    let admin: AdminClient<DefaultClientContext> = baedal_contract::kafka::client_config(config)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let current = current_topics(config, &admin, desired).await?;
    let actions = plan(&current, desired);
    let options = AdminOptions::new()
        .operation_timeout(Some(TIMEOUT))
        .request_timeout(Some(TIMEOUT));
    let mut outcome = TopicsOutcome::default();
    let mut partitions: BTreeMap<String, i32> = current
        .iter()
        .map(|(k, v)| (k.clone(), v.partitions))
        .collect();
    let mut created: Vec<&str> = Vec::new();
    for action in &actions {
        match action {
            TopicAction::Create(d) => {
                let mut topic = NewTopic::new(
                    &d.name,
                    d.partitions,
                    TopicReplication::Fixed(d.replication_factor),
                );
                for (k, v) in &d.configs {
                    topic = topic.set(k, v);
                }
                let results = admin
                    .create_topics([&topic], &options)
                    .await
                    .map_err(|e| format!("creating {}: {e}", d.name))?;
                for r in results {
                    match r {
                        Ok(_) => outcome.applied.push(action.clone()),
                        // Made by someone else since the metadata was read:
                        // nothing was applied; its count is read below.
                        Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                        Err((name, code)) => return Err(format!("creating {name}: {code}")),
                    }
                }
                created.push(d.name.as_str());
            }
            TopicAction::IncreasePartitions { topic, to, .. } => {
                let np = NewPartitions::new(topic, *to as usize);
                let result = admin.create_partitions([&np], &options).await;
                let code = match result {
                    Ok(results) => results.into_iter().find_map(|r| r.err()).map(|(_, c)| c),
                    Err(e) => e.rdkafka_error_code(),
                };
                match code {
                    None => {
                        partitions.insert(topic.clone(), *to);
                        outcome.applied.push(action.clone());
                    }
                    Some(code) if unsupported(code) => {
                        outcome.problems.push(TopicProblem::Unsupported {
                            topic: topic.clone(),
                            call: "CreatePartitions",
                            code: format!("{code:?}"),
                        })
                    }
                    Some(code) => return Err(format!("adding partitions to {topic}: {code}")),
                }
            }
            TopicAction::UpdateConfigs { topic, configs } => {
                // Only the managed keys are named: others' settings stay.
                let client_config = baedal_contract::kafka::client_config(config);
                let (name, configs) = (topic.clone(), configs.clone());
                let result = tokio::task::spawn_blocking(move || {
                    set_topic_configs(&client_config, &name, &configs, TIMEOUT)
                })
                .await
                .map_err(|e| format!("config task: {e}"))?;
                match result {
                    Ok(()) => outcome.applied.push(action.clone()),
                    Err(e) if e.code().is_some_and(unsupported) => {
                        outcome.problems.push(TopicProblem::Unsupported {
                            topic: topic.clone(),
                            call: "IncrementalAlterConfigs",
                            code: e.to_string(),
                        })
                    }
                    Err(e) => return Err(format!("updating configs of {topic}: {e}")),
                }
            }
            TopicAction::RefuseDecrease {
                topic,
                current,
                desired,
            } => outcome.problems.push(TopicProblem::DecreaseRefused {
                topic: topic.clone(),
                current: *current,
                desired: *desired,
            }),
        }
    }
    if !created.is_empty() {
        let listed = wait_until_listed(config, &created).await?;
        for name in created {
            if let Some(count) = listed.get(name) {
                partitions.insert(name.to_string(), *count);
            }
        }
    }
    outcome.topics = desired
        .iter()
        .map(|d| TopicStatus {
            name: d.name.clone(),
            partitions: partitions.get(&d.name).copied().unwrap_or(0),
        })
        .collect();
    Ok(outcome)
}

/// Deletes the topics (deletionPolicy Delete). Missing topics are fine.
pub async fn delete(config: &Config, names: &[String]) -> Result<(), String> {
    let admin: AdminClient<DefaultClientContext> = baedal_contract::kafka::client_config(config)
        .create()
        .map_err(|e| format!("admin client: {e}"))?;
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(TIMEOUT));
    let results = admin
        .delete_topics(&refs, &options)
        .await
        .map_err(|e| format!("deleting topics: {e}"))?;
    for r in results {
        match r {
            Ok(_) | Err((_, RDKafkaErrorCode::UnknownTopicOrPartition)) => {}
            Err((name, code)) => return Err(format!("deleting {name}: {code}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(name: &str, partitions: i32, retention: Option<&str>) -> DesiredTopic {
        DesiredTopic {
            name: name.into(),
            partitions,
            replication_factor: 1,
            configs: retention
                .map(|r| BTreeMap::from([("retention.ms".to_string(), r.to_string())]))
                .unwrap_or_default(),
        }
    }

    fn current(entries: &[(&str, i32, Option<&str>)]) -> BTreeMap<String, CurrentTopic> {
        entries
            .iter()
            .map(|(n, p, r)| {
                (
                    n.to_string(),
                    CurrentTopic {
                        partitions: *p,
                        configs: Some(
                            r.map(|r| {
                                BTreeMap::from([("retention.ms".to_string(), r.to_string())])
                            })
                            .unwrap_or_default(),
                        ),
                    },
                )
            })
            .collect()
    }

    #[test]
    fn missing_topics_are_created() {
        let want = [desired("a", 3, None), desired("b", 6, Some("1000"))];
        assert_eq!(
            plan(&BTreeMap::new(), &want),
            vec![
                TopicAction::Create(want[0].clone()),
                TopicAction::Create(want[1].clone())
            ]
        );
    }

    #[test]
    fn a_topic_as_wanted_needs_nothing() {
        let want = [desired("a", 3, Some("1000"))];
        assert_eq!(plan(&current(&[("a", 3, Some("1000"))]), &want), vec![]);
    }

    #[test]
    fn partitions_increase_and_never_decrease() {
        let want = [desired("a", 6, None), desired("b", 2, None)];
        let have = current(&[("a", 3, None), ("b", 4, None)]);
        assert_eq!(
            plan(&have, &want),
            vec![
                TopicAction::IncreasePartitions {
                    topic: "a".into(),
                    from: 3,
                    to: 6
                },
                TopicAction::RefuseDecrease {
                    topic: "b".into(),
                    current: 4,
                    desired: 2
                },
            ]
        );
    }

    #[test]
    fn changed_or_unknown_configs_are_updated() {
        let want = [desired("a", 3, Some("7200000"))];
        let have = current(&[("a", 3, Some("3600000"))]);
        let update = vec![TopicAction::UpdateConfigs {
            topic: "a".into(),
            configs: want[0].configs.clone(),
        }];
        assert_eq!(plan(&have, &want), update);
        let unknown = BTreeMap::from([(
            "a".to_string(),
            CurrentTopic {
                partitions: 3,
                configs: None,
            },
        )]);
        assert_eq!(plan(&unknown, &want), update);
        // No managed configs: nothing to compare, nothing to set.
        assert_eq!(plan(&unknown, &[desired("a", 3, None)]), vec![]);
    }

    #[test]
    fn desired_topics_follow_defaults_and_overrides() {
        let mut p = crate::testing::pipeline("dp");
        p.spec.kafka.topic_prefix = "x.".into();
        p.spec.kafka.topics.partitions = 4;
        p.spec.kafka.topics.retention_hours = Some(24);
        p.spec.kafka.topics.overrides.insert(
            "dead-letter".into(),
            crate::crd::TopicOverride {
                partitions: Some(1),
                replication_factor: None,
                retention_hours: Some(720),
            },
        );
        let topics = desired_topics(&p.spec);
        let names: Vec<&str> = topics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "x.orders",
                "x.messages",
                "x.logs",
                "x.reviews",
                "x.dead-letter"
            ]
        );
        assert_eq!(topics[0].partitions, 4);
        assert_eq!(topics[0].configs["retention.ms"], "86400000");
        assert_eq!(topics[4].partitions, 1);
        assert_eq!(topics[4].configs["retention.ms"], "2592000000");
    }
}
