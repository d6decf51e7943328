//! The option types of joins, named as in Kafka Streams: [`Joined`]
//! (stream-table joins), [`StreamJoined`] (stream-stream joins) and
//! [`TableJoined`] (foreign-key table joins).
//!
//! Serdes are optional: a join falls back to the serdes its inputs carry,
//! and `StreamsBuilder::build` names the option to set when neither knows
//! one.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::options::StoreType;
use crate::processor::StreamPartitioner;
use crate::serde::SerdeRef;

/// Options of a stream-table join: the serdes used if the stream must be
/// repartitioned first, and the name of the join node (which also names
/// that repartition topic).
pub struct Joined<K, V, VO> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) other_value_serde: Option<SerdeRef<VO>>,
    pub(crate) name: Option<String>,
}

impl<K, V, VO> Joined<K, V, VO> {
    /// With the key serde, the stream's value serde and the table's value
    /// serde.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, String, i64> = Joined::with(Serdes::string(), Serdes::string(), Serdes::i64());
    /// ```
    pub fn with(
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        other_value_serde: SerdeRef<VO>,
    ) -> Self {
        Joined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            name: None,
        }
    }

    /// No serdes (the inputs' serdes are used) and a generated name.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// let j: Joined<String, String, String> = Joined::none();
    /// ```
    pub fn none() -> Self {
        Joined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
        }
    }

    /// Names the join node; a repartition topic before the join is then
    /// called `<name>-repartition`.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// let j: Joined<String, String, String> = Joined::as_("enrich");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Joined::none().with_name(name)
    }

    /// Sets the name (see [`as_`](Self::as_)).
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j = Joined::with(Serdes::string(), Serdes::string(), Serdes::string()).with_name("enrich");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, String, String> = Joined::none().with_key_serde(Serdes::string());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets the stream's value serde.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, String, String> = Joined::none().with_value_serde(Serdes::string());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Sets the table's value serde.
    ///
    /// ```
    /// use streams_core::dsl::Joined;
    /// use streams_core::serde::Serdes;
    /// let j: Joined<String, String, String> = Joined::none().with_other_value_serde(Serdes::string());
    /// ```
    pub fn with_other_value_serde(mut self, serde: SerdeRef<VO>) -> Self {
        self.other_value_serde = Some(serde);
        self
    }
}

/// Options of a stream-stream join: serdes of the join's window stores (and
/// of repartition topics before it), the base name of its processors and
/// the base name of its stores.
pub struct StreamJoined<K, V, VO> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) other_value_serde: Option<SerdeRef<VO>>,
    pub(crate) name: Option<String>,
    pub(crate) store_name: Option<String>,
    pub(crate) store_type: StoreType,
    pub(crate) logging: bool,
    pub(crate) log_config: BTreeMap<String, String>,
}

impl<K, V, VO> StreamJoined<K, V, VO> {
    /// With the key serde and both value serdes.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// use streams_core::serde::Serdes;
    /// let j: StreamJoined<String, String, i64> = StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::i64());
    /// ```
    pub fn with(
        key_serde: SerdeRef<K>,
        value_serde: SerdeRef<V>,
        other_value_serde: SerdeRef<VO>,
    ) -> Self {
        StreamJoined {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            other_value_serde: Some(other_value_serde),
            ..StreamJoined::none()
        }
    }

    /// No serdes (the inputs' serdes are used), generated names, RocksDB
    /// stores with logging.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none();
    /// ```
    pub fn none() -> Self {
        StreamJoined {
            key_serde: None,
            value_serde: None,
            other_value_serde: None,
            name: None,
            store_name: None,
            store_type: StoreType::RocksDb,
            logging: true,
            log_config: BTreeMap::new(),
        }
    }

    /// Names the stores `<store_name>-this-join-store`,
    /// `<store_name>-other-join-store` (and the shared store of left and
    /// outer joins) instead of generated names.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::as_("clicks-views");
    /// ```
    pub fn as_(store_name: impl Into<String>) -> Self {
        StreamJoined::none().with_store_name(store_name)
    }

    /// Names the join's processors (`<name>-this-windowed`,
    /// `<name>-this-join`, `<name>-merge` ...) and its repartition topics
    /// (`<name>-left-repartition`, `<name>-right-repartition`).
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_name("clicks");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the base name of the stores (see [`as_`](Self::as_)).
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_store_name("s");
    /// ```
    pub fn with_store_name(mut self, store_name: impl Into<String>) -> Self {
        self.store_name = Some(store_name.into());
        self
    }

    /// Keeps the join's stores in memory or in RocksDB (the default).
    ///
    /// ```
    /// use streams_core::dsl::{StoreType, StreamJoined};
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_store_type(StoreType::InMemory);
    /// ```
    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = store_type;
        self
    }

    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// use streams_core::serde::Serdes;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_key_serde(Serdes::string());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }

    /// Sets this stream's value serde.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// use streams_core::serde::Serdes;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_value_serde(Serdes::string());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }

    /// Sets the other stream's value serde.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// use streams_core::serde::Serdes;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_other_value_serde(Serdes::string());
    /// ```
    pub fn with_other_value_serde(mut self, serde: SerdeRef<VO>) -> Self {
        self.other_value_serde = Some(serde);
        self
    }

    /// Logs the stores to changelog topics created with `config` (the
    /// window stores' changelogs always use `cleanup.policy=delete`, as in
    /// Kafka Streams).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_logging_enabled(BTreeMap::new());
    /// ```
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }

    /// No changelog topics for the join's stores.
    ///
    /// ```
    /// use streams_core::dsl::StreamJoined;
    /// let j: StreamJoined<String, String, String> = StreamJoined::none().with_logging_disabled();
    /// ```
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self.log_config.clear();
        self
    }
}

/// Options of a foreign-key table join: the base name of its processors,
/// topics and store, and the partitioners of its internal topics.
pub struct TableJoined<K, KO> {
    pub(crate) name: Option<String>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, ()>>>,
    pub(crate) other_partitioner: Option<Arc<dyn StreamPartitioner<KO, ()>>>,
}

impl<K, KO> TableJoined<K, KO> {
    /// Generated names and the default partitioners.
    ///
    /// ```
    /// use streams_core::dsl::TableJoined;
    /// let j: TableJoined<String, String> = TableJoined::none();
    /// ```
    pub fn none() -> Self {
        TableJoined {
            name: None,
            partitioner: None,
            other_partitioner: None,
        }
    }

    /// Names the join's processors, internal topics and subscription store
    /// after `name`.
    ///
    /// ```
    /// use streams_core::dsl::TableJoined;
    /// let j: TableJoined<String, String> = TableJoined::as_("orders-customers");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        TableJoined {
            name: Some(name.into()),
            ..TableJoined::none()
        }
    }

    /// Partitions the response topic (keyed by this table's key) with
    /// `partitioner`; it must partition as this table's input does.
    ///
    /// ```
    /// use streams_core::dsl::TableJoined;
    /// use streams_core::processor::StreamPartitioner;
    /// struct Zero;
    /// impl StreamPartitioner<String, ()> for Zero {
    ///     fn partition(&self, _t: &str, _k: Option<&String>, _v: Option<&()>, _n: i32) -> Option<i32> { Some(0) }
    /// }
    /// let j: TableJoined<String, String> = TableJoined::none().with_partitioner(Zero);
    /// ```
    pub fn with_partitioner(
        mut self,
        partitioner: impl StreamPartitioner<K, ()> + 'static,
    ) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }

    /// Partitions the subscription topic (keyed by the foreign key) with
    /// `partitioner`; it must partition as the other table's input does.
    ///
    /// ```
    /// use streams_core::dsl::TableJoined;
    /// use streams_core::processor::StreamPartitioner;
    /// struct Zero;
    /// impl StreamPartitioner<String, ()> for Zero {
    ///     fn partition(&self, _t: &str, _k: Option<&String>, _v: Option<&()>, _n: i32) -> Option<i32> { Some(0) }
    /// }
    /// let j: TableJoined<String, String> = TableJoined::none().with_other_partitioner(Zero);
    /// ```
    pub fn with_other_partitioner(
        mut self,
        partitioner: impl StreamPartitioner<KO, ()> + 'static,
    ) -> Self {
        self.other_partitioner = Some(Arc::new(partitioner));
        self
    }
}
