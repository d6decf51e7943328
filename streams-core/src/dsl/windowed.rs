//! Windowed grouped streams: [`TimeWindowedKStream`] (tumbling and hopping
//! windows), [`SlidingWindowedKStream`] and [`SessionWindowedKStream`],
//! made by `KGroupedStream::windowed_by_time / _sliding / _session`.
//!
//! Their aggregations produce a `KTable<Windowed<K>, VA>` kept in a window
//! (or session) store, with Kafka Streams' names (`KSTREAM-AGGREGATE-...`,
//! `KSTREAM-REDUCE-...`, store `...-STATE-STORE-...`, generated in Kafka's
//! order: store, processor, then repartition nodes) and Kafka's retention
//! rules: the store keeps `size + grace` (sliding: `2 * time difference +
//! grace`; session: `gap + grace`) unless `Materialized::with_retention`
//! asks for more; asking for less fails the build.
//!
//! Null values: time and session windows pass a null value to the
//! aggregator (`count` counts it; `aggregate`'s aggregator gets `None`), as
//! Kafka Streams does; sliding windows drop it. `reduce` cannot hand a null
//! to a reducer of `&V`: a null value with no aggregate yet stores and
//! forwards a null aggregate (a delete), as Kafka does; with an aggregate,
//! the aggregate is kept as it is (Kafka would call the reducer with null).

use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::builder::{BuilderInner, Shared, repartition};
use super::grouped_stream::KGroupedStream;
use super::ktable::KTable;
use super::options::{Materialized, StoreType};
use crate::processor::session_aggregate::{Merger, SessionWindowAggregate};
use crate::processor::sliding_aggregate::SlidingWindowAggregate;
use crate::processor::window_aggregate::{Aggregator, Initializer, TimeWindowAggregate};
use crate::serde::{SerdeRef, Serdes, SessionWindowedSerde, TimeWindowedSerde};
use crate::state::session::SessionBytesStoreSupplier;
use crate::state::window::WindowBytesStoreSupplier;
use crate::state::{SessionStoreBuilder, StoreFactory, StoreKind, WindowStoreBuilder};
use crate::topology::{NodeFactory, TopologyError, processor_factory};
use crate::window::{SessionWindows, SlidingWindows, TimeWindows, Windowed};

/// When a windowed aggregation forwards its results (Kafka Streams'
/// `EmitStrategy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EmitStrategy {
    /// Every update of a window, through the store's cache (the default).
    #[default]
    OnWindowUpdate,
    /// Each window once, with its final result, after it closes (end +
    /// grace has passed in stream time).
    OnWindowClose,
}

impl EmitStrategy {
    /// Emit every update (the default).
    ///
    /// ```rust
    /// use streams_core::dsl::EmitStrategy;
    /// assert_eq!(EmitStrategy::on_window_update(), EmitStrategy::default());
    /// ```
    pub fn on_window_update() -> Self {
        EmitStrategy::OnWindowUpdate
    }

    /// Emit each window once, when it closes.
    ///
    /// ```rust
    /// use streams_core::dsl::EmitStrategy;
    /// assert_eq!(EmitStrategy::on_window_close(), EmitStrategy::OnWindowClose);
    /// ```
    pub fn on_window_close() -> Self {
        EmitStrategy::OnWindowClose
    }
}

/// Registered grace periods: `(builder, node, grace ms)`.
type GraceRegistry = RefCell<Vec<(Weak<RefCell<BuilderInner>>, usize, i64)>>;

thread_local! {
    /// The grace period of each windowed aggregation node, per builder, for
    /// `suppress(until_window_closes)`, which looks it up the way Kafka
    /// Streams' `GraphGraceSearchUtil` does: from the suppressed table up
    /// through its parents.
    static GRACE: GraceRegistry = const { RefCell::new(Vec::new()) };
}

fn register_grace(builder: &Shared, node: usize, grace_ms: i64) {
    GRACE.with(|g| {
        let mut g = g.borrow_mut();
        g.retain(|(b, _, _)| b.strong_count() > 0);
        g.push((Rc::downgrade(builder), node, grace_ms));
    });
}

fn registered_grace(builder: &Shared, node: usize) -> Option<i64> {
    GRACE.with(|g| {
        g.borrow()
            .iter()
            .find(|(b, n, _)| *n == node && b.upgrade().is_some_and(|b| Rc::ptr_eq(&b, builder)))
            .map(|(_, _, grace)| *grace)
    })
}

/// The grace period of the windowed aggregation upstream of `node`: the
/// largest one among its ancestors, searched as Kafka Streams does. Fails
/// for a table that is not the result of a windowed aggregation.
pub(crate) fn find_window_grace(builder: &Shared, node: usize) -> Result<i64, TopologyError> {
    fn search(b: &BuilderInner, builder: &Shared, node: usize, chain: &str) -> Result<i64, String> {
        if let Some(grace) = registered_grace(builder, node) {
            return Ok(grace);
        }
        let name = &b.topology.nodes[node].name;
        let chain = if chain.is_empty() {
            name.to_string()
        } else {
            format!("{name}->{chain}")
        };
        let parents = &b.topology.nodes[node].parents;
        if parents.is_empty() {
            return Err(chain);
        }
        let mut grace = -1;
        for &p in parents {
            grace = grace.max(search(b, builder, p, &chain)?);
        }
        Ok(grace)
    }
    let b = builder.borrow();
    search(&b, builder, node, "").map_err(|chain| {
        TopologyError::InvalidArgument(format!(
            "Window close time is only defined for windowed computations. Got [{chain}]. \
             Suppressed::until_window_closes needs a table made by a windowed aggregation \
             (windowed_by_time / windowed_by_sliding / windowed_by_session)"
        ))
    })
}

/// The parts of a grouped stream a windowed stream needs.
struct GroupedSource<K, V> {
    builder: Shared,
    node: usize,
    key_serde: Option<SerdeRef<K>>,
    value_serde: Option<SerdeRef<V>>,
    repartition_name: Option<String>,
    repartition_required: bool,
}

impl<K, V> Clone for GroupedSource<K, V> {
    fn clone(&self) -> Self {
        GroupedSource {
            builder: self.builder.clone(),
            node: self.node,
            key_serde: self.key_serde.clone(),
            value_serde: self.value_serde.clone(),
            repartition_name: self.repartition_name.clone(),
            repartition_required: self.repartition_required,
        }
    }
}

impl<K, V> GroupedSource<K, V> {
    fn of(g: &KGroupedStream<K, V>) -> Self {
        GroupedSource {
            builder: g.builder.clone(),
            node: g.node,
            key_serde: g.key_serde.clone(),
            value_serde: g.value_serde.clone(),
            repartition_name: g.repartition_name.clone(),
            repartition_required: g.repartition_required,
        }
    }
}

/// What kind of store a windowed aggregation keeps.
enum StoreShape {
    Window {
        window_size_ms: i64,
        default_retention_ms: i64,
        /// What the retention must cover, and the figures, for the error.
        minimum: (&'static str, String),
        time_ordered: bool,
    },
    Session {
        default_retention_ms: i64,
        minimum: (&'static str, String),
    },
}

/// What every windowed aggregation does when it is added: Kafka Streams'
/// `GroupedStreamAggregateBuilder.buildWindowed` with the store
/// materializers.
#[allow(clippy::too_many_arguments)]
fn build_windowed<K, V, VA>(
    src: &GroupedSource<K, V>,
    materialized: Materialized<K, VA>,
    prefix: &str,
    default_value_serde: Option<SerdeRef<VA>>,
    shape: StoreShape,
    emit_on_close: bool,
    grace_for_suppress: i64,
    windowed_serde: impl FnOnce(SerdeRef<K>) -> SerdeRef<Windowed<K>>,
    make_processor: impl FnOnce(String, Arc<AtomicBool>) -> NodeFactory,
) -> KTable<Windowed<K>, VA>
where
    K: Clone + PartialEq + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
{
    let mut b = src.builder.borrow_mut();
    let store_name = match &materialized.store_name {
        Some(n) => n.clone(),
        None => b.new_store_name(prefix),
    };
    let func_name = b.new_processor_name(prefix);
    let fix = "pass serdes with Materialized::with(key_serde, value_serde) or Grouped::with(key_serde, value_serde)";
    let ks = b.serde_or_error(
        materialized
            .key_serde
            .clone()
            .or_else(|| src.key_serde.clone()),
        &func_name,
        "key serde",
        fix,
    );
    let vs = b.serde_or_error(
        materialized.value_serde.clone().or(default_value_serde),
        &func_name,
        "value serde",
        fix,
    );

    let kind = match materialized.store_type {
        StoreType::RocksDb => StoreKind::RocksDb,
        StoreType::InMemory => StoreKind::InMemory,
    };
    let retention = |default: i64| {
        materialized.retention.map_or(default, |r: Duration| {
            i64::try_from(r.as_millis()).unwrap_or(i64::MAX)
        })
    };
    let factory: Option<Arc<dyn StoreFactory + Send + Sync>> = match shape {
        StoreShape::Window {
            window_size_ms,
            default_retention_ms,
            minimum,
            time_ordered,
        } => {
            let retention_ms = retention(default_retention_ms);
            if retention_ms < default_retention_ms {
                b.errors.push(TopologyError::InvalidArgument(format!(
                    "The retention period of the window store {store_name} must be no smaller than {}. \
                     Got {}, retention=[{retention_ms}]; pass a longer Materialized::with_retention (or none)",
                    minimum.0, minimum.1
                )));
                None
            } else {
                match WindowBytesStoreSupplier::new(
                    store_name.clone(),
                    kind,
                    retention_ms,
                    window_size_ms,
                    false,
                ) {
                    Ok(supplier) => {
                        let supplier = if time_ordered {
                            supplier.time_ordered()
                        } else {
                            supplier
                        };
                        let mut builder =
                            WindowStoreBuilder::new(supplier, ks.clone(), vs.clone()).timestamped();
                        if materialized.caching {
                            builder = builder
                                .with_caching_enabled()
                                .with_cache_reports(!emit_on_close);
                        }
                        builder = if materialized.logging {
                            builder.with_logging_enabled(materialized.log_config.clone())
                        } else {
                            builder.with_logging_disabled()
                        };
                        Some(Arc::new(builder))
                    }
                    Err(e) => {
                        b.errors.push(TopologyError::InvalidArgument(e.to_string()));
                        None
                    }
                }
            }
        }
        StoreShape::Session {
            default_retention_ms,
            minimum,
        } => {
            let retention_ms = retention(default_retention_ms);
            if retention_ms < default_retention_ms {
                b.errors.push(TopologyError::InvalidArgument(format!(
                    "The retention period of the session store {store_name} must be no smaller than {}. \
                     Got {}, retention=[{retention_ms}]; pass a longer Materialized::with_retention (or none)",
                    minimum.0, minimum.1
                )));
                None
            } else {
                match SessionBytesStoreSupplier::new(store_name.clone(), kind, retention_ms) {
                    Ok(supplier) => {
                        let mut builder =
                            SessionStoreBuilder::new(supplier, ks.clone(), vs.clone());
                        if materialized.caching && !emit_on_close {
                            builder = builder.with_caching_enabled();
                        }
                        builder = if materialized.logging {
                            builder.with_logging_enabled(materialized.log_config.clone())
                        } else {
                            builder.with_logging_disabled()
                        };
                        Some(Arc::new(builder))
                    }
                    Err(e) => {
                        b.errors.push(TopologyError::InvalidArgument(e.to_string()));
                        None
                    }
                }
            }
        }
    };

    let mut parent = src.node;
    if src.repartition_required {
        let base = src
            .repartition_name
            .clone()
            .unwrap_or_else(|| store_name.clone());
        let rvs = b.serde_or_error(
            src.value_serde.clone(),
            &func_name,
            "repartition value serde",
            fix,
        );
        parent = repartition(&mut b, src.node, &base, ks.clone(), rvs, None);
    }
    if let Some(factory) = factory {
        b.add_store(factory, false);
    }
    let send_old = Arc::new(AtomicBool::new(false));
    let node = b.add_processor(
        func_name,
        &[parent],
        make_processor(store_name.clone(), send_old.clone()),
    );
    b.connect_store(node, &store_name);
    drop(b);
    register_grace(&src.builder, node, grace_for_suppress);
    KTable {
        builder: src.builder.clone(),
        node,
        key_serde: Some(windowed_serde(ks)),
        value_serde: Some(vs),
        send_old_values: send_old,
        // A window store is not a key-value store: the table offers no
        // key-value value getter.
        store_name: None,
        source_materialize: None,
        parent: None,
    }
}

fn count_parts<K, V>() -> (Initializer<i64>, Aggregator<K, V, i64>) {
    (
        Arc::new(|| Some(0)),
        Arc::new(|_k: &K, _v: Option<&V>, agg: Option<i64>| Some(agg.unwrap_or(0) + 1)),
    )
}

fn reduce_parts<K, V, F>(reducer: F) -> (Initializer<V>, Aggregator<K, V, V>)
where
    V: Clone + 'static,
    F: Fn(&V, &V) -> V + Send + Sync + 'static,
{
    let agg = move |_k: &K, v: Option<&V>, agg: Option<V>| match (agg, v) {
        (None, v) => v.cloned(),
        (Some(a), Some(v)) => Some(reducer(&a, v)),
        (Some(a), None) => Some(a),
    };
    (Arc::new(|| None), Arc::new(agg))
}

/// A stream grouped by key and windowed by tumbling or hopping
/// [`TimeWindows`] (Kafka Streams' `TimeWindowedKStream`).
pub struct TimeWindowedKStream<K, V> {
    src: GroupedSource<K, V>,
    windows: TimeWindows,
    emit: EmitStrategy,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> TimeWindowedKStream<K, V> {
    /// Chooses when results are forwarded.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, EmitStrategy, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::TimeWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = TimeWindows::of_size_with_no_grace(Duration::from_secs(60)).unwrap();
    /// let finals = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_time(windows)
    ///     .emit_strategy(EmitStrategy::on_window_close())
    ///     .count(Materialized::none());
    /// ```
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    fn build<VA: Clone + 'static>(
        &self,
        materialized: Materialized<K, VA>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<VA>>,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let windows = self.windows;
        let emit_on_close = self.emit == EmitStrategy::OnWindowClose;
        let size = windows.size_ms();
        let grace = windows.grace_ms();
        let time_ordered = emit_on_close && materialized.store_type == StoreType::RocksDb;
        build_windowed(
            &self.src,
            materialized,
            prefix,
            default_value_serde,
            StoreShape::Window {
                window_size_ms: size,
                default_retention_ms: size.saturating_add(grace),
                minimum: (
                    "its window size plus the grace period",
                    format!("size=[{size}], grace=[{grace}]"),
                ),
                time_ordered,
            },
            emit_on_close,
            grace,
            move |ks| Arc::new(TimeWindowedSerde::new(ks, size)),
            move |store_name, send_old| {
                processor_factory(move || {
                    TimeWindowAggregate::<K, V, VA>::new(
                        store_name.clone(),
                        windows,
                        initializer.clone(),
                        aggregator.clone(),
                        emit_on_close,
                        send_old.load(Ordering::Relaxed),
                    )
                })
            },
        )
    }

    /// Counts the records per key and window (null values included).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::TimeWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = TimeWindows::of_size_and_grace(Duration::from_millis(100), Duration::from_millis(50)).unwrap();
    /// let counts = stream.group_by_key(Grouped::none()).windowed_by_time(windows).count(Materialized::none());
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let (init, agg) = count_parts::<K, V>();
        self.build(
            materialized,
            "KSTREAM-AGGREGATE-",
            Some(Serdes::i64()),
            init,
            agg,
        )
    }

    /// Combines the values per key and window with `reducer(aggregate,
    /// value)` (see the module docs for null values).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::TimeWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(100)).unwrap();
    /// let sums = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_time(windows)
    ///     .reduce(|a, v| a + v, Materialized::none());
    /// ```
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let (init, agg) = reduce_parts::<K, V, F>(reducer);
        let default = self.src.value_serde.clone();
        self.build(materialized, "KSTREAM-REDUCE-", default, init, agg)
    }

    /// Folds the values per key and window into an aggregate that starts
    /// from `initializer()`; the aggregator gets `None` for a null value.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::TimeWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = TimeWindows::of_size_with_no_grace(Duration::from_millis(100)).unwrap();
    /// let lengths = stream.group_by_key(Grouped::none()).windowed_by_time(windows).aggregate(
    ///     || 0i64,
    ///     |_k, v, agg| agg + v.map_or(0, |v| v.len() as i64),
    ///     Materialized::with(Serdes::string(), Serdes::i64()),
    /// );
    /// ```
    pub fn aggregate<VA, I, A>(
        &self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, Option<&V>, &VA) -> VA + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let init: Initializer<VA> = {
            let i = initializer.clone();
            Arc::new(move || Some(i()))
        };
        let agg: Aggregator<K, V, VA> = Arc::new(move |k: &K, v: Option<&V>, a: Option<VA>| {
            let a = a.unwrap_or_else(|| initializer());
            Some(aggregator(k, v, &a))
        });
        self.build(materialized, "KSTREAM-AGGREGATE-", None, init, agg)
    }
}

/// A stream grouped by key and windowed by [`SlidingWindows`] (Kafka
/// Streams' `SlidingWindowedKStream`). Records with a null key or value are
/// dropped.
pub struct SlidingWindowedKStream<K, V> {
    src: GroupedSource<K, V>,
    windows: SlidingWindows,
    emit: EmitStrategy,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> SlidingWindowedKStream<K, V> {
    /// Chooses when results are forwarded.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, EmitStrategy, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SlidingWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(50)).unwrap();
    /// let finals = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_sliding(windows)
    ///     .emit_strategy(EmitStrategy::on_window_close())
    ///     .count(Materialized::none());
    /// ```
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    fn build<VA: Clone + 'static>(
        &self,
        materialized: Materialized<K, VA>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<VA>>,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let windows = self.windows;
        let emit_on_close = self.emit == EmitStrategy::OnWindowClose;
        let td = windows.time_difference_ms();
        let grace = windows.grace_ms();
        let mut materialized = materialized;
        if emit_on_close {
            materialized.caching = false;
        }
        let time_ordered = emit_on_close && materialized.store_type == StoreType::RocksDb;
        build_windowed(
            &self.src,
            materialized,
            prefix,
            default_value_serde,
            StoreShape::Window {
                window_size_ms: td,
                default_retention_ms: td.saturating_mul(2).saturating_add(grace),
                minimum: (
                    "2 * time difference plus the grace period",
                    format!("time difference=[{td}], grace=[{grace}]"),
                ),
                time_ordered,
            },
            emit_on_close,
            grace,
            move |ks| Arc::new(TimeWindowedSerde::new(ks, td)),
            move |store_name, send_old| {
                processor_factory(move || {
                    SlidingWindowAggregate::<K, V, VA>::new(
                        store_name.clone(),
                        windows,
                        initializer.clone(),
                        aggregator.clone(),
                        emit_on_close,
                        send_old.load(Ordering::Relaxed),
                    )
                })
            },
        )
    }

    /// Counts the records per key and sliding window.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SlidingWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SlidingWindows::of_time_difference_and_grace(Duration::from_millis(50), Duration::from_millis(30)).unwrap();
    /// let counts = stream.group_by_key(Grouped::none()).windowed_by_sliding(windows).count(Materialized::none());
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let (init, agg) = count_parts::<K, V>();
        self.build(
            materialized,
            "KSTREAM-AGGREGATE-",
            Some(Serdes::i64()),
            init,
            agg,
        )
    }

    /// Combines the values per key and sliding window with
    /// `reducer(aggregate, value)`.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SlidingWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let windows = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(50)).unwrap();
    /// let sums = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_sliding(windows)
    ///     .reduce(|a, v| a + v, Materialized::none());
    /// ```
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let (init, agg) = reduce_parts::<K, V, F>(reducer);
        let default = self.src.value_serde.clone();
        self.build(materialized, "KSTREAM-REDUCE-", default, init, agg)
    }

    /// Folds the values per key and sliding window into an aggregate that
    /// starts from `initializer()`.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SlidingWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(50)).unwrap();
    /// let lengths = stream.group_by_key(Grouped::none()).windowed_by_sliding(windows).aggregate(
    ///     || 0i64,
    ///     |_k, v, agg| agg + v.len() as i64,
    ///     Materialized::with(Serdes::string(), Serdes::i64()),
    /// );
    /// ```
    pub fn aggregate<VA, I, A>(
        &self,
        initializer: I,
        aggregator: A,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, &V, &VA) -> VA + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let init: Initializer<VA> = {
            let i = initializer.clone();
            Arc::new(move || Some(i()))
        };
        let agg: Aggregator<K, V, VA> = Arc::new(move |k: &K, v: Option<&V>, a: Option<VA>| {
            let a = a.unwrap_or_else(|| initializer());
            // Sliding windows drop null values before aggregating.
            Some(match v {
                Some(v) => aggregator(k, v, &a),
                None => a,
            })
        });
        self.build(materialized, "KSTREAM-AGGREGATE-", None, init, agg)
    }
}

/// A stream grouped by key and windowed by [`SessionWindows`] (Kafka
/// Streams' `SessionWindowedKStream`).
pub struct SessionWindowedKStream<K, V> {
    src: GroupedSource<K, V>,
    windows: SessionWindows,
    emit: EmitStrategy,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> SessionWindowedKStream<K, V> {
    /// Chooses when results are forwarded.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, EmitStrategy, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SessionWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(30)).unwrap();
    /// let finals = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_session(windows)
    ///     .emit_strategy(EmitStrategy::on_window_close())
    ///     .count(Materialized::none());
    /// ```
    pub fn emit_strategy(mut self, strategy: EmitStrategy) -> Self {
        self.emit = strategy;
        self
    }

    fn build<VA: Clone + 'static>(
        &self,
        materialized: Materialized<K, VA>,
        prefix: &str,
        default_value_serde: Option<SerdeRef<VA>>,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
        merger: Merger<K, VA>,
    ) -> KTable<Windowed<K>, VA> {
        let windows = self.windows;
        let emit_on_close = self.emit == EmitStrategy::OnWindowClose;
        let gap = windows.inactivity_gap_ms();
        let grace = windows.grace_ms();
        build_windowed(
            &self.src,
            materialized,
            prefix,
            default_value_serde,
            StoreShape::Session {
                default_retention_ms: gap.saturating_add(grace),
                minimum: (
                    "the session inactivity gap plus the grace period",
                    format!("gap=[{gap}], grace=[{grace}]"),
                ),
            },
            emit_on_close,
            // Suppression waits for the gap too: a session can still grow
            // until stream time passes its end by gap + grace.
            gap.saturating_add(grace),
            |ks| Arc::new(SessionWindowedSerde::new(ks)),
            move |store_name, send_old| {
                processor_factory(move || {
                    SessionWindowAggregate::<K, V, VA>::new(
                        store_name.clone(),
                        windows,
                        initializer.clone(),
                        aggregator.clone(),
                        merger.clone(),
                        emit_on_close,
                        send_old.load(Ordering::Relaxed),
                    )
                })
            },
        )
    }

    /// Counts the records per key and session (null values included).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SessionWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SessionWindows::of_inactivity_gap_and_grace(Duration::from_millis(30), Duration::from_millis(20)).unwrap();
    /// let counts = stream.group_by_key(Grouped::none()).windowed_by_session(windows).count(Materialized::none());
    /// ```
    pub fn count(&self, materialized: Materialized<K, i64>) -> KTable<Windowed<K>, i64> {
        let (init, agg) = count_parts::<K, V>();
        let merger: Merger<K, i64> =
            Arc::new(|_k: &K, a: Option<i64>, b: i64| Some(a.unwrap_or(0) + b));
        self.build(
            materialized,
            "KSTREAM-AGGREGATE-",
            Some(Serdes::i64()),
            init,
            agg,
            merger,
        )
    }

    /// Combines the values per session with `reducer(aggregate, value)`;
    /// merged sessions combine as `reducer(earlier, later)`.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SessionWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::i64()));
    /// let windows = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(30)).unwrap();
    /// let sums = stream
    ///     .group_by_key(Grouped::none())
    ///     .windowed_by_session(windows)
    ///     .reduce(|a, v| a + v, Materialized::none());
    /// ```
    pub fn reduce<F>(&self, reducer: F, materialized: Materialized<K, V>) -> KTable<Windowed<K>, V>
    where
        F: Fn(&V, &V) -> V + Send + Sync + 'static,
    {
        let reducer = Arc::new(reducer);
        let (init, agg) = {
            let r = reducer.clone();
            reduce_parts::<K, V, _>(move |a: &V, v: &V| r(a, v))
        };
        // Kafka's merger for reduce: mergerForAggregator(reduceAggregator).
        let merger: Merger<K, V> = Arc::new(move |_k: &K, a: Option<V>, b: V| match a {
            None => Some(b),
            Some(a) => Some(reducer(&a, &b)),
        });
        let default = self.src.value_serde.clone();
        self.build(materialized, "KSTREAM-REDUCE-", default, init, agg, merger)
    }

    /// Folds the values per session into an aggregate that starts from
    /// `initializer()`; `merger(key, a, b)` combines the aggregates of
    /// sessions a record joins together.
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, Materialized, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SessionWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(30)).unwrap();
    /// let lengths = stream.group_by_key(Grouped::none()).windowed_by_session(windows).aggregate(
    ///     || 0i64,
    ///     |_k, v, agg| agg + v.map_or(0, |v| v.len() as i64),
    ///     |_k, a, b| a + b,
    ///     Materialized::with(Serdes::string(), Serdes::i64()),
    /// );
    /// ```
    pub fn aggregate<VA, I, A, M>(
        &self,
        initializer: I,
        aggregator: A,
        merger: M,
        materialized: Materialized<K, VA>,
    ) -> KTable<Windowed<K>, VA>
    where
        VA: Clone + 'static,
        I: Fn() -> VA + Send + Sync + 'static,
        A: Fn(&K, Option<&V>, &VA) -> VA + Send + Sync + 'static,
        M: Fn(&K, &VA, &VA) -> VA + Send + Sync + 'static,
    {
        let initializer = Arc::new(initializer);
        let init: Initializer<VA> = {
            let i = initializer.clone();
            Arc::new(move || Some(i()))
        };
        let agg: Aggregator<K, V, VA> = {
            let i = initializer.clone();
            Arc::new(move |k: &K, v: Option<&V>, a: Option<VA>| {
                let a = a.unwrap_or_else(|| i());
                Some(aggregator(k, v, &a))
            })
        };
        let merger: Merger<K, VA> = Arc::new(move |k: &K, a: Option<VA>, b: VA| {
            let a = a.unwrap_or_else(|| initializer());
            Some(merger(k, &a, &b))
        });
        self.build(materialized, "KSTREAM-AGGREGATE-", None, init, agg, merger)
    }
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KGroupedStream<K, V> {
    /// Windows the grouped stream by tumbling or hopping time windows
    /// (Kafka Streams' `windowedBy(TimeWindows)`).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::TimeWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(100))
    ///     .unwrap()
    ///     .advance_by(Duration::from_millis(30))
    ///     .unwrap();
    /// let windowed = stream.group_by_key(Grouped::none()).windowed_by_time(hopping);
    /// ```
    pub fn windowed_by_time(&self, windows: TimeWindows) -> TimeWindowedKStream<K, V> {
        TimeWindowedKStream {
            src: GroupedSource::of(self),
            windows,
            emit: EmitStrategy::default(),
        }
    }

    /// Windows the grouped stream by sliding windows (Kafka Streams'
    /// `windowedBy(SlidingWindows)`).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SlidingWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let sliding = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(50)).unwrap();
    /// let windowed = stream.group_by_key(Grouped::none()).windowed_by_sliding(sliding);
    /// ```
    pub fn windowed_by_sliding(&self, windows: SlidingWindows) -> SlidingWindowedKStream<K, V> {
        SlidingWindowedKStream {
            src: GroupedSource::of(self),
            windows,
            emit: EmitStrategy::default(),
        }
    }

    /// Windows the grouped stream by sessions (Kafka Streams'
    /// `windowedBy(SessionWindows)`).
    ///
    /// ```rust
    /// # use std::time::Duration;
    /// # use streams_core::dsl::{Consumed, Grouped, StreamsBuilder};
    /// # use streams_core::serde::Serdes;
    /// # use streams_core::window::SessionWindows;
    /// # let builder = StreamsBuilder::new();
    /// # let stream = builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    /// let sessions = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(30)).unwrap();
    /// let windowed = stream.group_by_key(Grouped::none()).windowed_by_session(sessions);
    /// ```
    pub fn windowed_by_session(&self, windows: SessionWindows) -> SessionWindowedKStream<K, V> {
        SessionWindowedKStream {
            src: GroupedSource::of(self),
            windows,
            emit: EmitStrategy::default(),
        }
    }
}
