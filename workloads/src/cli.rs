//! The `baedal` command line: one binary, one subcommand per job.

use crate::config::Config;
use crate::datagen::{self, FileNames};
use crate::{db, etl, ingest, kafka, metrics, profile};
use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use prometheus_client::registry::Registry;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// baedal: Kubernetes-native delivery analytics. Data-plane jobs.
#[derive(Debug, Parser)]
#[command(name = "baedal", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Generate the six dataset files of DATA.md and defect-summary.json.
    ///
    /// The same seed and scale always give byte-identical files. Scale 1 is
    /// the guide's record counts (100,000 CSV orders); output is streamed, so
    /// large scales run in bounded memory.
    Datagen {
        /// Seed of every random decision.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Scale factor: 1 = 100,000 CSV orders, 0.01 = 1,000.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Directory to write into (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// File names: DATA.md's canonical names or the guide's Korean ones.
        #[arg(long, value_enum, default_value_t = FileNames::Canonical)]
        names: FileNames,
    },
    /// Profile the data quality of every dataset file in a directory:
    /// records, rejected records with reasons, missing values, duplicates,
    /// impossible values, date-format variants, numeric statistics and orders
    /// by hour and weekday.
    Profile {
        /// Directory holding the dataset files (found by extension and content).
        dir: PathBuf,
        /// Also write the profile as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
    },
    /// Send every record of the dataset files to Kafka (unreadable records to
    /// the dead-letter topic), creating the topics if they are missing.
    Ingest {
        /// A directory, one file, or a file:// or s3://bucket/prefix/ URI.
        #[arg(long)]
        source: String,
        /// batch: read everything once; replay: send in order-time order at --rate.
        #[arg(long, value_enum, default_value_t = IngestMode::Batch)]
        mode: IngestMode,
        /// Records per second in replay mode.
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        /// Partitions of topics created by this run.
        #[arg(long, default_value_t = 3)]
        partitions: i32,
        /// YAML configuration file (see `baedal config`).
        #[arg(long, env = "BAEDAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Load Kafka into Postgres and Redis: from the positions stored in
    /// Postgres to the end of every partition (or forever with --follow).
    Etl {
        /// Keep consuming after the end as a member of the consumer group
        /// `etl.group_id`, loading every second and keeping the live views
        /// current.
        #[arg(long)]
        follow: bool,
        /// Read no Kafka: only rebuild the marts and refresh the Redis views
        /// (the CronJob's work when followers load).
        #[arg(long, conflicts_with = "follow")]
        marts_only: bool,
        #[arg(long, env = "BAEDAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Serve the analytics API and the dashboard (Postgres, Redis cache-aside).
    Api {
        /// Address to listen on (default: api.listen, 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        #[arg(long, env = "BAEDAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print every readable record of a dataset file as `key<TAB>json`, the
    /// key and canonical JSON `ingest` sends (unreadable records go to stderr).
    Records {
        /// A dataset file (any of the six formats).
        file: PathBuf,
    },
    /// Create the Postgres schema and apply the pending migrations.
    Migrate {
        #[arg(long, env = "BAEDAL_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the effective configuration (passwords hidden) and every
    /// BAEDAL_* environment variable the workloads read.
    Config {
        #[arg(long, env = "BAEDAL_CONFIG")]
        config: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IngestMode {
    Batch,
    Replay,
}

/// Set by SIGTERM or SIGINT: jobs stop reading, flush and exit cleanly.
fn stop_flag() -> anyhow::Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGTERM, stop.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, stop.clone())?;
    Ok(stop)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Prints to stdout; a closed pipe (`baedal profile … | head`) is not an error.
fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

fn progress(total: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    if total == 0 {
        let spinner = ProgressBar::new_spinner();
        spinner.set_style(
            ProgressStyle::with_template("{spinner} {msg} {human_pos} records ({per_sec})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        spinner.set_message(what.to_string());
        return spinner;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {human_pos}/{human_len} ({per_sec}, {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Datagen {
            seed,
            scale,
            out,
            names,
        } => {
            let options = datagen::Options {
                seed,
                scale,
                out: out.clone(),
                names,
            };
            let bar = progress(datagen::planned_records(scale), "datagen");
            let tick = || bar.inc(1);
            let summary = datagen::generate(&options, &tick)
                .with_context(|| format!("generating into {}", out.display()))?;
            bar.finish_and_clear();
            for (name, f) in &summary.files {
                tracing::info!(file = %name, records = f.records, rejects = f.rejected(), duplicates = f.duplicates, "written");
            }
            print_out(&format!(
                "wrote {} files to {} (seed {seed}, scale {scale}); defects in {}",
                summary.files.len(),
                out.display(),
                datagen::SUMMARY_FILE
            ))?;
            Ok(())
        }
        Command::Ingest {
            source,
            mode,
            rate,
            partitions,
            config,
        } => {
            let config = Config::load(config.as_deref())?;
            let source = crate::source::Source::open(&source)?;
            // /metrics first: it answers while the topics are checked.
            let metrics = Arc::new(ingest::IngestMetrics::default());
            let mut registry = Registry::default();
            metrics.register(&mut registry);
            metrics::serve_in_background(config.metrics_listen.clone(), Arc::new(registry));
            let producer = ingest::Producer::connect(&config, metrics)?;
            let missing = producer.missing_topics(&config)?;
            if config.kafka.create_topics {
                if !missing.is_empty() {
                    let created = runtime()?.block_on(kafka::ensure_topics(&config, partitions))?;
                    tracing::info!(?created, "topics created");
                }
            } else {
                if !missing.is_empty() {
                    return Err(kafka::TopicsMissing(missing).into());
                }
            }
            let stop = stop_flag()?;
            let mode = match mode {
                IngestMode::Batch => ingest::Mode::Batch,
                IngestMode::Replay => ingest::Mode::Replay { rate },
            };
            let bar = progress(0, "ingest");
            let progress = |sent| bar.inc(sent);
            let report = ingest::run(&config, producer, &source, mode, &stop, &progress)?;
            bar.finish_and_clear();
            print_out(&format!(
                "sent {} records and {} dead letters from {} files in {:.1} s ({:.0} records/s){}",
                report.records,
                report.dead_letters,
                report.files.len(),
                report.seconds,
                (report.records + report.dead_letters) as f64 / report.seconds.max(1e-9),
                if report.interrupted {
                    "; interrupted"
                } else {
                    ""
                }
            ))?;
            Ok(())
        }
        Command::Etl {
            follow,
            marts_only,
            config,
        } => {
            let mode = match (follow, marts_only) {
                (true, _) => etl::Mode::Follow,
                (false, true) => etl::Mode::MartsOnly,
                (false, false) => etl::Mode::ToEnd,
            };
            let config = Config::load(config.as_deref())?;
            let metrics = etl::EtlMetrics::default();
            let mut registry = Registry::default();
            metrics.register(&mut registry);
            metrics::serve_in_background(config.metrics_listen.clone(), Arc::new(registry));
            let stop = stop_flag()?;
            let report = runtime()?.block_on(etl::run(&config, mode, &metrics, &stop))?;
            print_out(&format!(
                "read {} messages ({} new) in {} batches: {} orders changed, {} new dead letters, \
                 {} unstorable, in {:.1} s",
                report.loaded.messages,
                report.loaded.new_messages,
                report.batches,
                report.loaded.orders_changed,
                report.loaded.dead_letters,
                report.loaded.unstorable,
                report.seconds
            ))?;
            Ok(())
        }
        Command::Api { listen, config } => {
            let mut config = Config::load(config.as_deref())?;
            if let Some(listen) = listen {
                config.api.listen = listen;
            }
            runtime()?.block_on(crate::api::serve(config))
        }
        Command::Records { file } => {
            use std::io::Write;
            let format = crate::readers::detect_format(&file)?
                .ok_or_else(|| anyhow::anyhow!("{} is not a dataset file", file.display()))?;
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            for result in crate::readers::open(&file, format)? {
                match result {
                    Ok(record) => {
                        let mut line = ingest::key_of(&record).into_bytes();
                        line.push(b'\t');
                        record.write_json(&mut line)?;
                        line.push(b'\n');
                        if let Err(e) = out.write_all(&line) {
                            if e.kind() == std::io::ErrorKind::BrokenPipe {
                                return Ok(());
                            }
                            return Err(e.into());
                        }
                    }
                    Err(e) => eprintln!("{e}"),
                }
            }
            out.flush()?;
            Ok(())
        }
        Command::Migrate { config } => {
            let config = Config::load(config.as_deref())?;
            runtime()?.block_on(db::migrate(&config.database))?;
            print_out(&format!(
                "schema {} is at the latest migration",
                config.database.schema
            ))?;
            Ok(())
        }
        Command::Config { config } => {
            let config = Config::load(config.as_deref())?;
            let mut text = config.redacted();
            text.push_str("\n# environment variables\n");
            for var in crate::config::ENV {
                text.push_str(&format!(
                    "# {:<34} {:<28} {}\n",
                    var.name, var.key, var.meaning
                ));
            }
            print_out(&text)?;
            Ok(())
        }
        Command::Profile { dir, json } => {
            let profile = profile::profile_dir(&dir)
                .with_context(|| format!("profiling {}", dir.display()))?;
            if profile.files.is_empty() {
                anyhow::bail!("no dataset files found in {}", dir.display());
            }
            print_out(&profile::render(&profile))?;
            if let Some(path) = json {
                let text = serde_json::to_vec_pretty(&profile)?;
                std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?;
                print_out(&format!("profile written to {}", path.display()))?;
            }
            Ok(())
        }
    }
}
