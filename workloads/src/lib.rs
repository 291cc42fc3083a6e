//! baedal's data plane: the domain model shared by every workload, one
//! streaming reader per source format, the deterministic dataset generator
//! and the data-quality profiler.

pub mod anomalies;
pub mod api;
pub mod churn;
pub mod cli;
pub mod clv;
pub mod columns;
pub use baedal_contract::config;
pub mod datagen;
pub mod db;
pub mod etl;
pub mod forecast;
pub mod history;
pub mod ingest;
pub mod kafka;
pub mod metrics;
pub mod model;
pub mod profile;
pub mod readers;
pub mod redis_client;
pub mod redis_keys;
pub mod routes;
pub mod rules;
pub mod source;
