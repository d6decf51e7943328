//! How the DSL turns `Materialized` options into store factories.

use std::sync::{Arc, OnceLock};

use super::options::{Materialized, StoreType};
use crate::serde::SerdeRef;
use crate::state::{KeyValueBytesStoreSupplier, KeyValueStoreBuilder, StoreFactory, StoreKind};
use std::collections::BTreeMap;

/// The store options of one materialization.
#[derive(Clone)]
pub(crate) struct StoreSpec {
    pub(crate) name: String,
    pub(crate) store_type: StoreType,
    pub(crate) caching: bool,
    pub(crate) logging: bool,
    pub(crate) log_config: BTreeMap<String, String>,
}

impl StoreSpec {
    pub(crate) fn from_materialized<K, V>(m: &Materialized<K, V>, name: String) -> Self {
        StoreSpec {
            name,
            store_type: m.store_type,
            caching: m.caching,
            logging: m.logging,
            log_config: m.log_config.clone(),
        }
    }
}

/// A timestamped key-value store factory (what KTables and aggregations
/// use), after the spec.
pub(crate) fn timestamped_kv_factory<K: 'static, V: 'static>(
    spec: &StoreSpec,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> Arc<dyn StoreFactory + Send + Sync> {
    let kind = match spec.store_type {
        StoreType::RocksDb => StoreKind::RocksDb,
        StoreType::InMemory => StoreKind::InMemory,
    };
    let mut builder = KeyValueStoreBuilder::new(
        KeyValueBytesStoreSupplier::new(spec.name.clone(), kind),
        key_serde,
        value_serde,
    )
    .timestamped();
    if spec.caching {
        builder = builder.with_caching_enabled();
    }
    builder = if spec.logging {
        builder.with_logging_enabled(spec.log_config.clone())
    } else {
        builder.with_logging_disabled()
    };
    Arc::new(builder)
}

/// A table node's store that is created only if something needs it (a
/// name given by the user, old values, a join), as Kafka Streams
/// materializes source tables lazily.
pub(crate) struct PendingStore<K, V> {
    pub(crate) materialize: Arc<OnceLock<String>>,
    pub(crate) spec: StoreSpec,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K, V> Clone for PendingStore<K, V> {
    fn clone(&self) -> Self {
        PendingStore {
            materialize: self.materialize.clone(),
            spec: self.spec.clone(),
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
        }
    }
}
