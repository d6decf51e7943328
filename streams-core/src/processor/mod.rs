//! The Processor API: the [`Processor`] trait every operator implements, the
//! [`Record`] it receives and the [`ProcessorContext`] it forwards through.
//!
//! Every DSL verb (`filter`, `map_values`, `count`, joins ...) is a processor
//! from this module added to the topology through the same primitive that
//! `KStream::process` exposes to users.

mod context;
mod fixed_key;
pub(crate) mod node;
mod record;
pub(crate) mod timestamp_extractor;

pub(crate) mod aggregate;
pub(crate) mod fk_join;
pub(crate) mod session_aggregate;
pub(crate) mod sliding_aggregate;
pub(crate) mod stateless;
pub(crate) mod stream_stream_join;
pub(crate) mod stream_table_join;
pub(crate) mod suppress;
pub(crate) mod table;
pub(crate) mod table_table_join;
pub(crate) mod value_getter;
pub(crate) mod window_aggregate;

pub use context::{
    Cancellable, ProcessorContext, PunctuationType, RecordCollector, ScheduleId, TaskId,
    TaskMetrics,
};
pub(crate) use context::{NodeInfo, Schedule, TaskContext, TaskStore};
pub(crate) use fixed_key::FixedKeyAdapter;
pub use fixed_key::{FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord};
pub use node::{RecordContext, StreamPartitioner, TopicNameExtractor};
pub use record::{Header, Headers, Record, RecordMetadata};
pub use timestamp_extractor::{
    ConsumerRecord, FailOnInvalidTimestamp, LogAndSkipOnInvalidTimestamp, TimestampExtractor,
    UsePartitionTimeOnInvalidTimestamp, WallclockTimestampExtractor,
};

use crate::error::StreamsError;

/// A stream processor: receives records of `KIn, VIn` one at a time and may
/// forward records of `KOut, VOut` to its children.
///
/// Only [`process`](Processor::process) is required; the other calls have
/// no-op defaults. One instance is created per task, from the supplier given
/// to the topology, so a processor may keep per-task state in its fields.
///
/// ```
/// use streams_core::processor::{Processor, ProcessorContext, Record};
/// use streams_core::error::StreamsError;
///
/// /// Forwards the length of each value.
/// struct Len;
/// impl Processor<String, String, String, usize> for Len {
///     fn process(
///         &mut self,
///         record: Record<String, String>,
///         ctx: &mut ProcessorContext<'_, String, usize>,
///     ) -> Result<(), StreamsError> {
///         let len = record.value.as_ref().map(|v| v.len());
///         ctx.forward(record.with_value(len))
///     }
/// }
/// ```
pub trait Processor<KIn, VIn, KOut, VOut>: 'static {
    /// Called once before the first record: look up store handles and
    /// schedule punctuations here.
    fn init(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), StreamsError> {
        let _ = ctx;
        Ok(())
    }

    /// Processes one record.
    fn process(
        &mut self,
        record: Record<KIn, VIn>,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<(), StreamsError>;

    /// Called when a schedule registered with
    /// [`ProcessorContext::schedule`] fires; `timestamp` is the stream time
    /// or wall-clock time that triggered it.
    fn punctuate(
        &mut self,
        schedule: ScheduleId,
        timestamp: i64,
        ctx: &mut ProcessorContext<'_, KOut, VOut>,
    ) -> Result<(), StreamsError> {
        let _ = (schedule, timestamp, ctx);
        Ok(())
    }

    /// Called on commit, before the task's stores are flushed: the DSL's
    /// caching operators forward their deduplicated updates here.
    fn flush(&mut self, ctx: &mut ProcessorContext<'_, KOut, VOut>) -> Result<(), StreamsError> {
        let _ = ctx;
        Ok(())
    }

    /// Called once when the task closes.
    fn close(&mut self) {}

    /// Whether the processor may look at its records' headers (through
    /// [`Record::headers`] or its context) or keep them anywhere other than
    /// in the records it forwards. `true` by default, which is always
    /// correct.
    ///
    /// The runtime reads the headers of a fetched record only when something
    /// in its sub-topology may use them: a processor that says `true` here,
    /// a sink, a source's own timestamp extractor or a dead-letter topic.
    /// Reading them is not free (librdkafka parses a record's header block
    /// into a fresh allocation on every read, even an empty block), so the
    /// DSL's own processors, which only pass headers on, say `false`. When
    /// every node of a sub-topology says `false`, its records carry empty
    /// headers, which none of its nodes can tell.
    ///
    /// ```
    /// use streams_core::processor::{Processor, ProcessorContext, Record};
    /// use streams_core::error::StreamsError;
    ///
    /// /// Counts records; never looks at their headers.
    /// struct Count(u64);
    /// impl Processor<String, String, String, String> for Count {
    ///     fn process(
    ///         &mut self,
    ///         record: Record<String, String>,
    ///         ctx: &mut ProcessorContext<'_, String, String>,
    ///     ) -> Result<(), StreamsError> {
    ///         self.0 += 1;
    ///         ctx.forward(record)
    ///     }
    ///     fn uses_headers(&self) -> bool {
    ///         false
    ///     }
    /// }
    /// assert!(!Count(0).uses_headers());
    /// ```
    fn uses_headers(&self) -> bool {
        true
    }
}
