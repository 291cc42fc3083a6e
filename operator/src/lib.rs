//! The baedal operator: the `DeliveryPipeline` custom resource, the pure
//! builders of its child objects, and the reconciler that applies them,
//! provisions Kafka topics and the Postgres schema, and reports status.

pub mod apply;
pub mod build;
pub mod cli;
pub mod crd;
pub mod dataplane;
pub mod deref;
pub mod error;
pub mod lease;
pub mod metrics;
pub mod reconcile;
pub mod run;
pub mod status;
pub mod testing;
pub mod topic_configs;
pub mod topics;
pub mod validate;
