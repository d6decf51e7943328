//! The persistent key-value byte store, on RocksDB.
//!
//! Opened the way Kafka Streams' `RocksDBStore` opens its database, so that
//! memory use and write behaviour match what Kafka Streams users tune for:
//!
//! * directory `<task state dir>/rocksdb/<store name>`, created if missing;
//! * block-based tables with a bounded LRU block cache (50 MiB by default,
//!   one per store as in Kafka Streams without a config setter), 4 KiB
//!   blocks and a full bloom filter of 10 bits per key, with
//!   `optimize_filters_for_hits`;
//! * 16 MiB write buffers, at most 3 of them; no compression; universal
//!   compaction; background parallelism of `max(cpus, 2)`; RocksDB's own log
//!   at error level only;
//! * the write-ahead log disabled on every write. The changelog topic is the
//!   store's durability: after a crash the store is restored from it, from
//!   the last checkpoint taken after a [`flush`](StateStore::flush), which
//!   waits for the memtables to reach disk.
//!
//! `put_all` and restores go through one `WriteBatch` each.

use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ::rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompactionStyle, DBCompressionType,
    DBRawIteratorWithThreadMode, FlushOptions, LogLevel, MemtableFactory, Options, ReadOptions,
    SliceTransform, WriteBatch, WriteOptions,
};

use super::{
    BytesIter, BytesKeyValue, KeyValueBytesStore, StateStore, StoreError, StoreResult,
    TimestampedBytesWrite, prefix_upper_bound, range_is_inverted,
};

/// The directory under a task's state directory that holds its RocksDB
/// stores (Kafka Streams' `rocksdb`).
pub const ROCKSDB_DIR: &str = "rocksdb";

thread_local! {
    /// Set while a task commits without taking a checkpoint: see
    /// [`without_memtable_flush`].
    static DEFER_MEMTABLE_FLUSH: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with the memtable flush of every RocksDB store on this thread
/// left out of [`flush`](StateStore::flush).
///
/// A store's flush does two jobs: the layers above RocksDB write their
/// caches down (which every commit needs, so that what the changelog holds
/// matches the offsets committed), and RocksDB writes its memtables to SST
/// files (which only a checkpoint needs: the write-ahead log is off, so the
/// checkpointed changelog offset must not run ahead of what is on disk).
/// Kafka Streams flushes RocksDB only when it checkpoints: at-least-once
/// after 10,000 changelog records, exactly-once only on a clean close. A
/// task commits under this guard and flushes again, without it, when it
/// checkpoints. A thread-local rather than a flag on each store because the
/// segments of window and session stores are opened deep inside their
/// stores, and a task's commit runs on one thread from start to end.
#[cfg_attr(not(feature = "runtime"), allow(dead_code))]
pub(crate) fn without_memtable_flush<R>(f: impl FnOnce() -> R) -> R {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            DEFER_MEMTABLE_FLUSH.with(|d| d.set(self.0));
        }
    }
    let _reset = Reset(DEFER_MEMTABLE_FLUSH.with(|d| d.replace(true)));
    f()
}

/// Tunables of a RocksDB store; the defaults are Kafka Streams' defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RocksDbConfig {
    /// Capacity of the store's LRU block cache, in bytes (default 50 MiB).
    pub block_cache_bytes: usize,
    /// Size of a table block, in bytes (default 4 KiB).
    pub block_size: usize,
    /// Size of one memtable, in bytes (default 16 MiB).
    pub write_buffer_size: usize,
    /// Most memtables kept in memory before writes stall (default 3).
    pub max_write_buffer_number: i32,
    /// Bits per key of the bloom filter; `None` disables it (default 10, the
    /// default of RocksDB's `BloomFilter` that Kafka Streams installs).
    pub bloom_filter_bits_per_key: Option<f64>,
    /// Background compaction parallelism; `None` uses `max(cpus, 2)` as
    /// Kafka Streams does.
    pub parallelism: Option<i32>,
    /// Whether the table files' index and bloom-filter blocks live in the
    /// block cache, charged to `block_cache_bytes` (default `true`).
    ///
    /// RocksDB's default (and Kafka Streams', without a config setter) is
    /// `false`: every open table file then keeps its whole index and filter
    /// on the heap, outside any cache, so a store's memory grows with its
    /// number of keys (about 45 MiB more a million 4-byte keys, measured
    /// by the restore benchmark). With `true`, as Kafka Streams' guide to
    /// bounding RocksDB memory recommends, a store's memory is bounded by
    /// its block cache and write buffers whatever it holds.
    pub cache_index_and_filter_blocks: bool,
}

impl Default for RocksDbConfig {
    fn default() -> Self {
        RocksDbConfig {
            block_cache_bytes: 50 * 1024 * 1024,
            block_size: 4096,
            write_buffer_size: 16 * 1024 * 1024,
            max_write_buffer_number: 3,
            bloom_filter_bits_per_key: Some(10.0),
            parallelism: None,
            cache_index_and_filter_blocks: true,
        }
    }
}

impl RocksDbConfig {
    /// The same configuration with a block cache of `bytes` bytes.
    pub fn with_block_cache_bytes(mut self, bytes: usize) -> Self {
        self.block_cache_bytes = bytes;
        self
    }

    fn options(&self, layout: KeyLayout) -> Options {
        let mut table = BlockBasedOptions::default();
        // The cache is owned by the table options (RocksDB keeps a shared
        // reference), so dropping our handle here does not free it.
        let cache = Cache::new_lru_cache(self.block_cache_bytes);
        table.set_block_cache(&cache);
        table.set_block_size(self.block_size);
        if let Some(bits) = self.bloom_filter_bits_per_key {
            // `false`: a full (not block-based) filter, as RocksJava's
            // `new BloomFilter()`.
            table.set_bloom_filter(bits, false);
        }
        if self.cache_index_and_filter_blocks {
            table.set_cache_index_and_filter_blocks(true);
            // Evicted after data blocks: a lookup needs them first.
            table.set_cache_index_and_filter_blocks_with_high_priority(true);
        }

        let mut options = Options::default();
        options.set_block_based_table_factory(&table);
        options.set_optimize_filters_for_hits(true);
        options.set_write_buffer_size(self.write_buffer_size);
        options.set_compression_type(DBCompressionType::None);
        options.set_compaction_style(DBCompactionStyle::Universal);
        options.set_max_write_buffer_number(self.max_write_buffer_number);
        options.create_if_missing(true);
        options.set_error_if_exists(false);
        // With the write-ahead log off, RocksDB would flush the memtables
        // when the database closes. The store does that itself (see
        // `release_db`), except for a database about to be destroyed: an
        // expired segment, whose flush would write an SST file only to
        // delete it.
        set_avoid_flush_during_shutdown(&mut options);
        options.set_log_level(LogLevel::Error);
        let parallelism = self.parallelism.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
            i32::try_from(cpus).unwrap_or(i32::MAX).max(2)
        });
        options.increase_parallelism(parallelism);
        if layout == KeyLayout::WindowKeyFirst {
            // Every read of a stream-stream join's window store is a seek
            // to one record key's run (the probe of the other side's
            // records around a record's timestamp). RocksDB's default
            // memtable is one skip list over the whole segment, so each of
            // those seeks and each insert walks ~log2(entries) levels with
            // a cache miss per level: that walk was a quarter of a
            // stream-stream join's time. A hash of skip lists, bucketed by
            // record key, makes both a bucket lookup plus a walk over that
            // key's few entries. The bucket array is allocated per memtable
            // (8 bytes a bucket), so its memory is fixed by this setting,
            // not by the number of keys. What the store holds and returns
            // is the same: scans that are not one key's run ask for total
            // order (`set_total_order_seek`), and the prefix bloom filters
            // this adds to SST files are only consulted by one-key seeks.
            options.set_prefix_extractor(SliceTransform::create(
                "kstreams.window-record-key",
                window_record_key,
                None,
            ));
            options.set_memtable_factory(MemtableFactory::HashSkipList {
                bucket_count: WINDOW_MEMTABLE_BUCKETS,
                height: 4,
                branching_factor: 4,
            });
            // The hash memtable takes one writer at a time (a store is
            // written by its task's thread only anyway).
            options.set_allow_concurrent_memtable_write(false);
        }
        if layout == KeyLayout::WindowPoint {
            // A windowed aggregation reads each window before it writes
            // it, and a new window (most of them, when a key's records are
            // further apart than the window advance) is found nowhere: its
            // get walked the whole memtable skip list to learn that, a
            // cache miss per level. A bloom filter over the memtable's
            // whole keys answers most of those misses without the walk;
            // it takes `MEMTABLE_BLOOM_RATIO` of the write buffer.
            options.set_memtable_prefix_bloom_ratio(MEMTABLE_BLOOM_RATIO);
            options.set_memtable_whole_key_filtering(true);
        }
        options
    }
}

/// The positions of `entries` in the order of their keys' bytes (the
/// stores' comparator), equal keys in the order they came.
///
/// Sorted on each key's first sixteen bytes as one word, so that most
/// comparisons touch neither the keys nor a `memcmp`: the keys lie all over
/// a write-down's buffer, and comparing them in place cost about what the
/// sorted inserts saved. Words that differ order as their bytes do (a key
/// shorter than sixteen bytes pads with zeros, which no byte is below);
/// equal words fall back to the whole keys, then to the positions.
fn key_order<T>(entries: &[T], key: fn(&T) -> &[u8]) -> impl Iterator<Item = usize> + use<T> {
    let mut order: Vec<(u128, usize)> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let key = key(entry);
            (
                crate::state::cache::padded_word(&key[..key.len().min(16)]),
                i,
            )
        })
        .collect();
    // Already in order (a batch of one, keys written in order): no sort.
    if !order.is_sorted_by(|a, b| a.0 < b.0) {
        order.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| key(&entries[a.1]).cmp(key(&entries[b.1])))
                .then(a.1.cmp(&b.1))
        });
    }
    order.into_iter().map(|(_, i)| i)
}

/// The share of a write buffer a windowed aggregation's memtable bloom
/// filter takes (see [`RocksDbConfig::options`]): 335 KiB of a 16 MiB
/// memtable, about 16 bits per entry of a memtable of small windows.
const MEMTABLE_BLOOM_RATIO: f64 = 0.02;

/// Buckets of the memtable of a key-first window store's segment (see
/// [`RocksDbConfig::options`]): 128 KiB a memtable.
const WINDOW_MEMTABLE_BUCKETS: usize = 16 * 1024;

/// The record key of a window store key `[key][8-byte start][4-byte
/// seqnum]`: the prefix RocksDB buckets a key-first window store's memtable
/// by. A shorter key (no window store writes one) is its own prefix.
fn window_record_key(store_key: &[u8]) -> &[u8] {
    const SUFFIX: usize = 12;
    match store_key.len().checked_sub(SUFFIX) {
        Some(len) => &store_key[..len],
        None => store_key,
    }
}

/// How a store's keys are laid out, which decides how RocksDB indexes its
/// memtable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyLayout {
    /// Any keys: RocksDB's default skip list.
    Plain,
    /// Window store keys `[key][start][seqnum]`, read mostly one record
    /// key at a time: a memtable hashed by record key.
    WindowKeyFirst,
    /// Window store keys of windowed aggregations, read mostly by point
    /// lookups of windows that do not exist yet: a skip list with a
    /// whole-key bloom filter in front of it.
    WindowPoint,
}

/// The iterator a store keeps for its one-key runs (see
/// [`RocksDbKeyValueStore::window_key_run`]).
type CachedIter = DBRawIteratorWithThreadMode<'static, DB>;

/// A key-value byte store in a RocksDB database of its own.
pub struct RocksDbKeyValueStore {
    name: String,
    dir: PathBuf,
    /// Declared before `db`: it must go first (see `window_key_run`).
    run_iter: RefCell<Option<CachedIter>>,
    db: Option<DB>,
    write_options: WriteOptions,
    layout: KeyLayout,
    /// A temporary root created for a store opened without a state
    /// directory; removed when the store is dropped.
    owned_root: Option<PathBuf>,
}

impl std::fmt::Debug for RocksDbKeyValueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RocksDbKeyValueStore")
            .field("name", &self.name)
            .field("dir", &self.dir)
            .field("open", &self.db.is_some())
            .finish()
    }
}

/// Where the store `name` of a task whose state directory is `state_dir`
/// keeps its database: `<state_dir>/rocksdb/<name>`.
pub fn store_dir(state_dir: &Path, name: &str) -> PathBuf {
    state_dir.join(ROCKSDB_DIR).join(name)
}

impl RocksDbKeyValueStore {
    /// Opens (creating if needed) the store `name` under the task state
    /// directory `state_dir`, in `<state_dir>/rocksdb/<name>`.
    pub fn open(
        name: impl Into<String>,
        state_dir: &Path,
        config: &RocksDbConfig,
    ) -> StoreResult<Self> {
        let name = name.into();
        let dir = store_dir(state_dir, &name);
        Self::open_at(name, dir, config, None, KeyLayout::Plain)
    }

    /// [`open`](Self::open) or [`open_temporary`](Self::open_temporary)
    /// (`state_dir` `None`) with the memtable index that suits `layout`.
    pub(crate) fn open_with_layout(
        name: String,
        state_dir: Option<&Path>,
        config: &RocksDbConfig,
        layout: KeyLayout,
    ) -> StoreResult<Self> {
        match state_dir {
            Some(state_dir) => {
                let dir = store_dir(state_dir, &name);
                Self::open_at(name, dir, config, None, layout)
            }
            None => {
                let root = fresh_temp_root();
                let dir = store_dir(&root, &name);
                Self::open_at(name, dir, config, Some(root), layout)
            }
        }
    }

    /// Opens the store `name` in a fresh temporary directory that is deleted
    /// when the store is dropped: for tests and for tasks without a state
    /// directory.
    pub fn open_temporary(name: impl Into<String>, config: &RocksDbConfig) -> StoreResult<Self> {
        let name = name.into();
        let root = fresh_temp_root();
        let dir = store_dir(&root, &name);
        Self::open_at(name, dir, config, Some(root), KeyLayout::Plain)
    }

    fn open_at(
        name: String,
        dir: PathBuf,
        config: &RocksDbConfig,
        owned_root: Option<PathBuf>,
        layout: KeyLayout,
    ) -> StoreResult<Self> {
        // A new database has no table files to load, but RocksDB's open
        // starts `max_file_opening_threads` (16) threads to load them all
        // the same, and joins them. A window store opens a new segment
        // database every segment interval (per store and partition): 16
        // thread starts each time, on the stream thread. Existing
        // databases keep the parallel load (many files on a restart).
        let fresh = !dir.join("CURRENT").exists();
        if let Err(source) = std::fs::create_dir_all(&dir) {
            return Err(StoreError::Io {
                store: name,
                source,
            });
        }
        let mut options = config.options(layout);
        if fresh {
            options.set_max_file_opening_threads(1);
        }
        let db = DB::open(&options, &dir).map_err(|e| StoreError::Rocks {
            store: name.clone(),
            reason: format!("cannot open at {}: {e}", dir.display()),
        })?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(true);
        Ok(RocksDbKeyValueStore {
            name,
            dir,
            run_iter: RefCell::new(None),
            db: Some(db),
            write_options,
            layout,
            owned_root,
        })
    }

    /// The directory holding the database.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Deletes the database in `dir` (a directory as returned by
    /// [`store_dir`]) and the directory itself, as a task does when it wipes
    /// its state (for example after a corrupted checkpoint under
    /// exactly-once). A missing directory is not an error.
    pub fn destroy(dir: &Path) -> StoreResult<()> {
        let store = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        if !dir.exists() {
            return Ok(());
        }
        DB::destroy(&Options::default(), dir).map_err(|e| StoreError::Rocks {
            store: store.clone(),
            reason: format!("cannot destroy {}: {e}", dir.display()),
        })?;
        match std::fs::remove_dir_all(dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StoreError::Io { store, source }),
        }
    }

    /// Closes the store and deletes its database.
    pub fn wipe(mut self) -> StoreResult<()> {
        self.run_iter.get_mut().take();
        self.db = None;
        let dir = self.dir.clone();
        Self::destroy(&dir)
    }

    /// [`wipe`](Self::wipe) as a job for another thread: the store is
    /// closed to its owner now, and the job closes the database and deletes
    /// it (errors are logged: nobody waits for the job's result).
    pub(crate) fn wipe_job(mut self) -> impl FnOnce() + Send + 'static {
        self.run_iter.get_mut().take();
        let db = self.db.take();
        let dir = std::mem::take(&mut self.dir);
        let root = self.owned_root.take();
        let name = std::mem::take(&mut self.name);
        move || {
            drop(db);
            if let Err(e) = Self::destroy(&dir) {
                log::error!("Error destroying the expired segment {name}: {e}");
            }
            if let Some(root) = root {
                remove_temp_root(&root);
            }
        }
    }

    /// How the store's memtables are indexed.
    pub(crate) fn layout(&self) -> KeyLayout {
        self.layout
    }

    fn db(&self) -> StoreResult<&DB> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Closed(self.name.clone()))
    }

    fn rocks_error(&self, what: &str, e: ::rocksdb::Error) -> StoreError {
        StoreError::Rocks {
            store: self.name.clone(),
            reason: format!("{what}: {e}"),
        }
    }

    /// Writes `entries` (a `None` value deletes) as one `WriteBatch`: the
    /// byte-level batch of stores built on this one (the segments of window
    /// stores), which hold borrowed keys and values.
    ///
    /// The batch reaches the memtable in key order, whatever order the
    /// entries come in (a cache's write-down hands them over oldest write
    /// first, so scattered over the key space). The memtable's skip list
    /// starts each insert from where the last one ended: in key order each
    /// insert walks the few nodes between two neighbours, where in any
    /// other order it descends from the top, a cache miss a level. That
    /// descent was three quarters of a window store's write-down into
    /// RocksDB. Entries with the same key keep their order, so the last
    /// still wins; the batch is one atomic write either way.
    pub(crate) fn write_all<'a>(
        &mut self,
        entries: impl IntoIterator<Item = (&'a [u8], Option<&'a [u8]>)>,
    ) -> StoreResult<()> {
        self.db()?;
        let entries: Vec<(&[u8], Option<&[u8]>)> = entries.into_iter().collect();
        let mut batch = WriteBatch::default();
        for i in key_order(&entries, |entry| entry.0) {
            let (key, value) = entries[i];
            match value {
                Some(value) => batch.put(key, value),
                None => batch.delete(key),
            }
        }
        self.write(batch)
    }

    /// Writes `batch` as one RocksDB write.
    pub(crate) fn write(&self, batch: WriteBatch) -> StoreResult<()> {
        self.db()?
            .write_opt(batch, &self.write_options)
            .map_err(|e| self.rocks_error("batch write failed", e))
    }

    fn iter(
        &self,
        lower: Option<&[u8]>,
        upper_exclusive: Option<Vec<u8>>,
        forward: bool,
    ) -> StoreResult<BytesIter<'_>> {
        let db = self.db()?;
        let mut read = ReadOptions::default();
        // A hashed memtable only orders keys within a bucket: a general
        // scan asks for a total order.
        if self.layout != KeyLayout::Plain {
            read.set_total_order_seek(true);
        }
        // Bounds let RocksDB stop at the range's end instead of us comparing
        // every key, and skip tombstones outside the range.
        if let Some(lower) = lower {
            read.set_iterate_lower_bound(lower);
        }
        if let Some(upper) = upper_exclusive {
            read.set_iterate_upper_bound(upper);
        }
        let mut raw = db.raw_iterator_opt(read);
        if forward {
            raw.seek_to_first();
        } else {
            raw.seek_to_last();
        }
        Ok(Box::new(RocksIter {
            raw,
            forward,
            store: &self.name,
        }))
    }

    /// Calls `f` with each entry in `[lower, upper]`, forward, on a
    /// [`KeyLayout::WindowKeyFirst`] store whose keys in that range all
    /// share `lower`'s record key (one record key's run): the seek goes to
    /// that key's memtable bucket only. Such a store never deletes (it
    /// retains duplicates), so the scan has no tombstones to skip and stops
    /// at the first key past `upper`.
    ///
    /// The iterator is kept between calls and refreshed before each: a
    /// stream-stream join makes one such scan per record and segment, and
    /// creating and destroying a RocksDB iterator each time (a super-version
    /// reference, an arena, the merging iterator) cost as much as the seek.
    /// While the store's memtables and files stay the same, a refresh only
    /// moves the iterator's sequence number to the latest write.
    pub(crate) fn window_key_run(
        &self,
        lower: &[u8],
        upper: &[u8],
        mut f: impl FnMut(&[u8], &[u8]),
    ) -> StoreResult<()> {
        let db = self.db()?;
        if lower > upper {
            return Ok(());
        }
        let mut cached = self
            .run_iter
            .try_borrow_mut()
            .map_err(|_| StoreError::Rocks {
                store: self.name.clone(),
                reason: "nested one-key scans".into(),
            })?;
        let raw = match cached.take() {
            Some(mut raw) => {
                raw.refresh()
                    .map_err(|e| self.rocks_error("iterator refresh failed", e))?;
                cached.insert(raw)
            }
            None => {
                let raw = db.raw_iterator_opt(ReadOptions::default());
                // SAFETY: the iterator refers to the database `db` points
                // to, which `self.db` owns and keeps at the same address
                // (`DB` holds the database behind a pointer; moving the
                // handle does not move it). Every path that closes or drops
                // the database (`close`, `wipe`, `Drop`) drops this
                // iterator first, and `run_iter` is declared before `db`,
                // so it is dropped first too.
                let raw: CachedIter = unsafe {
                    std::mem::transmute::<DBRawIteratorWithThreadMode<'_, DB>, CachedIter>(raw)
                };
                cached.insert(raw)
            }
        };
        // An explicit seek (no lower bound in the options, which are fixed
        // for the iterator's life): `lower`'s record key picks the bucket.
        // Past `upper` the scan stops by itself.
        raw.seek(lower);
        while let Some((k, v)) = raw.item() {
            if k > upper {
                break;
            }
            f(k, v);
            raw.next();
        }
        raw.status()
            .map_err(|e| self.rocks_error("iteration failed", e))
    }

    fn range_iter(
        &self,
        from: Option<&[u8]>,
        to: Option<&[u8]>,
        forward: bool,
    ) -> StoreResult<BytesIter<'_>> {
        self.db()?;
        if range_is_inverted(from, to) {
            return Ok(Box::new(std::iter::empty()));
        }
        // `to` is inclusive; the smallest key after it is `to` followed by a
        // zero byte, which makes an exclusive bound.
        let upper = to.map(|to| {
            let mut upper = Vec::with_capacity(to.len() + 1);
            upper.extend_from_slice(to);
            upper.push(0);
            upper
        });
        self.iter(from, upper, forward)
    }
}

impl RocksDbKeyValueStore {
    /// Closes the database, flushing its memtables first as RocksDB itself
    /// would with the write-ahead log off (the options turn that off, see
    /// `avoid_flush_during_shutdown`), so that what was written stays on
    /// disk. A temporary store is deleted with its directory: no flush.
    /// A no-op once closed.
    fn release_db(&mut self) -> StoreResult<()> {
        // An iterator pins the memtables; it must go before the database.
        self.run_iter.get_mut().take();
        let Some(db) = self.db.take() else {
            return Ok(());
        };
        if self.owned_root.is_some() {
            return Ok(());
        }
        let mut options = FlushOptions::default();
        options.set_wait(true);
        db.flush_opt(&options)
            .map_err(|e| self.rocks_error("flush on close failed", e))
    }
}

impl Drop for RocksDbKeyValueStore {
    fn drop(&mut self) {
        // Close the database before deleting its files.
        if let Err(e) = self.release_db() {
            log::warn!("{e}");
        }
        if let Some(root) = self.owned_root.take() {
            remove_temp_root(&root);
        }
    }
}

/// Sets `avoid_flush_during_shutdown`, which the `rocksdb` crate does not
/// wrap.
fn set_avoid_flush_during_shutdown(options: &mut Options) {
    use ::rocksdb::AsRawPtr;
    // SAFETY: the pointer is `options`' own, alive and exclusively
    // borrowed for the call; the setter only stores a flag in it.
    unsafe {
        librocksdb_sys::rocksdb_options_set_avoid_flush_during_shutdown(options.as_raw_ptr(), 1);
    }
}

/// Deletes a temporary store's root directory (logged, not returned: it
/// runs where nobody can act on the error, in a drop or a background job).
fn remove_temp_root(root: &Path) {
    if let Err(e) = std::fs::remove_dir_all(root) {
        log::warn!(
            "cannot remove temporary store directory {}: {e}",
            root.display()
        );
    }
}

/// A directory name no other store of this process uses.
fn fresh_temp_root() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    std::env::temp_dir().join(format!("kstreams-store-{}-{n}-{nanos}", std::process::id()))
}

/// Walks a RocksDB iterator in either direction, copying out each entry.
struct RocksIter<'a> {
    raw: DBRawIteratorWithThreadMode<'a, DB>,
    forward: bool,
    store: &'a str,
}

impl Iterator for RocksIter<'_> {
    type Item = BytesKeyValue;

    fn next(&mut self) -> Option<BytesKeyValue> {
        let item = match self.raw.item() {
            Some((k, v)) => (k.to_vec(), v.to_vec()),
            None => {
                // An iterator error ends the iteration: the item type has no
                // room for it, and RocksDB read errors mean a corrupted or
                // unreadable store that the next write or flush reports.
                if let Err(e) = self.raw.status() {
                    log::error!("store '{}': iteration stopped: {e}", self.store);
                }
                return None;
            }
        };
        if self.forward {
            self.raw.next();
        } else {
            self.raw.prev();
        }
        Some(item)
    }
}

impl StateStore for RocksDbKeyValueStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        true
    }

    fn flush(&mut self) -> StoreResult<()> {
        // Kafka Streams' flush of a closed store is a no-op.
        let Some(db) = self.db.as_ref() else {
            return Ok(());
        };
        // Flushing exists so that a checkpoint never runs ahead of the data
        // on disk (the write-ahead log is off). A temporary store is deleted
        // with its directory and never reopened, so there is nothing to make
        // durable, and writing an SST file at every commit (the test driver
        // commits after every record) would only cost time. Reads see the
        // memtable either way.
        if self.owned_root.is_some() || DEFER_MEMTABLE_FLUSH.with(Cell::get) {
            return Ok(());
        }
        // A kept iterator pins the memtables it was created on: let the
        // flushed one go as soon as it is written (the next scan makes a
        // new iterator).
        self.run_iter.get_mut().take();
        let mut options = FlushOptions::default();
        options.set_wait(true);
        db.flush_opt(&options)
            .map_err(|e| self.rocks_error("flush failed", e))
    }

    fn close(&mut self) -> StoreResult<()> {
        self.release_db()
    }
}

impl KeyValueBytesStore for RocksDbKeyValueStore {
    fn get(&self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        self.db()?
            .get(key)
            .map_err(|e| self.rocks_error("get failed", e))
    }

    fn get_with(&self, key: &[u8], visit: &mut dyn FnMut(Option<&[u8]>)) -> StoreResult<()> {
        let pinned = self
            .db()?
            .get_pinned(key)
            .map_err(|e| self.rocks_error("get failed", e))?;
        visit(pinned.as_deref());
        Ok(())
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>) -> StoreResult<()> {
        let db = self.db()?;
        let result = match value {
            Some(value) => db.put_opt(key, value, &self.write_options),
            None => db.delete_opt(key, &self.write_options),
        };
        result.map_err(|e| self.rocks_error("write failed", e))
    }

    fn put_if_absent(&mut self, key: &[u8], value: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let existing = self.get(key)?;
        if existing.is_none() {
            self.put(key, Some(value))?;
        }
        Ok(existing)
    }

    fn put_all(&mut self, entries: &[(Vec<u8>, Option<Vec<u8>>)]) -> StoreResult<()> {
        self.write_all(entries.iter().map(|(k, v)| (k.as_slice(), v.as_deref())))
    }

    fn delete(&mut self, key: &[u8]) -> StoreResult<Option<Vec<u8>>> {
        let existing = self.get(key)?;
        self.put(key, None)?;
        Ok(existing)
    }

    fn range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.range_iter(from, to, true)
    }

    fn reverse_range(&self, from: Option<&[u8]>, to: Option<&[u8]>) -> StoreResult<BytesIter<'_>> {
        self.range_iter(from, to, false)
    }

    fn prefix_scan(&self, prefix: &[u8]) -> StoreResult<BytesIter<'_>> {
        self.iter(Some(prefix), prefix_upper_bound(prefix), true)
    }

    fn approximate_num_entries(&self) -> StoreResult<u64> {
        let estimate = self
            .db()?
            .property_int_value("rocksdb.estimate-num-keys")
            .map_err(|e| self.rocks_error("cannot read rocksdb.estimate-num-keys", e))?;
        Ok(estimate.unwrap_or(0))
    }

    fn put_all_with_timestamps(&mut self, entries: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.write_all(entries.iter().map(|(k, v, _)| (k.as_slice(), v.as_deref())))
    }

    /// In key order, as [`write_all`](Self::write_all) and for the same
    /// reason: a changelog's records come in the order they were written,
    /// scattered over the key space.
    fn restore_all_timestamped(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        self.db()?;
        let mut batch = WriteBatch::default();
        let mut value_buf = Vec::new();
        for i in key_order(records, |record| &record.0) {
            let (key, value, timestamp) = &records[i];
            match value {
                Some(raw) => {
                    value_buf.clear();
                    super::timestamped::write_timestamp_prefix(*timestamp, &mut value_buf);
                    value_buf.extend_from_slice(raw);
                    batch.put(key, &value_buf);
                }
                None => batch.delete(key),
            }
        }
        self.write(batch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::KeyValueBytesStore;

    /// Heap held by the open table files outside the block cache, and the
    /// cache's usage, after `keys` keys were written and flushed to a
    /// table file.
    fn table_memory(config: &RocksDbConfig, keys: u32) -> (u64, u64) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut store =
            RocksDbKeyValueStore::open("s", dir.path(), config).expect("open the store");
        for k in 0..keys {
            store.put(&k.to_be_bytes(), Some(b"value")).expect("put");
        }
        store.flush().expect("flush");
        // A read opens the table file (and, with the blocks cached, loads
        // its index and filter into the cache).
        assert_eq!(
            store.get(&7u32.to_be_bytes()).expect("get"),
            Some(b"value".to_vec())
        );
        let db = store.db().expect("open");
        let prop = |name: &str| {
            db.property_int_value(name)
                .expect("property")
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        (
            prop("rocksdb.estimate-table-readers-mem"),
            prop("rocksdb.block-cache-usage"),
        )
    }

    /// The write-ahead log is off, so what sits in the memtables reaches
    /// disk only by a flush, and RocksDB's own flush at shutdown is off:
    /// the store flushes when it is closed and when it is dropped.
    #[test]
    fn closed_and_dropped_stores_keep_their_memtables() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = RocksDbConfig::default();
        let mut closed = RocksDbKeyValueStore::open("closed", dir.path(), &config).expect("open");
        closed.put(b"k", Some(b"closed")).expect("put");
        closed.close().expect("close");
        let mut dropped = RocksDbKeyValueStore::open("dropped", dir.path(), &config).expect("open");
        dropped.put(b"k", Some(b"dropped")).expect("put");
        drop(dropped);
        for name in ["closed", "dropped"] {
            let store = RocksDbKeyValueStore::open(name, dir.path(), &config).expect("reopen");
            assert_eq!(
                store.get(b"k").expect("get"),
                Some(name.as_bytes().to_vec())
            );
        }
    }

    /// What an expired segment's wipe relies on: its database closes
    /// without writing its memtables to a table file that would only be
    /// deleted (`avoid_flush_during_shutdown`).
    #[test]
    fn a_database_closed_unflushed_writes_no_table_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = RocksDbConfig::default();
        let mut store = RocksDbKeyValueStore::open("s", dir.path(), &config).expect("open");
        for k in 0..1000u32 {
            store.put(&k.to_be_bytes(), Some(b"value")).expect("put");
        }
        drop(store.db.take());
        let tables = std::fs::read_dir(store_dir(dir.path(), "s"))
            .expect("store dir")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "sst"))
            })
            .count();
        assert_eq!(tables, 0);
        drop(store);
        let reopened = RocksDbKeyValueStore::open("s", dir.path(), &config).expect("reopen");
        assert_eq!(reopened.get(&7u32.to_be_bytes()).expect("get"), None);
    }

    /// Index and filter blocks are charged to the block cache by default,
    /// so a store's heap does not grow with its keys outside the cache
    /// (RocksDB's own default keeps them on the heap).
    #[test]
    fn index_and_filter_blocks_live_in_the_block_cache() {
        let keys = 200_000;
        let (outside, cached) = table_memory(&RocksDbConfig::default(), keys);
        let legacy = RocksDbConfig {
            cache_index_and_filter_blocks: false,
            ..RocksDbConfig::default()
        };
        let (legacy_outside, legacy_cached) = table_memory(&legacy, keys);
        // 10 bits a key of filter alone is 250 KB for 200k keys.
        assert!(
            legacy_outside > 250_000,
            "RocksDB's default keeps them outside: {legacy_outside}"
        );
        assert!(
            outside < 10_000,
            "with the blocks cached, the table readers hold {outside} bytes"
        );
        assert!(
            cached >= legacy_cached + 250_000,
            "the cache holds index and filter: {cached} vs {legacy_cached}"
        );
    }

    /// A batch reaches the memtable in its keys' byte order, entries with
    /// the same key in the order they came: compared with a stable sort of
    /// the keys themselves, over keys that share their first sixteen bytes
    /// or differ only by trailing zeros, and pass sixteen bytes.
    #[test]
    fn batches_go_in_key_order_and_equal_keys_as_they_came() {
        let mut next = crate::state::tests::xorshift(0x9E37_79B9_7F4A_7C15_u64);
        for round in 0..200 {
            let keys: Vec<Vec<u8>> = (0..1 + round % 60)
                .map(|_| {
                    // A run of one byte up to sixteen long, so that many
                    // keys share their first sixteen bytes, then a tail.
                    let (run, byte) = ((next() % 17) as usize, (next() % 2) as u8);
                    let tail = (next() % 8) as usize;
                    let mut key = vec![byte; run];
                    key.extend((0..tail).map(|_| [0u8, 1, 0xFF][(next() % 3) as usize]));
                    key
                })
                .collect();
            let entries: Vec<(&[u8], Option<&[u8]>)> =
                keys.iter().map(|k| (k.as_slice(), None)).collect();
            let mut expected: Vec<usize> = (0..keys.len()).collect();
            expected.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
            assert_eq!(
                key_order(&entries, |entry| entry.0).collect::<Vec<_>>(),
                expected,
                "{keys:?}"
            );
        }
    }

    /// Sorted or not, a batch that writes a key twice leaves its last write,
    /// a restore's as well.
    #[test]
    fn the_last_write_of_a_key_in_a_batch_wins() {
        let mut store = RocksDbKeyValueStore::open_with_layout(
            "s".to_owned(),
            None,
            &RocksDbConfig::default(),
            KeyLayout::Plain,
        )
        .expect("open the store");
        let long = [7u8; 20];
        store
            .write_all([
                (&b"k"[..], Some(&b"1"[..])),
                (&long[..], Some(&b"a"[..])),
                (&b"b"[..], Some(&b"x"[..])),
                (&b"k"[..], Some(&b"2"[..])),
                (&long[..], None),
                (&b"a"[..], Some(&b"y"[..])),
                (&b"b"[..], None),
                (&long[..], Some(&b"c"[..])),
            ])
            .expect("write");
        assert_eq!(store.get(b"k").expect("get"), Some(b"2".to_vec()));
        assert_eq!(store.get(&long).expect("get"), Some(b"c".to_vec()));
        assert_eq!(store.get(b"a").expect("get"), Some(b"y".to_vec()));
        assert_eq!(store.get(b"b").expect("get"), None);

        // A restore's batch likewise (values behind their timestamps).
        let stamped = |timestamp: i64, raw: &[u8]| {
            let mut value = Vec::new();
            super::super::timestamped::write_timestamp_prefix(timestamp, &mut value);
            value.extend_from_slice(raw);
            value
        };
        store
            .restore_all_timestamped(&[
                (b"r".to_vec(), Some(b"1".to_vec()), 5),
                (long.to_vec(), None, 6),
                (b"q".to_vec(), Some(b"x".to_vec()), 7),
                (b"r".to_vec(), Some(b"2".to_vec()), 8),
                (b"q".to_vec(), None, 9),
                (long.to_vec(), Some(b"d".to_vec()), 10),
            ])
            .expect("restore");
        assert_eq!(store.get(b"r").expect("get"), Some(stamped(8, b"2")));
        assert_eq!(store.get(&long).expect("get"), Some(stamped(10, b"d")));
        assert_eq!(store.get(b"q").expect("get"), None);
    }

    /// The memtable of a windowed aggregation's store carries a whole-key
    /// bloom filter (`MEMTABLE_BLOOM_RATIO` of the write buffer, allocated
    /// with the memtable), which answers gets of windows that do not exist
    /// without walking the skip list; other layouts have none.
    #[test]
    fn window_point_stores_have_a_memtable_bloom_filter() {
        let config = RocksDbConfig::default();
        let memtable = |layout| {
            let mut store =
                RocksDbKeyValueStore::open_with_layout("s".to_owned(), None, &config, layout)
                    .expect("open the store");
            store.put(b"present", Some(b"v")).expect("put");
            assert_eq!(store.get(b"present").expect("get"), Some(b"v".to_vec()));
            assert_eq!(store.get(b"absent").expect("get"), None);
            store
                .db()
                .expect("open")
                .property_int_value("rocksdb.cur-size-active-mem-table")
                .expect("property")
                .expect("rocksdb.cur-size-active-mem-table missing")
        };
        let bloom = (config.write_buffer_size as f64 * MEMTABLE_BLOOM_RATIO) as u64;
        let with = memtable(KeyLayout::WindowPoint);
        let without = memtable(KeyLayout::Plain);
        assert!(
            with >= without + bloom * 9 / 10,
            "a {bloom}-byte filter: {with} vs {without} bytes"
        );
        assert!(without < bloom / 2, "no filter: {without} bytes");
    }
}
