//! The `baedal-operator` command line.

use crate::build::{build, Child};
use crate::crd::{crd_yaml, DeliveryPipeline};
use crate::deref::Dereferenced;
use anyhow::Context as _;
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// The baedal operator: reconciles DeliveryPipeline resources.
#[derive(Debug, Parser)]
#[command(name = "baedal-operator", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the DeliveryPipeline CRD as YAML.
    Crd,
    /// Print every child object of the DeliveryPipelines in a YAML file,
    /// offline (no cluster, no Secrets read).
    Render {
        /// A YAML file with one or more documents; other kinds are skipped.
        file: PathBuf,
        /// Namespace of pipelines that name none.
        #[arg(long, default_value = "default")]
        namespace: String,
    },
    /// Run the operator in the cluster (in-cluster or KUBECONFIG credentials).
    Run {
        /// Address of /metrics and /healthz.
        #[arg(long, env = "BAEDAL_OPERATOR_LISTEN", default_value = "0.0.0.0:8080")]
        listen: String,
        /// Namespace of the leader-election Lease (the operator's own).
        #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
        lease_namespace: String,
        /// Name of the leader-election Lease.
        #[arg(long, default_value = "baedal-operator")]
        lease_name: String,
        /// This replica's identity in the Lease.
        #[arg(long, env = "POD_NAME")]
        identity: Option<String>,
        /// Seconds a leader's Lease lasts without renewal.
        #[arg(long, default_value_t = 15)]
        lease_seconds: u64,
        /// Seconds a deleted pipeline's cleanup (deletionPolicy Delete) is
        /// retried before its finalizer is released anyway.
        #[arg(long, default_value_t = 120)]
        cleanup_timeout_seconds: u64,
        /// Reconcile only the pipelines of this namespace (default: every namespace).
        #[arg(long, env = "BAEDAL_WATCH_NAMESPACE")]
        watch_namespace: Option<String>,
    },
}

/// The child objects of every DeliveryPipeline in `text`, as multi-document YAML.
pub fn render(text: &str, namespace: &str) -> anyhow::Result<String> {
    use serde::Deserialize;
    let mut out = String::new();
    let mut found = 0;
    for (i, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = serde_yaml::Value::deserialize(document)
            .with_context(|| format!("document {}", i + 1))?;
        if value.is_null() || value.get("kind").and_then(|k| k.as_str()) != Some("DeliveryPipeline")
        {
            continue;
        }
        // A field the resource does not have is an error, as with
        // `kubectl apply --validate=strict`: it would be dropped in silence.
        let mut unknown = Vec::new();
        let mut p: DeliveryPipeline = serde_ignored::deserialize(value, |path| {
            unknown.push(path.to_string());
        })
        .with_context(|| format!("document {}: not a valid DeliveryPipeline", i + 1))?;
        // apiVersion and kind were checked above; metadata and status are Kubernetes' own.
        unknown.retain(|path| {
            !matches!(path.as_str(), "apiVersion" | "kind")
                && !path.starts_with("metadata.")
                && !path.starts_with("status")
        });
        if !unknown.is_empty() {
            anyhow::bail!(
                "document {}: unknown field(s) {}",
                i + 1,
                unknown.join(", ")
            );
        }
        if p.metadata.namespace.is_none() {
            p.metadata.namespace = Some(namespace.to_string());
        }
        if let Err(problems) = crate::validate::validate(&p) {
            anyhow::bail!(
                "document {}: invalid DeliveryPipeline:\n  {}",
                i + 1,
                problems.join("\n  ")
            );
        }
        found += 1;
        for child in build(&p, &Dereferenced::offline()).objects {
            out.push_str("---\n");
            out.push_str(&to_yaml(&child)?);
        }
    }
    if found == 0 {
        anyhow::bail!("no DeliveryPipeline in the file");
    }
    Ok(out)
}

fn to_yaml(child: &Child) -> anyhow::Result<String> {
    Ok(yaml11_safe(&serde_yaml::to_string(&child.to_json()?)?))
}

/// Quotes the plain scalars YAML 1.1 reads as booleans (`no`, `yes`, `on`,
/// `off`, `y`, `n`): serde_yaml writes YAML 1.2 and leaves the string "no"
/// bare, which kubectl (YAML 1.1) would turn into `false`. Real booleans are
/// always written `true`/`false`, so every such bare word is a string.
pub fn yaml11_safe(text: &str) -> String {
    const WORDS: [&str; 6] = ["y", "n", "yes", "no", "on", "off"];
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let split = body.rfind(": ").map(|i| i + 2).or_else(|| {
            body.trim_start()
                .starts_with("- ")
                .then(|| body.find("- ").map(|i| i + 2))
                .flatten()
        });
        match split {
            Some(at) if WORDS.contains(&body[at..].to_ascii_lowercase().as_str()) => {
                out.push_str(&body[..at]);
                out.push('\'');
                out.push_str(&body[at..]);
                out.push('\'');
            }
            _ => out.push_str(body),
        }
        out.push_str(newline);
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "baedal-operator".into())
}

/// Runs a command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Crd => {
            print!("{}", crd_yaml()?);
            Ok(())
        }
        Command::Render { file, namespace } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let out = render(&text, &namespace).with_context(|| file.display().to_string())?;
            print!("{out}");
            Ok(())
        }
        Command::Run {
            listen,
            lease_namespace,
            lease_name,
            identity,
            lease_seconds,
            cleanup_timeout_seconds,
            watch_namespace,
        } => {
            let options = crate::run::Options {
                listen,
                lease_namespace,
                lease_name,
                identity: identity.unwrap_or_else(hostname),
                lease_duration: Duration::from_secs(lease_seconds.max(3)),
                cleanup_timeout: Duration::from_secs(cleanup_timeout_seconds),
                watch_namespace,
            };
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?
                .block_on(crate::run::run(options))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::yaml11_safe;

    #[test]
    fn yaml_1_1_booleans_are_quoted_and_nothing_else() {
        let text = "args:\n- --appendonly\n- no\nmode: On\nflag: true\nname: nobody\n";
        assert_eq!(
            yaml11_safe(text),
            "args:\n- --appendonly\n- 'no'\nmode: 'On'\nflag: true\nname: nobody\n"
        );
    }
}
