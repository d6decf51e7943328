//! Stateless KStream operators, nulls included.

use std::sync::{Arc, Mutex};

use streams::dsl::{Branched, Consumed, Named, Produced, Repartitioned, StreamsBuilder};
use streams::serde::Serdes;
use streams::testing::{TestRecord, TopologyTestDriver};

use super::{config, rec, s};

type R = TestRecord<String, String>;

fn run(builder: StreamsBuilder, input: Vec<R>, out: &str) -> Vec<R> {
    let driver =
        TopologyTestDriver::with_wall_clock(builder.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(input).unwrap();
    driver
        .create_output_topic(out, Serdes::string(), Serdes::string())
        .read_records_to_list()
        .unwrap()
}

fn source(builder: &StreamsBuilder) -> streams::dsl::KStream<String, String> {
    builder.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
}

fn inputs() -> Vec<R> {
    vec![
        rec(Some(s("a")), Some(s("x")), 1),
        rec(None, Some(s("y")), 2),
        rec(Some(s("b")), None, 3),
        rec(Some(s("c")), Some(s("zz")), 4),
    ]
}

#[test]
fn filter_sees_nulls_and_keeps_matching_records() {
    let b = StreamsBuilder::new();
    source(&b)
        .filter(|k, v| k.is_some() && v.is_some())
        .to("out", Produced::none());
    assert_eq!(
        run(b, inputs(), "out"),
        vec![
            rec(Some(s("a")), Some(s("x")), 1),
            rec(Some(s("c")), Some(s("zz")), 4)
        ]
    );
}

#[test]
fn filter_not_drops_matching_records() {
    let b = StreamsBuilder::new();
    source(&b)
        .filter_not(|_k, v| v.is_none())
        .to("out", Produced::none());
    assert_eq!(
        run(b, inputs(), "out"),
        vec![
            rec(Some(s("a")), Some(s("x")), 1),
            rec(None, Some(s("y")), 2),
            rec(Some(s("c")), Some(s("zz")), 4)
        ]
    );
}

#[test]
fn map_values_keeps_keys_and_maps_nulls_as_the_function_says() {
    let b = StreamsBuilder::new();
    source(&b)
        .map_values(|v| Some(v.map_or(s("<null>"), |v| v.to_uppercase())))
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        run(b, inputs(), "out"),
        vec![
            rec(Some(s("a")), Some(s("X")), 1),
            rec(None, Some(s("Y")), 2),
            rec(Some(s("b")), Some(s("<null>")), 3),
            rec(Some(s("c")), Some(s("ZZ")), 4)
        ]
    );
}

#[test]
fn map_values_with_key_and_to_a_tombstone() {
    let b = StreamsBuilder::new();
    source(&b)
        .map_values_with_key(|k, v| match (k, v) {
            (Some(k), Some(v)) => Some(format!("{k}{v}")),
            _ => None,
        })
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        run(b, inputs(), "out"),
        vec![
            rec(Some(s("a")), Some(s("ax")), 1),
            rec(None, None, 2),
            rec(Some(s("b")), None, 3),
            rec(Some(s("c")), Some(s("czz")), 4)
        ]
    );
}

#[test]
fn map_and_select_key() {
    let b = StreamsBuilder::new();
    let src = source(&b);
    src.map(|k, v| (v.cloned(), k.cloned())).to(
        "swapped",
        Produced::with(Serdes::string(), Serdes::string()),
    );
    src.select_key(|_k, v| v.map(|v| format!("{}!", v))).to(
        "rekeyed",
        Produced::with(Serdes::string(), Serdes::string()),
    );
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(inputs()).unwrap();
    let swapped = driver.create_output_topic("swapped", Serdes::string(), Serdes::string());
    assert_eq!(
        swapped.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("x")), Some(s("a")), 1),
            rec(Some(s("y")), None, 2),
            rec(None, Some(s("b")), 3),
            rec(Some(s("zz")), Some(s("c")), 4)
        ]
    );
    let rekeyed = driver.create_output_topic("rekeyed", Serdes::string(), Serdes::string());
    assert_eq!(
        rekeyed.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("x!")), Some(s("x")), 1),
            rec(Some(s("y!")), Some(s("y")), 2),
            rec(None, None, 3),
            rec(Some(s("zz!")), Some(s("zz")), 4)
        ]
    );
}

#[test]
fn flat_map_and_flat_map_values() {
    let b = StreamsBuilder::new();
    let src = source(&b);
    src.flat_map_values(|v| {
        v.map(|v| v.chars().map(|c| c.to_string()).collect::<Vec<_>>())
            .unwrap_or_default()
    })
    .to("chars", Produced::with(Serdes::string(), Serdes::string()));
    src.flat_map(|k, v| match (k, v) {
        (Some(k), Some(v)) => vec![
            (Some(v.clone()), Some(k.clone())),
            (None, Some(format!("{k}-{v}"))),
        ],
        _ => vec![],
    })
    .to("pairs", Produced::with(Serdes::string(), Serdes::string()));
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(inputs()).unwrap();
    assert_eq!(
        driver
            .create_output_topic("chars", Serdes::string(), Serdes::string())
            .read_records_to_list()
            .unwrap(),
        vec![
            rec(Some(s("a")), Some(s("x")), 1),
            rec(None, Some(s("y")), 2),
            rec(Some(s("c")), Some(s("z")), 4),
            rec(Some(s("c")), Some(s("z")), 4)
        ]
    );
    assert_eq!(
        driver
            .create_output_topic("pairs", Serdes::string(), Serdes::string())
            .read_records_to_list()
            .unwrap(),
        vec![
            rec(Some(s("x")), Some(s("a")), 1),
            rec(None, Some(s("a-x")), 1),
            rec(Some(s("zz")), Some(s("c")), 4),
            rec(None, Some(s("c-zz")), 4)
        ]
    );
}

#[test]
fn peek_and_foreach_see_every_record_in_order() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    let each = Arc::new(Mutex::new(Vec::new()));
    let each2 = each.clone();
    let b = StreamsBuilder::new();
    let s1 = source(&b).peek(move |k, v| seen2.lock().unwrap().push((k.cloned(), v.cloned())));
    s1.foreach(move |k, _v| each2.lock().unwrap().push(k.cloned()));
    s1.to("out", Produced::none());
    let out = run(b, inputs(), "out");
    assert_eq!(out, inputs());
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (Some(s("a")), Some(s("x"))),
            (None, Some(s("y"))),
            (Some(s("b")), None),
            (Some(s("c")), Some(s("zz")))
        ]
    );
    assert_eq!(
        *each.lock().unwrap(),
        vec![Some(s("a")), None, Some(s("b")), Some(s("c"))]
    );
}

#[test]
fn split_sends_each_record_to_the_first_matching_branch() {
    let b = StreamsBuilder::new();
    let branches = source(&b)
        .split(Named::as_("split-"))
        .branch(|k, _v| k.is_none(), Branched::as_("nokey"))
        .branch(
            |_k, v| v.is_some_and(|v| v.len() > 1),
            Branched::as_("long"),
        )
        .default_branch(Branched::as_("rest"));
    assert_eq!(
        branches.keys().cloned().collect::<Vec<_>>(),
        vec![s("split-long"), s("split-nokey"), s("split-rest")]
    );
    for (name, stream) in &branches {
        stream.to(name, Produced::none());
    }
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(inputs()).unwrap();
    let read = |t: &str| {
        driver
            .create_output_topic(t, Serdes::string(), Serdes::string())
            .read_records_to_list()
            .unwrap()
    };
    assert_eq!(read("split-nokey"), vec![rec(None, Some(s("y")), 2)]);
    assert_eq!(
        read("split-long"),
        vec![rec(Some(s("c")), Some(s("zz")), 4)]
    );
    assert_eq!(
        read("split-rest"),
        vec![
            rec(Some(s("a")), Some(s("x")), 1),
            rec(Some(s("b")), None, 3)
        ]
    );
}

#[test]
fn split_without_default_drops_unmatched_and_chains_functions() {
    let b = StreamsBuilder::new();
    let branches = source(&b)
        .split(None)
        .branch(
            |_k, v| v.is_some_and(|v| v.starts_with('z')),
            Branched::with_function(|s: streams::dsl::KStream<String, String>| {
                Some(s.map_values(|v| v.map(|v| v.to_uppercase())))
            }),
        )
        .no_default_branch();
    assert_eq!(
        branches.keys().cloned().collect::<Vec<_>>(),
        vec![s("KSTREAM-BRANCH-00000000011")]
    );
    branches
        .values()
        .next()
        .unwrap()
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        run(b, inputs(), "out"),
        vec![rec(Some(s("c")), Some(s("ZZ")), 4)]
    );
}

#[test]
fn merge_interleaves_in_processing_order() {
    let b = StreamsBuilder::new();
    let src = source(&b);
    let a = src.filter(|_k, v| v.is_some_and(|v| v == "x"));
    let c = src
        .filter(|_k, v| v.is_some_and(|v| v == "zz"))
        .map_values(|v| v.map(|v| format!("{v}{v}")));
    a.merge(&c)
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    assert_eq!(
        run(b, inputs(), "out"),
        vec![
            rec(Some(s("a")), Some(s("x")), 1),
            rec(Some(s("c")), Some(s("zzzz")), 4)
        ]
    );
}

#[test]
fn to_with_topic_name_extractor() {
    let b = StreamsBuilder::new();
    source(&b).to_extractor(
        |k, _v, ctx| format!("out-{}-{}", k.map_or("null", |k| k.as_str()), ctx.timestamp),
        Produced::none(),
    );
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(inputs()).unwrap();
    assert_eq!(
        driver.produced_topic_names(),
        vec![s("out-a-1"), s("out-b-3"), s("out-c-4"), s("out-null-2")]
    );
    let out = driver.create_output_topic("out-c-4", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("c")), Some(s("zz")), 4)]
    );
}

#[test]
fn repartition_drops_null_keys_and_feeds_the_topic_back() {
    let b = StreamsBuilder::new();
    source(&b)
        .repartition(Repartitioned::as_("by-key"))
        .to("out", Produced::none());
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_record_list(inputs()).unwrap();
    let expected = vec![
        rec(Some(s("a")), Some(s("x")), 1),
        rec(Some(s("b")), None, 3),
        rec(Some(s("c")), Some(s("zz")), 4),
    ];
    let through = driver.create_output_topic(
        "test-app-by-key-repartition",
        Serdes::string(),
        Serdes::string(),
    );
    assert_eq!(through.read_records_to_list().unwrap(), expected);
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(out.read_records_to_list().unwrap(), expected);
}

/// With `LogAndSkipOnInvalidTimestamp` as the default extractor, a record
/// with a negative timestamp is dropped and counted.
#[test]
fn negative_timestamps_are_dropped_and_counted() {
    let b = StreamsBuilder::new();
    source(&b).to("out", Produced::none());
    let cfg = config().set(
        "default.timestamp.extractor",
        "org.apache.kafka.streams.processor.LogAndSkipOnInvalidTimestamp",
    );
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), cfg, 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    topic.pipe_input_at(s("a"), s("x"), -5).unwrap();
    topic.pipe_input_at(s("b"), s("y"), 5).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("b")), Some(s("y")), 5)]
    );
    assert_eq!(driver.metrics().dropped_records, 1);
}

#[test]
fn undeserializable_records_fail_or_are_skipped_and_counted() {
    let build = || {
        let b = StreamsBuilder::new();
        b.stream("in", Consumed::with(Serdes::string(), Serdes::i64()))
            .to("out", Produced::none());
        b.build().unwrap()
    };
    // Default: log and fail.
    let driver = TopologyTestDriver::with_wall_clock(build(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = topic
        .pipe_input_at(s("k"), s("not-8-bytes"), 1)
        .unwrap_err();
    assert!(err.to_string().contains("deserialization failed"), "{err}");

    // Log and continue: counted, and processing goes on.
    let cfg = config().set(
        "default.deserialization.exception.handler",
        "LogAndContinueExceptionHandler",
    );
    let driver = TopologyTestDriver::with_wall_clock(build(), cfg, 0).unwrap();
    let mut bad = driver.create_input_topic("in", Serdes::string(), Serdes::string());
    let mut good = driver.create_input_topic("in", Serdes::string(), Serdes::i64());
    bad.pipe_input_at(s("k"), s("oops"), 1).unwrap();
    good.pipe_input_at(s("k"), 42, 2).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::i64());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("k")), Some(42), 2)]
    );
    assert_eq!(driver.metrics().skipped_deserialization, 1);
}

#[test]
fn reading_a_topic_twice_fails_the_build() {
    let b = StreamsBuilder::new();
    source(&b).to("out", Produced::none());
    source(&b).to("out2", Produced::none());
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("topic 'in' is already read by source node 'KSTREAM-SOURCE-0000000000'"),
        "{err}"
    );
}

#[test]
fn unknown_input_topic_is_an_error() {
    let b = StreamsBuilder::new();
    source(&b).to("out", Produced::none());
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic("nope", Serdes::string(), Serdes::string());
    let err = topic.pipe_input_at(s("a"), s("b"), 1).unwrap_err();
    assert_eq!(err.to_string(), "test driver: unknown topic: nope");
}

#[test]
fn missing_serdes_fail_the_build_naming_the_fix() {
    let b = StreamsBuilder::new();
    source(&b)
        .map_values(|v| v.map(|v| v.len() as i64))
        .to("out", Produced::none());
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("value serde of node 'KSTREAM-SINK-0000000002'"),
        "{err}"
    );
    assert!(err.contains("Produced::with"), "{err}");
}

#[test]
fn auto_advancing_input_topic_time() {
    let b = StreamsBuilder::new();
    source(&b).to("out", Produced::none());
    let driver = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut topic = driver.create_input_topic_with_time(
        "in",
        Serdes::string(),
        Serdes::string(),
        1000,
        std::time::Duration::from_millis(10),
    );
    topic.pipe_input(s("a"), s("1")).unwrap();
    topic.pipe_value(s("2")).unwrap();
    topic.advance_time(std::time::Duration::from_millis(100));
    topic.pipe_key_value_list(vec![(s("b"), s("3"))]).unwrap();
    topic.pipe_value_list(vec![s("4")]).unwrap();
    let out = driver.create_output_topic("out", Serdes::string(), Serdes::string());
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("1")), 1000),
            rec(None, Some(s("2")), 1010),
            rec(Some(s("b")), Some(s("3")), 1120),
            rec(None, Some(s("4")), 1130)
        ]
    );
    assert!(out.read_record().is_err());
}
