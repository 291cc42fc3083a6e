//! TLS and authentication against the local TLS endpoints that
//! `scripts/services.sh` sets up with a CA of its own (BAEDAL_TEST_TLS_DIR):
//! Kafka SASL_SSL (PLAIN, SCRAM-SHA-256/512) and SSL listeners, Postgres with
//! `ssl = on` and a TLS-only password user, and a TLS-only Redis.
//!
//! The whole pipeline runs over TLS everywhere, and each way of getting it
//! wrong (a CA that signed nothing here, a wrong password, a plaintext client
//! on a TLS port) is an error within a bound that names the server and the
//! reason, and never shows the password.

mod common;

use baedal::config::Config;
use common::Namespace;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest a failing connection may take to say so.
const FAIL_WITHIN: Duration = Duration::from_secs(30);

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set: run scripts/services.sh"))
}

struct Endpoints {
    dir: PathBuf,
    password: String,
}

impl Endpoints {
    fn new() -> Self {
        let dir = PathBuf::from(env("BAEDAL_TEST_TLS_DIR"));
        let password = std::fs::read_to_string(dir.join("password"))
            .expect("password")
            .trim()
            .to_string();
        Endpoints { dir, password }
    }

    fn ca(&self) -> String {
        self.dir.join("ca.pem").display().to_string()
    }

    fn other_ca(&self) -> String {
        self.dir.join("other-ca.pem").display().to_string()
    }

    fn kafka(&self, protocol: &str, mechanism: Option<&str>, password: &str, ca: &str) -> Config {
        let mut c = Config::default();
        c.kafka.bootstrap = env(if protocol == "SSL" {
            "BAEDAL_TEST_KAFKA_SSL"
        } else {
            "BAEDAL_TEST_KAFKA_SASL_SSL"
        });
        c.kafka.security_protocol = Some(protocol.into());
        c.kafka.ssl_ca_location = Some(ca.into());
        if let Some(m) = mechanism {
            c.kafka.sasl_mechanism = Some(m.into());
            c.kafka.sasl_username = Some("baedal".into());
            c.kafka.sasl_password = Some(password.into());
        }
        c
    }

    fn postgres_url(&self, password: &str, sslmode: &str) -> String {
        format!(
            "postgres://baedal_tls:{password}@{}/baedal_tls?sslmode={sslmode}",
            env("BAEDAL_TEST_POSTGRES_TLS")
        )
    }

    fn redis_url(&self, scheme: &str, password: &str) -> String {
        format!("{scheme}://:{password}@{}/", env("BAEDAL_TEST_REDIS_TLS"))
    }
}

/// Runs `attempt`, which must fail within [`FAIL_WITHIN`]; returns its error.
fn fails_in_time<T, E: std::fmt::Display>(
    what: &str,
    attempt: impl FnOnce() -> Result<T, E>,
) -> String {
    common::runtime().block_on(refused_in_time(what, async move { attempt() }))
}

/// Awaits `attempt`, which must fail within [`FAIL_WITHIN`]; returns its error.
async fn refused_in_time<T, E: std::fmt::Display>(
    what: &str,
    attempt: impl std::future::Future<Output = Result<T, E>>,
) -> String {
    let started = Instant::now();
    let error = match attempt.await {
        Ok(_) => panic!("{what}: connected, but must not"),
        Err(e) => e.to_string(),
    };
    assert!(
        started.elapsed() < FAIL_WITHIN,
        "{what}: took {:?} to fail",
        started.elapsed()
    );
    error
}

fn assert_names(what: &str, error: &str, needles: &[&str], password: &str) {
    eprintln!("{what}: {error}");
    for needle in needles {
        assert!(
            error.to_lowercase().contains(&needle.to_lowercase()),
            "{what}: the error does not say {needle:?}: {error}"
        );
    }
    assert!(
        !error.contains(password),
        "{what}: the error shows the password"
    );
}

#[test]
fn kafka_connects_over_ssl_and_sasl_ssl_with_each_mechanism() {
    let tls = Endpoints::new();
    let ssl = tls.kafka("SSL", None, "", &tls.ca());
    baedal_contract::kafka::metadata(&ssl, None, Duration::from_secs(15)).expect("SSL");
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let config = tls.kafka("SASL_SSL", Some(mechanism), &tls.password, &tls.ca());
        baedal_contract::kafka::metadata(&config, None, Duration::from_secs(15))
            .unwrap_or_else(|e| panic!("SASL_SSL {mechanism}: {e}"));
    }
}

#[test]
fn kafka_with_a_wrong_ca_a_wrong_password_or_no_tls_fails_clearly_and_in_time() {
    let tls = Endpoints::new();
    let timeout = Duration::from_secs(10);
    let sasl_ssl = env("BAEDAL_TEST_KAFKA_SASL_SSL");

    let mut plaintext = Config::default();
    plaintext.kafka.bootstrap = sasl_ssl.clone();
    let scram = Some("SCRAM-SHA-512");
    let cases = [
        (
            "wrong CA",
            tls.kafka("SASL_SSL", scram, &tls.password, &tls.other_ca()),
            "certificate verify failed",
        ),
        (
            "wrong password",
            tls.kafka("SASL_SSL", scram, "not-the-password", &tls.ca()),
            "authentication",
        ),
        ("plaintext on a TLS port", plaintext, "PLAINTEXT"),
    ];
    for (what, config, reason) in cases {
        let error = fails_in_time(what, || {
            baedal_contract::kafka::metadata(&config, None, timeout)
        });
        assert_names(what, &error, &[&sasl_ssl, reason], &tls.password);
        // The ingest checks the topics over its own producer's connection.
        let producer =
            baedal::ingest::Producer::connect(&config, Default::default()).expect("a producer");
        let what = format!("{what}, the ingest's topic check");
        let error = fails_in_time(&what, || producer.missing_topics(&config));
        assert_names(&what, &error, &[&sasl_ssl, reason], &tls.password);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connects_with_each_sslmode_and_refuses_what_is_wrong() {
    let tls = Endpoints::new();
    let endpoint = env("BAEDAL_TEST_POSTGRES_TLS");
    let database = |url: String, ca: Option<String>| {
        let mut c = Config::default();
        c.database.url = url;
        c.database.schema = "public".into();
        c.database.max_connections = 1;
        c.database.ssl_root_cert = ca;
        c.database
    };
    for mode in ["require", "verify-ca", "verify-full"] {
        let config = database(tls.postgres_url(&tls.password, mode), Some(tls.ca()));
        let pool = baedal_contract::schema::connect(&config)
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        let ssl: bool =
            sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
                .fetch_one(&pool)
                .await
                .expect("pg_stat_ssl");
        assert!(ssl, "sslmode={mode} connected without TLS");
        // The session settings baedal asks for hold over TLS too.
        for (name, value) in baedal_contract::schema::SESSION_SETTINGS {
            let shown: String = sqlx::query_scalar(&format!("SHOW {name}"))
                .fetch_one(&pool)
                .await
                .expect("SHOW");
            assert_eq!(shown, value, "{name}, sslmode={mode}");
        }
    }

    let cases = [
        (
            "wrong CA",
            database(
                tls.postgres_url(&tls.password, "verify-full"),
                Some(tls.other_ca()),
            ),
            vec![endpoint.as_str(), "certificate"],
        ),
        (
            "wrong password",
            database(
                tls.postgres_url("not-the-password", "verify-full"),
                Some(tls.ca()),
            ),
            vec![endpoint.as_str(), "password authentication failed"],
        ),
        (
            "no TLS",
            database(tls.postgres_url(&tls.password, "disable"), None),
            vec![endpoint.as_str(), "no encryption"],
        ),
    ];
    for (what, config, needles) in cases {
        let error = refused_in_time(what, baedal_contract::schema::connect(&config)).await;
        assert_names(what, &error, &needles, &tls.password);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_connects_over_tls_and_refuses_what_is_wrong() {
    use redis::AsyncCommands;
    let tls = Endpoints::new();
    let endpoint = env("BAEDAL_TEST_REDIS_TLS");
    let redis = |url: String, ca: Option<String>| {
        let mut c = Config::default();
        c.redis.url = url;
        c.redis.ca_cert = ca;
        c.redis
    };
    let good = redis(tls.redis_url("rediss", &tls.password), Some(tls.ca()));
    let mut connection = baedal::redis_client::connect(&good).await.expect("rediss");
    let _: () = connection.set("baedal:tls-test", "1").await.expect("SET");
    let value: String = connection.get("baedal:tls-test").await.expect("GET");
    assert_eq!(value, "1");

    let cases = [
        (
            "wrong CA",
            redis(tls.redis_url("rediss", &tls.password), Some(tls.other_ca())),
            vec![endpoint.as_str()],
        ),
        (
            "wrong password",
            redis(tls.redis_url("rediss", "not-the-password"), Some(tls.ca())),
            vec![endpoint.as_str(), "password"],
        ),
        (
            "no TLS",
            redis(tls.redis_url("redis", &tls.password), None),
            vec![endpoint.as_str()],
        ),
    ];
    for (what, config, needles) in cases {
        let error = refused_in_time(what, baedal::redis_client::connect(&config)).await;
        assert_names(what, &error, &needles, &tls.password);
    }
}

/// Ingest, ETL and the API's Redis views with every connection over TLS:
/// Kafka SASL_SSL (SCRAM-SHA-512), Postgres `verify-full`, `rediss://`.
#[test]
fn the_pipeline_runs_with_tls_on_every_connection_and_logs_no_password() {
    let tls = Endpoints::new();
    let ns = Namespace::new();
    let data = tempfile::tempdir().expect("tempdir");
    let dir = data.path().display().to_string();
    ns.run(&["datagen", "--seed", "7", "--scale", "0.01", "--out", &dir]);
    let over_tls = |args: &[&str]| {
        let mut c = ns.command(args);
        c.env("BAEDAL_KAFKA_BOOTSTRAP", env("BAEDAL_TEST_KAFKA_SASL_SSL"))
            .env("BAEDAL_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
            .env("BAEDAL_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
            .env("BAEDAL_KAFKA_SASL_USERNAME", "baedal")
            .env("BAEDAL_KAFKA_SASL_PASSWORD", &tls.password)
            .env("BAEDAL_KAFKA_SSL_CA_LOCATION", tls.ca())
            .env(
                "BAEDAL_DATABASE_URL",
                tls.postgres_url(&tls.password, "verify-full"),
            )
            .env("BAEDAL_DATABASE_SSL_ROOT_CERT", tls.ca())
            .env("BAEDAL_REDIS_URL", tls.redis_url("rediss", &tls.password))
            .env("BAEDAL_REDIS_CA_CERT", tls.ca())
            .env("BAEDAL_LOG", "debug");
        let out = common::run_with_deadline(c, common::RUN_DEADLINE);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            out.status.success(),
            "baedal {args:?} over TLS failed: {stderr}"
        );
        assert!(
            !stdout.contains(&tls.password) && !stderr.contains(&tls.password),
            "baedal {args:?} printed the password"
        );
        stdout
    };
    let sent = over_tls(&["ingest", "--source", &dir]);
    assert!(sent.contains("sent "), "{sent}");
    let loaded = over_tls(&["etl"]);
    assert!(loaded.contains("orders changed"), "{loaded}");
    // What arrived over SASL_SSL is in Postgres (read over TLS too).
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let mut database = Config::default().database;
        database.url = tls.postgres_url(&tls.password, "verify-full");
        database.ssl_root_cert = Some(tls.ca());
        database.schema = ns.0.clone();
        database.max_connections = 1;
        let pool = baedal_contract::schema::connect(&database)
            .await
            .expect("pool");
        let orders: i64 = common::rows(&pool, "orders").await;
        assert!(orders > 250, "{orders} orders loaded over TLS");
        sqlx::query(&format!("DROP SCHEMA \"{}\" CASCADE", ns.0))
            .execute(&pool)
            .await
            .expect("drop schema");
    });
}
