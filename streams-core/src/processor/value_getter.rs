//! Reading a KTable's current value by key (Kafka Streams'
//! `KTableValueGetter`): what stream-table, table-table and foreign-key
//! joins look up on the other side.
//!
//! A materialized table is read from its store. A filter or map-values
//! table without a store of its own is read through its parent's getter,
//! applying its function on the fly, as Kafka Streams does, so joining such
//! a table adds no store. A table-table join result without a store is read
//! by joining its two parents' getters.

use std::any::Any;
use std::rc::Rc;
use std::sync::Arc;

use super::ProcessorContext;
use crate::error::StreamsError;
use crate::state::{TimestampedKeyValueStore, ValueAndTimestamp};

/// Where a getter finds its stores when a task initializes it: the context
/// of the processor that uses it (the stores must be connected to that
/// processor).
pub(crate) trait StoreLookup {
    /// The typed handle of store `name`, type-erased.
    fn store_handle(&self, name: &str) -> Result<Rc<dyn Any>, StreamsError>;
    /// The application id (global stores are found by it).
    fn application_id(&self) -> &str;
}

impl<K, V> StoreLookup for ProcessorContext<'_, K, V> {
    fn application_id(&self) -> &str {
        &self.task.application_id
    }

    fn store_handle(&self, name: &str) -> Result<Rc<dyn Any>, StreamsError> {
        if !self.node.stores.iter().any(|s| s == name) {
            return Err(StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!("join processor is not connected to state store '{name}'"),
            });
        }
        self.task
            .stores
            .get(name)
            .map(|s| s.handle.clone())
            .ok_or_else(|| StreamsError::Processing {
                node: self.node.name.to_string(),
                reason: format!("state store '{name}' is not registered in this task"),
            })
    }
}

/// Reads a table's current value (and its timestamp) by key.
pub(crate) trait ValueGetter<K, V> {
    /// Looks up the stores it reads.
    fn init(&mut self, stores: &dyn StoreLookup) -> Result<(), StreamsError>;
    /// The current value of `key`, `None` if the table has none.
    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError>;
}

type MakeGetter<K, V> = Arc<dyn Fn() -> Box<dyn ValueGetter<K, V>> + Send + Sync>;

/// Makes a fresh [`ValueGetter`] per task, and names the stores the
/// processor using it must be connected to.
pub(crate) struct ValueGetterSupplier<K, V> {
    pub(crate) store_names: Vec<String>,
    pub(crate) make: MakeGetter<K, V>,
}

impl<K, V> Clone for ValueGetterSupplier<K, V> {
    fn clone(&self) -> Self {
        ValueGetterSupplier {
            store_names: self.store_names.clone(),
            make: self.make.clone(),
        }
    }
}

impl<K: 'static, V: 'static> ValueGetterSupplier<K, V> {
    /// Reads the timestamped store `name`.
    pub(crate) fn store(name: String) -> Self {
        let store_name = name.clone();
        ValueGetterSupplier {
            store_names: vec![name],
            make: Arc::new(move || {
                Box::new(StoreGetter::<K, V> {
                    name: store_name.clone(),
                    store: None,
                })
            }),
        }
    }

    /// A new getter.
    pub(crate) fn get(&self) -> Box<dyn ValueGetter<K, V>> {
        (self.make)()
    }

    /// This getter with `f` applied to each value found (`f` may drop it),
    /// reading the same stores.
    pub(crate) fn map<V2: 'static>(
        self,
        f: impl Fn(&K, ValueAndTimestamp<V>) -> Option<ValueAndTimestamp<V2>> + Send + Sync + 'static,
    ) -> ValueGetterSupplier<K, V2> {
        let f = Arc::new(f);
        let parent = self.make;
        ValueGetterSupplier {
            store_names: self.store_names,
            make: Arc::new(move || {
                Box::new(MappedGetter {
                    parent: parent(),
                    f: f.clone(),
                })
            }),
        }
    }
}

struct StoreGetter<K, V> {
    name: String,
    store: Option<TimestampedKeyValueStore<K, V>>,
}

impl<K: 'static, V: 'static> ValueGetter<K, V> for StoreGetter<K, V> {
    fn init(&mut self, stores: &dyn StoreLookup) -> Result<(), StreamsError> {
        let handle = stores.store_handle(&self.name)?;
        let store = handle
            .downcast_ref::<TimestampedKeyValueStore<K, V>>()
            .cloned()
            .ok_or_else(|| StreamsError::Processing {
                node: String::new(),
                reason: format!(
                    "state store '{}' is not a timestamped key-value store of the table's types",
                    self.name
                ),
            })?;
        self.store = Some(store);
        Ok(())
    }

    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        match &self.store {
            Some(s) => Ok(s.get(key)?),
            None => Err(StreamsError::Processing {
                node: String::new(),
                reason: format!("value getter of store '{}' used before init", self.name),
            }),
        }
    }
}

type MapFn<K, V, V2> =
    dyn Fn(&K, ValueAndTimestamp<V>) -> Option<ValueAndTimestamp<V2>> + Send + Sync;

struct MappedGetter<K, V, V2> {
    parent: Box<dyn ValueGetter<K, V>>,
    f: Arc<MapFn<K, V, V2>>,
}

impl<K, V, V2> ValueGetter<K, V2> for MappedGetter<K, V, V2> {
    fn init(&mut self, stores: &dyn StoreLookup) -> Result<(), StreamsError> {
        self.parent.init(stores)
    }

    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V2>>, StreamsError> {
        Ok(self.parent.get(key)?.and_then(|v| (self.f)(key, v)))
    }
}

/// Two getters read together (a table-table join result without a store):
/// `combine(key, this, other)`; `other` is read only if `need_other`
/// says so for the first side's value.
pub(crate) fn combined<K: 'static, V1: 'static, V2: 'static, VR: 'static>(
    first: ValueGetterSupplier<K, V1>,
    second: ValueGetterSupplier<K, V2>,
    combine: impl Fn(
        &K,
        Option<ValueAndTimestamp<V1>>,
        &dyn Fn() -> Result<Option<ValueAndTimestamp<V2>>, StreamsError>,
    ) -> Result<Option<ValueAndTimestamp<VR>>, StreamsError>
    + Send
    + Sync
    + 'static,
) -> ValueGetterSupplier<K, VR> {
    let mut store_names = first.store_names.clone();
    for s in &second.store_names {
        if !store_names.contains(s) {
            store_names.push(s.clone());
        }
    }
    let combine = Arc::new(combine);
    ValueGetterSupplier {
        store_names,
        make: Arc::new(move || {
            Box::new(CombinedGetter {
                first: first.get(),
                second: second.get(),
                combine: combine.clone(),
            })
        }),
    }
}

type CombineFn<K, V1, V2, VR> = dyn Fn(
        &K,
        Option<ValueAndTimestamp<V1>>,
        &dyn Fn() -> Result<Option<ValueAndTimestamp<V2>>, StreamsError>,
    ) -> Result<Option<ValueAndTimestamp<VR>>, StreamsError>
    + Send
    + Sync;

struct CombinedGetter<K, V1, V2, VR> {
    first: Box<dyn ValueGetter<K, V1>>,
    second: Box<dyn ValueGetter<K, V2>>,
    combine: Arc<CombineFn<K, V1, V2, VR>>,
}

impl<K, V1, V2, VR> ValueGetter<K, VR> for CombinedGetter<K, V1, V2, VR> {
    fn init(&mut self, stores: &dyn StoreLookup) -> Result<(), StreamsError> {
        self.first.init(stores)?;
        self.second.init(stores)
    }

    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<VR>>, StreamsError> {
        let first = self.first.get(key)?;
        (self.combine)(key, first, &|| self.second.get(key))
    }
}

// ---------------------------------------------------------------------------
// Global stores
// ---------------------------------------------------------------------------

/// The global stores opened on this thread, by application id and name.
///
/// A global store is opened by the global task, not by the stream tasks
/// whose joins read it, so a join finds it here when it first needs it.
/// The test driver runs both on one thread. (The runtime does not run
/// global tables yet; when it does, it must hand stream tasks its global
/// stores, and this registry is the place to plug that in.)
type GlobalKey = (String, String);

thread_local! {
    static GLOBAL_STORES: std::cell::RefCell<Vec<(GlobalKey, std::rc::Weak<dyn Any>)>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Wraps a global store's factory so that opening the store registers it.
pub(crate) struct RegisteringStoreFactory {
    pub(crate) inner: Arc<dyn crate::state::StoreFactory + Send + Sync>,
}

impl crate::state::StoreFactory for RegisteringStoreFactory {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn is_persistent(&self) -> bool {
        self.inner.is_persistent()
    }
    fn logging_enabled(&self) -> bool {
        self.inner.logging_enabled()
    }
    fn caching_enabled(&self) -> bool {
        self.inner.caching_enabled()
    }
    fn logging_config(&self) -> Option<&std::collections::BTreeMap<String, String>> {
        self.inner.logging_config()
    }
    fn build(
        &self,
        ctx: &crate::state::StoreContext,
    ) -> crate::state::StoreResult<crate::state::OpenedStore> {
        let opened = self.inner.build(ctx)?;
        let key = (ctx.application_id.clone(), self.inner.name().to_string());
        GLOBAL_STORES.with(|g| {
            let mut g = g.borrow_mut();
            g.retain(|(k, w)| w.strong_count() > 0 && *k != key);
            g.push((key, Rc::downgrade(&opened.handle)));
        });
        Ok(opened)
    }
}

/// Reads a global table's store, found on first use.
pub(crate) struct GlobalStoreGetter<K, V> {
    pub(crate) name: String,
    pub(crate) application_id: String,
    pub(crate) store: std::cell::RefCell<Option<TimestampedKeyValueStore<K, V>>>,
}

impl<K: 'static, V: 'static> ValueGetter<K, V> for GlobalStoreGetter<K, V> {
    fn init(&mut self, stores: &dyn StoreLookup) -> Result<(), StreamsError> {
        self.application_id = stores.application_id().to_string();
        Ok(())
    }

    fn get(&self, key: &K) -> Result<Option<ValueAndTimestamp<V>>, StreamsError> {
        if self.store.borrow().is_none() {
            let wanted = (self.application_id.clone(), self.name.clone());
            let handle = GLOBAL_STORES.with(|g| {
                g.borrow()
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == wanted)
                    .and_then(|(_, w)| w.upgrade())
            });
            let store = handle
                .and_then(|h| h.downcast_ref::<TimestampedKeyValueStore<K, V>>().cloned())
                .ok_or_else(|| StreamsError::Processing {
                    node: String::new(),
                    reason: format!("global store '{}' is not open on this thread", self.name),
                })?;
            *self.store.borrow_mut() = Some(store);
        }
        match &*self.store.borrow() {
            Some(s) => Ok(s.get(key)?),
            None => Ok(None),
        }
    }
}

impl<K: 'static, V: 'static> ValueGetterSupplier<K, V> {
    /// Reads the global store `name` (not connected to the reader: global
    /// stores live outside stream tasks).
    pub(crate) fn global_store(name: String) -> Self {
        ValueGetterSupplier {
            store_names: Vec::new(),
            make: Arc::new(move || {
                Box::new(GlobalStoreGetter::<K, V> {
                    name: name.clone(),
                    application_id: String::new(),
                    store: std::cell::RefCell::new(None),
                })
            }),
        }
    }
}
