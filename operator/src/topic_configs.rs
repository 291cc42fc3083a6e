//! Setting topic configs with IncrementalAlterConfigs (KIP-339), through
//! librdkafka's C API.
//!
//! rdkafka 0.39 wraps only the legacy AlterConfigs, which replaces a topic's
//! whole configuration: every key it does not name goes back to the broker's
//! default, so a setting someone else made (a larger `max.message.bytes`, a
//! compaction policy) would be lost each time the operator changed
//! `retention.ms`. The incremental call sets only the keys it names.

use baedal_contract::librdkafka::{
    admin_request, admin_result, c_string, result_items, text, Owned,
};
use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::time::Duration;

/// Why the configs were not set.
pub use baedal_contract::librdkafka::AdminError as AlterConfigsError;

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

    // SAFETY: every pointer passed below is either a live librdkafka object
    // owned by an `Owned` guard (freed after its last use) or a CString that
    // outlives the call; results are read before their event is destroyed.
    unsafe {
        let resource = Owned::new(
            rd::rd_kafka_ConfigResource_new(
                rd::rd_kafka_ResourceType_t::RD_KAFKA_RESOURCE_TOPIC,
                name.as_ptr(),
            ),
            rd::rd_kafka_ConfigResource_destroy,
        );
        for (key, value) in &pairs {
            let error = rd::rd_kafka_ConfigResource_add_incremental_config(
                resource.get(),
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
        let mut resources = [resource.get()];
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            timeout,
            |rk, options, queue| {
                rd::rd_kafka_IncrementalAlterConfigs(
                    rk,
                    resources.as_mut_ptr(),
                    resources.len(),
                    options,
                    queue,
                )
            },
        )?;
        let result = admin_result(&event, rd::rd_kafka_event_IncrementalAlterConfigs_result)?;
        let answered = result_items(
            result,
            rd::rd_kafka_IncrementalAlterConfigs_result_resources,
        );
        for &resource in answered {
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
