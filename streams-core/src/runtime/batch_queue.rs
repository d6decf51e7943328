//! Consumed records read from librdkafka in batches.
//!
//! rdkafka's `poll` hands out one message per call, and each call costs
//! more than the message: librdkafka reads the clock and records poll
//! statistics, and rdkafka wraps the message in a reference-counted event
//! (together a sixth of a restoring thread's profile). A [`BatchQueue`]
//! takes up to [`BATCH`] messages per call instead
//! (`rd_kafka_consume_batch_queue`).
//!
//! Only a consumer that never joins its group may be read this way: a
//! rebalance event served by `rd_kafka_consume_batch_queue` is not handed
//! to rdkafka (which asks librdkafka for rebalances as events) but answered
//! by librdkafka itself with an empty assignment. The restore consumer only
//! `assign`s; a stream thread's main consumer keeps rdkafka's `poll`.
//! (Forwarding the main consumer's partition queues to a queue of their
//! own does not work either: librdkafka drops the forwarding when it stops
//! fetching a partition but keeps the mark that the application forwarded
//! it, so after a re-assignment that overlaps the stop the partition's
//! records go to no queue at all.)

use std::ffi::CStr;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::client::{Client, ClientContext};

use super::errors::{RuntimeError, RuntimeResult};

/// Messages taken per librdkafka call, at most.
pub(crate) const BATCH: usize = 1024;

/// A librdkafka queue of consumed messages, read in batches.
pub(crate) struct BatchQueue {
    queue: NonNull<rdsys::rd_kafka_queue_t>,
    buf: Vec<*mut rdsys::rd_kafka_message_t>,
}

impl BatchQueue {
    /// The consumer queue of `client`, a consumer that never subscribes.
    ///
    /// The queue must be dropped before the client (declare it first).
    pub(crate) fn of_consumer<C: ClientContext>(client: &Client<C>) -> RuntimeResult<Self> {
        // SAFETY: the client is alive; the returned handle holds its own
        // reference to the queue and is destroyed in `drop`.
        let queue = unsafe { rdsys::rd_kafka_queue_get_consumer(client.native_ptr()) };
        let queue = NonNull::new(queue).ok_or_else(|| {
            RuntimeError::IllegalState(
                "the consumer has no consumer queue (it needs a group.id)".into(),
            )
        })?;
        Ok(BatchQueue {
            queue,
            buf: Vec::with_capacity(BATCH),
        })
    }

    /// Up to `max` messages, waiting at most `timeout` for the first one.
    pub(crate) fn consume(&mut self, timeout: Duration, max: usize) -> Messages<'_> {
        let max = max.min(BATCH);
        self.buf.clear();
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `buf` has room for `max` pointers; librdkafka writes `n`
        // of them and returns `n` (or -1 on error, when it writes none).
        let n = unsafe {
            rdsys::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                self.buf.as_mut_ptr(),
                max,
            )
        };
        if n > 0 {
            // SAFETY: librdkafka initialised the first `n` elements.
            unsafe { self.buf.set_len(n as usize) };
        }
        Messages(&mut self.buf)
    }
}

impl Drop for BatchQueue {
    fn drop(&mut self) {
        // SAFETY: the handle came from librdkafka and is destroyed once.
        unsafe { rdsys::rd_kafka_queue_destroy(self.queue.as_ptr()) };
    }
}

/// Messages of one [`BatchQueue::consume`] call, destroyed when dropped.
pub(crate) struct Messages<'a>(&'a mut Vec<*mut rdsys::rd_kafka_message_t>);

impl Messages<'_> {
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = RawMessage<'_>> {
        // SAFETY: each pointer is a live message until `drop`.
        self.0.iter().map(|&m| RawMessage(unsafe { &*m }))
    }
}

impl Drop for Messages<'_> {
    fn drop(&mut self) {
        for m in self.0.drain(..) {
            // SAFETY: each message was returned by librdkafka once and is
            // destroyed once, after the last borrow of it (`iter`).
            unsafe { rdsys::rd_kafka_message_destroy(m) };
        }
    }
}

/// One consumed message, borrowed from [`Messages`].
pub(crate) struct RawMessage<'a>(&'a rdsys::rd_kafka_message_t);

impl std::ops::Deref for RawMessage<'_> {
    type Target = rdsys::rd_kafka_message_t;
    fn deref(&self) -> &Self::Target {
        self.0
    }
}

impl<'a> RawMessage<'a> {
    /// The error the message carries instead of a record, if any.
    pub(crate) fn error(&self) -> Option<rdkafka::error::RDKafkaErrorCode> {
        (self.0.err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR)
            .then(|| rdkafka::error::RDKafkaErrorCode::from(self.0.err))
    }

    /// The topic's name as bytes (NUL excluded).
    pub(crate) fn topic_bytes(&self) -> &'a [u8] {
        // SAFETY: a message's topic handle lives as long as the message
        // (`'a`); its name is a NUL-terminated string.
        unsafe { CStr::from_ptr(rdsys::rd_kafka_topic_name(self.0.rkt)) }.to_bytes()
    }

    pub(crate) fn key(&self) -> Option<&[u8]> {
        // SAFETY: librdkafka's key pointer and length describe one buffer
        // that lives as long as the message.
        (!self.0.key.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(self.0.key as *const u8, self.0.key_len) })
    }

    pub(crate) fn payload(&self) -> Option<&[u8]> {
        // SAFETY: as for `key`.
        (!self.0.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(self.0.payload as *const u8, self.0.len) })
    }

    /// The record's timestamp in ms, or `none` when it has none.
    pub(crate) fn timestamp_or(&self, none: i64) -> i64 {
        let mut kind = rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE;
        // SAFETY: a live message; `kind` is written.
        let ts = unsafe { rdsys::rd_kafka_message_timestamp(self.0, &mut kind) };
        if kind == rdsys::rd_kafka_timestamp_type_t::RD_KAFKA_TIMESTAMP_NOT_AVAILABLE {
            none
        } else {
            ts
        }
    }
}
