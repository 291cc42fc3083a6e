//! Setting topic configs with IncrementalAlterConfigs (KIP-339), through
//! librdkafka's C API.
//!
//! rdkafka 0.39 wraps only the legacy AlterConfigs, which replaces a topic's
//! whole configuration: every key it does not name goes back to the broker's
//! default, so a setting someone else made (a larger `max.message.bytes`, a
//! compaction policy) would be lost each time the operator changed
//! `retention.ms`. The incremental call sets only the keys it names.

use baedal_contract::librdkafka::{text, Owned};
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::ffi::{c_char, CString};
use std::time::Duration;

/// Why the configs were not set.
#[derive(Debug, thiserror::Error)]
pub enum AlterConfigsError {
    #[error("{code:?}: {message}")]
    Broker {
        code: RDKafkaErrorCode,
        message: String,
    },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("{0}")]
    Client(String),
}

impl AlterConfigsError {
    /// The broker's error code, when the broker answered with one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AlterConfigsError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

fn c_string(value: &str) -> Result<CString, AlterConfigsError> {
    CString::new(value).map_err(|_| AlterConfigsError::Client(format!("{value:?} contains NUL")))
}

/// Sets each of `configs` on `topic`, leaving every other key as it is.
/// Blocks for up to `timeout`: call it off the async threads.
pub fn set_topic_configs(
    client_config: &ClientConfig,
    topic: &str,
    configs: &BTreeMap<String, String>,
    timeout: Duration,
) -> Result<(), AlterConfigsError> {
    let admin: AdminClient<DefaultClientContext> = client_config
        .create()
        .map_err(|e| AlterConfigsError::Client(format!("admin client: {e}")))?;
    let rk = admin.inner().native_ptr();
    let name = c_string(topic)?;
    let pairs: Vec<(CString, CString)> = configs
        .iter()
        .map(|(k, v)| Ok((c_string(k)?, c_string(v)?)))
        .collect::<Result<_, AlterConfigsError>>()?;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);

    // SAFETY: every pointer passed below is either a live librdkafka object
    // owned by an `Owned` guard (freed after its last use) or a CString that
    // outlives the call; results are read before their event is destroyed.
    unsafe {
        let resource = Owned(
            rd::rd_kafka_ConfigResource_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                name.as_ptr(),
            ),
            rd::rd_kafka_ConfigResource_destroy,
        );
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource.0,
                key.as_ptr(),
                rd::rd_kafka_AlterConfigOpType_t::RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET,
                value.as_ptr(),
            );
            if !error.is_null() {
                let message = text(rd::rd_kafka_error_string(error));
                rd::rd_kafka_error_destroy(error);
                return Err(AlterConfigsError::Client(message));
            }
        }
        let options = Owned(
            rd::rd_kafka_AdminOptions_new(
                rk,
                rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            ),
            rd::rd_kafka_AdminOptions_destroy,
        );
        let mut errstr = [0 as c_char; 256];
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.0,
            timeout_ms,
            errstr.as_mut_ptr(),
            errstr.len(),
        );
        let queue = Owned(rd::rd_kafka_queue_new(rk), rd::rd_kafka_queue_destroy);
        let mut resources = [resource.0];
        rd::rd_kafka_IncrementalAlterConfigs(
            rk,
            resources.as_mut_ptr(),
            resources.len(),
            options.0,
            queue.0,
        );
        let event = Owned(
            rd::rd_kafka_queue_poll(queue.0, timeout_ms.saturating_add(1000)),
            rd::rd_kafka_event_destroy,
        );
        if event.0.is_null() {
            return Err(AlterConfigsError::Timeout(timeout));
        }
        let code = rd::rd_kafka_event_error(event.0);
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(AlterConfigsError::Broker {
                code: code.into(),
                message: text(rd::rd_kafka_event_error_string(event.0)),
            });
        }
        let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event.0);
        if result.is_null() {
            return Err(AlterConfigsError::Client(format!(
                "unexpected event {}",
                text(rd::rd_kafka_event_name(event.0))
            )));
        }
        let mut count = 0usize;
        let answered = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
        for i in 0..count {
            let resource = *answered.add(i);
            let code = rd::rd_kafka_ConfigResource_error(resource);
            if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(AlterConfigsError::Broker {
                    code: code.into(),
                    message: text(rd::rd_kafka_ConfigResource_error_string(resource)),
                });
            }
        }
    }
    Ok(())
}
