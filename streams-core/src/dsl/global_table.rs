//! [`GlobalKTable`]: a table every instance holds in full.

use crate::serde::SerdeRef;

/// A fully replicated table (Kafka Streams' `GlobalKTable`): each instance
/// reads every partition of its topic into a local store before processing
/// starts, and keeps it current. Streams join it by a key they derive from
/// each record, so no co-partitioning is needed.
pub struct GlobalKTable<K, V> {
    pub(crate) store_name: String,
    #[allow(dead_code)]
    pub(crate) key_serde: SerdeRef<K>,
    #[allow(dead_code)]
    pub(crate) value_serde: SerdeRef<V>,
}

impl<K, V> GlobalKTable<K, V> {
    /// The name of the store that holds the table.
    pub fn queryable_store_name(&self) -> &str {
        &self.store_name
    }
}
