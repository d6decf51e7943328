//! KTables, grouped aggregations, caching and tombstones.

use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};

use super::{config, rec, s};

fn driver(b: &StreamsBuilder) -> TopologyTestDriver {
    TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap()
}

#[test]
fn table_source_forwards_updates_and_deletes_and_drops_null_keys() {
    for materialized in [false, true] {
        let b = StreamsBuilder::new();
        let m = if materialized {
            Materialized::as_("t-store")
        } else {
            Materialized::none()
        };
        b.table("t", Consumed::with(Serdes::string(), Serdes::string()), m)
            .to_stream()
            .to("out", Produced::none());
        let d = driver(&b);
        let mut input = d.create_input_topic("t", Serdes::string(), Serdes::string());
        input.pipe_input_at(s("a"), s("1"), 1).unwrap();
        input.pipe_input_at(s("a"), s("2"), 2).unwrap();
        input.pipe_record(rec(None, Some(s("x")), 3)).unwrap();
        input.pipe_tombstone_at(s("a"), 4).unwrap();
        input.pipe_tombstone_at(s("b"), 5).unwrap();
        let out = d.create_output_topic("out", Serdes::string(), Serdes::string());
        let mut expected = vec![
            rec(Some(s("a")), Some(s("1")), 1),
            rec(Some(s("a")), Some(s("2")), 2),
            rec(Some(s("a")), None, 4),
        ];
        // Without a store nothing is known about "b", so its delete passes;
        // a cached store knows it had no "b" and drops the no-op delete.
        if !materialized {
            expected.push(rec(Some(s("b")), None, 5));
        }
        assert_eq!(
            out.read_records_to_list().unwrap(),
            expected,
            "materialized={materialized}"
        );
        assert_eq!(d.metrics().dropped_records, 1);
        if materialized {
            let store = d.get_key_value_store::<String, String>("t-store").unwrap();
            assert_eq!(store.get(&s("a")).unwrap(), None);
        }
    }
}

#[test]
fn table_filter_turns_filtered_rows_into_deletes() {
    let b = StreamsBuilder::new();
    b.table(
        "t",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::none(),
    )
    .filter(|_k, v| *v > 1)
    .to_stream()
    .to("out", Produced::none());
    let b2 = StreamsBuilder::new();
    b2.table(
        "t",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::none(),
    )
    .filter_not(|_k, v| *v > 1)
    .to_stream()
    .to("out", Produced::none());
    for (builder, expected) in [
        (
            b,
            vec![
                rec(Some(s("a")), None, 1),
                rec(Some(s("a")), Some(2), 2),
                rec(Some(s("a")), None, 3),
            ],
        ),
        (
            b2,
            vec![
                rec(Some(s("a")), Some(1), 1),
                rec(Some(s("a")), None, 2),
                rec(Some(s("a")), None, 3),
            ],
        ),
    ] {
        let d = driver(&builder);
        let mut input = d.create_input_topic("t", Serdes::string(), Serdes::i64());
        input.pipe_input_at(s("a"), 1, 1).unwrap();
        input.pipe_input_at(s("a"), 2, 2).unwrap();
        input.pipe_tombstone_at(s("a"), 3).unwrap();
        let out = d.create_output_topic("out", Serdes::string(), Serdes::i64());
        assert_eq!(out.read_records_to_list().unwrap(), expected);
    }
}

#[test]
fn table_map_values_and_materialized_filter() {
    let b = StreamsBuilder::new();
    let t = b.table(
        "t",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    );
    t.map_values(|k, v| format!("{k}={}", v.len()))
        .to_stream()
        .to("lens", Produced::with(Serdes::string(), Serdes::string()));
    t.filter_materialized(|_k, v| v.starts_with('x'), Materialized::as_("xs"))
        .to_stream()
        .to("xs", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("t", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("a"), s("xyz"), 1).unwrap();
    input.pipe_input_at(s("b"), s("q"), 2).unwrap();
    input.pipe_tombstone_at(s("a"), 3).unwrap();
    let lens = d.create_output_topic("lens", Serdes::string(), Serdes::string());
    assert_eq!(
        lens.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("a=3")), 1),
            rec(Some(s("b")), Some(s("b=1")), 2),
            rec(Some(s("a")), None, 3)
        ]
    );
    // The materialized filter is cached: "b" was never in it, so its
    // filtered-out delete is a no-op and is not forwarded.
    let xs = d.create_output_topic("xs", Serdes::string(), Serdes::string());
    assert_eq!(
        xs.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("xyz")), 1),
            rec(Some(s("a")), None, 3)
        ]
    );
    assert_eq!(
        d.get_key_value_store::<String, String>("xs")
            .unwrap()
            .all()
            .unwrap(),
        vec![]
    );
}

/// users -> region, counted per region; users move and leave.
#[test]
fn table_group_by_count_moves_keys_between_groups_and_handles_tombstones() {
    let b = StreamsBuilder::new();
    b.table(
        "user-region",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    )
    .group_by(
        |user, region| (region.clone(), user.clone()),
        Grouped::with(Serdes::string(), Serdes::string()),
    )
    .count(Materialized::as_("users-per-region"))
    .to_stream()
    .to("out", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("user-region", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("alice"), s("asia"), 1).unwrap();
    input.pipe_input_at(s("bob"), s("europe"), 2).unwrap();
    input.pipe_input_at(s("alice"), s("europe"), 3).unwrap();
    input.pipe_tombstone_at(s("bob"), 4).unwrap();
    input.pipe_tombstone_at(s("carol"), 5).unwrap();
    let out = d.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("asia")), Some(1), 1),
            rec(Some(s("europe")), Some(1), 2),
            rec(Some(s("asia")), Some(0), 3),
            rec(Some(s("europe")), Some(2), 3),
            rec(Some(s("europe")), Some(1), 4),
        ]
    );
}

/// Kafka's adder/subtractor semantics with values: an update inside one
/// group is one change (KIP-904), a move subtracts then adds.
#[test]
fn table_group_by_aggregate_with_adder_and_subtractor() {
    let b = StreamsBuilder::new();
    b.table(
        "input",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    )
    .group_by(
        |_k, v| {
            let (g, n) = v.split_once(':').unwrap();
            (g.to_string(), n.parse::<i64>().unwrap())
        },
        Grouped::with(Serdes::string(), Serdes::i64()),
    )
    .aggregate(
        || 0i64,
        |_k, v, agg| agg + v,
        |_k, v, agg| agg - v,
        Materialized::with(Serdes::string(), Serdes::i64()),
    )
    .to_stream()
    .to("output", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("input", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("a"), s("x:1"), 1).unwrap();
    input.pipe_input_at(s("b"), s("x:2"), 2).unwrap();
    input.pipe_input_at(s("a"), s("x:5"), 3).unwrap();
    input.pipe_input_at(s("a"), s("y:5"), 4).unwrap();
    input.pipe_tombstone_at(s("b"), 5).unwrap();
    let out = d.create_output_topic("output", Serdes::string(), Serdes::i64());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("x")), Some(1), 1),
            rec(Some(s("x")), Some(3), 2),
            rec(Some(s("x")), Some(7), 3),
            rec(Some(s("x")), Some(2), 4),
            rec(Some(s("y")), Some(5), 4),
            rec(Some(s("x")), Some(0), 5),
        ]
    );
    // The repartition topic carries Kafka's Change format; read it back
    // raw to pin its size: a same-group update carries both values.
    let rep = d.create_output_topic(
        "test-app-KTABLE-AGGREGATE-STATE-STORE-0000000004-repartition",
        Serdes::string(),
        Serdes::change(Serdes::i64()),
    );
    let changes: Vec<_> = rep
        .read_records_to_list()
        .unwrap()
        .into_iter()
        .map(|r| (r.key.unwrap(), r.value.unwrap()))
        .map(|(k, c)| (k, c.new_value, c.old_value))
        .collect();
    assert_eq!(
        changes,
        vec![
            (s("x"), Some(1), None),
            (s("x"), Some(2), None),
            (s("x"), Some(5), Some(1)),
            (s("x"), None, Some(5)),
            (s("y"), Some(5), None),
            (s("x"), None, Some(2)),
        ]
    );
}

#[test]
fn table_group_by_reduce() {
    let b = StreamsBuilder::new();
    b.table(
        "t",
        Consumed::with(Serdes::string(), Serdes::i64()),
        Materialized::none(),
    )
    .group_by(
        |k, v| (k[..1].to_string(), *v),
        Grouped::with(Serdes::string(), Serdes::i64()),
    )
    .reduce(
        |agg, v| agg + v,
        |agg, v| agg - v,
        Materialized::as_("sums"),
    )
    .to_stream()
    .to("out", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("t", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a1"), 10, 1).unwrap();
    input.pipe_input_at(s("a2"), 5, 2).unwrap();
    input.pipe_input_at(s("a1"), 1, 3).unwrap();
    input.pipe_tombstone_at(s("a2"), 4).unwrap();
    let out = d.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(10), 1),
            rec(Some(s("a")), Some(15), 2),
            rec(Some(s("a")), Some(6), 3),
            rec(Some(s("a")), Some(1), 4),
        ]
    );
    assert_eq!(
        d.get_key_value_store::<String, i64>("sums")
            .unwrap()
            .get(&s("a"))
            .unwrap(),
        Some(1)
    );
}

#[test]
fn stream_reduce_and_aggregate_drop_null_keys_and_values() {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::none());
    grouped
        .reduce(|a, v| format!("{a}{v}"), Materialized::as_("concat"))
        .to_stream()
        .to("reduced", Produced::none());
    grouped
        .aggregate(
            || 100i64,
            |_k, v, agg| agg + v.len() as i64,
            Materialized::with(Serdes::string(), Serdes::i64()),
        )
        .to_stream()
        .to("aggregated", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input
        .pipe_record_list(vec![
            rec(Some(s("a")), Some(s("1")), 1),
            rec(None, Some(s("2")), 2),
            rec(Some(s("a")), None, 3),
            rec(Some(s("a")), Some(s("33")), 4),
            rec(Some(s("b")), Some(s("4")), 5),
            rec(Some(s("a")), Some(s("5")), 0),
        ])
        .unwrap();
    let reduced = d.create_output_topic("reduced", Serdes::string(), Serdes::string());
    // The aggregate's timestamp is the largest it has seen for the key.
    assert_eq!(
        reduced.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("1")), 1),
            rec(Some(s("a")), Some(s("133")), 4),
            rec(Some(s("b")), Some(s("4")), 5),
            rec(Some(s("a")), Some(s("1335")), 4),
        ]
    );
    let aggregated = d.create_output_topic("aggregated", Serdes::string(), Serdes::i64());
    assert_eq!(
        aggregated.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(101), 1),
            rec(Some(s("a")), Some(103), 4),
            rec(Some(s("b")), Some(101), 5),
            rec(Some(s("a")), Some(104), 4),
        ]
    );
    // Two processors each dropped the null-key and the null-value record.
    assert_eq!(d.metrics().dropped_records, 4);
}

/// Two updates of one key inside one input record: the cache forwards only
/// the last; with caching off both are forwarded.
#[test]
fn caching_deduplicates_within_a_commit() {
    for caching in [true, false] {
        let b = StreamsBuilder::new();
        let m = Materialized::as_("counts");
        let m = if caching {
            m
        } else {
            m.with_caching_disabled()
        };
        b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
            .flat_map_values(|v| {
                v.map(|v| v.split(' ').map(str::to_owned).collect::<Vec<_>>())
                    .unwrap_or_default()
            })
            .group_by_key(Grouped::none())
            .count(m)
            .to_stream()
            .to("out", Produced::none());
        let d = driver(&b);
        let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
        input.pipe_input_at(s("k"), s("a b"), 7).unwrap();
        let out = d.create_output_topic("out", Serdes::string(), Serdes::i64());
        let expected: Vec<TestRecord<String, i64>> = if caching {
            vec![rec(Some(s("k")), Some(2), 7)]
        } else {
            vec![rec(Some(s("k")), Some(1), 7), rec(Some(s("k")), Some(2), 7)]
        };
        assert_eq!(
            out.read_records_to_list().unwrap(),
            expected,
            "caching={caching}"
        );
    }
}

#[test]
fn stream_to_table() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .to_table(Materialized::as_("latest").with_caching_disabled())
        .to_stream()
        .to("out", Produced::none());
    let d = driver(&b);
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("a"), s("1"), 1).unwrap();
    input.pipe_input_at(s("a"), s("2"), 2).unwrap();
    input.pipe_tombstone_at(s("a"), 3).unwrap();
    let out = d.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("1")), 1),
            rec(Some(s("a")), Some(s("2")), 2),
            rec(Some(s("a")), None, 3)
        ]
    );
    let store = d.get_key_value_store::<String, String>("latest").unwrap();
    assert_eq!(store.get(&s("a")).unwrap(), None);
}

#[test]
fn global_table_is_loaded_from_its_topic() {
    let b = StreamsBuilder::new();
    let g = b.global_table(
        "countries",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("countries-store"),
    );
    assert_eq!(g.queryable_store_name(), "countries-store");
    let d = driver(&b);
    let mut input = d.create_input_topic("countries", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("fr"), s("France"), 1).unwrap();
    input.pipe_input_at(s("de"), s("Germany"), 2).unwrap();
    input.pipe_tombstone_at(s("fr"), 3).unwrap();
    let store = d
        .get_key_value_store::<String, String>("countries-store")
        .unwrap();
    assert_eq!(store.all().unwrap(), vec![(s("de"), s("Germany"))]);
}
