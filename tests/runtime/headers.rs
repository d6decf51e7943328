//! What sinks write: a record's key, value, timestamp and headers as they
//! came (null keys, tombstones, null header values, repeated header keys in
//! their order), to each of several topics in turn.

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::processor::Headers;
use streams::serde::Serdes;

use super::*;

fn headers(pairs: &[(&str, Option<&str>)]) -> Headers {
    let mut h = Headers::new();
    for (k, v) in pairs {
        h.add(*k, v.map(|v| v.as_bytes().to_vec()));
    }
    h
}

fn record(key: Option<&str>, value: Option<&str>, ts: i64, h: Headers) -> KafkaRecord {
    let mut r = KafkaRecord::new(
        key.map(|k| k.as_bytes().to_vec()),
        value.map(|v| v.as_bytes().to_vec()),
        t0() + ts,
    );
    r.headers = h;
    r
}

/// Key, value, timestamp and headers of a record.
type Written = (Option<Vec<u8>>, Option<Vec<u8>>, i64, Headers);

fn written(cluster: &Cluster, topic: &str) -> Vec<Written> {
    read_topic(&cluster.bootstrap, topic, false)
        .unwrap()
        .into_iter()
        .map(|r| (r.key, r.value, r.timestamp, r.headers))
        .collect()
}

#[test]
fn embedded_sinks_write_records_as_they_came() {
    let cluster = Cluster::embedded();
    let (input, all, keyed) = (unique("hd-in"), unique("hd-all"), unique("hd-keyed"));
    let app = unique("hd-app");
    cluster.create(&[(&input, 1), (&all, 1), (&keyed, 1)]);
    let b = StreamsBuilder::new();
    let s = b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()));
    s.to(&all, Produced::with(Serdes::string(), Serdes::string()));
    // Every keyed record goes to both topics, one after the other.
    s.filter(|k, _| k.is_some())
        .to(&keyed, Produced::with(Serdes::string(), Serdes::string()));
    let input_records = vec![
        record(
            Some("k1"),
            Some("v1"),
            1,
            headers(&[
                ("origin", Some("test")),
                ("empty", None),
                ("origin", Some("again")),
            ]),
        ),
        record(None, Some("v2"), 2, Headers::new()),
        record(Some("k3"), None, 3, headers(&[("x", Some("y"))])),
        record(Some("k4"), Some(""), 4, Headers::new()),
    ];
    produce(&cluster.bootstrap, &input, &input_records).unwrap();
    let dir = state_dir();
    let s = start(b.build().unwrap(), config(&cluster, &app, dir.path()));
    wait_processed(&cluster, &app, &[&input]);
    let expected: Vec<_> = input_records
        .iter()
        .map(|r| {
            (
                r.key.clone(),
                r.value.clone(),
                r.timestamp,
                r.headers.clone(),
            )
        })
        .collect();
    assert_eq!(written(&cluster, &all), expected);
    let keyed_expected: Vec<_> = expected.iter().filter(|r| r.0.is_some()).cloned().collect();
    assert_eq!(written(&cluster, &keyed), keyed_expected);
    close(s);
}
