//! What sinks write: a record's key, value, timestamp and headers as they
//! came (null keys, tombstones, null header values, repeated header keys in
//! their order), to each of several topics in turn.

use std::sync::{Arc, Mutex};

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::processor::{Headers, Processor, ProcessorContext, Record};
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

/// Key and headers of each record a processor got.
type Seen = Arc<Mutex<Vec<(Option<String>, Headers)>>>;

/// A Processor API processor that keeps what it sees. It says nothing
/// about headers, so the runtime must assume it reads them.
struct Keep(Seen);

impl Processor<String, String, String, String> for Keep {
    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), StreamsError> {
        self.0
            .lock()
            .unwrap()
            .push((record.key.clone(), record.headers.clone()));
        ctx.forward(record)
    }
}

/// The runtime skips reading headers only where nothing can see them: a
/// processor of the Processor API with no sink after it still gets every
/// record's headers (and the DSL's nodes before it pass them on).
#[test]
fn embedded_processors_get_headers_without_a_sink() {
    let cluster = Cluster::embedded();
    let input = unique("hp-in");
    let app = unique("hp-app");
    cluster.create(&[(&input, 1)]);
    let seen: Seen = Arc::default();
    let b = StreamsBuilder::new();
    let keep = seen.clone();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .filter(|k, _| k.is_some())
        .map_values(|v| v.cloned())
        .process(move || Keep(keep.clone()), &[]);
    let input_records = vec![
        record(
            Some("k1"),
            Some("v1"),
            1,
            headers(&[("origin", Some("test")), ("empty", None)]),
        ),
        record(None, Some("v2"), 2, headers(&[("dropped", Some("x"))])),
        record(Some("k3"), Some("v3"), 3, Headers::new()),
        record(Some("k4"), None, 4, headers(&[("x", Some("y"))])),
    ];
    produce(&cluster.bootstrap, &input, &input_records).unwrap();
    let dir = state_dir();
    let s = start(b.build().unwrap(), config(&cluster, &app, dir.path()));
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (
                Some("k1".to_string()),
                headers(&[("origin", Some("test")), ("empty", None)])
            ),
            (Some("k3".to_string()), Headers::new()),
            (Some("k4".to_string()), headers(&[("x", Some("y"))])),
        ]
    );
    close(s);
}

/// With a dead-letter topic, a record that fails to deserialize keeps its
/// headers there even when no node of its sub-topology reads headers.
#[test]
fn embedded_dead_letters_keep_headers_where_no_node_reads_them() {
    let cluster = Cluster::embedded();
    let (input, dlq, app) = (unique("hd-dl-in"), unique("hd-dlq"), unique("hd-dl-app"));
    cluster.create(&[(&input, 1), (&dlq, 1)]);
    let seen: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let b = StreamsBuilder::new();
    let keep = seen.clone();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::i64()))
        .map_values(|v| v.map(|x| x * 2))
        .foreach(move |k, v| {
            keep.lock()
                .unwrap()
                .push((k.cloned().unwrap_or_default(), v.copied().unwrap_or(-1)));
        });
    let number = |k: &str, v: i64, ts: i64| {
        KafkaRecord::new(
            Some(k.as_bytes().to_vec()),
            Some(v.to_be_bytes().to_vec()),
            t0() + ts,
        )
    };
    produce(
        &cluster.bootstrap,
        &input,
        &[
            number("a", 1, 10),
            record(
                Some("bad"),
                Some("not8"),
                20,
                headers(&[("origin", Some("test"))]),
            ),
            number("b", 2, 30),
        ],
    )
    .unwrap();
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path())
        .set(
            "default.deserialization.exception.handler",
            "LogAndContinueExceptionHandler",
        )
        .set("errors.dead.letter.queue.topic.name", &dlq);
    let s = start(b.build().unwrap(), cfg);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(
        *seen.lock().unwrap(),
        vec![("a".to_string(), 2), ("b".to_string(), 4)]
    );
    let dead = read_topic(&cluster.bootstrap, &dlq, false).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].key.as_deref(), Some(&b"bad"[..]));
    assert_eq!(
        dead[0]
            .headers
            .last_header("origin")
            .and_then(|h| h.value.clone()),
        Some(b"test".to_vec())
    );
    close(s);
}
