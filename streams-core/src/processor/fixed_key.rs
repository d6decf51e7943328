//! Fixed-key processors: the Processor API of `KStream::process_values`.
//!
//! `process_values` promises the topology that keys stay as they are, so no
//! repartition topic is inserted before a later grouping or join. Kafka
//! Streams keeps that promise with types (`FixedKeyProcessor`,
//! `FixedKeyRecord` has no `withKey`), and so does this module: a
//! [`FixedKeyRecord`] can only be built from the record being processed, and
//! its key cannot be replaced.

use std::time::Duration;

use super::{
    Cancellable, Headers, Processor, ProcessorContext, PunctuationType, Record, RecordMetadata,
    ScheduleId, TaskId, TaskMetrics,
};
use crate::error::StreamsError;

/// A record whose key cannot change: what a [`FixedKeyProcessor`] receives
/// and forwards.
///
/// There is no public constructor; derive the records to forward from the
/// one received, with [`with_value`](Self::with_value),
/// [`with_timestamp`](Self::with_timestamp) and
/// [`with_headers`](Self::with_headers).
#[derive(Debug, Clone, PartialEq)]
pub struct FixedKeyRecord<K, V> {
    record: Record<K, V>,
}

impl<K, V> FixedKeyRecord<K, V> {
    pub(crate) fn new(record: Record<K, V>) -> Self {
        FixedKeyRecord { record }
    }

    /// The key; `None` is a null key.
    pub fn key(&self) -> Option<&K> {
        self.record.key.as_ref()
    }

    /// The value; `None` is a null value.
    pub fn value(&self) -> Option<&V> {
        self.record.value.as_ref()
    }

    /// The timestamp in milliseconds since the epoch.
    pub fn timestamp(&self) -> i64 {
        self.record.timestamp
    }

    /// The headers.
    pub fn headers(&self) -> &Headers {
        &self.record.headers
    }

    /// The headers, to add or remove some in place.
    pub fn headers_mut(&mut self) -> &mut Headers {
        &mut self.record.headers
    }

    /// Takes the value out, leaving the record to be given a new one.
    pub fn take_value(&mut self) -> Option<V> {
        self.record.value.take()
    }

    /// The same record (key, timestamp, headers) with another value.
    pub fn with_value<V2>(self, value: Option<V2>) -> FixedKeyRecord<K, V2> {
        FixedKeyRecord {
            record: self.record.with_value(value),
        }
    }

    /// The same record with another timestamp.
    pub fn with_timestamp(self, timestamp: i64) -> Self {
        FixedKeyRecord {
            record: self.record.with_timestamp(timestamp),
        }
    }

    /// The same record with other headers.
    pub fn with_headers(self, headers: Headers) -> Self {
        FixedKeyRecord {
            record: self.record.with_headers(headers),
        }
    }
}

/// A processor that may change values, timestamps and headers but never
/// keys; added with `KStream::process_values`. Every method but
/// [`process`](Self::process) has a no-op default.
pub trait FixedKeyProcessor<K, VIn, VOut>: 'static {
    /// Called once before the first record: fetch store handles, schedule
    /// punctuations.
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), StreamsError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        record: FixedKeyRecord<K, VIn>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), StreamsError>;

    /// A punctuation scheduled with
    /// [`FixedKeyProcessorContext::schedule`] is due.
    fn punctuate(
        &mut self,
        schedule: ScheduleId,
        timestamp: i64,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), StreamsError> {
        let _ = (schedule, timestamp, ctx);
        Ok(())
    }

    /// The task commits.
    fn flush(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, K, VOut>,
    ) -> Result<(), StreamsError> {
        let _ = ctx;
        Ok(())
    }

    /// The task closes.
    fn close(&mut self) {}

    /// Whether the processor may look at its records' headers or keep them
    /// anywhere other than in the records it forwards; `true` by default.
    /// As [`Processor::uses_headers`]: where no node of a sub-topology does,
    /// the runtime does not read its input records' headers.
    ///
    /// ```
    /// use streams_core::error::StreamsError;
    /// use streams_core::processor::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
    ///
    /// /// Forwards the length of each value; never looks at headers.
    /// struct Len;
    /// impl FixedKeyProcessor<String, String, i64> for Len {
    ///     fn process(
    ///         &mut self,
    ///         r: FixedKeyRecord<String, String>,
    ///         ctx: &mut FixedKeyProcessorContext<'_, '_, String, i64>,
    ///     ) -> Result<(), StreamsError> {
    ///         let v = r.value().map(|v| v.len() as i64);
    ///         ctx.forward(r.with_value(v))
    ///     }
    ///     fn uses_headers(&self) -> bool {
    ///         false
    ///     }
    /// }
    /// assert!(!Len.uses_headers());
    /// ```
    fn uses_headers(&self) -> bool {
        true
    }
}

/// The context of a [`FixedKeyProcessor`]: a [`ProcessorContext`] whose
/// forwarding only takes [`FixedKeyRecord`]s.
pub struct FixedKeyProcessorContext<'c, 'a, K, V> {
    inner: &'c mut ProcessorContext<'a, K, V>,
}

impl<K: Clone + 'static, V: Clone + 'static> FixedKeyProcessorContext<'_, '_, K, V> {
    /// Sends `record` to every child of this processor.
    pub fn forward(&mut self, record: FixedKeyRecord<K, V>) -> Result<(), StreamsError> {
        self.inner.forward(record.record)
    }

    /// Sends `record` to the child named `child` only.
    pub fn forward_to(
        &mut self,
        child: &str,
        record: FixedKeyRecord<K, V>,
    ) -> Result<(), StreamsError> {
        self.inner.forward_to(child, record.record)
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        self.inner.application_id()
    }

    /// The id of the task running this processor.
    pub fn task_id(&self) -> TaskId {
        self.inner.task_id()
    }

    /// This processor's node name.
    pub fn node_name(&self) -> &str {
        self.inner.node_name()
    }

    /// Topic, partition and offset of the record being processed (`None`
    /// in a punctuation).
    pub fn record_metadata(&self) -> Option<&RecordMetadata> {
        self.inner.record_metadata()
    }

    /// The current timestamp (the record's, or the punctuation's).
    pub fn timestamp(&self) -> i64 {
        self.inner.timestamp()
    }

    /// The task's stream time.
    pub fn current_stream_time_ms(&self) -> i64 {
        self.inner.current_stream_time_ms()
    }

    /// The task's wall-clock time.
    pub fn current_system_time_ms(&self) -> i64 {
        self.inner.current_system_time_ms()
    }

    /// The task's metrics.
    pub fn metrics(&mut self) -> &mut TaskMetrics {
        self.inner.metrics()
    }

    /// The handle of a store connected to this processor.
    pub fn get_state_store<H: Clone + 'static>(&self, name: &str) -> Result<H, StreamsError> {
        self.inner.get_state_store(name)
    }

    /// Schedules periodic calls of [`FixedKeyProcessor::punctuate`], as
    /// [`ProcessorContext::schedule`] does.
    pub fn schedule(
        &mut self,
        interval: Duration,
        kind: PunctuationType,
    ) -> Result<Cancellable, StreamsError> {
        self.inner.schedule(interval, kind)
    }
}

/// Runs a [`FixedKeyProcessor`] as the plain [`Processor`] the topology
/// holds: the one place where records are wrapped and unwrapped.
pub(crate) struct FixedKeyAdapter<P>(pub(crate) P);

impl<K, VIn, VOut, P> Processor<K, VIn, K, VOut> for FixedKeyAdapter<P>
where
    K: Clone + 'static,
    VOut: Clone + 'static,
    P: FixedKeyProcessor<K, VIn, VOut>,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), StreamsError> {
        self.0.init(&mut FixedKeyProcessorContext { inner: ctx })
    }

    fn process(
        &mut self,
        record: Record<K, VIn>,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), StreamsError> {
        self.0.process(
            FixedKeyRecord::new(record),
            &mut FixedKeyProcessorContext { inner: ctx },
        )
    }

    fn punctuate(
        &mut self,
        schedule: ScheduleId,
        timestamp: i64,
        ctx: &mut ProcessorContext<'_, K, VOut>,
    ) -> Result<(), StreamsError> {
        self.0.punctuate(
            schedule,
            timestamp,
            &mut FixedKeyProcessorContext { inner: ctx },
        )
    }

    fn flush(&mut self, ctx: &mut ProcessorContext<'_, K, VOut>) -> Result<(), StreamsError> {
        self.0.flush(&mut FixedKeyProcessorContext { inner: ctx })
    }

    fn close(&mut self) {
        self.0.close();
    }

    fn uses_headers(&self) -> bool {
        self.0.uses_headers()
    }
}
