//! Where sources start reading partitions that have no committed offset:
//! each source's own policy (`Consumed::with_offset_reset_policy`), else
//! the main consumer's `auto.offset.reset`; repartition topics always from
//! the earliest offset.

use streams::dsl::{AutoOffsetReset, Consumed, Produced, StreamsBuilder};
use streams::runtime::{KafkaStreams, produce, read_topic};
use streams::serde::Serdes;

use super::*;

/// The `(key, value)` pairs of `topic`, in offset order (one partition).
fn pairs(cluster: &Cluster, topic: &str) -> Vec<(String, String)> {
    read_topic(&cluster.bootstrap, topic, false)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                String::from_utf8(r.value.unwrap()).unwrap(),
            )
        })
        .collect()
}

/// Two sources copy into one output: `early` with the earliest policy,
/// `late` with the latest. Records written before the start are read from
/// `early` only, even though the instance's own `auto.offset.reset` is
/// `latest`; `late` starts at its end, so of the records written there
/// after the start it reads every one, and none of those before.
pub fn per_source_policies(cluster: &Cluster) {
    let (early, late, output) = (unique("or-early"), unique("or-late"), unique("or-out"));
    let app = unique("or-app");
    cluster.create(&[(&early, 1), (&late, 1), (&output, 1)]);
    produce(&cluster.bootstrap, &early, &[kv("e", "before", 0)]).unwrap();
    produce(&cluster.bootstrap, &late, &[kv("l", "before", 0)]).unwrap();

    let b = StreamsBuilder::new();
    let produced = || Produced::with(Serdes::string(), Serdes::string());
    let consumed = |policy| {
        Consumed::with(Serdes::string(), Serdes::string()).with_offset_reset_policy(policy)
    };
    b.stream(&early, consumed(AutoOffsetReset::earliest()))
        .to(&output, produced());
    b.stream(&late, consumed(AutoOffsetReset::latest()))
        .to(&output, produced());
    let dir = state_dir();
    let cfg = config(cluster, &app, dir.path()).set("consumer.auto.offset.reset", "latest");
    let streams = start(b.build().unwrap(), cfg);
    wait_running(&streams);

    // `late`'s end is looked up when its partition is assigned; write until
    // a record written after the lookup comes through, then one more.
    let mut n = 0;
    eventually("a record from `late`", Duration::from_secs(60), || {
        n += 1;
        produce(
            &cluster.bootstrap,
            &late,
            &[kv("l", &format!("after-{n}"), n)],
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(200));
        pairs(cluster, &output).iter().any(|(k, _)| k == "l")
    });
    produce(&cluster.bootstrap, &late, &[kv("l", "last", 100)]).unwrap();
    wait_processed(cluster, &app, &[&early, &late]);

    let got = pairs(cluster, &output);
    let from_early: Vec<&str> = got
        .iter()
        .filter(|(k, _)| k == "e")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(from_early, vec!["before"]);
    let from_late: Vec<&str> = got
        .iter()
        .filter(|(k, _)| k == "l")
        .map(|(_, v)| v.as_str())
        .collect();
    // The first records written after the start may predate the lookup of
    // the end; from the first one read on, every one is read, in order.
    let first: i64 = from_late[0].trim_start_matches("after-").parse().unwrap();
    let mut want: Vec<String> = (first..=n).map(|i| format!("after-{i}")).collect();
    want.push("last".into());
    assert_eq!(from_late, want);
    close(streams);
}

#[test]
fn embedded_per_source_policies() {
    per_source_policies(&Cluster::embedded());
}

/// A repartition topic is read from its earliest offset even when
/// `auto.offset.reset` is `latest`: what was written into it before this
/// instance first took its partition (here by hand, before the start; in
/// life by the instance's own upstream tasks, or by another instance) is
/// counted, not skipped.
#[test]
fn embedded_repartition_topics_start_at_the_earliest_offset() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("orr-in"), unique("orr-out"), unique("orr-app"));
    let repartition = format!("{app}-counts-store-repartition");
    cluster.create(&[(&input, 1), (&output, 1), (&repartition, 1)]);
    let words = ["a", "b", "b", "c"];
    let records: Vec<KafkaRecord> = words
        .iter()
        .enumerate()
        .map(|(i, w)| kv(w, w, i as i64))
        .collect();
    produce(&cluster.bootstrap, &repartition, &records).unwrap();
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("consumer.auto.offset.reset", "latest");
    let streams = start(
        word_count_topology(&input, &output, StoreType::InMemory),
        cfg,
    );
    wait_running(&streams);
    wait_processed(&cluster, &app, &[&input, &repartition]);
    assert_eq!(final_counts(&cluster, &output), expected_counts(&words));
    close(streams);
}

/// A source whose policy is `none` and whose partition has no committed
/// offset stops the instance with an error that names the partition and
/// the fix.
#[test]
fn embedded_policy_none_without_committed_offset_fails() {
    let cluster = Cluster::embedded();
    let (input, output, app) = (unique("orn-in"), unique("orn-out"), unique("orn-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    let b = StreamsBuilder::new();
    b.stream(
        &input,
        Consumed::with(Serdes::string(), Serdes::string())
            .with_offset_reset_policy(AutoOffsetReset::none()),
    )
    .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut streams = KafkaStreams::new(b.build().unwrap(), config(&cluster, &app, dir.path()));
    let seen = errors.clone();
    streams.set_uncaught_exception_handler(move |e| {
        seen.lock().unwrap().push(e.to_string());
        streams::runtime::StreamsUncaughtExceptionResponse::ShutdownClient
    });
    streams.start().unwrap();
    assert!(streams.wait_for_state(State::Error, Duration::from_secs(60)));
    let errors = errors.lock().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains(&format!(
            "no committed offset for input partition {input}-0"
        )) && errors[0].contains("Consumed::with_offset_reset_policy"),
        "{}",
        errors[0]
    );
}

/// `by_duration` starts a partition at its first record of the last hour:
/// older records are skipped, the rest read in order. (The embedded mock
/// cannot look offsets up by time, so this runs on the real broker.)
pub fn by_duration(cluster: &Cluster) {
    let (input, output, app) = (unique("ord-in"), unique("ord-out"), unique("ord-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    // `kv` stamps relative to the tests' start (`t0`, a moment ago).
    let minutes = |m: i64| -m * 60_000;
    produce(
        &cluster.bootstrap,
        &input,
        &[
            kv("k", "3h-ago", minutes(180)),
            kv("k", "2h-ago", minutes(120)),
            kv("k", "10min-ago", minutes(10)),
            kv("k", "5min-ago", minutes(5)),
        ],
    )
    .unwrap();
    let b = StreamsBuilder::new();
    b.stream(
        &input,
        Consumed::with(Serdes::string(), Serdes::string())
            .with_offset_reset_policy(AutoOffsetReset::by_duration(Duration::from_secs(3600))),
    )
    .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let streams = start(b.build().unwrap(), config(cluster, &app, dir.path()));
    wait_running(&streams);
    wait_processed(cluster, &app, &[&input]);
    let values: Vec<String> = pairs(cluster, &output)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert_eq!(values, vec!["10min-ago", "5min-ago"]);
    close(streams);
}
