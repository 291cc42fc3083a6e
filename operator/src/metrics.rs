//! The operator's Prometheus metrics: reconciles, errors by step, and the
//! reconcile duration.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::time::Duration;

/// The `step` label of the error counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StepLabel {
    pub step: String,
}

/// Every metric the reconciler updates.
#[derive(Debug)]
pub struct Metrics {
    pub reconciles: Counter,
    pub errors: Family<StepLabel, Counter>,
    pub duration: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            reconciles: Counter::default(),
            errors: Family::default(),
            // 1 ms … ~16 s
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 15)),
        }
    }
}

impl Metrics {
    /// Registers every metric under `baedal_operator_`.
    pub fn register(&self, registry: &mut Registry) {
        baedal_contract::register_metrics!(registry, "baedal_operator", {
            "reconciles" => self.reconciles, "Reconciles started";
            "reconcile_errors" => self.errors, "Reconcile errors by the step that failed";
            "reconcile_duration_seconds" => self.duration, "Time per reconcile";
        });
    }

    /// One reconcile started.
    pub fn reconciled(&self) {
        self.reconciles.inc();
    }

    /// One error at `step`.
    pub fn error(&self, step: &str) {
        self.errors
            .get_or_create(&StepLabel { step: step.into() })
            .inc();
    }

    /// One reconcile took `elapsed`.
    pub fn observe(&self, elapsed: Duration) {
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// The error count of a step (for tests).
    pub fn errors_at(&self, step: &str) -> u64 {
        self.errors
            .get_or_create(&StepLabel { step: step.into() })
            .get()
    }
}

/// The registry in the Prometheus text format.
pub fn render(registry: &Registry) -> String {
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, registry).is_err() {
        out.clear();
    }
    out
}
