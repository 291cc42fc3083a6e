//! Validate: pure checks of a spec, run after the Secrets are read and before
//! anything is built. They repeat the CRD's CEL rules (a cluster without CEL,
//! or `render` offline, still gets them) and add what CEL cannot say well.

use crate::crd::{
    DeliveryPipeline, RedisMode, SecurityProtocol, MAX_NAME_LEN, NAME_PATTERN, SCHEDULE_PATTERN,
    TOPICS,
};
use kube::ResourceExt;
use regex::Regex;
use std::sync::LazyLock;

static NAME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(NAME_PATTERN).ok());
static SCHEDULE: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(SCHEDULE_PATTERN).ok());

/// Whether `text` matches a pattern (a pattern that failed to compile matches nothing).
fn matches(pattern: &LazyLock<Option<Regex>>, text: &str) -> bool {
    pattern.as_ref().is_some_and(|r| r.is_match(text))
}

/// Every problem of the spec, or `Ok`.
pub fn validate(p: &DeliveryPipeline) -> Result<(), Vec<String>> {
    let s = &p.spec;
    let mut problems = Vec::new();
    let mut check = |ok: bool, problem: &str| {
        if !ok {
            problems.push(problem.to_string());
        }
    };
    let name = p.name_any();
    check(
        name.len() <= MAX_NAME_LEN && matches(&NAME, &name),
        &format!("metadata.name must be at most {MAX_NAME_LEN} lowercase letters, digits and '-', starting with a letter: children are named <name>-etl, <name>-redis, …"),
    );
    check(!s.image.trim().is_empty(), "image must not be empty");
    check(
        !s.kafka.bootstrap_servers.trim().is_empty(),
        "kafka.bootstrapServers must not be empty",
    );
    check(
        s.kafka
            .topic_prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "kafka.topicPrefix may hold only letters, digits, '.', '_' and '-'",
    );
    let sasl_protocol = matches!(
        s.kafka.security_protocol,
        Some(SecurityProtocol::SASL_SSL | SecurityProtocol::SASL_PLAINTEXT)
    );
    check(
        !sasl_protocol || s.kafka.sasl.is_some(),
        "a SASL securityProtocol needs kafka.sasl",
    );
    let t = &s.kafka.topics;
    check(
        t.partitions > 0,
        "kafka.topics.partitions must be at least 1",
    );
    check(
        t.replication_factor > 0,
        "kafka.topics.replicationFactor must be at least 1",
    );
    check(
        t.retention_hours.is_none_or(|h| h > 0),
        "kafka.topics.retentionHours must be at least 1",
    );
    for (kind, o) in &t.overrides {
        check(
            TOPICS.contains(&kind.as_str()),
            &format!(
                "kafka.topics.overrides: unknown topic {kind:?} ({})",
                TOPICS.join(", ")
            ),
        );
        check(
            o.partitions.is_none_or(|n| n > 0) && o.replication_factor.is_none_or(|n| n > 0),
            &format!("kafka.topics.overrides.{kind}: partitions and replicationFactor must be at least 1"),
        );
    }
    let schema = &s.postgres.schema;
    check(
        !schema.is_empty()
            && schema.len() <= 63
            && schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !schema.starts_with(|c: char| c.is_ascii_digit()),
        "postgres.schema is 1-63 letters, digits and _, not starting with a digit",
    );
    match s.redis.mode {
        RedisMode::External => check(
            s.redis.url_secret.is_some(),
            "redis.mode External needs redis.urlSecret",
        ),
        RedisMode::Managed => check(
            s.redis.url_secret.is_none(),
            "redis.mode Managed takes no redis.urlSecret",
        ),
    }
    check(
        matches(&SCHEDULE, &s.etl.schedule),
        "etl.schedule must be five cron fields in range (minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6) or an @macro such as @hourly",
    );
    if let Some(a) = &s.api.autoscaling {
        check(
            a.min_replicas >= 1 && a.min_replicas <= a.max_replicas,
            "api.autoscaling: 1 <= minReplicas <= maxReplicas",
        );
        check(
            (1..=100).contains(&a.target_cpu_utilization),
            "api.autoscaling.targetCpuUtilization is 1-100",
        );
    }
    check(s.api.replicas >= 0, "api.replicas must not be negative");
    check(
        s.source.replay_rate >= 1,
        "source.replayRate must be at least 1",
    );
    check(
        !s.source.uri.trim().is_empty(),
        "source.uri must not be empty",
    );
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::pipeline;

    #[test]
    fn the_sample_pipeline_is_valid() {
        assert_eq!(validate(&pipeline("dp")), Ok(()));
    }

    #[test]
    fn every_problem_is_reported() {
        let mut p = pipeline("dp");
        p.spec.kafka.topics.partitions = 0;
        p.spec.redis.mode = RedisMode::External;
        p.spec.etl.schedule = "every minute".into();
        p.spec.postgres.schema = "1; drop".into();
        p.spec.api.autoscaling = Some(crate::crd::AutoscalingSpec {
            min_replicas: 5,
            max_replicas: 2,
            target_cpu_utilization: 70,
        });
        let problems = validate(&p).unwrap_err();
        let text = problems.join("\n");
        for needle in [
            "partitions",
            "urlSecret",
            "schedule",
            "postgres.schema",
            "minReplicas",
        ] {
            assert!(text.contains(needle), "{needle} missing from:\n{text}");
        }
        assert_eq!(problems.len(), 5, "{text}");
    }

    fn schedule_ok(schedule: &str) -> bool {
        matches(&SCHEDULE, schedule)
    }

    #[test]
    fn cron_macros_and_fields_in_range() {
        for ok in [
            "*/5 * * * *",
            "0 3 * * 1-5",
            "@hourly",
            "0,30 9-17 1 JAN-mar sun",
            "59 23 31 12 6",
            "*/15 0 1,15 * ?",
        ] {
            assert!(schedule_ok(ok), "{ok}");
        }
        for bad in [
            "@sometimes",
            "* * * *",
            "* * * * * *",
            "99 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * * 13 *",
            "* * * * 7",
            "*/0 * * * *",
            "every minute",
        ] {
            assert!(!schedule_ok(bad), "{bad}");
        }
    }

    #[test]
    fn names_that_make_invalid_children_are_refused() {
        for bad in [
            "has.dots",
            "Upper",
            "1starts-with-digit",
            "ends-with-",
            &"x".repeat(47),
        ] {
            let p = pipeline(bad);
            assert!(validate(&p).is_err(), "{bad}");
        }
        assert_eq!(validate(&pipeline(&"x".repeat(46))), Ok(()));
    }
}
