//! The one error type of the reconciler. Each variant names the step that
//! failed; [`Error::step`] is the label of the error metric and the reason
//! of the Warning Event.

/// What went wrong, by reconcile step.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A referenced Secret or key is missing (or could not be read).
    #[error("secret {secret}: {reason}")]
    Dereference { secret: String, reason: String },
    /// The spec breaks a rule (the same rules the CRD's CEL checks, and more).
    #[error("invalid spec: {0}")]
    Validate(String),
    /// Server-side apply (or removal) of one or more child objects failed;
    /// the others were applied.
    #[error("applying children: {0}")]
    Apply(String),
    /// Reading the state of a child (the ETL's Jobs) failed.
    #[error("reading children: {0}")]
    Observe(#[source] kube::Error),
    /// Kafka topic provisioning failed (broker unreachable, admin error).
    #[error("kafka topics: {0}")]
    Topics(String),
    /// Postgres migration failed.
    #[error("postgres schema: {0}")]
    Schema(String),
    /// Writing the status failed.
    #[error("writing status: {0}")]
    Status(#[source] kube::Error),
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// Deleting topics or the schema for `deletionPolicy: Delete` failed.
    #[error("cleanup: {0}")]
    Cleanup(String),
}

impl Error {
    /// The failed step, a short label: `dereference`, `validate`, `apply`,
    /// `observe`, `topics`, `schema`, `status`, `finalizer`, `cleanup`.
    pub fn step(&self) -> &'static str {
        match self {
            Error::Dereference { .. } => "dereference",
            Error::Validate(_) => "validate",
            Error::Apply(_) => "apply",
            Error::Observe(_) => "observe",
            Error::Topics(_) => "topics",
            Error::Schema(_) => "schema",
            Error::Status(_) => "status",
            Error::Finalizer(_) => "finalizer",
            Error::Cleanup(_) => "cleanup",
        }
    }

    /// The Event reason for this error (CamelCase).
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Dereference { .. } => "SecretNotFound",
            Error::Validate(_) => "InvalidSpec",
            Error::Apply(_) => "ApplyFailed",
            Error::Observe(_) => "ObserveFailed",
            Error::Topics(_) => "TopicsFailed",
            Error::Schema(_) => "MigrationFailed",
            Error::Status(_) => "StatusFailed",
            Error::Finalizer(_) => "FinalizerFailed",
            Error::Cleanup(_) => "CleanupFailed",
        }
    }
}
