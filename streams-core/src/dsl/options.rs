//! The option types of the DSL, named as in Kafka Streams: [`Consumed`],
//! [`Produced`], [`Grouped`], [`Materialized`], [`Named`],
//! [`Repartitioned`], [`Branched`].
//!
//! Serdes are optional everywhere: a stream carries the serdes it was read
//! with through the operators that keep its types, as Kafka Streams does;
//! where none is known, `StreamsBuilder::build` fails and names the option
//! to set. Types with a [`DefaultSerde`] can use the `default()`
//! constructors.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::processor::timestamp_extractor::ExtractorRef;
use crate::processor::{StreamPartitioner, TopicNameExtractor};
use crate::serde::{DefaultSerde, SerdeRef};

/// How a source topic is read: key and value serdes, an optional name for
/// the source node, and where to start reading a partition that has no
/// committed offset.
pub struct Consumed<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    pub(crate) offset_reset: Option<AutoOffsetReset>,
    pub(crate) timestamp_extractor: Option<ExtractorRef<K, V>>,
}

/// Where a source starts reading a partition for which the application has
/// no committed offset (its first run, or after its offsets expired):
/// Kafka Streams' `AutoOffsetReset`, set per source with
/// [`Consumed::with_offset_reset_policy`]. Sources without one follow the
/// main consumer's `auto.offset.reset` (`earliest` unless configured).
/// Repartition topics are always read from the earliest offset, and global
/// tables from the start of their topic, whatever is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// From the first offset the partition still holds.
    Earliest,
    /// From the end: only records written after the partition is assigned.
    Latest,
    /// From the first record whose timestamp is at most this long before
    /// the moment the partition is assigned (the end when there is none).
    ByDuration(Duration),
    /// No reset: the application fails, naming the partition.
    None,
}

impl AutoOffsetReset {
    /// From the first offset the partition still holds.
    ///
    /// ```
    /// use streams_core::dsl::AutoOffsetReset;
    /// assert_eq!(AutoOffsetReset::earliest(), AutoOffsetReset::Earliest);
    /// ```
    pub fn earliest() -> Self {
        AutoOffsetReset::Earliest
    }

    /// From the end of the partition.
    ///
    /// ```
    /// use streams_core::dsl::AutoOffsetReset;
    /// assert_eq!(AutoOffsetReset::latest(), AutoOffsetReset::Latest);
    /// ```
    pub fn latest() -> Self {
        AutoOffsetReset::Latest
    }

    /// From the records of the last `duration`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::AutoOffsetReset;
    /// let last_hour = AutoOffsetReset::by_duration(Duration::from_secs(3600));
    /// assert_eq!(last_hour, AutoOffsetReset::ByDuration(Duration::from_secs(3600)));
    /// ```
    pub fn by_duration(duration: Duration) -> Self {
        AutoOffsetReset::ByDuration(duration)
    }

    /// No reset: a partition without a committed offset is an error.
    ///
    /// ```
    /// use streams_core::dsl::AutoOffsetReset;
    /// assert_eq!(AutoOffsetReset::none(), AutoOffsetReset::None);
    /// ```
    pub fn none() -> Self {
        AutoOffsetReset::None
    }
}

impl<K, V> Consumed<K, V> {
    /// With these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c: Consumed<String, i64> = Consumed::with(Serdes::string(), Serdes::i64());
    /// ```
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Consumed {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            name: None,
            offset_reset: None,
            timestamp_extractor: None,
        }
    }
    /// With no serdes yet (they must come from elsewhere or the build fails).
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c: Consumed<String, String> = Consumed::none().with_key_serde(Serdes::string());
    /// ```
    pub fn none() -> Self {
        Consumed {
            key_serde: None,
            value_serde: None,
            name: None,
            offset_reset: None,
            timestamp_extractor: None,
        }
    }
    /// Names the source node (instead of `KSTREAM-SOURCE-<n>`).
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c = Consumed::with(Serdes::string(), Serdes::string()).with_name("orders-source");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c: Consumed<i64, String> = Consumed::none().with_key_serde(Serdes::i64());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }
    /// Sets the value serde.
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::serde::Serdes;
    /// let c: Consumed<String, i64> = Consumed::none().with_value_serde(Serdes::i64());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }
    /// Where to start reading a partition of this source that has no
    /// committed offset (see [`AutoOffsetReset`]); ignored by global tables.
    ///
    /// ```
    /// use streams_core::dsl::{AutoOffsetReset, Consumed};
    /// use streams_core::serde::Serdes;
    /// let c = Consumed::with(Serdes::string(), Serdes::string())
    ///     .with_offset_reset_policy(AutoOffsetReset::latest());
    /// ```
    pub fn with_offset_reset_policy(mut self, policy: AutoOffsetReset) -> Self {
        self.offset_reset = Some(policy);
        self
    }
    /// Takes this source's record timestamps from `extractor` instead of
    /// Kafka's (see [`TimestampExtractor`](crate::processor::TimestampExtractor)).
    ///
    /// ```
    /// use streams_core::dsl::Consumed;
    /// use streams_core::processor::ConsumerRecord;
    /// use streams_core::serde::Serdes;
    /// // The value is the event time.
    /// let c = Consumed::with(Serdes::string(), Serdes::i64())
    ///     .with_timestamp_extractor(|r: &ConsumerRecord<String, i64>, _| r.value.copied().unwrap_or(-1));
    /// ```
    pub fn with_timestamp_extractor(
        mut self,
        extractor: impl crate::processor::TimestampExtractor<K, V>,
    ) -> Self {
        self.timestamp_extractor = Some(std::sync::Arc::new(extractor));
        self
    }
}

impl<K: DefaultSerde, V: DefaultSerde> Default for Consumed<K, V> {
    /// The types' default serdes.
    fn default() -> Self {
        Consumed::with(K::default_serde(), V::default_serde())
    }
}

/// How a sink writes: serdes, partitioner, node name.
pub struct Produced<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Produced<K, V> {
    /// With these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// use streams_core::serde::Serdes;
    /// let p: Produced<String, i64> = Produced::with(Serdes::string(), Serdes::i64());
    /// ```
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Produced {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            partitioner: None,
            name: None,
        }
    }
    /// Using the serdes the stream carries.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// let p: Produced<String, String> = Produced::none();
    /// ```
    pub fn none() -> Self {
        Produced {
            key_serde: None,
            value_serde: None,
            partitioner: None,
            name: None,
        }
    }
    /// Names the sink node.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// let p: Produced<String, String> = Produced::none().with_name("to-output");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Chooses partitions with `partitioner`.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// use streams_core::processor::StreamPartitioner;
    /// struct First;
    /// impl StreamPartitioner<String, String> for First {
    ///     fn partition(&self, _: &str, _: Option<&String>, _: Option<&String>, _: i32) -> Option<i32> { Some(0) }
    /// }
    /// let p: Produced<String, String> = Produced::none().with_stream_partitioner(First);
    /// ```
    pub fn with_stream_partitioner(mut self, partitioner: impl StreamPartitioner<K, V>) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// use streams_core::serde::Serdes;
    /// let p: Produced<String, String> = Produced::none().with_key_serde(Serdes::string());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }
    /// Sets the value serde.
    ///
    /// ```
    /// use streams_core::dsl::Produced;
    /// use streams_core::serde::Serdes;
    /// let p: Produced<String, i64> = Produced::none().with_value_serde(Serdes::i64());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }
}

impl<K: DefaultSerde, V: DefaultSerde> Default for Produced<K, V> {
    fn default() -> Self {
        Produced::with(K::default_serde(), V::default_serde())
    }
}

/// Serdes and a name for the repartition topic a grouping may need.
pub struct Grouped<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
}

impl<K, V> Grouped<K, V> {
    /// With these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// use streams_core::serde::Serdes;
    /// let g: Grouped<String, String> = Grouped::with(Serdes::string(), Serdes::string());
    /// ```
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Grouped {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            name: None,
        }
    }
    /// Named: the repartition topic becomes `<name>-repartition`.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// let g: Grouped<String, String> = Grouped::as_("by-word");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Grouped {
            key_serde: None,
            value_serde: None,
            name: Some(name.into()),
        }
    }
    /// No serdes, no name.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// let g: Grouped<String, String> = Grouped::none();
    /// ```
    pub fn none() -> Self {
        Grouped {
            key_serde: None,
            value_serde: None,
            name: None,
        }
    }
    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// use streams_core::serde::Serdes;
    /// let g: Grouped<String, String> = Grouped::none().with_key_serde(Serdes::string());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }
    /// Sets the value serde.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// use streams_core::serde::Serdes;
    /// let g: Grouped<String, String> = Grouped::none().with_value_serde(Serdes::string());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }
    /// Sets the name.
    ///
    /// ```
    /// use streams_core::dsl::Grouped;
    /// let g: Grouped<String, String> = Grouped::none().with_name("by-word");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// Where a store keeps its data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StoreType {
    /// RocksDB on disk (Kafka Streams' default).
    #[default]
    RocksDb,
    /// A sorted map in memory, restored from the changelog on start.
    InMemory,
}

/// How an aggregation or table is stored: name, serdes, store type,
/// caching, logging and retention.
pub struct Materialized<K, V> {
    pub(crate) store_name: Option<String>,
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) store_type: StoreType,
    pub(crate) caching: bool,
    pub(crate) logging: bool,
    pub(crate) log_config: BTreeMap<String, String>,
    pub(crate) retention: Option<Duration>,
}

impl<K, V> Materialized<K, V> {
    /// A store called `name` (queryable by that name; its changelog is
    /// `<application.id>-<name>-changelog`).
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("counts-store");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Materialized {
            store_name: Some(name.into()),
            ..Materialized::none()
        }
    }
    /// A store with a generated name and these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m: Materialized<String, i64> = Materialized::with(Serdes::string(), Serdes::i64());
    /// ```
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Materialized {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Materialized::none()
        }
    }
    /// All defaults: generated name, RocksDB, caching and logging on.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::none();
    /// ```
    pub fn none() -> Self {
        Materialized {
            store_name: None,
            key_serde: None,
            value_serde: None,
            store_type: StoreType::RocksDb,
            caching: true,
            logging: true,
            log_config: BTreeMap::new(),
            retention: None,
        }
    }
    /// Sets the key serde.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_key_serde(Serdes::string());
    /// ```
    pub fn with_key_serde(mut self, serde: SerdeRef<K>) -> Self {
        self.key_serde = Some(serde);
        self
    }
    /// Sets the value serde.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// use streams_core::serde::Serdes;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_value_serde(Serdes::i64());
    /// ```
    pub fn with_value_serde(mut self, serde: SerdeRef<V>) -> Self {
        self.value_serde = Some(serde);
        self
    }
    /// RocksDB or in memory.
    ///
    /// ```
    /// use streams_core::dsl::{Materialized, StoreType};
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_store_type(StoreType::InMemory);
    /// ```
    pub fn with_store_type(mut self, store_type: StoreType) -> Self {
        self.store_type = store_type;
        self
    }
    /// Turns the record cache on (the default).
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_caching_enabled();
    /// ```
    pub fn with_caching_enabled(mut self) -> Self {
        self.caching = true;
        self
    }
    /// Turns the record cache off: every update is forwarded at once.
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_caching_disabled();
    /// ```
    pub fn with_caching_disabled(mut self) -> Self {
        self.caching = false;
        self
    }
    /// Turns the changelog on with extra topic configs.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_logging_enabled(BTreeMap::new());
    /// ```
    pub fn with_logging_enabled(mut self, config: BTreeMap<String, String>) -> Self {
        self.logging = true;
        self.log_config = config;
        self
    }
    /// Turns the changelog off (the store is then lost with its state dir).
    ///
    /// ```
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_logging_disabled();
    /// ```
    pub fn with_logging_disabled(mut self) -> Self {
        self.logging = false;
        self
    }
    /// How long a windowed store keeps windows (at least size + grace).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::Materialized;
    /// let m: Materialized<String, i64> = Materialized::as_("s").with_retention(Duration::from_secs(3600));
    /// ```
    pub fn with_retention(mut self, retention: Duration) -> Self {
        self.retention = Some(retention);
        self
    }
}

/// A name for a processor node (instead of a generated one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named(pub(crate) String);

impl Named {
    /// This name.
    ///
    /// ```
    /// use streams_core::dsl::Named;
    /// let n = Named::as_("uppercase");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Named(name.into())
    }
}

/// Options of an explicit `repartition()`.
pub struct Repartitioned<K, V> {
    pub(crate) key_serde: Option<SerdeRef<K>>,
    pub(crate) value_serde: Option<SerdeRef<V>>,
    pub(crate) name: Option<String>,
    pub(crate) partitions: Option<i32>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K, V> Repartitioned<K, V> {
    /// With these serdes.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// use streams_core::serde::Serdes;
    /// let r: Repartitioned<String, String> = Repartitioned::with(Serdes::string(), Serdes::string());
    /// ```
    pub fn with(key_serde: SerdeRef<K>, value_serde: SerdeRef<V>) -> Self {
        Repartitioned {
            key_serde: Some(key_serde),
            value_serde: Some(value_serde),
            ..Repartitioned::none()
        }
    }
    /// Named: the topic is `<application.id>-<name>-repartition`.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// let r: Repartitioned<String, String> = Repartitioned::as_("by-user");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Repartitioned {
            name: Some(name.into()),
            ..Repartitioned::none()
        }
    }
    /// All defaults.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// let r: Repartitioned<String, String> = Repartitioned::none();
    /// ```
    pub fn none() -> Self {
        Repartitioned {
            key_serde: None,
            value_serde: None,
            name: None,
            partitions: None,
            partitioner: None,
        }
    }
    /// The repartition topic's partition count.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// let r: Repartitioned<String, String> = Repartitioned::none().with_number_of_partitions(4);
    /// ```
    pub fn with_number_of_partitions(mut self, partitions: i32) -> Self {
        self.partitions = Some(partitions);
        self
    }
    /// Chooses partitions with `partitioner`.
    ///
    /// ```
    /// use streams_core::dsl::Repartitioned;
    /// use streams_core::processor::StreamPartitioner;
    /// struct Zero;
    /// impl StreamPartitioner<String, String> for Zero {
    ///     fn partition(&self, _: &str, _: Option<&String>, _: Option<&String>, _: i32) -> Option<i32> { Some(0) }
    /// }
    /// let r: Repartitioned<String, String> = Repartitioned::none().with_stream_partitioner(Zero);
    /// ```
    pub fn with_stream_partitioner(mut self, partitioner: impl StreamPartitioner<K, V>) -> Self {
        self.partitioner = Some(Arc::new(partitioner));
        self
    }
}

/// Options of one branch of `split()`: a name and an optional function
/// applied to the branch's stream.
pub struct Branched<K, V> {
    pub(crate) name: Option<String>,
    #[allow(clippy::type_complexity)]
    pub(crate) chain: Option<Box<dyn FnOnce(super::KStream<K, V>) -> Option<super::KStream<K, V>>>>,
}

impl<K, V> Branched<K, V> {
    /// A branch called `name` (its map key is the split name plus `name`).
    ///
    /// ```
    /// use streams_core::dsl::Branched;
    /// let b: Branched<String, String> = Branched::as_("valid");
    /// ```
    pub fn as_(name: impl Into<String>) -> Self {
        Branched {
            name: Some(name.into()),
            chain: None,
        }
    }
    /// An unnamed branch (its map key is the split name plus its position).
    ///
    /// ```
    /// use streams_core::dsl::Branched;
    /// let b: Branched<String, String> = Branched::none();
    /// ```
    pub fn none() -> Self {
        Branched {
            name: None,
            chain: None,
        }
    }
    /// Applies `f` to the branch; the result (if any) is the map's value.
    ///
    /// ```
    /// use streams_core::dsl::Branched;
    /// let b: Branched<String, String> = Branched::with_function(|s| Some(s.filter(|_, v| v.is_some())));
    /// ```
    pub fn with_function(
        f: impl FnOnce(super::KStream<K, V>) -> Option<super::KStream<K, V>> + 'static,
    ) -> Self {
        Branched {
            name: None,
            chain: Some(Box::new(f)),
        }
    }
    /// Sets the name.
    ///
    /// ```
    /// use streams_core::dsl::Branched;
    /// let b: Branched<String, String> = Branched::none().with_name("big");
    /// ```
    pub fn with_name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

/// The topic-name extractor type, re-exported for `KStream::to_extractor`.
pub type Extractor<K, V> = TopicNameExtractor<K, V>;
