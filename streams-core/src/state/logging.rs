//! The logging layer: every write that reaches it is also sent to the
//! store's changelog topic, as Kafka Streams' `ChangeLoggingKeyValueBytesStore`
//! does.
//!
//! The record timestamp is the timestamp of the record being processed (read
//! from a cell the task updates), except for writes that carry their own
//! (entries flushed from a cache keep the timestamp of the write that made
//! them). A timestamped store's values are `[8-byte big-endian
//! timestamp][value]`; its changelog carries only the value bytes, with the
//! embedded timestamp as the record timestamp (Kafka's
//! `ChangeLoggingTimestampedKeyValueBytesStore`), and restoring puts the
//! prefix back.
//!
//! Which writes are logged, after Kafka Streams:
//! * `put` and `put_all`: every entry, a `None` value as a tombstone;
//! * `put_if_absent`: only when the value was stored;
//! * `delete`: always a tombstone, even when the key was absent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::timestamped::split_timestamped;
use super::{
    BytesIter, ChangelogWriter, KeyValueBytesStore, StateStore, StoreError, StoreResult,
    TimestampedBytesWrite,
};

/// A byte store that logs each change to a changelog topic partition.
pub struct ChangeLoggingKeyValueBytesStore {
    inner: Box<dyn KeyValueBytesStore>,
    topic: String,
    partition: i32,
    writer: Rc<RefCell<dyn ChangelogWriter>>,
    timestamp: Rc<Cell<i64>>,
    timestamped: bool,
}

impl std::fmt::Debug for ChangeLoggingKeyValueBytesStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLoggingKeyValueBytesStore")
            .field("store", &self.inner.name())
            .field("topic", &self.topic)
            .field("partition", &self.partition)
            .field("timestamped", &self.timestamped)
            .finish_non_exhaustive()
    }
}

impl ChangeLoggingKeyValueBytesStore {
    /// Logs the writes to `inner` to `partition` of `topic` through
    /// `writer`, stamped with the value of `timestamp` at the time of each
    /// write.
    pub fn new(
        inner: Box<dyn KeyValueBytesStore>,
        topic: impl Into<String>,
        partition: i32,
        writer: Rc<RefCell<dyn ChangelogWriter>>,
        timestamp: Rc<Cell<i64>>,
    ) -> Self {
        ChangeLoggingKeyValueBytesStore {
            inner,
            topic: topic.into(),
            partition,
            writer,
            timestamp,
            timestamped: false,
        }
    }

    /// Treats values as timestamped (`[8-byte timestamp][value]`): the
    /// changelog gets the value bytes with the embedded timestamp as record
    /// timestamp.
    pub fn timestamped(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// The changelog topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The changelog partition (the task's partition).
    pub fn partition(&self) -> i32 {
        self.partition
    }

    /// Logs one change; `record_timestamp` is used for tombstones and for
    /// plain (not timestamped) values.
    fn log(&self, key: &[u8], value: Option<&[u8]>, record_timestamp: i64) -> StoreResult<()> {
        let (value, timestamp) = match value {
            Some(value) if self.timestamped => {
                let (timestamp, raw) = split_timestamped(self.inner.name(), value)?;
                (Some(raw), timestamp)
            }
            other => (other, record_timestamp),
        };
        let mut writer = self
            .writer
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.inner.name().to_owned(),
                reason: "the changelog writer is already in use (re-entrant write)".to_owned(),
            })?;
        writer.send(&self.topic, self.partition, key, value, timestamp)
    }
}

impl StateStore for ChangeLoggingKeyValueBytesStore {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn persistent(&self) -> bool {
        self.inner.persistent()
    }

    fn flush(&mut self) -> StoreResult<()> {
        self.inner.flush()
    }

    fn close(&mut self) -> StoreResult<()> {
        self.inner.close()
    }
}

impl KeyValueBytesStore for ChangeLoggingKeyValueBytesStore {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(key)
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(Option<&[u8]>)) -> StoreResult<()> {
        self.inner.get_with(key, visit)
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()> {
        self.inner.put(key, value)?;
        self.log(key, value, self.timestamp.get())
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let previous = self.inner.put_if_absent(key, value)?;
        if previous.is_none() {
            self.log(key, Some(value), self.timestamp.get())?;
        }
        Ok(previous)
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> StoreResult<()> {
        self.inner.put_all(entries)?;
        let timestamp = self.timestamp.get();
        for (key, value) in entries {
            self.log(key, value.as_deref(), timestamp)?;
        }
        Ok(())
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let old = self.inner.delete(key)?;
        self.log(key, None, self.timestamp.get())?;
        Ok(old)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.inner.range(from, to)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.inner.reverse_range(from, to)
    }

    fn all(&self) -> StoreResult<BytesIter<'_>> {
        self.inner.all()
    }

    fn reverse_all(&self) -> StoreResult<BytesIter<'_>> {
        self.inner.reverse_all()
    }

    fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<BytesIter<'_>> {
        self.inner.prefix_scan(prefix)
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        self.inner.approximate_num_entries()
    }

    fn put_all_with_timestamps(&mut self, entries: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.inner.put_all_with_timestamps(entries)?;
        for (key, value, timestamp) in entries {
            self.log(key, value.as_deref(), *timestamp)?;
        }
        Ok(())
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        // Restored records came from the changelog: never log them again.
        self.inner.restore_all(records)
    }

    fn restore_all_timestamped(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.inner.restore_all_timestamped(records)
    }
}

/// One record sent to a changelog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangelogRecord {
    /// The changelog topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The key bytes.
    pub key: Vec<u8>,
    /// The value bytes; `None` is a tombstone.
    pub value: Option<Vec<u8>>,
    /// The record timestamp.
    pub timestamp: i64,
}

/// A [`ChangelogWriter`] that keeps every record in memory, in send order:
/// for tests and for the test driver, which reads the records back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordingChangelog {
    records: Vec<ChangelogRecord>,
}

impl RecordingChangelog {
    /// An empty recording.
    pub fn new() -> Self {
        Self::default()
    }

    /// A recording shared as the `Rc<RefCell<_>>` that stores take, plus
    /// the same recording typed as a writer.
    pub fn shared() -> (
        Rc<RefCell<RecordingChangelog>>,
        Rc<RefCell<dyn ChangelogWriter>>,
    ) {
        let recording = Rc::new(RefCell::new(RecordingChangelog::new()));
        let writer: Rc<RefCell<dyn ChangelogWriter>> = recording.clone();
        (recording, writer)
    }

    /// The records sent so far.
    pub fn records(&self) -> &[ChangelogRecord] {
        &self.records
    }

    /// Removes and returns the records sent so far.
    pub fn take(&mut self) -> Vec<ChangelogRecord> {
        std::mem::take(&mut self.records)
    }

    /// The number of records sent so far.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Forgets the records.
    pub fn clear(&mut self) {
        self.records.clear();
    }
}

impl ChangelogWriter for RecordingChangelog {
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> StoreResult<()> {
        self.records.push(ChangelogRecord {
            topic: topic.to_owned(),
            partition,
            key: key.to_vec(),
            value: value.map(<[u8]>::to_vec),
            timestamp,
        });
        Ok(())
    }
}
