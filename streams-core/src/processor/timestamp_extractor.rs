//! Timestamp extractors: where a source record's timestamp comes from
//! (Kafka Streams' `TimestampExtractor`).
//!
//! A source given an extractor with
//! [`Consumed::with_timestamp_extractor`](crate::dsl::Consumed::with_timestamp_extractor)
//! takes its records' timestamps from it: event time read from the
//! payload, say. The other sources use the built-in extractor that
//! `default.timestamp.extractor` names, as in Kafka Streams:
//! [`FailOnInvalidTimestamp`] unless configured (Kafka's timestamp; a
//! negative one, which only a producer older than Kafka 0.10 writes, stops
//! processing with an error), or [`LogAndSkipOnInvalidTimestamp`],
//! [`UsePartitionTimeOnInvalidTimestamp`], [`WallclockTimestampExtractor`],
//! by simple or full Java class name. The extracted timestamp is the one everything
//! downstream sees: windows, joins, stream time, and the timestamps of the
//! records written out; the task also uses it to pick which of its input
//! partitions to read next, as Kafka Streams does. A negative extracted
//! timestamp drops the record with a warning and counts it in
//! `dropped_records`.
//!
//! An extractor reads the deserialized key and value, so a source with one
//! deserializes each record twice: once to extract, when the record is
//! buffered, and once when it is processed. A record that does not
//! deserialize keeps its Kafka timestamp and meets the deserialization
//! handler when it is processed.

use super::Headers;
use crate::error::StreamsError;

/// A source record as a [`TimestampExtractor`] sees it: where it was read,
/// the timestamp Kafka stored with it, and its deserialized key and value
/// (`None` for a null key or value).
#[derive(Debug)]
pub struct ConsumerRecord<'a, K, V> {
    /// The topic it was read from.
    pub topic: &'a str,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// The timestamp Kafka stored with it (create or log-append time).
    pub timestamp: i64,
    /// Its key.
    pub key: Option<&'a K>,
    /// Its value.
    pub value: Option<&'a V>,
    /// Its headers.
    pub headers: &'a Headers,
}

/// Gives each record of a source its timestamp.
///
/// `partition_time` is the largest timestamp this extractor has returned
/// for the record's partition so far, or -1 when it has returned none yet.
/// A negative result drops the record (with a warning, counted in
/// `dropped_records`); an error stops processing, as any processing error
/// does.
///
/// Closures `Fn(&ConsumerRecord<K, V>, i64) -> i64` are extractors:
///
/// ```
/// use streams_core::dsl::{Consumed, StreamsBuilder};
/// use streams_core::processor::ConsumerRecord;
/// use streams_core::serde::Serdes;
/// // Values are "<event time in ms>,<payload>".
/// let event_time = |r: &ConsumerRecord<String, String>, _partition_time: i64| {
///     r.value
///         .and_then(|v| v.split(',').next())
///         .and_then(|t| t.parse().ok())
///         .unwrap_or(-1)
/// };
/// let builder = StreamsBuilder::new();
/// builder.stream(
///     "events",
///     Consumed::with(Serdes::string(), Serdes::string()).with_timestamp_extractor(event_time),
/// );
/// ```
pub trait TimestampExtractor<K, V>: Send + Sync + 'static {
    /// The timestamp of `record`.
    fn extract(
        &self,
        record: &ConsumerRecord<'_, K, V>,
        partition_time: i64,
    ) -> Result<i64, StreamsError>;
}

impl<K, V, F> TimestampExtractor<K, V> for F
where
    F: Fn(&ConsumerRecord<'_, K, V>, i64) -> i64 + Send + Sync + 'static,
{
    fn extract(
        &self,
        record: &ConsumerRecord<'_, K, V>,
        partition_time: i64,
    ) -> Result<i64, StreamsError> {
        Ok(self(record, partition_time))
    }
}

/// The error of an extractor that cannot give `record` a valid timestamp.
fn invalid<K, V>(record: &ConsumerRecord<'_, K, V>, why: &str) -> StreamsError {
    StreamsError::Processing {
        node: format!("timestamp extractor of {}", record.topic),
        reason: format!(
            "input record at {}-{}@{} has invalid (negative) timestamp {}: {why}",
            record.topic, record.partition, record.offset, record.timestamp
        ),
    }
}

/// Kafka's timestamp, and an error for a negative one (Kafka Streams'
/// default extractor; a negative timestamp comes from a producer that
/// wrote none, before Kafka 0.10).
///
/// ```
/// use streams_core::dsl::Consumed;
/// use streams_core::processor::FailOnInvalidTimestamp;
/// use streams_core::serde::Serdes;
/// let c = Consumed::with(Serdes::string(), Serdes::string())
///     .with_timestamp_extractor(FailOnInvalidTimestamp);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FailOnInvalidTimestamp;

impl<K: 'static, V: 'static> TimestampExtractor<K, V> for FailOnInvalidTimestamp {
    fn extract(&self, record: &ConsumerRecord<'_, K, V>, _: i64) -> Result<i64, StreamsError> {
        if record.timestamp < 0 {
            return Err(invalid(
                record,
                "possibly written without a timestamp by a pre-0.10 producer; use another timestamp extractor to process it",
            ));
        }
        Ok(record.timestamp)
    }
}

/// Kafka's timestamp; a negative one drops the record with a warning (what
/// a source without an extractor does).
///
/// ```
/// use streams_core::dsl::Consumed;
/// use streams_core::processor::LogAndSkipOnInvalidTimestamp;
/// use streams_core::serde::Serdes;
/// let c = Consumed::with(Serdes::string(), Serdes::string())
///     .with_timestamp_extractor(LogAndSkipOnInvalidTimestamp);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct LogAndSkipOnInvalidTimestamp;

impl<K: 'static, V: 'static> TimestampExtractor<K, V> for LogAndSkipOnInvalidTimestamp {
    fn extract(&self, record: &ConsumerRecord<'_, K, V>, _: i64) -> Result<i64, StreamsError> {
        Ok(record.timestamp)
    }
}

/// Kafka's timestamp; for a negative one, the partition's time (the
/// largest timestamp given so far), or an error while there is none.
///
/// ```
/// use streams_core::dsl::Consumed;
/// use streams_core::processor::UsePartitionTimeOnInvalidTimestamp;
/// use streams_core::serde::Serdes;
/// let c = Consumed::with(Serdes::string(), Serdes::string())
///     .with_timestamp_extractor(UsePartitionTimeOnInvalidTimestamp);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct UsePartitionTimeOnInvalidTimestamp;

impl<K: 'static, V: 'static> TimestampExtractor<K, V> for UsePartitionTimeOnInvalidTimestamp {
    fn extract(
        &self,
        record: &ConsumerRecord<'_, K, V>,
        partition_time: i64,
    ) -> Result<i64, StreamsError> {
        if record.timestamp >= 0 {
            Ok(record.timestamp)
        } else if partition_time >= 0 {
            Ok(partition_time)
        } else {
            Err(invalid(
                record,
                "the partition's time is not known yet, so no timestamp can stand in for it",
            ))
        }
    }
}

/// The wall-clock time when the record is buffered, ignoring Kafka's
/// timestamp (processing-time semantics).
///
/// ```
/// use streams_core::dsl::Consumed;
/// use streams_core::processor::WallclockTimestampExtractor;
/// use streams_core::serde::Serdes;
/// let c = Consumed::with(Serdes::string(), Serdes::string())
///     .with_timestamp_extractor(WallclockTimestampExtractor);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct WallclockTimestampExtractor;

impl<K: 'static, V: 'static> TimestampExtractor<K, V> for WallclockTimestampExtractor {
    fn extract(&self, _: &ConsumerRecord<'_, K, V>, _: i64) -> Result<i64, StreamsError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        Ok(now)
    }
}

/// Kafka's built-in extractors, as `default.timestamp.extractor` names
/// them: the extractor of every source that has none of its own. They read
/// only Kafka's timestamp, so they need no deserialization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum DefaultExtractor {
    /// [`FailOnInvalidTimestamp`], Kafka Streams' default.
    #[default]
    Fail,
    /// [`LogAndSkipOnInvalidTimestamp`].
    LogAndSkip,
    /// [`UsePartitionTimeOnInvalidTimestamp`].
    UsePartitionTime,
    /// [`WallclockTimestampExtractor`].
    Wallclock,
}

impl DefaultExtractor {
    /// The extractor a `default.timestamp.extractor` value names (a Java
    /// class name, with or without its package), if it is a built-in one.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name.rsplit('.').next().unwrap_or(name) {
            "FailOnInvalidTimestamp" => Some(DefaultExtractor::Fail),
            "LogAndSkipOnInvalidTimestamp" => Some(DefaultExtractor::LogAndSkip),
            "UsePartitionTimeOnInvalidTimestamp" => Some(DefaultExtractor::UsePartitionTime),
            "WallclockTimestampExtractor" => Some(DefaultExtractor::Wallclock),
            _ => None,
        }
    }

    /// Whether it may change a valid (non-negative) timestamp: only then
    /// must every record go through it.
    pub(crate) fn rewrites_valid_timestamps(self) -> bool {
        self == DefaultExtractor::Wallclock
    }

    /// The timestamp it gives `record`.
    pub(crate) fn extract(
        self,
        record: &ConsumerRecord<'_, (), ()>,
        partition_time: i64,
    ) -> Result<i64, StreamsError> {
        match self {
            DefaultExtractor::Fail => FailOnInvalidTimestamp.extract(record, partition_time),
            DefaultExtractor::LogAndSkip => {
                LogAndSkipOnInvalidTimestamp.extract(record, partition_time)
            }
            DefaultExtractor::UsePartitionTime => {
                UsePartitionTimeOnInvalidTimestamp.extract(record, partition_time)
            }
            DefaultExtractor::Wallclock => {
                WallclockTimestampExtractor.extract(record, partition_time)
            }
        }
    }
}

/// A shared extractor, as a source node keeps it.
pub(crate) type ExtractorRef<K, V> = std::sync::Arc<dyn TimestampExtractor<K, V>>;
