//! The pure builders: what each child looks like for a spec.

use baedal_contract::config::Config;
use baedal_operator::build::{
    build, env_var, Child, ChildKind, Children, CONFIG_HASH, CONFIG_KEY, INGEST_INPUTS,
};
use baedal_operator::crd::{AutoscalingSpec, EtlFollowSpec, RedisMode, SecretKeyRef, SourceMode};
use baedal_operator::deref::Dereferenced;
use baedal_operator::testing::{pipeline, PipelineExt};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use std::collections::BTreeMap;

fn children(p: &baedal_operator::crd::DeliveryPipeline) -> Children {
    build(p, &Dereferenced::offline())
}

fn templates(c: &Children) -> Vec<(String, PodTemplateSpec)> {
    c.objects
        .iter()
        .filter_map(|o| match o {
            Child::Deployment(d) => Some((o.name(), d.spec.clone()?.template)),
            Child::StatefulSet(s) => Some((o.name(), s.spec.clone()?.template)),
            Child::CronJob(j) => Some((o.name(), j.spec.clone()?.job_template.spec?.template)),
            _ => None,
        })
        .collect()
}

fn deployment(c: &Children, name: &str) -> k8s_openapi::api::apps::v1::Deployment {
    match c.get(ChildKind::Deployment, name) {
        Some(Child::Deployment(d)) => d.clone(),
        _ => panic!("no deployment {name}"),
    }
}

fn cronjob(c: &Children) -> k8s_openapi::api::batch::v1::CronJob {
    match c.get(ChildKind::CronJob, "orders-etl") {
        Some(Child::CronJob(j)) => j.clone(),
        _ => panic!("no cronjob"),
    }
}

fn ingest_job(c: &Children) -> k8s_openapi::api::batch::v1::Job {
    match c.get(ChildKind::Job, "orders-ingest") {
        Some(Child::Job(j)) => j.clone(),
        _ => panic!("no ingest job"),
    }
}

fn config_yaml(c: &Children) -> String {
    match c.get(ChildKind::ConfigMap, "orders-config") {
        Some(Child::ConfigMap(cm)) => cm.data.clone().unwrap_or_default()[CONFIG_KEY].clone(),
        _ => panic!("no configmap"),
    }
}

fn hashes(c: &Children) -> BTreeMap<String, String> {
    templates(c)
        .into_iter()
        .filter_map(|(n, t)| Some((n, t.metadata?.annotations?.get(CONFIG_HASH)?.clone())))
        .collect()
}

#[test]
fn a_default_pipeline_has_every_child_in_apply_order() {
    let got: Vec<(&str, String)> = children(&pipeline("orders"))
        .objects
        .iter()
        .map(|c| (c.kind().as_str(), c.name()))
        .collect();
    let want: Vec<(&str, String)> = [
        ("ServiceAccount", "orders-api"),
        ("ServiceAccount", "orders-etl"),
        ("ServiceAccount", "orders-ingest"),
        ("ServiceAccount", "orders-redis"),
        ("ConfigMap", "orders-config"),
        ("Service", "orders-redis"),
        ("StatefulSet", "orders-redis"),
        ("Service", "orders-api"),
        ("Deployment", "orders-api"),
        ("PodDisruptionBudget", "orders-api"),
        ("Job", "orders-ingest"),
        ("CronJob", "orders-etl"),
    ]
    .iter()
    .map(|(k, n)| (*k, n.to_string()))
    .collect();
    assert_eq!(got, want);
    let absent: Vec<(ChildKind, String)> = children(&pipeline("orders")).absent;
    let want_absent: Vec<(ChildKind, String)> = [
        (ChildKind::ServiceAccount, "orders-etl-follow"),
        (ChildKind::HorizontalPodAutoscaler, "orders-api"),
        (ChildKind::Ingress, "orders-api"),
        (ChildKind::Deployment, "orders-ingest"),
        (ChildKind::Deployment, "orders-etl-follow"),
    ]
    .iter()
    .map(|(k, n)| (*k, n.to_string()))
    .collect();
    assert_eq!(absent, want_absent);
}

#[test]
fn building_is_deterministic() {
    let p = pipeline("orders");
    assert_eq!(children(&p), children(&p));
}

#[test]
fn every_pod_runs_restricted_with_limits() {
    for (name, t) in templates(&children(&pipeline("orders"))) {
        let spec = t.spec.expect("pod spec");
        let pod = spec.security_context.expect("pod security");
        assert_eq!(pod.run_as_non_root, Some(true), "{name}");
        assert_eq!(
            pod.seccomp_profile.map(|s| s.type_).as_deref(),
            Some("RuntimeDefault"),
            "{name}"
        );
        assert_eq!(spec.automount_service_account_token, Some(false), "{name}");
        for c in spec.containers {
            let sc = c.security_context.expect("container security");
            assert_eq!(sc.read_only_root_filesystem, Some(true), "{name}");
            assert_eq!(sc.allow_privilege_escalation, Some(false), "{name}");
            assert_eq!(
                sc.capabilities.and_then(|c| c.drop),
                Some(vec!["ALL".to_string()]),
                "{name}"
            );
            let r = c.resources.expect("resources");
            for q in [r.requests.expect("requests"), r.limits.expect("limits")] {
                assert!(q.contains_key("cpu") && q.contains_key("memory"), "{name}");
            }
        }
    }
}

#[test]
fn the_api_runs_baedal_api_with_health_probes() {
    let d = deployment(&children(&pipeline("orders")), "orders-api");
    let c = &d.spec.expect("spec").template.spec.expect("pod").containers[0];
    // The image's entrypoint (baedal) runs the args.
    assert_eq!(c.command, None);
    assert_eq!(
        c.args.as_deref().unwrap_or_default(),
        ["api", "--listen", "0.0.0.0:8080"]
    );
    let path = |p: &Option<k8s_openapi::api::core::v1::Probe>| {
        p.as_ref()
            .and_then(|p| p.http_get.as_ref())
            .and_then(|h| h.path.clone())
    };
    assert_eq!(path(&c.liveness_probe).as_deref(), Some("/healthz"));
    assert_eq!(path(&c.readiness_probe).as_deref(), Some("/readyz"));
}

#[test]
fn ingest_and_etl_run_the_real_subcommands() {
    let mut p = pipeline("orders");
    p.spec.source.mode = SourceMode::Replay;
    p.spec.source.replay_rate = 250;
    let c = children(&p);
    let ingest = deployment(&c, "orders-ingest");
    let args = ingest
        .spec
        .expect("spec")
        .template
        .spec
        .expect("pod")
        .containers[0]
        .args
        .clone();
    assert_eq!(
        args.unwrap_or_default(),
        [
            "ingest",
            "--source",
            "/usr/share/baedal/sample",
            "--mode",
            "replay",
            "--partitions",
            "3",
            "--rate",
            "250"
        ]
    );
    let job = cronjob(&c).spec.expect("spec");
    let pod = job
        .job_template
        .spec
        .expect("job")
        .template
        .spec
        .expect("pod");
    assert_eq!(pod.containers[0].args.clone().unwrap_or_default(), ["etl"]);
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
}

#[test]
fn the_etl_cronjob_has_forbid_deadlines_and_history_limits_by_default() {
    let job = cronjob(&children(&pipeline("orders"))).spec.expect("spec");
    assert_eq!(job.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(job.starting_deadline_seconds, Some(300));
    assert_eq!(job.successful_jobs_history_limit, Some(3));
    assert_eq!(job.failed_jobs_history_limit, Some(3));
    assert_eq!(job.suspend, Some(false));
    assert_eq!(
        job.job_template.spec.expect("job").active_deadline_seconds,
        Some(3600)
    );
}

#[test]
fn the_configmap_holds_the_workloads_own_config_and_no_secret() {
    let c = children(&pipeline("orders"));
    let yaml = config_yaml(&c);
    // The workloads read it with their own loader: same keys, no unknown ones.
    let dir = std::env::temp_dir().join(format!("baedal-op-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("baedal.yaml");
    std::fs::write(&file, &yaml).expect("write");
    let config = Config::load_with(Some(&file), |_| None).expect("the workloads accept it");
    std::fs::remove_dir_all(&dir).ok();
    assert_eq!(config.kafka.bootstrap, "kafka.shop.svc:9092");
    assert_eq!(config.kafka.topic_prefix, "orders.");
    assert_eq!(config.database.schema, "orders");
    assert_eq!(config.database.url, "", "the URL comes from the Secret");
    assert_eq!(config.redis.url, "redis://orders-redis.shop.svc:6379/");
    assert_eq!(config.metrics_listen, "0.0.0.0:9464");
    assert!(
        !config.kafka.create_topics,
        "the operator provisions the topics; the workloads must not create them"
    );
}

#[test]
fn credentials_reach_pods_only_as_secret_references() {
    let mut p = pipeline("orders");
    p.spec.redis.mode = RedisMode::External;
    p.spec.redis.url_secret = Some(SecretKeyRef {
        name: "cache".into(),
        key: "url".into(),
    });
    p.spec.kafka.security_protocol = Some(baedal_operator::crd::SecurityProtocol::SASL_SSL);
    p.spec.kafka.sasl = Some(baedal_operator::crd::KafkaSasl {
        mechanism: "SCRAM-SHA-512".into(),
        credentials_secret: "msk".into(),
    });
    let secrets = Dereferenced {
        database_url: baedal_operator::deref::SecretValue::new("postgres://u:pw-db@h/d"),
        redis_url: Some(baedal_operator::deref::SecretValue::new(
            "redis://:pw-redis@h/",
        )),
        kafka_sasl: Some((
            baedal_operator::deref::SecretValue::new("user"),
            baedal_operator::deref::SecretValue::new("pw-kafka"),
        )),
        versions: BTreeMap::new(),
        ..Dereferenced::default()
    };
    let c = build(&p, &secrets);
    let everything = c
        .objects
        .iter()
        .map(|o| o.to_json().expect("json").to_string())
        .collect::<String>();
    for secret in ["pw-db", "pw-redis", "pw-kafka"] {
        assert!(!everything.contains(secret), "{secret} leaked into a child");
    }
    let d = deployment(&c, "orders-api");
    let env = d.spec.expect("spec").template.spec.expect("pod").containers[0]
        .env
        .clone()
        .unwrap_or_default();
    let refs: BTreeMap<String, (String, String)> = env
        .iter()
        .filter_map(|e| {
            let r = e.value_from.as_ref()?.secret_key_ref.as_ref()?;
            Some((e.name.clone(), (r.name.clone(), r.key.clone())))
        })
        .collect();
    let name = |key| env_var(key).expect("a workloads variable").to_string();
    assert_eq!(
        refs[&name("database.url")],
        ("orders-db".into(), "url".into())
    );
    assert_eq!(refs[&name("redis.url")], ("cache".into(), "url".into()));
    assert_eq!(
        refs[&name("kafka.sasl_password")],
        ("msk".into(), "password".into())
    );
    assert_eq!(
        refs[&name("kafka.sasl_username")],
        ("msk".into(), "username".into())
    );
    // No managed Redis with an external one.
    assert!(c.get(ChildKind::StatefulSet, "orders-redis").is_none());
    assert!(c
        .absent
        .contains(&(ChildKind::StatefulSet, "orders-redis".into())));
}

#[test]
fn ca_secrets_are_mounted_as_files_the_config_names_and_reach_the_operator_in_memory() {
    let mut p = pipeline("orders");
    let ca = |name: &str| {
        Some(SecretKeyRef {
            name: name.into(),
            key: "ca.pem".into(),
        })
    };
    p.spec.kafka.security_protocol = Some(baedal_operator::crd::SecurityProtocol::SSL);
    p.spec.kafka.ca_secret = ca("kafka-ca");
    p.spec.postgres.ca_secret = ca("rds-ca");
    p.spec.redis.mode = RedisMode::External;
    p.spec.redis.url_secret = Some(SecretKeyRef {
        name: "cache".into(),
        key: "url".into(),
    });
    p.spec.redis.ca_secret = ca("cache-ca");
    let c = children(&p);

    // The workloads' configuration names the mounted files.
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("baedal.yaml");
    std::fs::write(&file, config_yaml(&c)).expect("write");
    let config = Config::load_with(Some(&file), |_| None).expect("the workloads accept it");
    assert_eq!(
        config.kafka.ssl_ca_location.as_deref(),
        Some("/etc/baedal/ca/kafka/ca.crt")
    );
    assert_eq!(
        config.database.ssl_root_cert.as_deref(),
        Some("/etc/baedal/ca/postgres/ca.crt")
    );
    assert_eq!(
        config.redis.ca_cert.as_deref(),
        Some("/etc/baedal/ca/redis/ca.crt")
    );

    // Every workload pod mounts each bundle read-only where the config says.
    for (name, template) in templates(&c) {
        let pod = template.spec.expect("pod");
        let volumes = pod.volumes.unwrap_or_default();
        let mounts = pod.containers[0].volume_mounts.clone().unwrap_or_default();
        for (server, secret) in [
            ("kafka", "kafka-ca"),
            ("postgres", "rds-ca"),
            ("redis", "cache-ca"),
        ] {
            let volume = volumes
                .iter()
                .find(|v| v.name == format!("ca-{server}"))
                .unwrap_or_else(|| panic!("{name}: no volume for the {server} CA"));
            let source = volume.secret.as_ref().expect("a Secret volume");
            assert_eq!(source.secret_name.as_deref(), Some(secret));
            let items = source.items.clone().unwrap_or_default();
            assert_eq!(
                (items[0].key.as_str(), items[0].path.as_str()),
                ("ca.pem", "ca.crt")
            );
            let mount = mounts
                .iter()
                .find(|m| m.name == volume.name)
                .unwrap_or_else(|| panic!("{name}: the {server} CA is not mounted"));
            assert_eq!(mount.mount_path, format!("/etc/baedal/ca/{server}"));
            assert_eq!(mount.read_only, Some(true));
        }
    }

    // The operator's own clients get the bundles' contents, not pod paths.
    let secrets = Dereferenced {
        kafka_ca: Some("KAFKA CA PEM".into()),
        postgres_ca: Some("RDS CA PEM".into()),
        ..Dereferenced::default()
    };
    let own = baedal_operator::dataplane::operator_config(&p, &secrets);
    assert_eq!(own.kafka.ssl_ca_pem.as_deref(), Some("KAFKA CA PEM"));
    assert_eq!(own.kafka.ssl_ca_location, None);
    assert_eq!(
        own.database.ssl_root_cert_pem.as_deref(),
        Some("RDS CA PEM")
    );
    assert_eq!(own.database.ssl_root_cert, None);
}

fn args(template: &PodTemplateSpec) -> Vec<String> {
    template.spec.as_ref().expect("pod").containers[0]
        .args
        .clone()
        .unwrap_or_default()
}

#[test]
fn followers_are_a_deployment_and_the_cronjob_then_only_rebuilds_the_marts() {
    let mut p = pipeline("orders");
    let batch = children(&p);
    assert!(batch
        .absent
        .contains(&(ChildKind::Deployment, "orders-etl-follow".into())));
    let cron_args = |c: &Children| {
        args(
            &cronjob(c)
                .spec
                .expect("spec")
                .job_template
                .spec
                .expect("job")
                .template,
        )
    };
    assert_eq!(cron_args(&batch), ["etl"]);

    p.spec.etl.follow = Some(EtlFollowSpec {
        replicas: 3,
        externally_scaled: false,
    });
    let c = children(&p);
    let followers = deployment(&c, "orders-etl-follow");
    let spec = followers.spec.clone().expect("spec");
    assert_eq!(spec.replicas, Some(3));
    assert_eq!(args(&spec.template), ["etl", "--follow"]);
    let pod = spec.template.spec.clone().expect("pod");
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("orders-etl-follow")
    );
    assert!(c
        .get(ChildKind::ServiceAccount, "orders-etl-follow")
        .is_some());
    let component = spec.selector.match_labels.clone().unwrap_or_default();
    assert_eq!(component["app.kubernetes.io/component"], "etl-follow");
    assert_eq!(cron_args(&c), ["etl", "--marts-only"]);

    // Scaled by something else (KEDA on lag): the count is left alone.
    p.spec.etl.follow = Some(EtlFollowSpec {
        replicas: 3,
        externally_scaled: true,
    });
    let scaled = deployment(&children(&p), "orders-etl-follow");
    assert_eq!(scaled.spec.expect("spec").replicas, None);
    // Suspended: none.
    p.spec.suspend = true;
    let stopped = deployment(&children(&p), "orders-etl-follow");
    assert_eq!(stopped.spec.expect("spec").replicas, Some(0));
}

#[test]
fn the_config_hash_follows_the_config_and_the_secrets_only() {
    let p = pipeline("orders");
    let base = hashes(&children(&p));
    assert_eq!(
        base.len(),
        2,
        "api and etl roll with the config (the batch ingest Job is keyed by its inputs): {base:?}"
    );
    let mut scaled = p.clone();
    scaled.spec.api.replicas = 7;
    assert_eq!(
        hashes(&children(&scaled)),
        base,
        "replicas are not configuration"
    );
    let mut ttl = p.clone();
    ttl.spec.redis.cache_ttl_seconds = 5;
    let changed = hashes(&children(&ttl));
    assert_ne!(changed["orders-api"], base["orders-api"]);
    let rotated = Dereferenced {
        versions: BTreeMap::from([("orders-db".to_string(), "42".to_string())]),
        ..Dereferenced::offline()
    };
    assert_ne!(
        hashes(&build(&p, &rotated))["orders-etl"],
        base["orders-etl"],
        "a rotated Secret rolls pods"
    );
}

#[test]
fn autoscaling_adds_an_hpa_and_leaves_the_replica_count_to_it() {
    let mut p = pipeline("orders");
    p.spec.api.autoscaling = Some(AutoscalingSpec {
        min_replicas: 3,
        max_replicas: 9,
        target_cpu_utilization: 60,
    });
    let c = children(&p);
    let Some(Child::HorizontalPodAutoscaler(hpa)) =
        c.get(ChildKind::HorizontalPodAutoscaler, "orders-api")
    else {
        panic!("no hpa");
    };
    let spec = hpa.spec.clone().expect("spec");
    assert_eq!((spec.min_replicas, spec.max_replicas), (Some(3), 9));
    assert_eq!(spec.scale_target_ref.name, "orders-api");
    assert_eq!(
        deployment(&c, "orders-api").spec.and_then(|s| s.replicas),
        None
    );
    let suspended = children(&p.clone().suspended());
    assert_eq!(
        deployment(&suspended, "orders-api")
            .spec
            .and_then(|s| s.replicas),
        Some(0)
    );
    assert!(c
        .get(ChildKind::PodDisruptionBudget, "orders-api")
        .is_some());
}

#[test]
fn suspend_scales_to_zero_and_suspends_the_cronjob_but_keeps_redis() {
    let c = children(&pipeline("orders").suspended());
    assert_eq!(
        deployment(&c, "orders-api").spec.and_then(|s| s.replicas),
        Some(0)
    );
    assert_eq!(ingest_job(&c).spec.and_then(|s| s.suspend), Some(true));
    assert_eq!(cronjob(&c).spec.and_then(|s| s.suspend), Some(true));
    let mut replay = pipeline("orders").suspended();
    replay.spec.source.mode = SourceMode::Replay;
    assert_eq!(
        deployment(&children(&replay), "orders-ingest")
            .spec
            .and_then(|s| s.replicas),
        Some(0)
    );
    let Some(Child::StatefulSet(redis)) = c.get(ChildKind::StatefulSet, "orders-redis") else {
        panic!("redis kept");
    };
    assert_eq!(redis.spec.as_ref().and_then(|s| s.replicas), Some(1));
}

#[test]
fn render_prints_every_child_of_the_examples() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples");
    for name in ["kind/pipeline.yaml", "eks/pipeline.yaml"] {
        let text = std::fs::read_to_string(root.join(name)).expect("example");
        let out = baedal_operator::cli::render(&text, "default").expect("renders");
        let docs = out.matches("\n---\n").count() + 1;
        assert!(docs >= 11, "{name}: {docs} documents");
        assert!(
            out.contains("kind: CronJob") && out.contains("kind: Deployment"),
            "{name}"
        );
    }
    let err = baedal_operator::cli::render("kind: ConfigMap\n", "default")
        .expect_err("nothing to render");
    assert!(err.to_string().contains("no DeliveryPipeline"));
}

#[test]
fn batch_ingest_is_a_job_that_runs_once_and_replay_a_deployment() {
    let p = pipeline("orders");
    let c = children(&p);
    let job = ingest_job(&c);
    let spec = job.spec.clone().expect("job spec");
    let pod = spec.template.spec.clone().expect("pod spec");
    assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
    assert_eq!(
        pod.containers[0].args.as_ref().expect("args")[..3],
        ["ingest", "--source", p.spec.source.uri.as_str()]
    );
    assert!(c
        .absent
        .contains(&(ChildKind::Deployment, "orders-ingest".into())));
    // The Job's identity: what it reads and where it writes, not the Secrets.
    let inputs = |c: &Children| {
        ingest_job(c).metadata.annotations.unwrap_or_default()[INGEST_INPUTS].clone()
    };
    let rotated = Dereferenced {
        versions: BTreeMap::from([("orders-db".to_string(), "42".to_string())]),
        ..Dereferenced::offline()
    };
    assert_eq!(
        inputs(&build(&p, &rotated)),
        inputs(&c),
        "a rotated Secret does not re-send"
    );
    let mut moved = p.clone();
    moved.spec.source.uri = "s3://other/".into();
    assert_ne!(
        inputs(&children(&moved)),
        inputs(&c),
        "a new source is read again"
    );

    let mut replay = p.clone();
    replay.spec.source.mode = SourceMode::Replay;
    let c = children(&replay);
    assert!(c.get(ChildKind::Job, "orders-ingest").is_none());
    assert!(c.absent.contains(&(ChildKind::Job, "orders-ingest".into())));
    assert_eq!(
        deployment(&c, "orders-ingest")
            .spec
            .and_then(|s| s.replicas),
        Some(1)
    );
}

#[test]
fn the_default_disruption_budget_never_blocks_a_drain() {
    let pdb = |p: &baedal_operator::crd::DeliveryPipeline| match children(p)
        .get(ChildKind::PodDisruptionBudget, "orders-api")
    {
        Some(Child::PodDisruptionBudget(b)) => b.spec.clone().expect("spec"),
        _ => panic!("no pdb"),
    };
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let mut p = pipeline("orders");
    p.spec.api.replicas = 1;
    let spec = pdb(&p);
    assert_eq!(spec.max_unavailable, Some(IntOrString::Int(1)));
    assert_eq!(spec.min_available, None);
    p.spec.api.min_available = Some(2);
    let spec = pdb(&p);
    assert_eq!(
        (spec.min_available, spec.max_unavailable),
        (Some(IntOrString::Int(2)), None)
    );
}

#[test]
fn render_refuses_fields_the_resource_does_not_have() {
    let text = std::fs::read_to_string(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/kind/pipeline.yaml"),
    )
    .expect("example");
    let typo = text.replace("  etl:\n", "  etl:\n    schedul: \"* * * * *\"\n");
    assert_ne!(typo, text);
    let err = baedal_operator::cli::render(&typo, "default").expect_err("unknown field");
    assert!(format!("{err:#}").contains("spec.etl.schedul"), "{err:#}");
}
