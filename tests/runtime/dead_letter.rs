//! Records that fail to deserialize: skipped and counted
//! (log-and-continue), and written with their original bytes and
//! `__streams.errors.*` headers to the dead-letter topic.

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::processor::Headers;
use streams::runtime::{produce, read_topic};
use streams::serde::Serdes;

use super::*;

fn doubling(input: &str, output: &str) -> streams::topology::Topology {
    let b = StreamsBuilder::new();
    b.stream(input, Consumed::with(Serdes::string(), Serdes::i64()))
        .map_values(|v| v.map(|x| x * 2))
        .to(output, Produced::with(Serdes::string(), Serdes::i64()));
    b.build().unwrap()
}

fn good(key: &str, v: i64, ts: i64) -> KafkaRecord {
    KafkaRecord::new(
        Some(key.as_bytes().to_vec()),
        Some(v.to_be_bytes().to_vec()),
        t0() + ts,
    )
}

pub fn dead_letter_topic(cluster: &Cluster) {
    let input = unique("dlq-in");
    let output = unique("dlq-out");
    let dlq = unique("dlq");
    let app = unique("dlq-app");
    cluster.create(&[(&input, 1), (&output, 1), (&dlq, 1)]);
    let dir = state_dir();
    let cfg = config(cluster, &app, dir.path())
        .set(
            "default.deserialization.exception.handler",
            "LogAndContinueExceptionHandler",
        )
        .set("errors.dead.letter.queue.topic.name", &dlq);
    let s = start(doubling(&input, &output), cfg);
    let mut bad = KafkaRecord::new(Some(b"bad".to_vec()), Some(b"not8".to_vec()), t0() + 20);
    let mut headers = Headers::new();
    headers.add("origin", Some(b"test".to_vec()));
    bad.headers = headers;
    produce(
        &cluster.bootstrap,
        &input,
        &[good("a", 1, 10), bad, good("b", 2, 30)],
    )
    .unwrap();
    wait_processed(cluster, &app, &[&input]);

    let out: Vec<(String, i64, i64)> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                i64_of(r.value.as_deref()),
                r.timestamp,
            )
        })
        .collect();
    assert_eq!(
        out,
        vec![
            ("a".to_string(), 2, t0() + 10),
            ("b".to_string(), 4, t0() + 30)
        ]
    );

    let dead = read_topic(&cluster.bootstrap, &dlq, false).unwrap();
    assert_eq!(dead.len(), 1);
    let d = &dead[0];
    assert_eq!(d.key.as_deref(), Some(&b"bad"[..]));
    assert_eq!(d.value.as_deref(), Some(&b"not8"[..]));
    assert_eq!(d.timestamp, t0() + 20);
    let header = |k: &str| -> String {
        String::from_utf8(
            d.headers
                .last_header(k)
                .and_then(|h| h.value.clone())
                .unwrap_or_default(),
        )
        .unwrap()
    };
    assert_eq!(header("origin"), "test", "the original headers are kept");
    assert_eq!(header("__streams.errors.topic"), input);
    assert_eq!(header("__streams.errors.partition"), "0");
    assert_eq!(header("__streams.errors.offset"), "1");
    assert_eq!(
        header("__streams.errors.exception"),
        "SerializationException"
    );
    assert!(!header("__streams.errors.message").is_empty());
    assert!(!header("__streams.errors.stacktrace").is_empty());

    let m = s.metrics();
    assert_eq!(m.skipped_deserialization, 1);
    assert_eq!(m.dead_letter_records, 1);
    close(s);
}

#[test]
fn embedded_dead_letter_topic() {
    dead_letter_topic(&Cluster::embedded());
}

#[test]
fn embedded_log_and_continue_counts_skipped_records() {
    let cluster = Cluster::embedded();
    let input = unique("lc-in");
    let output = unique("lc-out");
    let app = unique("lc-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set(
        "default.deserialization.exception.handler",
        "LogAndContinue",
    );
    let s = start(doubling(&input, &output), cfg);
    produce(
        &cluster.bootstrap,
        &input,
        &[
            good("a", 1, 10),
            KafkaRecord::new(Some(b"x".to_vec()), Some(b"1".to_vec()), t0() + 11),
            KafkaRecord::new(Some(b"y".to_vec()), Some(b"22".to_vec()), t0() + 12),
            good("b", 5, 13),
        ],
    )
    .unwrap();
    wait_processed(&cluster, &app, &[&input]);
    let out: Vec<i64> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .map(|r| i64_of(r.value.as_deref()))
        .collect();
    assert_eq!(out, vec![2, 10]);
    assert_eq!(s.metrics().skipped_deserialization, 2);
    assert_eq!(s.metrics().dead_letter_records, 0);
    close(s);
}
