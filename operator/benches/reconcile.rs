//! Reconciles 1,000 DeliveryPipelines against the mocked API server: first
//! create (every child applied, status written), then an unchanged
//! re-reconcile of all of them. Prints reconciles/s, API calls per reconcile
//! and the process's peak memory (VmHWM).
//!
//!     cargo bench -p baedal-operator --bench reconcile [-- PIPELINES]

use baedal_operator::reconcile::reconcile;
use baedal_operator::testing::{context, pipeline, ApiServer, FakeDataPlane, PipelineExt};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Instant;

fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-'))
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let pipelines: Vec<_> = (0..count)
            .map(|i| pipeline(&format!("p{i:04}")).finalized())
            .collect();
        let mut server = ApiServer::new().with_database_secret();
        for p in &pipelines {
            server = server.with_pipeline(p);
        }
        let ctx = context(&server, Arc::new(FakeDataPlane::default()));

        let mut previous_calls = 0;
        for phase in ["first create", "unchanged re-reconcile"] {
            // Each phase reconciles the pipelines as the API server now has them.
            let current: Vec<_> = pipelines
                .iter()
                .map(|p| server.pipeline(p).unwrap_or_else(|| p.clone()))
                .collect();
            let started = Instant::now();
            let failures = futures::stream::iter(current)
                .map(|p| {
                    let ctx = ctx.clone();
                    async move { reconcile(Arc::new(p), ctx).await.is_err() }
                })
                .buffer_unordered(16)
                .filter(|failed| futures::future::ready(*failed))
                .count()
                .await;
            let seconds = started.elapsed().as_secs_f64();
            let calls = server.calls();
            let new_calls = &calls[previous_calls..];
            let writes = new_calls.iter().filter(|c| c.is_write()).count();
            previous_calls = calls.len();
            println!(
                "{phase:<24} {count} pipelines in {seconds:.2} s: {:.0} reconciles/s, {:.1} API calls/reconcile ({:.1} writes), {failures} failed",
                count as f64 / seconds,
                new_calls.len() as f64 / count as f64,
                writes as f64 / count as f64,
            );
        }
        if let Some(mib) = peak_memory_mib() {
            println!("peak memory (VmHWM): {mib:.1} MiB");
        }
    });
    Ok(())
}
