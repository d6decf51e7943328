//! Declaring stores (in a topology) and opening them (in a task).
//!
//! A topology holds one [`StoreFactory`] per store: a [`KeyValueStoreBuilder`]
//! says which byte store to use (memory or RocksDB, from a
//! [`KeyValueBytesStoreSupplier`]), the serdes, and whether to cache and to
//! log. The builder is plain data and `Send + Sync`, so one topology serves
//! every stream thread.
//!
//! A task calls [`StoreFactory::build`] with its [`StoreContext`] and gets
//! an [`OpenedStore`]: the type-erased [`ManagedStore`] the task drives
//! (flush on commit, close, restore from the changelog) and the typed handle
//! processors use, both over the same stack:
//!
//! ```text
//!  handle: KeyValueStore<K, V> | TimestampedKeyValueStore<K, V>
//!     -> CachingKeyValueStore          (when caching is enabled)
//!     -> ChangeLoggingKeyValueBytesStore (when logging is enabled and the
//!                                         context has a changelog writer)
//!     -> InMemoryKeyValueStore | RocksDbKeyValueStore
//! ```
//!
//! Restoring writes to the bottom store directly (nothing is re-logged,
//! nothing reaches the cache). At commit, whoever forwards a cached store's
//! changes (a KTable processor) calls `flush_cache` on its typed handle and
//! forwards the entries; the task then calls [`ManagedStore::flush`], which
//! writes whatever is still dirty and flushes RocksDB.
//!
//! Defaults follow Kafka Streams' `StoreBuilder`: logging on (with no topic
//! configs), caching off.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::rc::Rc;

use super::caching::{CachingKeyValueStore, FlushedEntry};
use super::logging::ChangeLoggingKeyValueBytesStore;
use super::memory::InMemoryKeyValueStore;
use super::rocksdb::{RocksDbConfig, RocksDbKeyValueStore};
use super::typed::{KeyValueStore, LayeredStore, TimestampedKeyValueStore};
use super::{ChangelogWriter, KeyValueBytesStore, StoreResult, TimestampedBytesWrite};
use crate::serde::SerdeRef;

/// The suffix of changelog topic names (Kafka Streams'
/// `ProcessorStateManager.STATE_CHANGELOG_TOPIC_SUFFIX`).
pub const CHANGELOG_TOPIC_SUFFIX: &str = "-changelog";

/// Kafka Streams' default `statestore.cache.max.bytes`: 10 MiB.
pub const DEFAULT_CACHE_MAX_BYTES: usize = 10 * 1024 * 1024;

/// The changelog topic of store `store` in application `application_id`:
/// `<application.id>-<store>-changelog`.
pub fn changelog_topic_name(application_id: &str, store: &str) -> String {
    format!("{application_id}-{store}{CHANGELOG_TOPIC_SUFFIX}")
}

/// Where a store keeps its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// In memory; restored in full from the changelog when a task opens it.
    InMemory,
    /// In RocksDB under the task's state directory.
    RocksDb,
}

/// What a task gives a store when it opens it.
#[derive(Clone)]
pub struct StoreContext {
    /// The application id (prefix of changelog topics).
    pub application_id: String,
    /// The task id, as Kafka Streams prints it (`0_1`).
    pub task_id: String,
    /// The task's partition, which is also the changelog partition.
    pub partition: i32,
    /// The task's state directory; `None` gives each RocksDB store a fresh
    /// temporary directory, deleted when the store is dropped.
    pub state_dir: Option<PathBuf>,
    /// Where logging stores send their changes; `None` leaves the logging
    /// layer out even when logging is enabled.
    pub changelog: Option<Rc<RefCell<dyn ChangelogWriter>>>,
    /// The timestamp of the record being processed; the task updates it
    /// before each record (and punctuation), stores read it to stamp cache
    /// entries and changelog records.
    pub timestamp: Rc<Cell<i64>>,
    /// The record-cache budget (`statestore.cache.max.bytes` over the
    /// stream threads): of each caching store opened with this context, or,
    /// with [`cache_pool`](Self::cache_pool), of all of them together.
    pub cache_max_bytes: usize,
    /// The pool whose bytes the caching stores of one stream thread count
    /// together against `cache_max_bytes` (Kafka Streams' `ThreadCache`);
    /// `None` gives each store the whole budget.
    pub cache_pool: Option<CachePool>,
}

/// The bytes held by the record caches of one stream thread's stores, which
/// share one budget, as the `NamedCache`s of Kafka Streams' `ThreadCache`
/// do: a write that takes the pool over the budget evicts from the cache it
/// wrote to, until the pool is back under the budget or that cache is
/// empty. Without it every store of every task would have the whole
/// budget, and the thread's caches would grow with its tasks.
///
/// ```rust
/// use streams_core::serde::Serdes;
/// use streams_core::state::{CachePool, StoreContext, StoreFactory, Stores};
/// let pool = CachePool::new();
/// let mut ctx = StoreContext::new("app", "0_0", 0);
/// ctx.cache_pool = Some(pool.clone());
/// let opened = Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("totals"),
///     Serdes::string(),
///     Serdes::i64(),
/// )
/// .with_caching_enabled()
/// .build(&ctx)
/// .unwrap();
/// let store = opened.key_value_store::<String, i64>().unwrap();
/// store.put(&"a".to_string(), Some(&1)).unwrap();
/// assert!(pool.used_bytes() > 0);
/// drop((store, opened));
/// assert_eq!(pool.used_bytes(), 0);
/// ```
#[derive(Debug, Clone, Default)]
pub struct CachePool(Rc<Cell<usize>>);

impl CachePool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// The bytes the caches in the pool hold, estimated as each cache
    /// charges its entries.
    pub fn used_bytes(&self) -> usize {
        self.0.get()
    }

    /// Replaces `old` bytes of one cache by `new`.
    pub(crate) fn resize(&self, old: usize, new: usize) {
        self.0.set(self.0.get() - old + new);
    }
}

impl std::fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreContext")
            .field("application_id", &self.application_id)
            .field("task_id", &self.task_id)
            .field("partition", &self.partition)
            .field("state_dir", &self.state_dir)
            .field("changelog", &self.changelog.is_some())
            .field("timestamp", &self.timestamp.get())
            .field("cache_max_bytes", &self.cache_max_bytes)
            .field(
                "cache_pool",
                &self.cache_pool.as_ref().map(CachePool::used_bytes),
            )
            .finish()
    }
}

impl StoreContext {
    /// A context without state directory or changelog writer, a timestamp
    /// of 0 and Kafka Streams' default cache budget (10 MiB).
    pub fn new(
        application_id: impl Into<String>,
        task_id: impl Into<String>,
        partition: i32,
    ) -> Self {
        StoreContext {
            application_id: application_id.into(),
            task_id: task_id.into(),
            partition,
            state_dir: None,
            changelog: None,
            timestamp: Rc::new(Cell::new(0)),
            cache_max_bytes: DEFAULT_CACHE_MAX_BYTES,
            cache_pool: None,
        }
    }
}

/// Makes the byte store at the bottom of a key-value store (Kafka Streams'
/// `KeyValueBytesStoreSupplier`).
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValueBytesStoreSupplier {
    name: String,
    kind: StoreKind,
    timestamped: bool,
    rocksdb: RocksDbConfig,
}

impl KeyValueBytesStoreSupplier {
    /// A supplier of `kind` stores named `name`.
    pub fn new(name: impl Into<String>, kind: StoreKind) -> Self {
        KeyValueBytesStoreSupplier {
            name: name.into(),
            kind,
            timestamped: false,
            rocksdb: RocksDbConfig::default(),
        }
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Memory or RocksDB.
    pub fn kind(&self) -> StoreKind {
        self.kind
    }

    /// Whether the stores keep their data on disk.
    pub fn persistent(&self) -> bool {
        self.kind == StoreKind::RocksDb
    }

    /// Whether the supplier was made for timestamped stores. Informational:
    /// the value format is chosen by the builder.
    pub fn timestamped(&self) -> bool {
        self.timestamped
    }

    /// The RocksDB tunables used when the kind is [`StoreKind::RocksDb`].
    pub fn rocksdb_config(&self) -> &RocksDbConfig {
        &self.rocksdb
    }

    /// Replaces the RocksDB tunables (block cache size ...).
    pub fn with_rocksdb_config(mut self, config: RocksDbConfig) -> Self {
        self.rocksdb = config;
        self
    }

    /// Opens the byte store, under `ctx.state_dir` for RocksDB.
    pub fn get(&self, ctx: &StoreContext) -> StoreResult<Box<dyn KeyValueBytesStore>> {
        Ok(match self.kind {
            StoreKind::InMemory => Box::new(InMemoryKeyValueStore::new(self.name.clone())),
            StoreKind::RocksDb => match &ctx.state_dir {
                Some(dir) => Box::new(RocksDbKeyValueStore::open(
                    self.name.clone(),
                    dir,
                    &self.rocksdb,
                )?),
                None => Box::new(RocksDbKeyValueStore::open_temporary(
                    self.name.clone(),
                    &self.rocksdb,
                )?),
            },
        })
    }
}

/// Declares a key-value store: bytes, serdes, caching and logging (Kafka
/// Streams' `KeyValueStoreBuilder` / `TimestampedKeyValueStoreBuilder`).
pub struct KeyValueStoreBuilder<K, V> {
    supplier: KeyValueBytesStoreSupplier,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    caching: bool,
    logging: bool,
    log_config: BTreeMap<String, String>,
    timestamped: bool,
    retain_cache_reports: bool,
}

impl<K, V> Clone for KeyValueStoreBuilder<K, V> {
    fn clone(&self) -> Self {
        KeyValueStoreBuilder {
            supplier: self.supplier.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            caching: self.caching,
            logging: self.logging,
            log_config: self.log_config.clone(),
            timestamped: self.timestamped,
            retain_cache_reports: self.retain_cache_reports,
        }
    }
}

impl<K, V> std::fmt::Debug for KeyValueStoreBuilder<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueStoreBuilder")
            .field("supplier", &self.supplier)
            .field("caching", &self.caching)
            .field("logging", &self.logging)
            .field("log_config", &self.log_config)
            .field("timestamped", &self.timestamped)
            .finish_non_exhaustive()
    }
}

impl<K, V> KeyValueStoreBuilder<K, V> {
    /// A builder of plain key-value stores over `supplier`'s bytes, with
    /// logging on and caching off.
    pub fn new(
        supplier: KeyValueBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> Self {
        KeyValueStoreBuilder {
            supplier,
            key_serde,
            value_serde,
            caching: false,
            logging: true,
            log_config: BTreeMap::new(),
            timestamped: false,
            retain_cache_reports: false,
        }
    }

    /// Puts a record cache in front of the store.
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }

    /// Leaves the cache out.
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }

    /// Logs changes to the changelog topic, created with the topic configs
    /// in `config`.
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }

    /// No changelog: the store starts empty (memory) or from whatever its
    /// directory holds (RocksDB).
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self.log_config.clear();
        self
    }

    /// Keeps the bytes in memory.
    pub fn in_memory(mut self) -> Self {
        self.supplier.kind = StoreKind::InMemory;
        self
    }

    /// Keeps the bytes in RocksDB.
    pub fn persistent(mut self) -> Self {
        self.supplier.kind = StoreKind::RocksDb;
        self
    }

    /// Stores [`ValueAndTimestamp`](super::ValueAndTimestamp) values in Kafka
    /// Streams' timestamped format; the handle becomes a
    /// [`TimestampedKeyValueStore`].
    pub fn timestamped(mut self) -> Self {
        self.timestamped = true;
        self
    }

    /// Whether a cached store keeps what evictions (and commit flushes)
    /// write down for `take_evicted`. Off by default: the KTable processors
    /// that forward those entries turn it on, and nobody takes a Processor
    /// API store's entries (a Kafka Streams cache without a flush
    /// listener), which would otherwise pile up for as long as the store
    /// lives.
    ///
    /// ```rust
    /// use streams_core::serde::Serdes;
    /// use streams_core::state::{StoreContext, StoreFactory, Stores};
    /// let mut ctx = StoreContext::new("app", "0_0", 0);
    /// ctx.cache_max_bytes = 0; // every put is evicted, and written down, at once
    /// let opened = Stores::timestamped_key_value_store_builder(
    ///     Stores::in_memory_key_value_store("totals"),
    ///     Serdes::string(),
    ///     Serdes::i64(),
    /// )
    /// .with_caching_enabled()
    /// .with_cache_reports(true)
    /// .build(&ctx)
    /// .unwrap();
    /// let store = opened.timestamped_key_value_store::<String, i64>().unwrap();
    /// store.put_value(&"a".to_string(), &1, 5).unwrap();
    /// assert_eq!(store.take_evicted().unwrap()[0].key, "a");
    /// ```
    pub fn with_cache_reports(mut self, retain: bool) -> Self {
        self.retain_cache_reports = retain;
        self
    }

    /// The store name.
    pub fn name(&self) -> &str {
        &self.supplier.name
    }

    /// The byte-store supplier.
    pub fn supplier(&self) -> &KeyValueBytesStoreSupplier {
        &self.supplier
    }

    /// Whether caching is enabled.
    pub fn caching_enabled(&self) -> bool {
        self.caching
    }

    /// Whether logging is enabled.
    pub fn logging_enabled(&self) -> bool {
        self.logging
    }

    /// Whether values are timestamped.
    pub fn is_timestamped(&self) -> bool {
        self.timestamped
    }

    /// The key serde.
    pub fn key_serde(&self) -> &SerdeRef<K> {
        &self.key_serde
    }

    /// The value serde.
    pub fn value_serde(&self) -> &SerdeRef<V> {
        &self.value_serde
    }
}

/// What a task does with every store, whatever its shape.
pub trait ManagedStore {
    /// The store's name.
    fn name(&self) -> &str;
    /// The changelog topic, when the store logs.
    fn changelog_topic(&self) -> Option<&str>;
    /// Whether the store keeps its data on disk.
    fn persistent(&self) -> bool;
    /// Writes cached entries down and makes the store durable.
    fn flush(&mut self) -> StoreResult<()>;
    /// Flushes and releases the store.
    fn close(&mut self) -> StoreResult<()>;
    /// Writes changelog records `(key, value, record timestamp)` straight to
    /// the bottom byte store, bypassing cache and logging, as one batch. A
    /// timestamped store puts the record timestamp back in front of each
    /// value.
    fn restore_batch(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()>;
    /// For downcasting to the concrete store.
    fn as_any(&self) -> &dyn Any;
    /// Whether the store has a cache.
    fn is_cached(&self) -> bool {
        false
    }
    /// Writes the cache's dirty entries down and returns them (byte level);
    /// empty without a cache.
    fn flush_cache(&mut self) -> StoreResult<Vec<FlushedEntry>> {
        Ok(Vec::new())
    }
}

/// A store opened for a task: what the task manages and what processors use.
#[derive(Clone)]
pub struct OpenedStore {
    /// The type-erased store the task flushes, closes and restores.
    pub managed: Rc<RefCell<dyn ManagedStore>>,
    /// The typed handle: a [`KeyValueStore<K, V>`] or a
    /// [`TimestampedKeyValueStore<K, V>`].
    pub handle: Rc<dyn Any>,
}

impl std::fmt::Debug for OpenedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let managed = self.managed.try_borrow();
        let name = managed.as_ref().map_or("<in use>", |m| m.name());
        f.debug_struct("OpenedStore")
            .field("name", &name)
            .finish_non_exhaustive()
    }
}

impl OpenedStore {
    /// The handle as a plain key-value store, if it is one with these types.
    pub fn key_value_store<K: 'static, V: 'static>(&self) -> Option<KeyValueStore<K, V>> {
        self.handle.downcast_ref::<KeyValueStore<K, V>>().cloned()
    }

    /// The handle as a timestamped key-value store, if it is one with these
    /// types.
    pub fn timestamped_key_value_store<K: 'static, V: 'static>(
        &self,
    ) -> Option<TimestampedKeyValueStore<K, V>> {
        self.handle
            .downcast_ref::<TimestampedKeyValueStore<K, V>>()
            .cloned()
    }

    /// The handle as a `T` (any store kind's handle), if it is one.
    #[cfg(test)]
    pub(crate) fn handle_as<T: Clone + 'static>(&self) -> Option<T> {
        self.handle.downcast_ref::<T>().cloned()
    }
}

/// Declares a store in a topology and opens it for a task. Object safe, and
/// `Send + Sync` so one topology can serve every stream thread.
pub trait StoreFactory: Send + Sync {
    /// The store's name.
    fn name(&self) -> &str;
    /// Whether the store keeps its data on disk.
    fn is_persistent(&self) -> bool;
    /// Whether writes are logged to a changelog topic.
    fn logging_enabled(&self) -> bool;
    /// Whether the store has a record cache.
    fn caching_enabled(&self) -> bool;
    /// `<application.id>-<store>-changelog` when logging is enabled.
    fn changelog_topic(&self, application_id: &str) -> Option<String> {
        self.logging_enabled()
            .then(|| changelog_topic_name(application_id, self.name()))
    }
    /// The changelog topic's configs, when logging is enabled.
    fn logging_config(&self) -> Option<&BTreeMap<String, String>>;
    /// Opens the store for the task described by `ctx`.
    fn build(&self, ctx: &StoreContext) -> StoreResult<OpenedStore>;
}

impl<K: 'static, V: 'static> StoreFactory for KeyValueStoreBuilder<K, V> {
    fn name(&self) -> &str {
        &self.supplier.name
    }

    fn is_persistent(&self) -> bool {
        self.supplier.persistent()
    }

    fn logging_enabled(&self) -> bool {
        self.logging
    }

    fn caching_enabled(&self) -> bool {
        self.caching
    }

    fn logging_config(&self) -> Option<&BTreeMap<String, String>> {
        self.logging.then_some(&self.log_config)
    }

    fn build(&self, ctx: &StoreContext) -> StoreResult<OpenedStore> {
        let name = self.supplier.name.clone();
        let topic = changelog_topic_name(&ctx.application_id, &name);
        let mut store = self.supplier.get(ctx)?;
        let mut changelog_topic = None;
        if let (true, Some(writer)) = (self.logging, &ctx.changelog) {
            let logging = ChangeLoggingKeyValueBytesStore::new(
                store,
                topic.clone(),
                ctx.partition,
                Rc::clone(writer),
                Rc::clone(&ctx.timestamp),
            );
            store = Box::new(if self.timestamped {
                logging.timestamped()
            } else {
                logging
            });
            changelog_topic = Some(topic.clone());
        }
        let stack = if self.caching {
            let retain = self.retain_cache_reports;
            let cache =
                CachingKeyValueStore::new(store, ctx.cache_max_bytes, Rc::clone(&ctx.timestamp))
                    .with_retained_reports(retain)
                    .with_cache_pool(ctx.cache_pool.clone());
            LayeredStore::with_cache(cache)
        } else {
            LayeredStore::new(store)
        };
        let stack = Rc::new(RefCell::new(stack));
        // Serdes see the changelog topic name whether or not the store logs,
        // as in Kafka Streams.
        let handle: Rc<dyn Any> = if self.timestamped {
            Rc::new(TimestampedKeyValueStore::new(
                Rc::clone(&stack),
                self.key_serde.clone(),
                self.value_serde.clone(),
                topic,
            ))
        } else {
            Rc::new(KeyValueStore::new(
                Rc::clone(&stack),
                self.key_serde.clone(),
                self.value_serde.clone(),
                topic,
            ))
        };
        let managed = KeyValueManagedStore {
            name,
            changelog_topic,
            persistent: self.supplier.persistent(),
            timestamped: self.timestamped,
            stack,
        };
        Ok(OpenedStore {
            managed: Rc::new(RefCell::new(managed)),
            handle,
        })
    }
}

/// The [`ManagedStore`] of a key-value store built by a
/// [`KeyValueStoreBuilder`].
pub struct KeyValueManagedStore {
    name: String,
    changelog_topic: Option<String>,
    persistent: bool,
    timestamped: bool,
    stack: Rc<RefCell<LayeredStore>>,
}

impl std::fmt::Debug for KeyValueManagedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyValueManagedStore")
            .field("name", &self.name)
            .field("changelog_topic", &self.changelog_topic)
            .field("persistent", &self.persistent)
            .field("timestamped", &self.timestamped)
            .finish_non_exhaustive()
    }
}

impl KeyValueManagedStore {
    /// The byte-store stack.
    pub fn layered(&self) -> &Rc<RefCell<LayeredStore>> {
        &self.stack
    }

    fn stack_mut(&self) -> StoreResult<std::cell::RefMut<'_, LayeredStore>> {
        self.stack
            .try_borrow_mut()
            .map_err(|_| super::StoreError::InvalidArgument {
                store: self.name.clone(),
                reason: "the store is in use (re-entrant call)".to_owned(),
            })
    }
}

impl ManagedStore for KeyValueManagedStore {
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
            stack.bytes_mut().restore_all_timestamped(records)
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
        self.stack_mut()?.flush_entries()
    }
}

/// Factory functions for stores, after Kafka Streams' `Stores`.
///
/// ```
/// use std::sync::Arc;
/// use streams_core::serde::{Serde, SerdeError, SerdeRef};
/// use streams_core::state::{StoreContext, StoreFactory, Stores};
///
/// // A minimal UTF-8 serde for the example.
/// struct Utf8;
/// impl Serde<String> for Utf8 {
///     fn serialize_into(&self, _: &str, v: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
///         out.extend_from_slice(v.as_bytes());
///         Ok(())
///     }
///     fn deserialize(&self, topic: &str, b: &[u8]) -> Result<String, SerdeError> {
///         String::from_utf8(b.to_vec()).map_err(|e| SerdeError::Deserialize {
///             type_name: "String",
///             topic: topic.to_owned(),
///             reason: e.to_string(),
///         })
///     }
/// }
/// let utf8: SerdeRef<String> = Arc::new(Utf8);
///
/// let builder = Stores::key_value_store_builder(
///     Stores::in_memory_key_value_store("counts"),
///     utf8.clone(),
///     utf8,
/// )
/// .with_caching_enabled();
/// assert_eq!(builder.changelog_topic("app").as_deref(), Some("app-counts-changelog"));
///
/// let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
/// let store = opened.key_value_store::<String, String>().unwrap();
/// store.put(&"k".to_owned(), Some(&"v".to_owned())).unwrap();
/// assert_eq!(store.get(&"k".to_owned()).unwrap().as_deref(), Some("v"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Stores;

impl Stores {
    /// A supplier of in-memory key-value byte stores.
    ///
    /// ```
    /// use streams_core::state::{StoreKind, Stores};
    /// let supplier = Stores::in_memory_key_value_store("store");
    /// assert_eq!(supplier.kind(), StoreKind::InMemory);
    /// assert!(!supplier.persistent());
    /// ```
    pub fn in_memory_key_value_store(name: impl Into<String>) -> KeyValueBytesStoreSupplier {
        KeyValueBytesStoreSupplier::new(name, StoreKind::InMemory)
    }

    /// A supplier of RocksDB key-value byte stores.
    ///
    /// ```
    /// use streams_core::state::{RocksDbConfig, StoreKind, Stores};
    /// let supplier = Stores::persistent_key_value_store("store")
    ///     .with_rocksdb_config(RocksDbConfig::default().with_block_cache_bytes(8 << 20));
    /// assert_eq!(supplier.kind(), StoreKind::RocksDb);
    /// assert_eq!(supplier.rocksdb_config().block_cache_bytes, 8 << 20);
    /// ```
    pub fn persistent_key_value_store(name: impl Into<String>) -> KeyValueBytesStoreSupplier {
        KeyValueBytesStoreSupplier::new(name, StoreKind::RocksDb)
    }

    /// A supplier of RocksDB byte stores meant for timestamped stores. The
    /// bytes are laid out by the builder, so this equals
    /// [`persistent_key_value_store`](Self::persistent_key_value_store)
    /// apart from [`KeyValueBytesStoreSupplier::timestamped`].
    pub fn persistent_timestamped_key_value_store(
        name: impl Into<String>,
    ) -> KeyValueBytesStoreSupplier {
        let mut supplier = KeyValueBytesStoreSupplier::new(name, StoreKind::RocksDb);
        supplier.timestamped = true;
        supplier
    }

    /// A builder of [`KeyValueStore`]s over `supplier`'s bytes (logging on,
    /// caching off).
    pub fn key_value_store_builder<K, V>(
        supplier: KeyValueBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KeyValueStoreBuilder<K, V> {
        KeyValueStoreBuilder::new(supplier, key_serde, value_serde)
    }

    /// A builder of [`TimestampedKeyValueStore`]s over `supplier`'s bytes
    /// (logging on, caching off).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use streams_core::serde::{Serde, SerdeError, SerdeRef};
    /// use streams_core::state::{StoreContext, StoreFactory, Stores, ValueAndTimestamp};
    ///
    /// struct Be64;
    /// impl Serde<i64> for Be64 {
    ///     fn serialize_into(&self, _: &str, v: &i64, out: &mut Vec<u8>) -> Result<(), SerdeError> {
    ///         out.extend_from_slice(&v.to_be_bytes());
    ///         Ok(())
    ///     }
    ///     fn deserialize(&self, topic: &str, b: &[u8]) -> Result<i64, SerdeError> {
    ///         let bytes: [u8; 8] = b.try_into().map_err(|_| SerdeError::Deserialize {
    ///             type_name: "i64",
    ///             topic: topic.to_owned(),
    ///             reason: format!("expected 8 bytes, got {}", b.len()),
    ///         })?;
    ///         Ok(i64::from_be_bytes(bytes))
    ///     }
    /// }
    /// let serde: SerdeRef<i64> = Arc::new(Be64);
    ///
    /// let builder = Stores::timestamped_key_value_store_builder(
    ///     Stores::persistent_timestamped_key_value_store("totals"),
    ///     serde.clone(),
    ///     serde,
    /// );
    /// let opened = builder.build(&StoreContext::new("app", "0_0", 0)).unwrap();
    /// let store = opened.timestamped_key_value_store::<i64, i64>().unwrap();
    /// store.put(&1, Some(ValueAndTimestamp::new(10, 1_000))).unwrap();
    /// assert_eq!(store.get(&1).unwrap(), Some(ValueAndTimestamp::new(10, 1_000)));
    /// ```
    pub fn timestamped_key_value_store_builder<K, V>(
        supplier: KeyValueBytesStoreSupplier,
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
    ) -> KeyValueStoreBuilder<K, V> {
        KeyValueStoreBuilder::new(supplier, key_serde, value_serde).timestamped()
    }
}
