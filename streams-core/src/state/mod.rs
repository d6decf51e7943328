//! State stores.
//!
//! As in Kafka Streams, a store is a stack of layers over an object-safe byte
//! store: `typed (serdes) -> caching (record cache) -> logging (changelog) ->
//! bytes (RocksDB or memory)`. Keeping the bottom object-safe and byte-based
//! is what lets one changelog and restore path serve every store, and keeps
//! the binary layouts identical to Kafka Streams' so changelogs interoperate
//! with Java applications.
//!
//! # How the layers stack
//!
//! ```text
//!  KeyValueStore<K, V> / TimestampedKeyValueStore<K, V>   typed.rs    serdes; cheap Rc handle
//!        |
//!  CachingKeyValueStore (optional)                        caching.rs  dedups writes by key until
//!        |                                                            flush (commit) or eviction
//!  ChangeLoggingKeyValueBytesStore (optional)             logging.rs  one changelog record per write
//!        |                                                            that reaches it
//!  InMemoryKeyValueStore | RocksDbKeyValueStore           memory.rs / rocksdb.rs
//! ```
//!
//! The order matters and is Kafka Streams' order: the cache sits *above* the
//! changelog so that a key updated many times between two commits produces a
//! single changelog record (and a single downstream record), and the
//! changelog sits directly above the bytes so that restoring a changelog into
//! the bottom store ([`KeyValueBytesStore::restore_all`]) reproduces exactly
//! what was logged. [`builder`] assembles the stack from a
//! [`KeyValueStoreBuilder`] and hands the task a type-erased
//! [`ManagedStore`] (flush, close, restore) plus the typed handle that
//! processors use.

pub mod builder;
pub mod caching;
pub mod logging;
pub mod memory;
pub mod rocksdb;
pub mod session;
pub mod timestamped;
pub mod typed;
pub mod window;

pub(crate) mod background;
pub(crate) mod cache;
#[cfg(test)]
mod tests;

pub use self::builder::{
    CachePool, KeyValueBytesStoreSupplier, KeyValueStoreBuilder, ManagedStore, OpenedStore,
    StoreContext, StoreFactory, StoreKind, Stores, changelog_topic_name,
};
pub use self::caching::{CachingKeyValueStore, EntryContext, FlushedEntry};
pub use self::logging::{ChangeLoggingKeyValueBytesStore, ChangelogRecord, RecordingChangelog};
pub use self::memory::InMemoryKeyValueStore;
pub use self::rocksdb::{RocksDbConfig, RocksDbKeyValueStore};
pub use self::session::{SessionStore, SessionStoreBuilder};
pub use self::timestamped::ValueAndTimestamp;
pub use self::typed::{KeyValueStore, LayeredStore, TimestampedKeyValueStore, TypedFlush};
pub use self::window::{TimestampedWindowStore, WindowStore, WindowStoreBuilder};

/// Errors raised by state stores.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// RocksDB reported an error.
    #[error("RocksDB store '{store}': {reason}")]
    Rocks {
        /// The store's name.
        store: String,
        /// RocksDB's message.
        reason: String,
    },
    /// A file-system operation failed.
    #[error("state directory for store '{store}': {source}")]
    Io {
        /// The store's name.
        store: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A key or value could not be (de)serialized.
    #[error("store '{store}': {source}")]
    Serde {
        /// The store's name.
        store: String,
        /// The underlying error.
        #[source]
        source: crate::serde::SerdeError,
    },
    /// The store is not open.
    #[error("store '{0}' is closed or was never initialized")]
    Closed(String),
    /// An argument was rejected (for example a range whose start is after its end).
    #[error("store '{store}': {reason}")]
    InvalidArgument {
        /// The store's name.
        store: String,
        /// Why the argument was rejected.
        reason: String,
    },
}

/// Result type of store operations.
pub type StoreResult<T> = Result<T, StoreError>;

/// A key-value pair as stored: raw bytes.
pub type BytesKeyValue = (Vec<u8>, Vec<u8>);

/// One write with the timestamp of the record that caused it: `(key, value,
/// timestamp)`, a `None` value being a delete. Used where each write must
/// carry its own record timestamp into the changelog (cache flushes) and for
/// changelog records being restored.
pub type TimestampedBytesWrite = (Vec<u8>, Option<Vec<u8>>, i64);

/// Where a logging store sends its changes: a Kafka producer in the runtime,
/// a [`RecordingChangelog`] in tests and in the test driver.
///
/// A trait rather than a producer handle so that `state` does not depend on
/// rdkafka, and so the runtime can route changelog records through the same
/// record collector (and transaction) as the task's output.
pub trait ChangelogWriter {
    /// Sends one changelog record; `value` `None` is a tombstone.
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> StoreResult<()>;
}

/// An iterator over a byte store's entries, in key order (or reverse order
/// for the `reverse_*` calls).
pub type BytesIter<'a> = Box<dyn Iterator<Item = BytesKeyValue> + 'a>;

/// What every store has, whatever its shape.
pub trait StateStore {
    /// The store's name (unique in a topology).
    fn name(&self) -> &str;
    /// Whether the store keeps its data on disk (and so can skip a full
    /// restore from its changelog when a checkpoint exists).
    fn persistent(&self) -> bool;
    /// Makes every write so far durable in the store (and, for a caching
    /// layer, pushes dirty entries down).
    fn flush(&mut self) -> StoreResult<()>;
    /// Releases the store's resources.
    fn close(&mut self) -> StoreResult<()>;
}

/// The object-safe byte key-value store under every typed key-value store.
///
/// Keys are ordered lexicographically as unsigned bytes, as in RocksDB and
/// Kafka Streams' in-memory store.
pub trait KeyValueBytesStore: StateStore {
    /// The value stored under `key`.
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Calls `visit` once with the value stored under `key`, borrowed where
    /// the store can lend it: a cached or in-memory value, or RocksDB's
    /// pinned block, is read in place instead of copied into a `Vec` that
    /// the caller would only decode and drop. Stores that cannot lend fall
    /// back to [`get`](Self::get).
    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(Option<&[u8]>)) -> StoreResult<()> {
        let value = self.get(key)?;
        visit(value.as_deref());
        Ok(())
    }
    /// Stores `value` under `key`; `None` deletes the key.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()>;
    /// Stores `value` only when `key` has no value; returns the existing value.
    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Stores every entry (a `None` value deletes), as one batch where the
    /// store supports batches.
    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> StoreResult<()>;
    /// Deletes `key`, returning its old value.
    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>>;
    /// Entries with `from <= key <= to` (both ends inclusive, as Kafka
    /// Streams' `range`); a missing bound is open. An empty iterator when
    /// `from > to`.
    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>>;
    /// The same entries as [`range`](Self::range), in descending key order.
    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>>;
    /// Every entry, in key order.
    fn all(&self) -> StoreResult<BytesIter<'_>> {
        self.range(None, None)
    }
    /// Every entry, in descending key order.
    fn reverse_all(&self) -> StoreResult<BytesIter<'_>> {
        self.reverse_range(None, None)
    }
    /// Entries whose key starts with `prefix`, in key order.
    fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<BytesIter<'_>>;
    /// An estimate of the number of entries.
    fn approximate_num_entries(&self) -> StoreResult<u64>;

    /// Stores every entry like [`put_all`](Self::put_all), each with the
    /// timestamp of the record that wrote it.
    ///
    /// Byte stores ignore the timestamps; a logging layer stamps each
    /// changelog record with its entry's timestamp. This is how a cache flush
    /// keeps each key's own write time in the changelog (Kafka Streams sets
    /// the record context to the cache entry's before writing it down) while
    /// still reaching the bottom store as one batch.
    fn put_all_with_timestamps(&mut self, entries: &[TimestampedBytesWrite]) -> StoreResult<()> {
        for (key, value, _) in entries {
            self.put(key, value.as_deref())?;
        }
        Ok(())
    }

    /// Writes restored changelog records into the bottom-most byte store,
    /// bypassing every caching and logging layer (restoring must neither
    /// re-log nor forward), as one batch where the store supports batches.
    ///
    /// Wrapping layers delegate to the store they wrap; a bottom store's
    /// default writes the entries with
    /// [`put_all_with_timestamps`](Self::put_all_with_timestamps).
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.put_all_with_timestamps(records)
    }

    /// [`restore_all`](Self::restore_all) for a timestamped store: each
    /// value is stored behind its record's timestamp (8 bytes, big-endian),
    /// the layout of Kafka Streams' timestamped stores, which their
    /// changelogs leave out.
    ///
    /// The default builds the prefixed values and calls `restore_all`;
    /// RocksDB writes them into its batch through one reused buffer, as a
    /// restore writes millions of them.
    fn restore_all_timestamped(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let prefixed: Vec<TimestampedBytesWrite> = records
            .iter()
            .map(|(key, value, timestamp)| {
                let value = value
                    .as_deref()
                    .map(|raw| timestamped::timestamped_bytes(*timestamp, raw));
                (key.clone(), value, *timestamp)
            })
            .collect();
        self.restore_all(&prefixed)
    }
}

/// The smallest key greater than every key starting with `prefix`, or `None`
/// when there is none (an empty prefix or one made only of `0xFF` bytes):
/// the exclusive upper bound of a prefix scan.
pub(crate) fn prefix_upper_bound(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|&b| b != 0xFF)?;
    let mut upper = prefix[..=last].to_vec();
    upper[last] += 1;
    Some(upper)
}

/// Whether a range `from..=to` is empty because `from > to`; such ranges
/// return no entries instead of an error, as in Kafka Streams.
pub(crate) fn range_is_inverted(from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    matches!((from, to), (Some(f), Some(t)) if f > t)
}
