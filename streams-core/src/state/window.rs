//! Window stores: the state of time- and sliding-window aggregations and of
//! stream-stream joins.
//!
//! The layers are Kafka Streams' and stack like the key-value ones:
//!
//! ```text
//!  TimestampedWindowStore<K, V> / WindowStore<K, V>   typed.rs     serdes; Windowed<K> results
//!        |
//!  CachingWindowStore (optional)                      layers.rs    dedups writes per (key, window)
//!        |                                                         until commit or eviction
//!  ChangeLoggingWindowBytesStore (optional)           layers.rs    changelog key = the store key
//!        |
//!  InMemoryWindowStore | RocksDbWindowStore           memory.rs / segmented.rs
//! ```
//!
//! Bytes follow Kafka Streams' `WindowKeySchema`: a stored entry's key is
//! `[key bytes][8-byte big-endian window start][4-byte big-endian seqnum]`
//! ([`window_store_key`]); the seqnum is 0 unless the store retains
//! duplicates (joins), where each put gets the next one. That same binary key
//! is the changelog key, so changelogs interoperate with Java applications.
//!
//! Retention: a store keeps windows whose start is later than
//! `observed stream time - retention`, where the observed stream time is the
//! largest window start it was asked to store. The in-memory store drops
//! older windows one by one; the RocksDB store keeps time segments of
//! `max(retention / 2, 60 s)` and drops a segment whole once every window it
//! can hold has expired, exactly as Kafka Streams does (so an expired window
//! may still be readable until its segment goes, but never past the
//! retention bound on reads).

mod builder;
mod layers;
mod memory;
mod recent;
pub(crate) mod segmented;
mod typed;

pub(crate) use builder::windowed_changelog_config;
pub use builder::{WindowBytesStoreSupplier, WindowManagedStore, WindowStoreBuilder};
pub use layers::{CachingWindowStore, ChangeLoggingWindowBytesStore, WindowFlushedEntry};
pub use memory::InMemoryWindowStore;
pub use segmented::RocksDbWindowStore;
pub use typed::{TimestampedWindowStore, WindowLayeredStore, WindowStore, WindowTypedFlush};

use super::{StateStore, StoreError, StoreResult, TimestampedBytesWrite};

/// Bytes of the window start in a window store key.
pub const WINDOW_TIMESTAMP_SIZE: usize = 8;
/// Bytes of the sequence number in a window store key.
pub const WINDOW_SEQNUM_SIZE: usize = 4;

/// Kafka Streams' `windowstore.changelog.additional.retention.ms` default:
/// one day, added to a window or session store's retention for its
/// changelog topic's `retention.ms`.
pub const DEFAULT_CHANGELOG_ADDITIONAL_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Kafka Streams' default segment interval for a retention period:
/// `max(retention / 2, 60 000 ms)`.
///
/// ```rust
/// use streams_core::state::window::default_segment_interval;
/// assert_eq!(default_segment_interval(150), 60_000);
/// assert_eq!(default_segment_interval(86_400_000), 43_200_000);
/// ```
pub fn default_segment_interval(retention_ms: i64) -> i64 {
    (retention_ms / 2).max(60_000)
}

/// The binary key of a stored window entry:
/// `[key][8-byte big-endian start][4-byte big-endian seqnum]` (Kafka
/// Streams' `WindowKeySchema.toStoreKeyBinary`). Also the changelog key.
///
/// ```rust
/// use streams_core::state::window::{split_window_store_key, window_store_key};
/// let k = window_store_key(b"k", 5, 1);
/// assert_eq!(k, [b'k', 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 1]);
/// assert_eq!(split_window_store_key(&k), Some((&b"k"[..], 5, 1)));
/// ```
pub fn window_store_key(key: &[u8], window_start: i64, seqnum: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + WINDOW_TIMESTAMP_SIZE + WINDOW_SEQNUM_SIZE);
    write_window_store_key(key, window_start, seqnum, &mut out);
    out
}

/// Appends [`window_store_key`] to `out`.
pub fn write_window_store_key(key: &[u8], window_start: i64, seqnum: u32, out: &mut Vec<u8>) {
    out.extend_from_slice(key);
    out.extend_from_slice(&window_start.to_be_bytes());
    out.extend_from_slice(&seqnum.to_be_bytes());
}

/// Splits a window store key into `(key, window start, seqnum)`; `None` when
/// it is too short to be one.
pub fn split_window_store_key(bytes: &[u8]) -> Option<(&[u8], i64, u32)> {
    let key_len = bytes
        .len()
        .checked_sub(WINDOW_TIMESTAMP_SIZE + WINDOW_SEQNUM_SIZE)?;
    let (key, rest) = bytes.split_at(key_len);
    let (start, seq) = rest.split_at(WINDOW_TIMESTAMP_SIZE);
    Some((
        key,
        i64::from_be_bytes(start.try_into().ok()?),
        u32::from_be_bytes(seq.try_into().ok()?),
    ))
}

pub(crate) fn bad_key(store: &str, what: &str, len: usize) -> StoreError {
    StoreError::InvalidArgument {
        store: store.to_owned(),
        reason: format!(
            "a {what} needs at least 12 bytes of window start and seqnum, found {len} bytes"
        ),
    }
}

/// One window entry as a byte store returns it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowEntry {
    /// The record key's bytes.
    pub key: Vec<u8>,
    /// The window start.
    pub start: i64,
    /// The sequence number (0 unless the store retains duplicates).
    pub seqnum: u32,
    /// The value bytes.
    pub value: Vec<u8>,
}

/// The order in which a window store lists entries of several keys (all
/// stores list one key's windows by start time).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowOrder {
    /// By window start, then key bytes (Kafka's in-memory store, and the
    /// time-ordered RocksDB store of emit-on-window-close aggregations).
    TimeFirst,
    /// By time segment, then store-key bytes within a segment (Kafka's
    /// segmented RocksDB store).
    Segmented {
        /// The segment interval in ms.
        segment_interval: i64,
    },
}

impl WindowOrder {
    /// Sorts `entries` into this order (`forward`) or its reverse.
    pub(crate) fn sort(&self, entries: &mut [WindowEntry], forward: bool) {
        match *self {
            WindowOrder::TimeFirst => entries
                .sort_by(|a, b| (a.start, &a.key, a.seqnum).cmp(&(b.start, &b.key, b.seqnum))),
            WindowOrder::Segmented { segment_interval } => entries.sort_by_cached_key(|e| {
                (
                    e.start / segment_interval,
                    window_store_key(&e.key, e.start, e.seqnum),
                )
            }),
        }
        if !forward {
            entries.reverse();
        }
    }
}

/// Whether `key` lies in `[from, to]` (a `None` bound is open), comparing
/// bytes as Kafka Streams does.
pub(crate) fn key_in_range(key: &[u8], from: Option<&[u8]>, to: Option<&[u8]>) -> bool {
    from.is_none_or(|f| key >= f) && to.is_none_or(|t| key <= t)
}

/// One write of a batch ([`WindowBytesStore::put_all_with_timestamps`]):
/// a [`window_store_key`] with seqnum 0, its value (`None` deletes) and the
/// timestamp of the record behind it. Borrowed, so that a cache's
/// write-down can hand over a batch of thousands of entries copied into
/// one buffer rather than into two allocations each.
pub type WindowWrite<'a> = (&'a [u8], Option<&'a [u8]>, i64);

/// What [`WindowBytesStore::visit_range`] hands each window to: its key
/// bytes, its start and its value bytes, lent for the call.
pub type WindowVisitor<'a> = dyn FnMut(&[u8], i64, &[u8]) -> StoreResult<()> + 'a;

/// The object-safe byte store under every window store (Kafka Streams'
/// `WindowStore<Bytes, byte[]>`).
///
/// Reads return owned entries; time bounds are inclusive, and a read never
/// returns a window at or before `observed stream time - retention`.
pub trait WindowBytesStore: StateStore {
    /// The retention period in ms.
    fn retention_ms(&self) -> i64;
    /// The window size in ms (to rebuild window ends).
    fn window_size_ms(&self) -> i64;
    /// Whether every put is kept as its own entry (joins).
    fn retain_duplicates(&self) -> bool;
    /// The order of multi-key results.
    fn order(&self) -> WindowOrder;
    /// Stores `value` for the window of `key` starting at `window_start`;
    /// `None` deletes it (ignored when duplicates are retained). A window
    /// that has already expired is skipped.
    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()>;
    /// The value of one window.
    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>>;
    /// Windows of keys in `[key_from, key_to]` (open where `None`) whose
    /// start is in `[time_from, time_to]`, in the store's order (`forward`)
    /// or its reverse.
    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>>;
    /// Every window of every key whose start is in `[time_from, time_to]`.
    fn fetch_all(
        &self,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.fetch_range(None, None, time_from, time_to, forward)
    }
    /// Hands the windows that [`fetch_range`](Self::fetch_range) lists to
    /// `visit` as (key bytes, window start, value bytes), in its order,
    /// stopping at the first error `visit` returns.
    ///
    /// A store that holds the entries in memory lends them out rather than
    /// copying each key and value into a [`WindowEntry`] first: a join
    /// probes one key per record and decodes each match at once, and a
    /// cached store's range read decodes what its cache holds in place.
    /// The default collects `fetch_range`; a layer that wraps another
    /// store forwards it.
    fn visit_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
        visit: &mut WindowVisitor<'_>,
    ) -> StoreResult<()> {
        for e in self.fetch_range(key_from, key_to, time_from, time_to, forward)? {
            visit(&e.key, e.start, &e.value)?;
        }
        Ok(())
    }
    /// Every live window.
    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>>;
    /// No window the store holds starts after this (`i64::MAX`, the
    /// default, for a store that keeps no such bound). A cache in front of
    /// the store takes it when it is built, to know which reads it can
    /// answer alone (see [`CachingWindowStore`]);
    /// a layer that wraps another store forwards it.
    fn stored_upper(&self) -> i64 {
        i64::MAX
    }
    /// Puts every record (keys are [`window_store_key`]s with seqnum 0, a
    /// `None` value deletes), in order, as one batch where the store
    /// supports batches: what a cache write-down does.
    ///
    /// The result is that of [`put`](Self::put) called for each record in
    /// turn (a window that has expired by the time its turn comes is
    /// skipped). Byte stores ignore the timestamps; a logging layer stamps
    /// each changelog record with its record's timestamp, so a wrapping
    /// layer must forward this call rather than rely on the default, which
    /// puts one record at a time.
    fn put_all_with_timestamps(&mut self, records: &[WindowWrite<'_>]) -> StoreResult<()> {
        for &(store_key, value, _) in records {
            let (key, start, _) = split_window_store_key(store_key)
                .ok_or_else(|| bad_key(self.name(), "window store key", store_key.len()))?;
            self.put(key, value, start)?;
        }
        Ok(())
    }
    /// Writes changelog records (keys are [`window_store_key`]s, a `None`
    /// value deletes) straight into the bottom store, bypassing caching and
    /// logging.
    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()>;
}

#[cfg(test)]
mod tests;
