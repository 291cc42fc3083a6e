//! Helpers shared by the tests that run on the real servers: a namespace
//! (topics, Postgres schema, Redis key prefix) per test, the `baedal` binary
//! run with a deadline, the dataset computed from the files alone, and a
//! GET on the API's router.
#![allow(dead_code)]

use baedal::datagen::{self, DefectSummary, FileNames, Options};
use baedal::model::Order;
use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The longest any one `baedal` run in a test may take: a hang fails the
/// test with the program's output instead of stalling the suite.
pub const RUN_DEADLINE: Duration = Duration::from_secs(300);

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Topics, schema and key prefix of one test.
pub struct Namespace(pub String);

impl Namespace {
    pub fn new() -> Self {
        Namespace(format!(
            "t{}n{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub fn database_url() -> String {
        std::env::var("BAEDAL_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/baedal".into())
    }

    pub fn redis_url() -> String {
        std::env::var("BAEDAL_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into())
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_baedal"));
        c.args(args)
            .env("BAEDAL_TOPIC_PREFIX", format!("{}.", self.0))
            .env("BAEDAL_DATABASE_SCHEMA", &self.0)
            .env("BAEDAL_REDIS_PREFIX", format!("{}:", self.0))
            .env("BAEDAL_ETL_GROUP_ID", format!("{}-etl", self.0))
            .env("BAEDAL_METRICS_ADDR", "127.0.0.1:0")
            .env("BAEDAL_DATABASE_URL", Self::database_url())
            .env("BAEDAL_REDIS_URL", Self::redis_url());
        c
    }

    /// Runs `baedal args…`, which must fail within `deadline`, and returns
    /// its stderr.
    pub fn fails(&self, args: &[&str], deadline: Duration) -> String {
        run_fails(self.command(args), deadline, &format!("baedal {args:?}"))
    }

    /// Runs `baedal ingest --source <source>` to the end and returns its
    /// summary line.
    pub fn ingest(&self, source: impl AsRef<Path>) -> String {
        let source = source.as_ref().display().to_string();
        self.run(&["ingest", "--source", &source])
    }

    /// Runs `baedal args…` to the end (at most [`RUN_DEADLINE`]) and returns
    /// its stdout; a failure or a hang fails the test with its stderr.
    pub fn run(&self, args: &[&str]) -> String {
        run_ok(
            self.command(args),
            RUN_DEADLINE,
            &format!("baedal {args:?}"),
        )
    }

    pub async fn pool(&self) -> sqlx::PgPool {
        use std::str::FromStr;
        let options = sqlx::postgres::PgConnectOptions::from_str(&Self::database_url())
            .unwrap()
            .options([("search_path", self.0.as_str())]);
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect_with(options)
            .await
            .expect("postgres")
    }

    pub async fn redis(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(Self::redis_url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .expect("redis")
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}:{suffix}", self.0)
    }

    /// The configuration of an API (or any library call) on this namespace.
    /// The configuration the namespace's `baedal` runs ([`Self::command`]) see.
    pub fn config(&self) -> baedal::config::Config {
        let mut config = servers_config();
        config.kafka.topic_prefix = format!("{}.", self.0);
        config.database.url = Self::database_url();
        config.database.schema = self.0.clone();
        config.redis.url = Self::redis_url();
        config.redis.key_prefix = format!("{}:", self.0);
        config.api.db_timeout_ms = 5000;
        config
    }
}

/// The default configuration, on the broker `BAEDAL_KAFKA_BOOTSTRAP` names.
fn servers_config() -> baedal::config::Config {
    let mut config = baedal::config::Config::default();
    if let Ok(bootstrap) = std::env::var("BAEDAL_KAFKA_BOOTSTRAP") {
        config.kafka.bootstrap = bootstrap;
    }
    config
}

/// Drops the test's topics, schema and Redis keys.
impl Drop for Namespace {
    fn drop(&mut self) {
        let schema = self.0.clone();
        let _ = runtime().block_on(drop_namespace(schema));
    }
}

/// Deletes the topics whose names `doomed` picks: the broker keeps every
/// topic on disk, and each test makes five.
async fn delete_topics(doomed: impl Fn(&str) -> bool) -> Result<(), Box<dyn std::error::Error>> {
    use rdkafka::admin::{AdminClient, AdminOptions};
    let config = servers_config();
    // A short wait: a test that stopped the broker may still be ending.
    let metadata = baedal_contract::kafka::metadata(&config, None, Duration::from_secs(3))?;
    let names: Vec<String> = metadata
        .topics()
        .iter()
        .map(|t| t.name().to_string())
        .filter(|name| doomed(name))
        .collect();
    if names.is_empty() {
        return Ok(());
    }
    let admin: AdminClient<rdkafka::client::DefaultClientContext> =
        baedal::kafka::client_config(&config).create()?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    admin.delete_topics(&names, &options).await?;
    Ok(())
}

/// Drops a namespace's topics, Postgres schema and Redis keys: each is
/// tried whatever became of the others, and the first failure is returned.
async fn drop_namespace(schema: String) -> Result<(), Box<dyn std::error::Error>> {
    let prefix = format!("{schema}.");
    let topics = delete_topics(|name| name.starts_with(&prefix)).await;
    let rest = drop_schema_and_keys(&schema).await;
    topics.and(rest)
}

/// Drops a namespace's Postgres schema and Redis keys.
async fn drop_schema_and_keys(schema: &str) -> Result<(), Box<dyn std::error::Error>> {
    let pool = sqlx::PgPool::connect(&Namespace::database_url()).await?;
    sqlx::query(&format!("DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"))
        .execute(&pool)
        .await?;
    let client = redis::Client::open(Namespace::redis_url())?;
    let mut redis = client.get_multiplexed_async_connection().await?;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{schema}:*"))
        .query_async(&mut redis)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(&keys)
            .query_async::<()>(&mut redis)
            .await?;
    }
    Ok(())
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

pub fn generate(dir: &Path, seed: u64, scale: f64) -> DefectSummary {
    datagen::generate(
        &Options {
            seed,
            scale,
            out: dir.to_path_buf(),
            names: FileNames::Canonical,
        },
        &|| {},
    )
    .unwrap()
}

/// A dataset generated into a new temporary directory, and what was
/// injected into it.
pub fn generated(seed: u64, scale: f64) -> (tempfile::TempDir, DefectSummary) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let summary = generate(dir.path(), seed, scale);
    (dir, summary)
}

/// The canonical orders of a dataset, computed from the files alone: per
/// order id, the readable version with the latest `updated_at`.
pub fn canonical_orders(dir: &Path) -> HashMap<String, Order> {
    baedal::history::merged_orders(dir)
        .expect("the dataset's orders")
        .into_iter()
        .collect()
}

/// Runs `command` (named `what` in a failure), which must succeed within
/// `deadline`, and returns its stdout; a failure shows both outputs.
pub fn run_ok(command: Command, deadline: Duration, what: &str) -> String {
    let out = run_with_deadline(command, deadline);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `command` (named `what`), which must fail within `deadline`, and
/// returns its stderr.
pub fn run_fails(command: Command, deadline: Duration, what: &str) -> String {
    let out = run_with_deadline(command, deadline);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "{what} must fail: {stderr}");
    stderr
}

/// Runs a command with its output captured; kills it after `deadline`.
pub fn run_with_deadline(mut command: Command, deadline: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the program starts");
    // Read both pipes on threads so a chatty program never blocks on them.
    let mut stdout = child.stdout.take().expect("stdout");
    let mut stderr = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            let err = err_reader.join().unwrap_or_default();
            panic!(
                "{command:?} did not finish within {deadline:?}: {}",
                String::from_utf8_lossy(&err)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    std::process::Output {
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Drops the topics, schemas and Redis keys of namespaces whose test
/// process is gone (a test that shares one namespace across a file cannot
/// drop it). A failure is printed and the sweep goes on.
pub fn sweep_stale_namespaces() {
    runtime().block_on(async {
        // A test's namespace is `t<pid>n<k>`: stale once its process ended.
        let stale = |name: &str| {
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            name.strip_prefix('t')
                .and_then(|rest| rest.split_once('n'))
                .is_some_and(|(pid, k)| {
                    digits(pid) && digits(k) && !Path::new(&format!("/proc/{pid}")).exists()
                })
        };
        let schemas: Result<Vec<String>, sqlx::Error> = async {
            let pool = sqlx::PgPool::connect(&Namespace::database_url()).await?;
            sqlx::query_scalar("SELECT nspname::text FROM pg_namespace")
                .fetch_all(&pool)
                .await
        }
        .await;
        for schema in schemas.unwrap_or_else(|e| {
            eprintln!("sweep: listing the schemas: {e}");
            Vec::new()
        }) {
            if stale(&schema) {
                if let Err(e) = drop_schema_and_keys(&schema).await {
                    eprintln!("sweep: {schema}: {e}");
                }
            }
        }
        // Every stale namespace's topics, in one call.
        let topics = delete_topics(|topic| stale(topic.split('.').next().unwrap_or(""))).await;
        if let Err(e) = topics {
            eprintln!("sweep: deleting topics: {e}");
        }
    });
}

/// Rows in one table of the namespace's schema (0 before the schema is made).
pub fn count(ns: &Namespace, table: &str) -> i64 {
    runtime().block_on(async {
        let pool = ns.pool().await;
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .unwrap_or(0)
    })
}

/// Takes the advisory lock baedal names `name` on `conn`, as another
/// process holding it would.
pub async fn hold_lock(conn: &mut sqlx::PgConnection, name: &str) {
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(name)
        .execute(conn)
        .await
        .expect("the advisory lock");
}

/// Releases every advisory lock the session holds.
pub async fn release_locks(conn: &mut sqlx::PgConnection) {
    sqlx::query("SELECT pg_advisory_unlock_all()")
        .execute(conn)
        .await
        .expect("the advisory locks released");
}

/// Rows in one table of the pool's schema.
pub async fn rows(pool: &sqlx::PgPool, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(pool)
        .await
        .unwrap_or_else(|e| panic!("counting {table}: {e}"))
}

/// Where scripts/setup.sh installs the test tools (Python environments,
/// browsers): `$BAEDAL_CACHE/tools`, by default `~/.cache/baedal/tools`.
pub fn tools_dir() -> std::path::PathBuf {
    let cache = std::env::var_os("BAEDAL_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/baedal")
        });
    cache.join("tools")
}

/// Every row `sql` selects, as `T`; a failed query fails the test.
pub async fn select<T>(pool: &sqlx::PgPool, sql: &str) -> Vec<T>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow> + Send + Unpin,
{
    sqlx::query_as(sql)
        .fetch_all(pool)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Asks `probe` every 50 ms until it finds something, for at most `limit`.
pub fn poll_until<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let started = Instant::now();
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if started.elapsed() >= limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`poll_until`], and a test failure naming `what` when nothing came.
pub fn wait_for<T>(what: &str, limit: Duration, probe: impl FnMut() -> Option<T>) -> T {
    poll_until(limit, probe).unwrap_or_else(|| panic!("{what}: not within {limit:?}"))
}

/// The namespace holds every message of the dataset in `dir` exactly once:
/// a raw row per record, a dead letter per rejected one, and the dataset's
/// canonical orders and their items.
pub fn assert_loaded_exactly(ns: &Namespace, dir: &Path, summary: &DefectSummary) {
    assert_eq!(
        count(ns, "raw_records"),
        summary.records() as i64,
        "every message loaded exactly once"
    );
    assert_eq!(count(ns, "dead_letters"), summary.rejected() as i64);
    let expected = canonical_orders(dir);
    assert_eq!(count(ns, "orders"), expected.len() as i64);
    let items: usize = expected.values().map(|o| o.items.len()).sum();
    assert_eq!(count(ns, "order_items"), items as i64);
}

/// An API answer: its status, `x-cache` header and body (JSON, or the text
/// as a JSON string).
pub struct Reply {
    pub status: axum::http::StatusCode,
    pub cache: Option<String>,
    pub json: serde_json::Value,
}

/// GETs `uri` from the API's router and asserts a 200 (the body is the
/// failure's message).
pub async fn get_ok(app: &axum::Router, uri: &str) -> Reply {
    let reply = get(app, uri).await;
    assert_eq!(
        reply.status,
        axum::http::StatusCode::OK,
        "GET {uri}: {}",
        reply.json
    );
    reply
}

/// GETs `uri` from the API's router.
pub async fn get(app: &axum::Router, uri: &str) -> Reply {
    use tower::ServiceExt;
    let request = axum::http::Request::get(uri)
        .body(axum::body::Body::empty())
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let cache = response
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    let json = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into_owned()));
    Reply {
        status,
        cache,
        json,
    }
}
