//! Calls into librdkafka's C API that rdkafka 0.39 does not wrap, and the
//! two helpers such calls need: an owner that frees a librdkafka object once,
//! and a copy of a C string librdkafka returned.
//!
//! - [`topic_ids`]: each topic's ID (KIP-516) from DescribeTopics. A topic
//!   deleted and made again under the same name gets a new ID, which is how
//!   the ETL tells its stored positions from positions in the new topic.
//! - [`flush_now`]: librdkafka's own flush, which sends what lingers at once.

use rdkafka::admin::AdminClient;
use rdkafka::bindings as rd;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseProducer, Producer as _, ProducerContext};
use rdkafka::types::RDKafkaErrorCode;
use std::collections::BTreeMap;
use std::ffi::{c_char, CStr, CString};
use std::time::Duration;

/// Frees a librdkafka object when it goes out of scope.
pub struct Owned<T>(*mut T, unsafe extern "C" fn(*mut T));

impl<T> Owned<T> {
    /// Owns `object`, to be freed by `destroy`.
    ///
    /// # Safety
    /// `object` is null or came from the librdkafka constructor that
    /// `destroy` matches, and nothing else frees it.
    pub unsafe fn new(object: *mut T, destroy: unsafe extern "C" fn(*mut T)) -> Owned<T> {
        Owned(object, destroy)
    }

    /// The object, still owned here.
    pub fn get(&self) -> *mut T {
        self.0
    }
}

impl<T> Drop for Owned<T> {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from the matching librdkafka
            // constructor and is freed exactly once, here.
            unsafe { (self.1)(self.0) }
        }
    }
}

/// A C string librdkafka returned (borrowed, never freed here).
///
/// # Safety
/// `text` is null or a NUL-terminated string that outlives the call.
pub unsafe fn text(text: *const c_char) -> String {
    if text.is_null() {
        String::new()
    } else {
        CStr::from_ptr(text).to_string_lossy().into_owned()
    }
}

/// librdkafka's own flush: the records waiting out `linger.ms` are sent at
/// once, and the call returns as soon as no record is left in the
/// producer, or after `timeout` (the records left are the producer's
/// in-flight count).
///
/// rdkafka 0.39's `Producer::flush` asks librdkafka with no wait and then
/// polls, so the last batch still waits out its linger. rdkafka's
/// producers take delivery reports as events, and a record leaves the
/// producer only when its report is served: with a report for every record
/// this waits out `timeout`. Use it with `delivery.report.only.error`, and
/// serve the reports of failed records after it.
pub fn flush_now<C: ProducerContext>(producer: &BaseProducer<C>, timeout: Duration) {
    let ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    // SAFETY: the handle is the producer's, alive while it is borrowed;
    // librdkafka's flush may be called from any thread.
    unsafe { rd::rd_kafka_flush(producer.client().native_ptr(), ms) };
}

/// Why an admin request through the C API failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
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

impl AdminError {
    /// The broker's error code, when the broker answered with one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminError::Broker { code, .. } => Some(*code),
            _ => None,
        }
    }
}

/// `value` as a C string, or an error naming it.
pub fn c_string(value: &str) -> Result<CString, AdminError> {
    CString::new(value).map_err(|_| AdminError::Client(format!("{value:?} contains NUL")))
}

/// Sends one admin request of kind `op` and waits up to `timeout` for its
/// answer: `start(rk, options, queue)` sends it. Returns the answer's event
/// when the request as a whole succeeded (each resource in it may still
/// carry its own error).
///
/// # Safety
/// `rk` is a live client handle; `start` calls the librdkafka function that
/// sends the request of kind `op` with the options and queue it is given.
pub unsafe fn admin_request(
    rk: *mut rd::rd_kafka_t,
    op: rd::rd_kafka_admin_op_t,
    timeout: Duration,
    start: impl FnOnce(*mut rd::rd_kafka_t, *mut rd::rd_kafka_AdminOptions_t, *mut rd::rd_kafka_queue_t),
) -> Result<Owned<rd::rd_kafka_event_t>, AdminError> {
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let options = Owned::new(
        rd::rd_kafka_AdminOptions_new(rk, op),
        rd::rd_kafka_AdminOptions_destroy,
    );
    let mut errstr = [0 as c_char; 256];
    rd::rd_kafka_AdminOptions_set_request_timeout(
        options.get(),
        timeout_ms,
        errstr.as_mut_ptr(),
        errstr.len(),
    );
    let queue = Owned::new(rd::rd_kafka_queue_new(rk), rd::rd_kafka_queue_destroy);
    start(rk, options.get(), queue.get());
    let event = Owned::new(
        rd::rd_kafka_queue_poll(queue.get(), timeout_ms.saturating_add(1000)),
        rd::rd_kafka_event_destroy,
    );
    if event.get().is_null() {
        return Err(AdminError::Timeout(timeout));
    }
    let code = rd::rd_kafka_event_error(event.get());
    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(AdminError::Broker {
            code: code.into(),
            message: text(rd::rd_kafka_event_error_string(event.get())),
        });
    }
    Ok(event)
}

/// The answer's result of kind `R` (`rd_kafka_event_*_result`), or an error
/// naming the event that came instead.
///
/// # Safety
/// `event` is a live event; the result lives as long as it does.
pub unsafe fn admin_result<R>(
    event: &Owned<rd::rd_kafka_event_t>,
    result_of: unsafe extern "C" fn(*mut rd::rd_kafka_event_t) -> *const R,
) -> Result<*const R, AdminError> {
    let result = result_of(event.get());
    if result.is_null() {
        return Err(AdminError::Client(format!(
            "unexpected event {}",
            text(rd::rd_kafka_event_name(event.get()))
        )));
    }
    Ok(result)
}

/// The array of items an admin result holds (`items_of` fills in its
/// length), as a slice: one entry per resource or topic of the request.
///
/// # Safety
/// `result` is a live result of the kind `items_of` reads; the slice lives
/// as long as the result does.
pub unsafe fn result_items<'a, R, T>(
    result: *const R,
    items_of: unsafe extern "C" fn(*const R, *mut usize) -> *mut *const T,
) -> &'a [*const T] {
    let mut count = 0usize;
    let items = items_of(result, &mut count);
    if items.is_null() || count == 0 {
        return &[];
    }
    std::slice::from_raw_parts(items, count)
}

/// The ID of each of `topics` the broker has (base64, as Kafka's tools
/// print it); a topic the broker does not have, or has no ID for, is left
/// out. Blocks for up to `timeout`: call it off the async threads.
pub fn topic_ids(
    client_config: &ClientConfig,
    topics: &[String],
    timeout: Duration,
) -> Result<BTreeMap<String, String>, AdminError> {
    let admin: AdminClient<DefaultClientContext> = client_config
        .create()
        .map_err(|e| AdminError::Client(format!("admin client: {e}")))?;
    let rk = admin.inner().native_ptr();
    let names: Vec<CString> = topics
        .iter()
        .map(|t| c_string(t))
        .collect::<Result<_, _>>()?;
    let mut name_pointers: Vec<*const c_char> = names.iter().map(|n| n.as_ptr()).collect();
    let mut ids = BTreeMap::new();

    // SAFETY: every pointer passed below is either a live librdkafka object
    // owned by an `Owned` guard (freed after its last use) or a CString (and
    // the array of their pointers) that outlives the call; results are read
    // before their event is destroyed.
    unsafe {
        let collection = Owned::new(
            rd::rd_kafka_TopicCollection_of_topic_names(
                name_pointers.as_mut_ptr(),
                name_pointers.len(),
            ),
            rd::rd_kafka_TopicCollection_destroy,
        );
        let event = admin_request(
            rk,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBETOPICS,
            timeout,
            |rk, options, queue| rd::rd_kafka_DescribeTopics(rk, collection.get(), options, queue),
        )?;
        let result = admin_result(&event, rd::rd_kafka_event_DescribeTopics_result)?;
        for &topic in result_items(result, rd::rd_kafka_DescribeTopics_result_topics) {
            let error = rd::rd_kafka_TopicDescription_error(topic);
            if !error.is_null() {
                let code: RDKafkaErrorCode = rd::rd_kafka_error_code(error).into();
                if code == RDKafkaErrorCode::UnknownTopicOrPartition {
                    continue;
                }
                return Err(AdminError::Broker {
                    code,
                    message: text(rd::rd_kafka_error_string(error)),
                });
            }
            let id = rd::rd_kafka_TopicDescription_topic_id(topic);
            // A broker without topic IDs (before Kafka 2.8) answers with
            // the zero ID, which names no topic.
            if id.is_null()
                || (rd::rd_kafka_Uuid_most_significant_bits(id) == 0
                    && rd::rd_kafka_Uuid_least_significant_bits(id) == 0)
            {
                continue;
            }
            ids.insert(
                text(rd::rd_kafka_TopicDescription_name(topic)),
                text(rd::rd_kafka_Uuid_base64str(id)),
            );
        }
    }
    Ok(ids)
}
