//! The joins of the DSL, as `impl KStream` / `impl KTable` blocks kept
//! apart from the other operators: stream-table, table-table (primary key
//! and foreign key) and windowed stream-stream joins.
//!
//! Node, store and topic names follow Kafka Streams exactly (the order in
//! which a join generates names included), so `describe()`, changelog and
//! repartition topics match a Java application with the same DSL. Join
//! inputs are registered as co-partition groups of the topology.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use super::builder::{BuilderInner, Shared, repartition};
use super::joined::Joined;
use super::kstream::KStream;
use super::ktable::KTable;
use super::options::{Materialized, Named};
use super::store::{self, StoreSpec};
use crate::processor::stream_table_join::StreamTableJoin;
use crate::processor::table_table_join::{
    TableJoinKind, TableJoinMerge, TableJoiner, TableTableJoin, join_value_getter,
};
use crate::processor::value_getter::ValueGetterSupplier;
use crate::serde::SerdeRef;
use crate::state::ValueAndTimestamp;
use crate::topology::{NodeKind, TopologyError, processor_factory};

// ---------------------------------------------------------------------------
// Value getters of derived tables
// ---------------------------------------------------------------------------

/// How to read a table that has no store of its own (a filter or
/// map-values table, an unmaterialized join result), registered when the
/// table is made. Kept beside the builder, keyed by builder and node, so
/// the `KTable` handle itself stays as it is.
struct DerivedGetter {
    builder: Weak<RefCell<BuilderInner>>,
    node: usize,
    lazy: Rc<dyn Any>,
}

type LazyGetter<K, V> = Box<dyn Fn() -> Option<ValueGetterSupplier<K, V>>>;

thread_local! {
    static DERIVED_GETTERS: RefCell<Vec<DerivedGetter>> = const { RefCell::new(Vec::new()) };
}

/// Registers how to read `table` through its parents; called by the table
/// operators that do not materialize their result.
pub(crate) fn register_derived_getter<K: 'static, V: 'static>(
    table: &KTable<K, V>,
    lazy: impl Fn() -> Option<ValueGetterSupplier<K, V>> + 'static,
) {
    let entry = DerivedGetter {
        builder: Rc::downgrade(&table.builder),
        node: table.node,
        lazy: Rc::new(Box::new(lazy) as LazyGetter<K, V>),
    };
    DERIVED_GETTERS.with(|g| {
        let mut g = g.borrow_mut();
        // Forget the tables of builders that are gone.
        g.retain(|d| d.builder.strong_count() > 0);
        g.push(entry);
    });
}

fn derived_getter<K: 'static, V: 'static>(
    builder: &Shared,
    node: usize,
) -> Option<ValueGetterSupplier<K, V>> {
    let lazy = DERIVED_GETTERS.with(|g| {
        g.borrow()
            .iter()
            .find(|d| {
                d.node == node && d.builder.upgrade().is_some_and(|b| Rc::ptr_eq(&b, builder))
            })
            .map(|d| d.lazy.clone())
    })?;
    let lazy = lazy.downcast_ref::<LazyGetter<K, V>>()?;
    lazy()
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KTable<K, V> {
    /// How a join reads this table's current values (Kafka Streams'
    /// `valueGetterSupplier()`): its store if it has one (a source table is
    /// materialized now if it was not), else through its parents.
    pub(crate) fn value_getter_supplier(&self) -> Option<ValueGetterSupplier<K, V>> {
        if let Some(name) = &self.store_name {
            return Some(ValueGetterSupplier::store(name.clone()));
        }
        if let Some(p) = &self.source_materialize {
            self.force_materialize();
            return Some(ValueGetterSupplier::store(p.spec.name.clone()));
        }
        derived_getter(&self.builder, self.node)
    }

    /// The getter, or a build error naming the fix.
    fn getter_or_error(&self) -> ValueGetterSupplier<K, V> {
        match self.value_getter_supplier() {
            Some(g) => g,
            None => {
                let name = self.node_name();
                self.builder.borrow_mut().errors.push(TopologyError::InvalidArgument(format!(
                    "table '{name}' cannot be read by a join: materialize it (e.g. the *_materialized variant of the operator that made it)"
                )));
                ValueGetterSupplier::store(String::new())
            }
        }
    }

    /// Registers the getter of a filter table without a store.
    pub(crate) fn register_filter_getter<F>(
        &self,
        derived: &KTable<K, V>,
        predicate: Arc<F>,
        keep_when: bool,
    ) where
        F: Fn(&K, &V) -> bool + Send + Sync + 'static,
    {
        let parent = self.clone();
        register_derived_getter(derived, move || {
            let predicate = predicate.clone();
            parent.value_getter_supplier().map(|s| {
                s.map(move |k, v: ValueAndTimestamp<V>| {
                    ((predicate)(k, &v.value) == keep_when).then_some(v)
                })
            })
        });
    }

    /// Registers the getter of a map-values table without a store.
    pub(crate) fn register_map_values_getter<VR, F>(&self, derived: &KTable<K, VR>, mapper: Arc<F>)
    where
        VR: Clone + 'static,
        F: Fn(&K, &V) -> VR + Send + Sync + 'static,
    {
        let parent = self.clone();
        register_derived_getter(derived, move || {
            let mapper = mapper.clone();
            parent.value_getter_supplier().map(|s| {
                s.map(move |k, v: ValueAndTimestamp<V>| {
                    Some(ValueAndTimestamp::new((mapper)(k, &v.value), v.timestamp))
                })
            })
        });
    }
}

// ---------------------------------------------------------------------------
// Shared helpers
// ---------------------------------------------------------------------------

/// The topics of the source nodes `node` reads from within its
/// sub-topology (Kafka Streams' `subTopologySourceNodes`).
pub(crate) fn source_topics(b: &BuilderInner, node: usize) -> BTreeSet<String> {
    let mut topics = BTreeSet::new();
    let mut stack = vec![node];
    let mut seen = BTreeSet::new();
    while let Some(n) = stack.pop() {
        if !seen.insert(n) {
            continue;
        }
        let def = &b.topology.nodes[n];
        match &def.kind {
            NodeKind::Source { topics: t } => topics.extend(t.iter().cloned()),
            _ => stack.extend(def.parents.iter().copied()),
        }
    }
    topics
}

/// Records that the sources of `nodes` must be co-partitioned.
pub(crate) fn copartition(b: &mut BuilderInner, nodes: &[usize]) {
    let mut group = BTreeSet::new();
    for &n in nodes {
        group.extend(source_topics(b, n));
    }
    if !group.is_empty() && !b.topology.copartition_groups.contains(&group) {
        b.topology.copartition_groups.push(group);
    }
}

/// Connects `node` to `stores` in the order Java's `HashSet` of store names
/// iterates, which is the order Kafka Streams' `describe()` prints them.
pub(crate) fn connect_stores_java_order(b: &mut BuilderInner, node: usize, stores: &[String]) {
    let mut unique: Vec<&String> = Vec::new();
    for s in stores {
        if !unique.contains(&s) {
            unique.push(s);
        }
    }
    let capacity = java_hash_set_capacity(unique.len());
    // A stable sort keeps insertion order within a bucket, as Java's chains.
    unique.sort_by_key(|s| java_bucket(s, capacity));
    for s in unique {
        b.connect_store(node, s);
    }
}

fn java_hash_set_capacity(n: usize) -> u32 {
    let wanted = ((n as f64 / 0.75) as u32 + 1).max(16);
    wanted.next_power_of_two()
}

fn java_bucket(s: &str, capacity: u32) -> u32 {
    let mut h: i32 = 0;
    for unit in s.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(unit as i32);
    }
    let h = h as u32;
    (h ^ (h >> 16)) & (capacity - 1)
}

fn serde_or_error<T: 'static>(
    b: &mut BuilderInner,
    serde: Option<SerdeRef<T>>,
    node: &str,
    what: &str,
    fix: &str,
) -> SerdeRef<T> {
    b.serde_or_error(serde, node, what, fix)
}

// ---------------------------------------------------------------------------
// KStream-KTable joins
// ---------------------------------------------------------------------------

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins each record with the table's current value for its key;
    /// records whose key the table does not hold (or whose key or value is
    /// null) produce nothing. The result keeps the record's key and
    /// timestamp. A stream whose key changed is repartitioned first (topic
    /// `<Joined name or this stream's node name>-repartition`).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Joined, Materialized, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// orders
    ///     .join_table(&users, |order, user| format!("{order} by {user}"), Joined::none())
    ///     .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn join_table<VT, VR, F>(
        &self,
        table: &KTable<K, VT>,
        joiner: F,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VT) -> VR + Send + Sync + 'static,
    {
        self.stream_table_join(
            table,
            Arc::new(move |_k: Option<&K>, v: &V, t: Option<&VT>| t.map(|t| joiner(v, t))),
            joined,
            false,
        )
    }

    /// Like [`join_table`](Self::join_table), but every record produces a
    /// result: the joiner gets `None` where the table has no value. A
    /// record with a null key and a non-null value is joined with `None`
    /// too (Kafka Streams 4.x, KIP-962); a null value is dropped.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Joined, Materialized, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let users = builder.table("users", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// orders
    ///     .left_join_table(&users, |order, user| format!("{order} by {}", user.map_or("?", |u| u.as_str())), Joined::none())
    ///     .to("enriched", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn left_join_table<VT, VR, F>(
        &self,
        table: &KTable<K, VT>,
        joiner: F,
        joined: Joined<K, V, VT>,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VT>) -> VR + Send + Sync + 'static,
    {
        self.stream_table_join(
            table,
            Arc::new(move |_k: Option<&K>, v: &V, t: Option<&VT>| Some(joiner(v, t))),
            joined,
            true,
        )
    }

    fn stream_table_join<VT, VR>(
        &self,
        table: &KTable<K, VT>,
        joiner: crate::processor::stream_table_join::StreamTableJoiner<K, V, VT, VR>,
        joined: Joined<K, V, VT>,
        left_join: bool,
    ) -> KStream<K, VR>
    where
        VT: Clone + 'static,
        VR: Clone + 'static,
    {
        let mut parent = self.node;
        let key_serde = joined.key_serde.clone().or_else(|| self.key_serde.clone());
        if self.repartition_required {
            let mut b = self.builder.borrow_mut();
            let base = joined
                .name
                .clone()
                .unwrap_or_else(|| b.topology.nodes[self.node].name.to_string());
            let fix = "pass serdes with Joined::with(key_serde, value_serde, other_value_serde)";
            let ks = serde_or_error(&mut b, key_serde.clone(), &base, "key serde", fix);
            let vs = serde_or_error(
                &mut b,
                joined
                    .value_serde
                    .clone()
                    .or_else(|| self.value_serde.clone()),
                &base,
                "value serde",
                fix,
            );
            parent = repartition(&mut b, self.node, &base, ks, vs, None);
        }
        let getter = table.getter_or_error();
        let mut b = self.builder.borrow_mut();
        copartition(&mut b, &[parent, table.node]);
        let name = b.name_or(
            joined.name.clone(),
            if left_join {
                "KSTREAM-LEFTJOIN-"
            } else {
                "KSTREAM-JOIN-"
            },
        );
        let supplier = getter.clone();
        let node = b.add_processor(
            name,
            &[parent],
            processor_factory(move || StreamTableJoin {
                key_mapper: crate::processor::stream_table_join::JoinKey::Same(
                    crate::processor::stream_table_join::same_key::<K>,
                ),
                joiner: joiner.clone(),
                left_join,
                getter_supplier: Some(supplier.clone()),
                getter: None,
            }),
        );
        connect_stores_java_order(&mut b, node, &getter.store_names);
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node,
            key_serde,
            value_serde: None,
            repartition_required: false,
        }
    }
}

// ---------------------------------------------------------------------------
// KTable-KTable joins
// ---------------------------------------------------------------------------

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins with `other` on the key: a row exists while both tables hold
    /// the key. Its timestamp is the later of the two rows'; deleting
    /// either side deletes the result.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let both = names.join(&emails, |n, e| format!("{n} <{e}>"));
    /// ```
    pub fn join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.join_with(other, joiner, None, None)
    }

    /// [`join`](Self::join) with a name for its processors
    /// (`<name>-join-this`, `<name>-join-other`, `<name>`) and/or a store
    /// for the result.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, Named, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let both = names.join_with(&emails, |n, e| format!("{n} <{e}>"), Named::as_("contacts"),
    ///     Materialized::as_("contacts-store").with_value_serde(Serdes::string()));
    /// assert_eq!(both.queryable_store_name().as_deref(), Some("contacts-store"));
    /// ```
    pub fn join_with<VO, VR, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        named: impl Into<Option<Named>>,
        materialized: impl Into<Option<Materialized<K, VR>>>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let j: TableJoiner<V, VO, VR> =
            Arc::new(move |l: Option<&V>, r: Option<&VO>| match (l, r) {
                (Some(l), Some(r)) => Some(joiner(l, r)),
                _ => None,
            });
        self.table_table_join(
            other,
            j,
            named.into(),
            materialized.into(),
            TableJoinKind::Inner,
        )
    }

    /// Left join with `other` on the key: a row exists while this table
    /// holds the key; the joiner gets `None` while `other` does not.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let all = names.left_join(&emails, |n, e| format!("{n} <{}>", e.map_or("-", |e| e.as_str())));
    /// ```
    pub fn left_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.left_join_with(other, joiner, None, None)
    }

    /// [`left_join`](Self::left_join) with a name and/or a store.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, Named, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let names = builder.table("names", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let emails = builder.table("emails", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let all = names.left_join_with(&emails, |n, e| format!("{n} {e:?}"), Named::as_("contacts"), None);
    /// ```
    pub fn left_join_with<VO, VR, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        named: impl Into<Option<Named>>,
        materialized: impl Into<Option<Materialized<K, VR>>>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let j: TableJoiner<V, VO, VR> =
            Arc::new(move |l: Option<&V>, r: Option<&VO>| l.map(|l| joiner(l, r)));
        self.table_table_join(
            other,
            j,
            named.into(),
            materialized.into(),
            TableJoinKind::Left,
        )
    }

    /// Outer join with `other` on the key: a row exists while either table
    /// holds the key; the joiner gets `None` for the side that does not.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.table("a", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let b = builder.table("b", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let either = a.outer_join(&b, |l, r| format!("{l:?}|{r:?}"));
    /// ```
    pub fn outer_join<VO, VR, F>(&self, other: &KTable<K, VO>, joiner: F) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.outer_join_with(other, joiner, None, None)
    }

    /// [`outer_join`](Self::outer_join) with a name and/or a store.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.table("a", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let b = builder.table("b", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let either = a.outer_join_with(&b, |l, r| format!("{l:?}|{r:?}"), None,
    ///     Materialized::as_("either").with_value_serde(Serdes::string()));
    /// ```
    pub fn outer_join_with<VO, VR, F>(
        &self,
        other: &KTable<K, VO>,
        joiner: F,
        named: impl Into<Option<Named>>,
        materialized: impl Into<Option<Materialized<K, VR>>>,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let j: TableJoiner<V, VO, VR> = Arc::new(move |l: Option<&V>, r: Option<&VO>| {
            if l.is_none() && r.is_none() {
                None
            } else {
                Some(joiner(l, r))
            }
        });
        self.table_table_join(
            other,
            j,
            named.into(),
            materialized.into(),
            TableJoinKind::Outer,
        )
    }

    fn table_table_join<VO, VR>(
        &self,
        other: &KTable<K, VO>,
        joiner: TableJoiner<V, VO, VR>,
        named: Option<Named>,
        materialized: Option<Materialized<K, VR>>,
        kind: TableJoinKind,
    ) -> KTable<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let named = named.map(|n| n.0);
        // Kafka Streams names the result store (when materialized) first,
        // then the merge node, then the two join nodes.
        let store = materialized.map(|m| {
            let mut b = self.builder.borrow_mut();
            let name = m
                .store_name
                .clone()
                .unwrap_or_else(|| b.new_store_name("KTABLE-MERGE-"));
            (m, name)
        });
        let merge_name = self
            .builder
            .borrow_mut()
            .name_or(named.clone(), "KTABLE-MERGE-");
        {
            let mut b = self.builder.borrow_mut();
            copartition(&mut b, &[self.node, other.node]);
        }
        let (left_outer, right_outer) = match kind {
            TableJoinKind::Inner => (false, false),
            TableJoinKind::Left => (true, false),
            _ => (true, true),
        };
        if left_outer {
            self.enable_sending_old_values();
        }
        if right_outer {
            other.enable_sending_old_values();
        }
        let this_getter = self.getter_or_error();
        let other_getter = other.getter_or_error();
        let send_old = Arc::new(AtomicBool::new(false));
        let other_kind = match kind {
            TableJoinKind::Left => TableJoinKind::Right,
            k => k,
        };
        let reversed: TableJoiner<VO, V, VR> = {
            let j = joiner.clone();
            Arc::new(move |o: Option<&VO>, t: Option<&V>| j(t, o))
        };

        let mut b = self.builder.borrow_mut();
        let this_name = match &named {
            Some(n) => {
                b.new_processor_name("KTABLE-JOINTHIS-");
                format!("{n}-join-this")
            }
            None => b.new_processor_name("KTABLE-JOINTHIS-"),
        };
        let other_name = match &named {
            Some(n) => {
                b.new_processor_name("KTABLE-JOINOTHER-");
                format!("{n}-join-other")
            }
            None => b.new_processor_name("KTABLE-JOINOTHER-"),
        };
        let this_node = {
            let (getter, joiner, send_old) =
                (other_getter.clone(), joiner.clone(), send_old.clone());
            b.add_processor(
                this_name,
                &[self.node],
                processor_factory(move || TableTableJoin {
                    kind,
                    joiner: joiner.clone(),
                    other: getter.clone(),
                    getter: None,
                    send_old_values: send_old.clone(),
                }),
            )
        };
        connect_stores_java_order(&mut b, this_node, &other_getter.store_names);
        let other_node = {
            let (getter, joiner, send_old) = (this_getter.clone(), reversed, send_old.clone());
            b.add_processor(
                other_name,
                &[other.node],
                processor_factory(move || TableTableJoin {
                    kind: other_kind,
                    joiner: joiner.clone(),
                    other: getter.clone(),
                    getter: None,
                    send_old_values: send_old.clone(),
                }),
            )
        };
        connect_stores_java_order(&mut b, other_node, &this_getter.store_names);

        let mut key_serde = self.key_serde.clone();
        let mut value_serde = None;
        let mut store_name = None;
        if let Some((m, name)) = &store {
            let fix = "pass serdes with Materialized::with(key_serde, value_serde)";
            let ks = serde_or_error(
                &mut b,
                m.key_serde.clone().or_else(|| self.key_serde.clone()),
                name,
                "key serde",
                fix,
            );
            let vs = serde_or_error(&mut b, m.value_serde.clone(), name, "value serde", fix);
            let spec = StoreSpec::from_materialized(m, name.clone());
            b.add_store(
                store::timestamped_kv_factory(&spec, ks.clone(), vs.clone()),
                false,
            );
            key_serde = Some(ks);
            value_serde = Some(vs);
            store_name = Some(name.clone());
        }
        let merge_node = {
            let (store_name, send_old) = (store_name.clone(), send_old.clone());
            b.add_processor(
                merge_name,
                &[this_node, other_node],
                processor_factory(move || TableJoinMerge::<K, VR> {
                    store_name: store_name.clone(),
                    send_old_values: send_old.clone(),
                    forwarder: None,
                }),
            )
        };
        if let Some(s) = &store_name {
            b.connect_store(merge_node, s);
        }
        drop(b);

        let (left, right) = (self.clone(), other.clone());
        let result = KTable {
            builder: self.builder.clone(),
            node: merge_node,
            key_serde,
            value_serde,
            send_old_values: send_old.clone(),
            store_name: store_name.clone(),
            source_materialize: None,
            parent: Some(Rc::new(move || {
                send_old.store(true, std::sync::atomic::Ordering::Relaxed);
                left.enable_sending_old_values();
                right.enable_sending_old_values();
            })),
        };
        if store_name.is_none() {
            let getter_kind = kind;
            register_derived_getter(&result, move || {
                Some(join_value_getter(
                    getter_kind,
                    this_getter.clone(),
                    other_getter.clone(),
                    joiner.clone(),
                ))
            });
        }
        result
    }
}

// ---------------------------------------------------------------------------
// KStream-KStream joins
// ---------------------------------------------------------------------------

/// Declares one side's window store of a stream-stream join.
#[allow(clippy::too_many_arguments)]
fn add_join_window_store<K: 'static, V: 'static>(
    b: &mut BuilderInner,
    name: &str,
    kind: crate::state::StoreKind,
    size_ms: i64,
    retention_ms: i64,
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    logging: Option<std::collections::BTreeMap<String, String>>,
) {
    use crate::processor::stream_stream_join::join_window_store;
    match join_window_store(
        name,
        kind,
        size_ms,
        retention_ms,
        key_serde,
        value_serde,
        logging,
    ) {
        Ok(store) => b.add_store(Arc::new(store), false),
        Err(e) => b.errors.push(TopologyError::InvalidArgument(e.to_string())),
    }
}

/// Which stream-stream join.
#[derive(Clone, Copy, PartialEq, Eq)]
enum StreamJoinKind {
    Inner,
    Left,
    Outer,
}

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins records of the two streams with the same key whose timestamps
    /// are at most `windows` apart: a record of this stream at `t` meets
    /// records of `other` in `[t - before, t + after]`. Each pair produces
    /// `joiner(this, other)` at the later of the two timestamps. Streams
    /// whose keys changed are repartitioned first.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Produced, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::window::JoinWindows;
    /// let builder = StreamsBuilder::new();
    /// let clicks = builder.stream("clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// let views = builder.stream("views", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)).unwrap();
    /// clicks
    ///     .join(&views, |c, v| format!("{c}/{v}"), windows, StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()))
    ///     .to("clicked-views", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: crate::window::JoinWindows,
        joined: super::joined::StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::stream_stream_join::StreamJoiner<K, V, VO, VR> = Arc::new(
            move |_k: Option<&K>, l: Option<&V>, r: Option<&VO>| match (l, r) {
                (Some(l), Some(r)) => Some(joiner(l, r)),
                _ => None,
            },
        );
        self.stream_stream_join(other, j, windows, joined, StreamJoinKind::Inner)
    }

    /// Like [`join`](Self::join), and a record of this stream that meets no
    /// record of `other` produces `joiner(this, None)`: once its window has
    /// closed (after the grace period) with the spurious-result fix of
    /// `JoinWindows::of_time_difference_*`, at once with the legacy windows.
    /// A record with a null key and a non-null value produces
    /// `joiner(this, None)` at once (KIP-962).
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Produced, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::window::JoinWindows;
    /// let builder = StreamsBuilder::new();
    /// let clicks = builder.stream("clicks", Consumed::with(Serdes::string(), Serdes::string()));
    /// let views = builder.stream("views", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = JoinWindows::of_time_difference_and_grace(Duration::from_secs(60), Duration::from_secs(5)).unwrap();
    /// clicks
    ///     .left_join(&views, |c, v| format!("{c}/{v:?}"), windows, StreamJoined::none())
    ///     .to("clicks-with-views", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn left_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: crate::window::JoinWindows,
        joined: super::joined::StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::stream_stream_join::StreamJoiner<K, V, VO, VR> =
            Arc::new(move |_k: Option<&K>, l: Option<&V>, r: Option<&VO>| l.map(|l| joiner(l, r)));
        self.stream_stream_join(other, j, windows, joined, StreamJoinKind::Left)
    }

    /// Like [`left_join`](Self::left_join), for unmatched records of both
    /// streams: `joiner(Some(this), None)` or `joiner(None, Some(other))`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use streams_core::dsl::{Consumed, Produced, StreamJoined, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// use streams_core::window::JoinWindows;
    /// let builder = StreamsBuilder::new();
    /// let a = builder.stream("a", Consumed::with(Serdes::string(), Serdes::string()));
    /// let b = builder.stream("b", Consumed::with(Serdes::string(), Serdes::string()));
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(10)).unwrap();
    /// a.outer_join(&b, |l, r| format!("{l:?}/{r:?}"), windows, StreamJoined::none())
    ///     .to("either", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn outer_join<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: crate::window::JoinWindows,
        joined: super::joined::StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::stream_stream_join::StreamJoiner<K, V, VO, VR> =
            Arc::new(move |_k: Option<&K>, l: Option<&V>, r: Option<&VO>| {
                if l.is_none() && r.is_none() {
                    None
                } else {
                    Some(joiner(l, r))
                }
            });
        self.stream_stream_join(other, j, windows, joined, StreamJoinKind::Outer)
    }

    fn stream_stream_join<VO, VR>(
        &self,
        other: &KStream<K, VO>,
        joiner: crate::processor::stream_stream_join::StreamJoiner<K, V, VO, VR>,
        windows: crate::window::JoinWindows,
        joined: super::joined::StreamJoined<K, V, VO>,
        kind: StreamJoinKind,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        use crate::processor::stream_stream_join::{
            JoinSideSpec, JoinWindowProcessor, OuterJoinStoreBuilder, StreamStreamJoin,
            TimeTrackers, left_split, left_wrap, right_split, right_wrap,
        };
        use crate::state::StoreKind;

        let left_outer = kind != StreamJoinKind::Inner;
        let right_outer = kind == StreamJoinKind::Outer;
        let name = joined.name.clone();
        let fix = "pass serdes with StreamJoined::with(key_serde, value_serde, other_value_serde)";
        let key_serde = joined
            .key_serde
            .clone()
            .or_else(|| self.key_serde.clone())
            .or_else(|| other.key_serde.clone());
        let this_vs = joined
            .value_serde
            .clone()
            .or_else(|| self.value_serde.clone());
        let other_vs = joined
            .other_value_serde
            .clone()
            .or_else(|| other.value_serde.clone());

        let mut b = self.builder.borrow_mut();
        let mut this_node = self.node;
        if self.repartition_required {
            let base = match &name {
                Some(n) => format!("{n}-left"),
                None => b.topology.nodes[self.node].name.to_string(),
            };
            let ks = serde_or_error(&mut b, key_serde.clone(), &base, "key serde", fix);
            let vs = serde_or_error(&mut b, this_vs.clone(), &base, "value serde", fix);
            this_node = repartition(&mut b, self.node, &base, ks, vs, None);
        }
        let mut other_node = other.node;
        if other.repartition_required {
            let base = match &name {
                Some(n) => format!("{n}-right"),
                None => b.topology.nodes[other.node].name.to_string(),
            };
            let ks = serde_or_error(&mut b, key_serde.clone(), &base, "key serde", fix);
            let vs = serde_or_error(&mut b, other_vs.clone(), &base, "value serde", fix);
            other_node = repartition(&mut b, other.node, &base, ks, vs, None);
        }
        copartition(&mut b, &[this_node, other_node]);

        let suffixed = |b: &mut BuilderInner, suffix: &str, prefix: &str| {
            let generated = b.new_processor_name(prefix);
            match &name {
                Some(n) => format!("{n}{suffix}"),
                None => generated,
            }
        };
        let this_windowed_name = suffixed(&mut b, "-this-windowed", "KSTREAM-WINDOWED-");
        let other_windowed_name = suffixed(&mut b, "-other-windowed", "KSTREAM-WINDOWED-");
        let this_generated = b.new_processor_name(if right_outer {
            "KSTREAM-OUTERTHIS-"
        } else {
            "KSTREAM-JOINTHIS-"
        });
        let other_generated = b.new_processor_name(if left_outer {
            "KSTREAM-OUTEROTHER-"
        } else {
            "KSTREAM-JOINOTHER-"
        });
        let this_suffix = if right_outer {
            "-outer-this-join"
        } else {
            "-this-join"
        };
        let other_suffix = if left_outer {
            "-outer-other-join"
        } else {
            "-other-join"
        };
        let this_join_name = name
            .as_ref()
            .map_or(this_generated.clone(), |n| format!("{n}{this_suffix}"));
        let other_join_name = name
            .as_ref()
            .map_or(other_generated.clone(), |n| format!("{n}{other_suffix}"));
        let merge_name = suffixed(&mut b, "-merge", "KSTREAM-MERGE-");

        let this_store = match &joined.store_name {
            Some(s) => format!("{s}{this_suffix}-store"),
            None => format!("{this_generated}-store"),
        };
        let other_store = match &joined.store_name {
            Some(s) => format!("{s}{other_suffix}-store"),
            None => format!("{other_generated}-store"),
        };
        let spurious_fix = windows.spurious_result_fix_enabled();
        let outer_store = (left_outer && spurious_fix).then(|| match &joined.store_name {
            Some(s) => format!(
                "{s}{}-store",
                if right_outer {
                    "-outer-shared-join"
                } else {
                    "-left-shared-join"
                }
            ),
            None => {
                let prefix = if right_outer {
                    "KSTREAM-OUTERTHIS-"
                } else {
                    "KSTREAM-JOINTHIS-"
                };
                format!(
                    "KSTREAM-OUTERSHARED-{}-store",
                    &this_generated[prefix.len()..]
                )
            }
        });

        let kind_of_store = match joined.store_type {
            super::options::StoreType::RocksDb => StoreKind::RocksDb,
            super::options::StoreType::InMemory => StoreKind::InMemory,
        };
        let retention = windows.size_ms().saturating_add(windows.grace_ms());
        let ks = serde_or_error(&mut b, key_serde.clone(), &this_store, "key serde", fix);
        let this_vs = serde_or_error(&mut b, this_vs, &this_store, "value serde", fix);
        let other_vs = serde_or_error(&mut b, other_vs, &other_store, "value serde", fix);
        let logging = joined.logging.then(|| joined.log_config.clone());
        let size = windows.size_ms();
        add_join_window_store(
            &mut b,
            &this_store,
            kind_of_store,
            size,
            retention,
            ks.clone(),
            this_vs.clone(),
            logging.clone(),
        );
        add_join_window_store(
            &mut b,
            &other_store,
            kind_of_store,
            size,
            retention,
            ks.clone(),
            other_vs.clone(),
            logging,
        );
        if let Some(outer) = &outer_store {
            b.add_store(
                Arc::new(OuterJoinStoreBuilder {
                    name: outer.clone(),
                    key_serde: ks.clone(),
                    left_serde: this_vs.clone(),
                    right_serde: other_vs.clone(),
                    kind: kind_of_store,
                    logging: joined.logging,
                    log_config: joined.log_config.clone(),
                }),
                false,
            );
        }

        let this_windowed = {
            let store = this_store.clone();
            b.add_processor(
                this_windowed_name,
                &[this_node],
                processor_factory(move || JoinWindowProcessor::<K, V> {
                    store_name: store.clone(),
                    store: None,
                }),
            )
        };
        b.connect_store(this_windowed, &this_store);
        let other_windowed = {
            let store = other_store.clone();
            b.add_processor(
                other_windowed_name,
                &[other_node],
                processor_factory(move || JoinWindowProcessor::<K, VO> {
                    store_name: store.clone(),
                    store: None,
                }),
            )
        };
        b.connect_store(other_windowed, &other_store);

        let trackers = Arc::new(TimeTrackers::default());
        let this_spec = Arc::new(JoinSideSpec {
            before_ms: windows.before_ms(),
            after_ms: windows.after_ms(),
            windows_before_ms: windows.before_ms(),
            windows_after_ms: windows.after_ms(),
            grace_ms: windows.grace_ms(),
            outer: left_outer,
            other_outer: right_outer,
            is_left: true,
        });
        let other_spec = Arc::new(JoinSideSpec {
            before_ms: windows.after_ms(),
            after_ms: windows.before_ms(),
            windows_before_ms: windows.before_ms(),
            windows_after_ms: windows.after_ms(),
            grace_ms: windows.grace_ms(),
            outer: right_outer,
            other_outer: left_outer,
            is_left: false,
        });
        let this_join = {
            let (spec, joiner, other_store, outer_store, trackers) = (
                this_spec,
                joiner.clone(),
                other_store.clone(),
                outer_store.clone(),
                trackers.clone(),
            );
            b.add_processor(
                this_join_name,
                &[this_windowed],
                processor_factory(move || StreamStreamJoin::<K, V, VO, V, VO, VR> {
                    spec: spec.clone(),
                    joiner: joiner.clone(),
                    other_store_name: other_store.clone(),
                    outer_store_name: outer_store.clone(),
                    trackers: trackers.clone(),
                    wrap_this: left_wrap::<V, VO>,
                    split: left_split::<V, VO>,
                    other_store: None,
                    outer_store: None,
                    tracker: None,
                    task: None,
                }),
            )
        };
        let mut this_stores = vec![other_store.clone()];
        this_stores.extend(outer_store.clone());
        connect_stores_java_order(&mut b, this_join, &this_stores);
        let other_join = {
            let reversed: crate::processor::stream_stream_join::StreamJoiner<K, VO, V, VR> = {
                let j = joiner.clone();
                Arc::new(move |k: Option<&K>, o: Option<&VO>, t: Option<&V>| j(k, t, o))
            };
            let (spec, this_store, outer_store, trackers) = (
                other_spec,
                this_store.clone(),
                outer_store.clone(),
                trackers.clone(),
            );
            b.add_processor(
                other_join_name,
                &[other_windowed],
                processor_factory(move || StreamStreamJoin::<K, VO, V, V, VO, VR> {
                    spec: spec.clone(),
                    joiner: reversed.clone(),
                    other_store_name: this_store.clone(),
                    outer_store_name: outer_store.clone(),
                    trackers: trackers.clone(),
                    wrap_this: right_wrap::<V, VO>,
                    split: right_split::<V, VO>,
                    other_store: None,
                    outer_store: None,
                    tracker: None,
                    task: None,
                }),
            )
        };
        let mut other_stores = vec![this_store.clone()];
        other_stores.extend(outer_store.clone());
        connect_stores_java_order(&mut b, other_join, &other_stores);
        let merge = b.add_processor(
            merge_name,
            &[this_join, other_join],
            processor_factory::<_, K, VR, K, VR>(|| crate::processor::stateless::PassThrough),
        );
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node: merge,
            key_serde: joined.key_serde,
            value_serde: None,
            repartition_required: false,
        }
    }
}

// ---------------------------------------------------------------------------
// Foreign-key KTable-KTable joins
// ---------------------------------------------------------------------------

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins each row with the row of `other` whose key is the row's
    /// foreign key, extracted from its value (`None`: the row has no
    /// foreign key and produces no result). Results follow changes on both
    /// sides, through two internal topics; a row that loses its partner is
    /// deleted from the result.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// // order id -> "customer-id:item"
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// orders
    ///     .join_on_foreign_key(&customers, |order| order.split(':').next().map(str::to_owned), |order, customer| format!("{order} for {customer}"))
    ///     .to_stream()
    ///     .to("orders-with-customers", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn join_on_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        self.join_on_foreign_key_with(
            other,
            foreign_key,
            joiner,
            super::joined::TableJoined::none(),
            None,
        )
    }

    /// [`join_on_foreign_key`](Self::join_on_foreign_key) with names (for
    /// its processors, topics and store) and/or a store for the result.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TableJoined};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let joined = orders.join_on_foreign_key_with(&customers, |o| o.split(':').next().map(str::to_owned),
    ///     |o, c| format!("{o} for {c}"), TableJoined::as_("orders-customers"),
    ///     Materialized::as_("orders-customers-store").with_value_serde(Serdes::string()));
    /// ```
    pub fn join_on_foreign_key_with<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        table_joined: super::joined::TableJoined<K, KO>,
        materialized: impl Into<Option<Materialized<K, VR>>>,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::fk_join::FkJoiner<V, VO, VR> =
            Arc::new(move |v: &V, o: Option<&VO>| o.map(|o| joiner(v, o)));
        self.foreign_key_join(
            other,
            Arc::new(move |_k: &K, v: &V| foreign_key(v)),
            j,
            table_joined,
            materialized.into(),
            false,
        )
    }

    /// Left join on a foreign key: every row of this table has a result;
    /// the joiner gets `None` while the foreign row is missing (or the row
    /// has no foreign key).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let all = orders.left_join_on_foreign_key(&customers, |o| o.split(':').next().map(str::to_owned),
    ///     |o, c| format!("{o} for {}", c.map_or("?", |c| c.as_str())));
    /// ```
    pub fn left_join_on_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        self.left_join_on_foreign_key_with(
            other,
            foreign_key,
            joiner,
            super::joined::TableJoined::none(),
            None,
        )
    }

    /// [`left_join_on_foreign_key`](Self::left_join_on_foreign_key) with
    /// names and/or a store for the result.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, StreamsBuilder, TableJoined};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.table("orders", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let customers = builder.table("customers", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// let all = orders.left_join_on_foreign_key_with(&customers, |o| o.split(':').next().map(str::to_owned),
    ///     |o, c| format!("{o} {c:?}"), TableJoined::as_("oc"), None);
    /// ```
    pub fn left_join_on_foreign_key_with<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        table_joined: super::joined::TableJoined<K, KO>,
        materialized: impl Into<Option<Materialized<K, VR>>>,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> Option<KO> + Send + Sync + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::fk_join::FkJoiner<V, VO, VR> =
            Arc::new(move |v: &V, o: Option<&VO>| Some(joiner(v, o)));
        self.foreign_key_join(
            other,
            Arc::new(move |_k: &K, v: &V| foreign_key(v)),
            j,
            table_joined,
            materialized.into(),
            true,
        )
    }

    fn foreign_key_join<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        extractor: crate::processor::fk_join::ForeignKeyExtractor<K, V, KO>,
        joiner: crate::processor::fk_join::FkJoiner<V, VO, VR>,
        table_joined: super::joined::TableJoined<K, KO>,
        materialized: Option<Materialized<K, VR>>,
        left_join: bool,
    ) -> KTable<K, VR>
    where
        KO: Clone + PartialEq + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        use crate::processor::StreamPartitioner;
        use crate::processor::fk_join::{
            ForeignTableJoin, KeyOnlyPartitioner, ResponseJoin, ResponsePartitioner,
            ResponseWrapperSerde, SubscriptionJoin, SubscriptionReceive, SubscriptionSend,
            SubscriptionWrapperSerde,
        };
        use crate::processor::node::SinkTopic;
        use crate::processor::table::{Materialization, TableSource};

        // Old values tell which foreign key a row had, so a change can
        // unsubscribe from it; both tables are read by the join.
        other.enable_sending_old_values();
        self.enable_sending_old_values();

        let name = table_joined.name.clone();
        let fix = "give both tables serdes (Consumed::with / Materialized::with)";
        let mut b = self.builder.borrow_mut();
        let suffixed = |b: &mut BuilderInner, suffix: &str, prefix: &str| {
            let generated = b.new_processor_name(prefix);
            match &name {
                Some(n) => format!("{n}{suffix}"),
                None => generated,
            }
        };
        let subscription_topic = format!(
            "{}-topic",
            suffixed(
                &mut b,
                "-subscription-registration",
                "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-"
            )
        );
        let key_serde = serde_or_error(
            &mut b,
            self.key_serde.clone(),
            &subscription_topic,
            "key serde",
            fix,
        );
        let value_serde = serde_or_error(
            &mut b,
            self.value_serde.clone(),
            &subscription_topic,
            "value serde",
            fix,
        );
        let fk_serde = serde_or_error(
            &mut b,
            other.key_serde.clone(),
            &subscription_topic,
            "foreign key serde",
            fix,
        );
        let other_value_serde = serde_or_error(
            &mut b,
            other.value_serde.clone(),
            &subscription_topic,
            "other value serde",
            fix,
        );
        let wrapper_serde: SerdeRef<crate::processor::fk_join::SubscriptionWrapper<K>> =
            Arc::new(SubscriptionWrapperSerde {
                key_serde: key_serde.clone(),
            });
        let response_serde: SerdeRef<crate::processor::fk_join::SubscriptionResponseWrapper<VO>> =
            Arc::new(ResponseWrapperSerde {
                value_serde: other_value_serde.clone(),
            });
        b.topology
            .repartition_topics
            .insert(subscription_topic.clone());

        let send_name = suffixed(
            &mut b,
            "-subscription-registration-processor",
            "KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-",
        );
        let send_node = {
            let (extractor, fk_serde, value_serde, topic) = (
                extractor.clone(),
                fk_serde.clone(),
                value_serde.clone(),
                subscription_topic.clone(),
            );
            b.add_processor(
                send_name,
                &[self.node],
                processor_factory(move || SubscriptionSend {
                    extractor: extractor.clone(),
                    fk_serde: fk_serde.clone(),
                    value_serde: value_serde.clone(),
                    left_join,
                    serde_topic: topic.clone(),
                }),
            )
        };
        let sink_name = suffixed(&mut b, "-subscription-registration-sink", "KTABLE-SINK-");
        let sub_partitioner: Option<
            Arc<dyn StreamPartitioner<KO, crate::processor::fk_join::SubscriptionWrapper<K>>>,
        > = table_joined
            .other_partitioner
            .clone()
            .map(|p| Arc::new(KeyOnlyPartitioner(p)) as Arc<dyn StreamPartitioner<KO, _>>);
        b.add_sink(
            sink_name,
            SinkTopic::Fixed(subscription_topic.clone().into()),
            send_node,
            fk_serde.clone(),
            wrapper_serde.clone(),
            sub_partitioner,
        );
        let source_name = suffixed(
            &mut b,
            "-subscription-registration-source",
            "KTABLE-SOURCE-",
        );
        let sub_source = b.add_source(
            source_name,
            vec![subscription_topic.clone()],
            fk_serde.clone(),
            wrapper_serde.clone(),
        );
        let mut group = source_topics(&b, other.node);
        group.insert(subscription_topic.clone());
        b.topology.copartition_groups.push(group);

        let store_name = suffixed(
            &mut b,
            "-subscription-store",
            "KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-",
        );
        let receive_name = suffixed(
            &mut b,
            "-subscription-receive",
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
        );
        let store_factory = crate::state::KeyValueStoreBuilder::new(
            crate::state::KeyValueBytesStoreSupplier::new(
                store_name.clone(),
                crate::state::StoreKind::RocksDb,
            ),
            crate::serde::Serdes::bytes(),
            wrapper_serde.clone(),
        )
        .timestamped()
        .with_caching_disabled();
        b.add_store(Arc::new(store_factory), false);
        let receive_node = {
            let (store, fk_serde, key_serde, topic) = (
                store_name.clone(),
                fk_serde.clone(),
                key_serde.clone(),
                subscription_topic.clone(),
            );
            b.add_processor(
                receive_name,
                &[sub_source],
                processor_factory(move || SubscriptionReceive {
                    store_name: store.clone(),
                    store: None,
                    fk_serde: fk_serde.clone(),
                    key_serde: key_serde.clone(),
                    serde_topic: topic.clone(),
                }),
            )
        };
        b.connect_store(receive_node, &store_name);
        drop(b);
        let foreign_getter = other.getter_or_error();
        let mut b = self.builder.borrow_mut();

        let join_foreign_name = suffixed(
            &mut b,
            "-subscription-join-foreign",
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
        );
        let join_foreign_node = {
            let getter = foreign_getter.clone();
            b.add_processor(
                join_foreign_name,
                &[receive_node],
                processor_factory(move || SubscriptionJoin::<K, KO, VO> {
                    foreign: getter.clone(),
                    getter: None,
                    _k: std::marker::PhantomData,
                }),
            )
        };
        connect_stores_java_order(&mut b, join_foreign_node, &foreign_getter.store_names);

        let foreign_join_name = suffixed(
            &mut b,
            "-foreign-join-subscription",
            "KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-",
        );
        let foreign_join_node = {
            let (store, fk_serde, topic) = (
                store_name.clone(),
                fk_serde.clone(),
                subscription_topic.clone(),
            );
            b.add_processor(
                foreign_join_name,
                &[other.node],
                processor_factory::<
                    _,
                    KO,
                    crate::serde::Change<VO>,
                    K,
                    crate::processor::fk_join::SubscriptionResponseWrapper<VO>,
                >(move || ForeignTableJoin::<K, KO> {
                    store_name: store.clone(),
                    store: None,
                    fk_serde: fk_serde.clone(),
                    serde_topic: topic.clone(),
                }),
            )
        };
        b.connect_store(foreign_join_node, &store_name);

        let response_topic = format!(
            "{}-topic",
            suffixed(
                &mut b,
                "-subscription-response",
                "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-"
            )
        );
        b.topology.repartition_topics.insert(response_topic.clone());
        let response_sink_name = suffixed(&mut b, "-subscription-response-sink", "KTABLE-SINK-");
        let response_partitioner: Arc<
            dyn StreamPartitioner<K, crate::processor::fk_join::SubscriptionResponseWrapper<VO>>,
        > = match table_joined.partitioner.clone() {
            Some(p) => Arc::new(KeyOnlyPartitioner(p)),
            None => Arc::new(ResponsePartitioner),
        };
        let response_sink = b.add_sink(
            response_sink_name,
            SinkTopic::Fixed(response_topic.clone().into()),
            join_foreign_node,
            key_serde.clone(),
            response_serde.clone(),
            Some(response_partitioner),
        );
        // The sink has two parents.
        b.topology.nodes[response_sink]
            .parents
            .push(foreign_join_node);
        b.topology.nodes[foreign_join_node]
            .children
            .push(response_sink);
        let response_source_name =
            suffixed(&mut b, "-subscription-response-source", "KTABLE-SOURCE-");
        let response_source = b.add_source(
            response_source_name,
            vec![response_topic.clone()],
            key_serde.clone(),
            response_serde,
        );
        let mut group = source_topics(&b, self.node);
        group.insert(response_topic.clone());
        b.topology.copartition_groups.push(group);
        drop(b);
        let primary_getter = self.getter_or_error();
        let mut b = self.builder.borrow_mut();

        let resolver_name = suffixed(
            &mut b,
            "-subscription-response-resolver",
            "KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-",
        );
        let resolver_node = {
            let (getter, value_serde, topic, joiner) = (
                primary_getter.clone(),
                value_serde.clone(),
                subscription_topic.clone(),
                joiner.clone(),
            );
            b.add_processor(
                resolver_name,
                &[response_source],
                processor_factory(move || ResponseJoin::<K, V, VO, VR> {
                    left: getter.clone(),
                    getter: None,
                    value_serde: value_serde.clone(),
                    serde_topic: topic.clone(),
                    joiner: joiner.clone(),
                    left_join,
                }),
            )
        };
        connect_stores_java_order(&mut b, resolver_node, &primary_getter.store_names);

        let result_name = suffixed(&mut b, "-result", "KTABLE-FK-JOIN-OUTPUT-");
        let materialized = materialized.unwrap_or_else(Materialized::none);
        let queryable = materialized.store_name.is_some();
        let result_store = match &materialized.store_name {
            Some(n) => n.clone(),
            None => b.new_store_name("KTABLE-FK-JOIN-OUTPUT-"),
        };
        let result_key_serde = materialized
            .key_serde
            .clone()
            .unwrap_or_else(|| key_serde.clone());
        let result_value_serde = materialized.value_serde.clone();
        let materialize = Arc::new(std::sync::OnceLock::new());
        let send_old = Arc::new(AtomicBool::new(false));
        let result_node = {
            let (materialize, send_old) = (materialize.clone(), send_old.clone());
            b.add_processor(
                result_name.clone(),
                &[resolver_node],
                processor_factory(move || TableSource::<K, VR> {
                    send_old_values: send_old.clone(),
                    materialized: Materialization::new(materialize.get().cloned()),
                }),
            )
        };
        let value_serde_for_store = match &result_value_serde {
            Some(vs) => vs.clone(),
            None if queryable => serde_or_error(
                &mut b,
                None,
                &result_name,
                "value serde",
                "pass serdes with Materialized::with(key_serde, value_serde)",
            ),
            // Only needed if something materializes the result later.
            None => serde_or_error_lazy::<VR>(),
        };
        drop(b);
        let table = KTable {
            builder: self.builder.clone(),
            node: result_node,
            key_serde: Some(result_key_serde.clone()),
            value_serde: result_value_serde,
            send_old_values: send_old,
            store_name: None,
            source_materialize: Some(store::PendingStore {
                materialize,
                spec: StoreSpec::from_materialized(&materialized, result_store),
                key_serde: result_key_serde,
                value_serde: value_serde_for_store,
            }),
            parent: None,
        };
        if queryable {
            table.force_materialize();
        }
        table
    }
}

/// A serde that fails when used: stands in for the value serde of a join
/// result that nothing has materialized (yet).
fn serde_or_error_lazy<T: 'static>() -> SerdeRef<T> {
    struct Unset;
    impl<T> crate::serde::Serde<T> for Unset {
        fn serialize_into(
            &self,
            topic: &str,
            _value: &T,
            _out: &mut Vec<u8>,
        ) -> Result<(), crate::serde::SerdeError> {
            Err(crate::serde::SerdeError::Serialize {
                type_name: std::any::type_name::<T>(),
                topic: topic.to_string(),
                reason: "the join result has no value serde: pass Materialized::with(key_serde, value_serde)".into(),
            })
        }
        fn deserialize(&self, topic: &str, _bytes: &[u8]) -> Result<T, crate::serde::SerdeError> {
            Err(crate::serde::SerdeError::Deserialize {
                type_name: std::any::type_name::<T>(),
                topic: topic.to_string(),
                reason: "the join result has no value serde: pass Materialized::with(key_serde, value_serde)".into(),
            })
        }
    }
    Arc::new(Unset)
}

// ---------------------------------------------------------------------------
// KStream-GlobalKTable joins
// ---------------------------------------------------------------------------

impl<K: Clone + PartialEq + 'static, V: Clone + 'static> KStream<K, V> {
    /// Joins each record with the global table's value for the key
    /// `key_selector` derives from the record; records whose derived key
    /// is `None` or absent from the table (or whose value is null) produce
    /// nothing. No repartitioning is needed: every instance holds the whole
    /// table. The node is named `KSTREAM-LEFTJOIN-<n>` for inner joins too,
    /// as in Kafka Streams.
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let countries = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// orders
    ///     .join_global(&countries, |_k, order| order.split(':').next().map(str::to_owned), |o, c| format!("{o} in {c}"), None)
    ///     .to("orders-with-country", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn join_global<KG, VG, VR, S, F>(
        &self,
        global: &super::global_table::GlobalKTable<KG, VG>,
        key_selector: S,
        joiner: F,
        named: impl Into<Option<Named>>,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: Clone + 'static,
        VR: Clone + 'static,
        S: Fn(Option<&K>, &V) -> Option<KG> + Send + Sync + 'static,
        F: Fn(&V, &VG) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::stream_table_join::StreamTableJoiner<K, V, VG, VR> =
            Arc::new(move |_k: Option<&K>, v: &V, g: Option<&VG>| g.map(|g| joiner(v, g)));
        self.global_join(global, Arc::new(key_selector), j, named.into(), false)
    }

    /// Like [`join_global`](Self::join_global), but every record with a
    /// value produces a result: the joiner gets `None` where the derived
    /// key is `None` or absent from the table (KIP-962).
    ///
    /// ```
    /// use streams_core::dsl::{Consumed, Materialized, Named, Produced, StreamsBuilder};
    /// use streams_core::serde::Serdes;
    /// let builder = StreamsBuilder::new();
    /// let orders = builder.stream("orders", Consumed::with(Serdes::string(), Serdes::string()));
    /// let countries = builder.global_table("countries", Consumed::with(Serdes::string(), Serdes::string()), Materialized::none());
    /// orders
    ///     .left_join_global(&countries, |_k, o| o.split(':').next().map(str::to_owned),
    ///         |o, c| format!("{o} in {}", c.map_or("?", |c| c.as_str())), Named::as_("with-country"))
    ///     .to("orders-with-country", Produced::with(Serdes::string(), Serdes::string()));
    /// ```
    pub fn left_join_global<KG, VG, VR, S, F>(
        &self,
        global: &super::global_table::GlobalKTable<KG, VG>,
        key_selector: S,
        joiner: F,
        named: impl Into<Option<Named>>,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: Clone + 'static,
        VR: Clone + 'static,
        S: Fn(Option<&K>, &V) -> Option<KG> + Send + Sync + 'static,
        F: Fn(&V, Option<&VG>) -> VR + Send + Sync + 'static,
    {
        let j: crate::processor::stream_table_join::StreamTableJoiner<K, V, VG, VR> =
            Arc::new(move |_k: Option<&K>, v: &V, g: Option<&VG>| Some(joiner(v, g)));
        self.global_join(global, Arc::new(key_selector), j, named.into(), true)
    }

    fn global_join<KG, VG, VR>(
        &self,
        global: &super::global_table::GlobalKTable<KG, VG>,
        key_selector: crate::processor::stream_table_join::JoinKeyMapper<K, V, KG>,
        joiner: crate::processor::stream_table_join::StreamTableJoiner<K, V, VG, VR>,
        named: Option<Named>,
        left_join: bool,
    ) -> KStream<K, VR>
    where
        KG: 'static,
        VG: Clone + 'static,
        VR: Clone + 'static,
    {
        let mut b = self.builder.borrow_mut();
        // The global task opens the store; registering it lets this task's
        // join find it.
        if let Some(def) = b
            .topology
            .stores
            .iter_mut()
            .find(|s| s.name == global.store_name)
        {
            def.factory = Arc::new(crate::processor::value_getter::RegisteringStoreFactory {
                inner: def.factory.clone(),
            });
        }
        let name = b.name_or(named.map(|n| n.0), "KSTREAM-LEFTJOIN-");
        let supplier = ValueGetterSupplier::<KG, VG>::global_store(global.store_name.clone());
        let node = b.add_processor(
            name,
            &[self.node],
            processor_factory(move || StreamTableJoin {
                key_mapper: crate::processor::stream_table_join::JoinKey::Mapped(
                    key_selector.clone(),
                ),
                joiner: joiner.clone(),
                left_join,
                getter_supplier: Some(supplier.clone()),
                getter: None,
            }),
        );
        drop(b);
        KStream {
            builder: self.builder.clone(),
            node,
            key_serde: self.key_serde.clone(),
            value_serde: None,
            repartition_required: self.repartition_required,
        }
    }
}
