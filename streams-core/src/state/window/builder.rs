//! Declaring window stores in a topology and opening them for a task.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use super::layers::{CachingWindowStore, ChangeLoggingWindowBytesStore};
use super::memory::InMemoryWindowStore;
use super::segmented::RocksDbWindowStore;
use super::typed::{TimestampedWindowStore, WindowLayeredStore, WindowStore};
use super::{
    DEFAULT_CHANGELOG_ADDITIONAL_RETENTION_MS, WindowBytesStore, default_segment_interval,
};
use crate::serde::SerdeRef;
use crate::state::caching::FlushedEntry;
use crate::state::rocksdb::RocksDbConfig;
use crate::state::timestamped::timestamped_bytes;
use crate::state::{
    ManagedStore, OpenedStore, StoreContext, StoreError, StoreFactory, StoreKind, StoreResult,
    Stores, TimestampedBytesWrite, changelog_topic_name,
};

/// Makes the byte store at the bottom of a window store (Kafka Streams'
/// `WindowBytesStoreSupplier`).
#[derive(Debug, Clone, PartialEq)]
pub struct WindowBytesStoreSupplier {
    name: String,
    kind: StoreKind,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    segment_interval_ms: i64,
    time_ordered: bool,
    rocksdb: RocksDbConfig,
}

impl WindowBytesStoreSupplier {
    /// A supplier of `kind` window stores named `name` keeping windows of
    /// `window_size_ms` for `retention_ms`; `retain_duplicates` keeps every
    /// put (joins). The segment interval is Kafka's default,
    /// [`default_segment_interval`].
    ///
    /// Fails, as Kafka Streams' `Stores` does, when the retention is negative
    /// or smaller than the window size, or the size is negative.
    ///
    /// ```rust
    /// use streams_core::state::window::WindowBytesStoreSupplier;
    /// use streams_core::state::StoreKind;
    /// let s = WindowBytesStoreSupplier::new("w", StoreKind::RocksDb, 150, 100, false).unwrap();
    /// assert_eq!(s.segment_interval_ms(), 60_000);
    /// assert!(WindowBytesStoreSupplier::new("w", StoreKind::InMemory, 50, 100, false).is_err());
    /// ```
    pub fn new(
        name: impl Into<String>,
        kind: StoreKind,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> StoreResult<Self> {
        let name = name.into();
        if retention_ms < 0 || window_size_ms < 0 {
            return Err(StoreError::InvalidArgument {
                store: name,
                reason: "retention period and window size cannot be negative".to_owned(),
            });
        }
        if window_size_ms > retention_ms {
            return Err(StoreError::InvalidArgument {
                store: name,
                reason: format!(
                    "the retention period of the window store must be no smaller than its window \
                     size. Got size=[{window_size_ms}], retention=[{retention_ms}]"
                ),
            });
        }
        Ok(WindowBytesStoreSupplier {
            name,
            kind,
            retention_ms,
            window_size_ms,
            retain_duplicates,
            segment_interval_ms: default_segment_interval(retention_ms),
            time_ordered: false,
            rocksdb: RocksDbConfig::default(),
        })
    }

    /// Lists multi-key results by window start first (the time-ordered
    /// RocksDB store of emit-on-window-close aggregations; the in-memory
    /// store is always time-ordered).
    pub fn time_ordered(mut self) -> Self {
        self.time_ordered = true;
        self
    }

    /// Replaces the RocksDB tunables.
    pub fn with_rocksdb_config(mut self, config: RocksDbConfig) -> Self {
        self.rocksdb = config;
        self
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// Memory or RocksDB.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }
    /// The retention period in ms.
    pub fn retention_ms(&self) -> i64 {
        self.retention_ms
    }
    /// The window size in ms.
    pub fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }
    /// Whether every put is kept.
    pub fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }
    /// The RocksDB segment interval in ms.
    pub fn segment_interval_ms(&self) -> i64 {
        self.segment_interval_ms
    }

    /// Opens the byte store, under `ctx.state_dir` for RocksDB.
    pub fn get(&self, ctx: &StoreContext) -> StoreResult<Box<dyn WindowBytesStore>> {
        Ok(match self.kind {
            StoreKind::InMemory => Box::new(InMemoryWindowStore::new(
                self.name.clone(),
                self.retention_ms,
                self.window_size_ms,
                self.retain_duplicates,
            )),
            StoreKind::RocksDb => Box::new(RocksDbWindowStore::open(
                self.name.clone(),
                self.retention_ms,
                self.window_size_ms,
                self.retain_duplicates,
                self.segment_interval_ms,
                self.time_ordered,
                &self.rocksdb,
                ctx.state_dir.clone(),
            )?),
        })
    }
}

/// The changelog topic configs of a windowed (window or session) store:
/// `cleanup.policy=compact,delete` and `retention.ms` = retention plus
/// Kafka's `windowstore.changelog.additional.retention.ms` (one day), unless
/// the user's configs set them (Kafka Streams' `WindowedChangelogTopicConfig`).
pub(crate) fn windowed_changelog_config(
    user: &BTreeMap<String, String>,
    retention_ms: i64,
) -> BTreeMap<String, String> {
    let mut config = BTreeMap::new();
    config.insert("cleanup.policy".to_owned(), "compact,delete".to_owned());
    config.extend(user.iter().map(|(k, v)| (k.clone(), v.clone())));
    if !user.contains_key("retention.ms") {
        let retention = retention_ms
            .checked_add(DEFAULT_CHANGELOG_ADDITIONAL_RETENTION_MS)
            .unwrap_or(i64::MAX);
        config.insert("retention.ms".to_owned(), retention.to_string());
    }
    config
}

/// Declares a window store: bytes, serdes, caching and logging (Kafka
/// Streams' `WindowStoreBuilder` / `TimestampedWindowStoreBuilder`).
/// Defaults: logging on, caching off. Caching is never used on a store that
/// retains duplicates.
pub struct WindowStoreBuilder<K, V> {
    supplier: WindowBytesStoreSupplier,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    timestamped: bool,
    caching: bool,
    cache_reports: bool,
    logging: bool,
    log_config: BTreeMap<String, String>,
    topic_config: BTreeMap<String, String>,
}

impl<K, V> std::fmt::Debug for WindowStoreBuilder<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowStoreBuilder")
            .field("supplier", &self.supplier)
            .field("timestamped", &self.timestamped)
            .field("caching", &self.caching)
            .field("logging", &self.logging)
            .finish_non_exhaustive()
    }
}

impl<K, V> WindowStoreBuilder<K, V> {
    /// A builder of plain-value window stores over `supplier`'s bytes.
    pub fn new(
        supplier: WindowBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        let topic_config = windowed_changelog_config(&BTreeMap::new(), supplier.retention_ms);
        WindowStoreBuilder {
            supplier,
            key_serde,
            value_serde,
            timestamped: false,
            caching: false,
            cache_reports: false,
            logging: true,
            log_config: BTreeMap::new(),
            topic_config,
        }
    }

    /// Stores timestamped values (the handle is a
    /// [`TimestampedWindowStore`]).
    pub fn timestamped(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// Puts a record cache in front of the store.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// Removes the record cache.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// Whether the cache keeps what evictions (and commit flushes) write
    /// down for the owner to forward. Off by default: a windowed
    /// aggregation turns it on when it forwards from its cache, and nobody
    /// takes a Processor API store's entries (a Kafka Streams cache without
    /// a flush listener), which would otherwise pile up for as long as the
    /// store lives.
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::window::TimestampedWindowStore;
    /// use streams_core::state::{StoreContext, StoreFactory, Stores};
    /// let mut ctx = StoreContext::new("app", "0_0", 0);
    /// ctx.cache_max_bytes = 1; // every put is evicted, and written down, at once
    /// let store = |reports: bool| {
    ///     let supplier = Stores::in_memory_window_store("counts", 150, 100, false).unwrap();
    ///     let opened = Stores::timestamped_window_store_builder(supplier, Serdes::string(), Serdes::i64())
    ///         .with_caching_enabled()
    ///         .with_cache_reports(reports)
    ///         .build(&ctx)
    ///         .unwrap();
    ///     opened.handle.downcast_ref::<TimestampedWindowStore<String, i64>>().unwrap().clone()
    /// };
    /// let (forwarded, plain) = (store(true), store(false));
    /// for s in [&forwarded, &plain] {
    ///     s.put_value(&"k".to_string(), &1, 7, 0).unwrap();
    /// }
    /// assert_eq!(forwarded.take_evicted().unwrap().len(), 1);
    /// assert!(plain.take_evicted().unwrap().is_empty());
    /// ```
    pub fn with_cache_reports(mut self, retain: bool) -> Self {
        self.cache_reports = retain;
        self
    }

    /// Logs writes to the changelog topic, created with `config` on top of
    /// the windowed defaults.
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.topic_config = windowed_changelog_config(&config, self.supplier.retention_ms);
        self.log_config = config;
        self
    }

    /// Stops logging.
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }

    /// The byte-store supplier.
    pub fn supplier(&self) -> &WindowBytesStoreSupplier {
        &self.supplier
    }

    /// The user's changelog configs (without the windowed defaults).
    pub fn user_log_config(&self) -> &BTreeMap<String, String> {
        &self.log_config
    }
}

impl<K: 'static, V: 'static> StoreFactory for WindowStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.supplier.name
    }

    fn is_persistent(&self) -> bool {
        self.supplier.kind == StoreKind::RocksDb
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn caching_enabled(&self) -> bool {
        self.caching && !self.supplier.retain_duplicates
    }

    fn logging_config(&self) -> Option<&BTreeMap<String, String>> {
        self.logging.then_some(&self.topic_config)
    }

    fn build(&self, ctx: &StoreContext) -> StoreResult<OpenedStore> {
        let name = self.supplier.name.clone();
        let topic = changelog_topic_name(&ctx.application_id, &name);
        let mut store = self.supplier.get(ctx)?;
        let mut changelog_topic = None;
        if let (true, Some(writer)) = (self.logging, &ctx.changelog) {
            store = Box::new(ChangeLoggingWindowBytesStore::new(
                store,
                topic.clone(),
                ctx.partition,
                Rc::clone(writer),
                Rc::clone(&ctx.timestamp),
                self.timestamped,
            ));
            changelog_topic = Some(topic.clone());
        }
        let stack = if self.caching_enabled() {
            let cache =
                CachingWindowStore::new(store, ctx.cache_max_bytes, Rc::clone(&ctx.timestamp))
                    .with_retained_reports(self.cache_reports)
                    .with_cache_pool(ctx.cache_pool.clone());
            WindowLayeredStore::with_cache(cache)
        } else {
            WindowLayeredStore::new(store)
        };
        let stack = Rc::new(RefCell::new(stack));
        let handle: Rc<dyn Any> = if self.timestamped {
            Rc::new(TimestampedWindowStore::new(
                Rc::clone(&stack),
                self.key_serde.clone(),
                self.value_serde.clone(),
                topic,
            ))
        } else {
            Rc::new(WindowStore::new(
                Rc::clone(&stack),
                self.key_serde.clone(),
                self.value_serde.clone(),
                topic,
            ))
        };
        let managed = WindowManagedStore {
            name,
            changelog_topic,
            persistent: self.is_persistent(),
            timestamped: self.timestamped,
            stack,
        };
        Ok(OpenedStore {
            managed: Rc::new(RefCell::new(managed)),
            handle,
        })
    }
}

/// The [`ManagedStore`] of a window store built by a [`WindowStoreBuilder`].
pub struct WindowManagedStore {
    name: String,
    changelog_topic: Option<String>,
    persistent: bool,
    timestamped: bool,
    stack: Rc<RefCell<WindowLayeredStore>>,
}

impl std::fmt::Debug for WindowManagedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowManagedStore")
            .field("name", &self.name)
            .field("changelog_topic", &self.changelog_topic)
            .finish_non_exhaustive()
    }
}

impl WindowManagedStore {
    fn stack_mut(&self) -> StoreResult<std::cell::RefMut<'_, WindowLayeredStore>> {
        self.stack
            .try_borrow_mut()
            .map_err(|_| StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "the store is in use (re-entrant call)".to_owned(),
            })
    }
}

impl ManagedStore for WindowManagedStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn changelog_topic(&self) -> Option<&str> {
        self.changelog_topic.as_deref()
    }

    fn persistent(&self) -> bool {
        self.persistent
    }

    fn flush(&mut self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().flush()
    }

    fn close(&mut self) -> StoreResult<()> {
        self.stack_mut()?.bytes_mut().close()
    }

    fn restore_batch(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        let mut stack = self.stack_mut()?;
        if self.timestamped {
            // The changelog carries the bare value with its timestamp as the
            // record timestamp; the store keeps `[timestamp][value]`.
            let prefixed: Vec<TimestampedBytesWrite> = records
                .iter()
                .map(|(k, v, ts)| {
                    (
                        k.clone(),
                        v.as_deref().map(|raw| timestamped_bytes(*ts, raw)),
                        *ts,
                    )
                })
                .collect();
            stack.bytes_mut().restore_all(&prefixed)
        } else {
            stack.bytes_mut().restore_all(records)
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn is_cached(&self) -> bool {
        self.stack.try_borrow().is_ok_and(|s| s.is_cached())
    }

    fn flush_cache(&mut self) -> StoreResult<Vec<FlushedEntry>> {
        let entries = self.stack_mut()?.flush_entries()?;
        Ok(entries
            .into_iter()
            .map(|e| FlushedEntry {
                key: super::window_store_key(&e.key, e.start, 0),
                new_value: e.new_value,
                old_value: e.old_value,
                timestamp: e.timestamp,
                context: e.context,
            })
            .collect())
    }
}

impl Stores {
    /// A supplier of in-memory window stores (Kafka Streams'
    /// `Stores.inMemoryWindowStore`).
    ///
    /// ```rust
    /// use streams_core::state::Stores;
    /// let supplier = Stores::in_memory_window_store("w", 1_000, 100, false).unwrap();
    /// assert_eq!(supplier.retention_ms(), 1_000);
    /// ```
    pub fn in_memory_window_store(
        name: impl Into<String>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> StoreResult<WindowBytesStoreSupplier> {
        WindowBytesStoreSupplier::new(
            name,
            StoreKind::InMemory,
            retention_ms,
            window_size_ms,
            retain_duplicates,
        )
    }

    /// A supplier of RocksDB window stores, segmented in time (Kafka
    /// Streams' `Stores.persistentWindowStore` /
    /// `persistentTimestampedWindowStore`).
    ///
    /// ```rust
    /// use streams_core::state::Stores;
    /// let supplier = Stores::persistent_window_store("w", 300_000, 100, true).unwrap();
    /// assert_eq!(supplier.segment_interval_ms(), 150_000);
    /// ```
    pub fn persistent_window_store(
        name: impl Into<String>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> StoreResult<WindowBytesStoreSupplier> {
        WindowBytesStoreSupplier::new(
            name,
            StoreKind::RocksDb,
            retention_ms,
            window_size_ms,
            retain_duplicates,
        )
    }

    /// A builder of plain-value [`WindowStore`]s (logging on, caching off).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{StoreContext, StoreFactory, Stores};
    /// use streams_core::state::window::WindowStore;
    /// let builder = Stores::window_store_builder(
    ///     Stores::in_memory_window_store("joins", 1_000, 100, true).unwrap(),
    ///     Serdes::string(),
    ///     Serdes::string(),
    /// );
    /// let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
    /// let store = opened.handle.downcast_ref::<WindowStore<String, String>>().unwrap().clone();
    /// store.put(&"k".to_string(), Some(&"a".to_string()), 10).unwrap();
    /// store.put(&"k".to_string(), Some(&"b".to_string()), 10).unwrap();
    /// assert_eq!(store.fetch_range(&"k".to_string(), 0, 20).unwrap().len(), 2);
    /// ```
    pub fn window_store_builder<K, V>(
        supplier: WindowBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> WindowStoreBuilder<K, V> {
        WindowStoreBuilder::new(supplier, key_serde, value_serde)
    }

    /// A builder of [`TimestampedWindowStore`]s (logging on, caching off).
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{StoreContext, StoreFactory, Stores, ValueAndTimestamp};
    /// use streams_core::state::window::TimestampedWindowStore;
    /// let builder = Stores::timestamped_window_store_builder(
    ///     Stores::persistent_window_store("counts", 150, 100, false).unwrap(),
    ///     Serdes::string(),
    ///     Serdes::i64(),
    /// );
    /// let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
    /// let store = opened.handle.downcast_ref::<TimestampedWindowStore<String, i64>>().unwrap().clone();
    /// store.put(&"k".to_string(), Some(&ValueAndTimestamp::new(3, 99)), 0).unwrap();
    /// assert_eq!(store.fetch(&"k".to_string(), 0).unwrap(), Some(ValueAndTimestamp::new(3, 99)));
    /// ```
    pub fn timestamped_window_store_builder<K, V>(
        supplier: WindowBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> WindowStoreBuilder<K, V> {
        WindowStoreBuilder::new(supplier, key_serde, value_serde).timestamped()
    }
}
