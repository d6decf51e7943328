//! Word count end to end, and the repartition topic it goes through.

use std::collections::BTreeMap;

use streams::dsl::StoreType;
use streams::partition::partition_for_key;
use streams::runtime::read_topic;

use super::*;

const TEXT: [&str; 3] = [
    "Apache Kafka Streams Example",
    "Using Kafka Streams Test Utils",
    "Reading and Writing Kafka Topic",
];

/// Word count with caching off: every update reaches the output, so each
/// word's records are exactly 1, 2, ... n, stamped with the times of the
/// lines the occurrences came from. The lines share a key, so they are in
/// one partition and counted in order.
pub fn word_count_exact(cluster: &Cluster) {
    let input = unique("wc-in");
    let output = unique("wc-out");
    let app = unique("wc-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let dir = state_dir();
    let cfg = config(cluster, &app, dir.path()).set("statestore.cache.max.bytes", "0");
    let streams = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        cfg,
    );
    let keyed: Vec<KafkaRecord> = lines(&TEXT, t0() + 1_000)
        .into_iter()
        .map(|mut r| {
            r.key = Some(b"line".to_vec());
            r
        })
        .collect();
    streams::runtime::produce(&cluster.bootstrap, &input, &keyed).unwrap();
    wait_processed(cluster, &app, &[&input]);

    let updates = count_updates(cluster, &output, false);
    let mut expected: BTreeMap<String, Vec<(i64, i64)>> = BTreeMap::new();
    for (i, line) in TEXT.iter().enumerate() {
        for w in line.to_lowercase().split_whitespace() {
            let e = expected.entry(w.to_string()).or_default();
            e.push((e.len() as i64 + 1, t0() + 1_000 + i as i64));
        }
    }
    assert_eq!(updates, expected);
    close(streams);

    // A clean close leaves a checkpoint in every task directory with a
    // persistent store (the count's sub-topology, tasks 1_0 and 1_1): the
    // offset of the last changelog record of its partition. Without a cache
    // every occurrence of a word is one changelog record, on the partition
    // of the word.
    let names: Vec<String> = task_dirs(dir.path(), &app)
        .iter()
        .map(|d| d.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["0_0", "0_1", "1_0", "1_1"]);
    for p in 0..2 {
        let updates = TEXT
            .iter()
            .flat_map(|l| l.split_whitespace())
            .filter(|w| partition_for_key(w.to_lowercase().as_bytes(), 2) == p)
            .count();
        let expected = match updates {
            0 => "0\n0\n".to_string(),
            n => format!("0\n1\n{app}-counts-store-changelog {p} {}\n", n - 1),
        };
        let d = dir.path().join(&app).join(format!("1_{p}"));
        assert_eq!(
            std::fs::read_to_string(d.join(".checkpoint")).expect("checkpoint"),
            expected
        );
        assert!(!d.join(".lock").exists(), "lock released on close");
        // The stateless tasks have no stores, so no checkpoint.
        assert!(
            !dir.path()
                .join(&app)
                .join(format!("0_{p}/.checkpoint"))
                .exists()
        );
    }
}

/// A configuration read from `STREAMS_*` environment variables (here
/// given as pairs, as `StreamsConfig::with_vars` takes them; `from_env`
/// reads the same from the process environment) runs the application.
#[test]
fn embedded_word_count_configured_from_the_environment() {
    let cluster = Cluster::embedded();
    let input = unique("env-in");
    let output = unique("env-out");
    let app = unique("env-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let dir = state_dir();
    let vars = [
        ("STREAMS_APPLICATION_ID", app.as_str()),
        ("STREAMS_BOOTSTRAP_SERVERS", cluster.bootstrap.as_str()),
        ("STREAMS_STATE_DIR", &dir.path().display().to_string()),
        ("STREAMS_COMMIT_INTERVAL_MS", "100"),
        ("STREAMS_NUM_STREAM_THREADS", "2"),
        ("STREAMS_STATESTORE_CACHE_MAX_BYTES", "0"),
        ("STREAMS_CONSUMER_SESSION_TIMEOUT_MS", "6000"),
        ("STREAMS_PRODUCER_LINGER_MS", "5"),
        ("STREAMS_LOG", "debug"),
        ("PATH", "/usr/bin"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let cfg = StreamsConfig::new().with_vars(vars);
    assert_eq!(cfg.num_stream_threads().unwrap(), 2);
    let streams = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        cfg,
    );
    // Both threads in the group first: while the second one joins, the
    // embedded broker refuses the first one's commits (RebalanceInProgress;
    // a real broker takes them), so its tasks would close dirty and,
    // at-least-once, count their records again.
    wait_running(&streams);
    produce_lines(&cluster, &input, &TEXT, t0() + 1_000);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(final_counts(&cluster, &output), expected_counts(&TEXT));
    assert_eq!(streams.active_tasks().len(), 4);
    close(streams);
}

/// Word count with the default cache: the final counts are exact.
pub fn word_count_cached(cluster: &Cluster) {
    let input = unique("wcc-in");
    let output = unique("wcc-out");
    let app = unique("wcc-app");
    cluster.create(&[(&input, 3), (&output, 1)]);
    let dir = state_dir();
    let streams = start(
        word_count_topology(&input, &output, StoreType::InMemory),
        config(cluster, &app, dir.path()),
    );
    produce_lines(cluster, &input, &TEXT, t0() + 1_000);
    wait_processed(cluster, &app, &[&input]);
    assert_eq!(final_counts(cluster, &output), expected_counts(&TEXT));
    close(streams);
}

#[test]
fn embedded_word_count_exact() {
    word_count_exact(&Cluster::embedded());
}

#[test]
fn embedded_word_count_cached() {
    word_count_cached(&Cluster::embedded());
}

/// The grouping goes through `<app>-counts-store-repartition`, created with
/// the input's partition count; each word lands on the partition Java's
/// partitioner picks (murmur2 of the key bytes), and the changelog has one
/// partition per task.
#[test]
fn embedded_repartition_through_a_real_topic() {
    let cluster = Cluster::embedded();
    let input = unique("rp-in");
    let output = unique("rp-out");
    let app = unique("rp-app");
    cluster.create(&[(&input, 3), (&output, 3)]);
    let dir = state_dir();
    let streams = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    produce_lines(&cluster, &input, &TEXT, t0() + 5_000);
    wait_processed(&cluster, &app, &[&input]);
    let repartition = format!("{app}-counts-store-repartition");
    let records = read_topic(&cluster.bootstrap, &repartition, false).unwrap();
    let words: usize = TEXT.iter().map(|l| l.split_whitespace().count()).sum();
    assert_eq!(records.len(), words);
    for r in &records {
        let key = r.key.as_deref().unwrap();
        assert_eq!(
            r.partition,
            Some(partition_for_key(key, 3)),
            "{:?}",
            r.key_str()
        );
        // The value is the word (the line's words, re-keyed by themselves).
        assert_eq!(r.key_str(), r.value_str());
    }
    let mut seen: Vec<i32> = records.iter().filter_map(|r| r.partition).collect();
    seen.sort();
    seen.dedup();
    assert!(seen.len() > 1, "words spread over partitions: {seen:?}");
    // The output is keyed the same way.
    for r in read_topic(&cluster.bootstrap, &output, false).unwrap() {
        assert_eq!(
            r.partition,
            Some(partition_for_key(r.key.as_deref().unwrap(), 3))
        );
    }
    assert_eq!(final_counts(&cluster, &output), expected_counts(&TEXT));
    close(streams);
}
