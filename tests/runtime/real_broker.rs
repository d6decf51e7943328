//! The same scenarios on a real Apache Kafka broker, and exactly-once with
//! instances killed mid-transaction (which only a real broker can prove:
//! the embedded mock does not enforce transactions). Skipped, with a
//! printed reason, when `BOOTSTRAP_SERVERS` is unset.

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use streams::dsl::{Consumed, Grouped, Materialized, Produced, StoreType, StreamsBuilder};
use streams::runtime::{produce, wait_until_processed};
use streams::serde::Serdes;

use super::*;

#[test]
fn real_word_count() {
    let Some(cluster) = Cluster::real("real_word_count") else {
        return;
    };
    super::word_count::word_count_exact(&cluster);
    super::word_count::word_count_cached(&cluster);
}

#[test]
fn real_restore_into_empty_state_dir() {
    let Some(cluster) = Cluster::real("real_restore_into_empty_state_dir") else {
        return;
    };
    super::restore::restore_into_empty_state_dir(&cluster, StoreType::RocksDb);
}

#[test]
fn real_two_instances_share_and_migrate() {
    let Some(cluster) = Cluster::real("real_two_instances_share_and_migrate") else {
        return;
    };
    super::rebalance::two_instances_share_and_migrate(&cluster, StoreType::RocksDb);
}

/// Per-source reset policies, and `by_duration`, which needs a broker that
/// looks offsets up by time.
#[test]
fn real_offset_reset_policies() {
    let Some(cluster) = Cluster::real("real_offset_reset_policies") else {
        return;
    };
    super::offset_reset::per_source_policies(&cluster);
    super::offset_reset::by_duration(&cluster);
}

/// A changelog the broker refuses to create (a replication factor larger
/// than the single-node cluster): start() stops the threads it started and
/// returns the broker's answer. The topology has no repartition topic, so
/// the changelog is the first topic created, while the threads join.
#[test]
fn real_changelog_creation_failure_fails_start() {
    let Some(cluster) = Cluster::real("real_changelog_creation_failure_fails_start") else {
        return;
    };
    let (input, output, app) = (unique("rcf-in"), unique("rcf-out"), unique("rcf-app"));
    cluster.create(&[(&input, 2), (&output, 2)]);
    let b = StreamsBuilder::new();
    b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("rcf-counts").with_store_type(StoreType::RocksDb))
        .to_stream()
        .to(&output, Produced::with(Serdes::string(), Serdes::i64()));
    let dir = state_dir();
    let err = super::config_errors::changelog_creation_failure_fails_start(
        &cluster,
        b.build().unwrap(),
        config(&cluster, &app, dir.path()).set("replication.factor", "3"),
        &input,
        &output,
    );
    assert!(
        err.starts_with(&format!(
            "kafka: cannot create topic '{app}-rcf-counts-changelog': "
        )) && err.contains("replication.factor=3"),
        "{err}"
    );
}

/// The internal topics are created with Kafka Streams' configs: the
/// repartition topic deletes, a key-value changelog compacts, a window
/// changelog compacts and deletes after the store's retention plus a day;
/// all keep the records' own timestamps.
#[test]
fn real_internal_topic_configs() {
    let Some(cluster) = Cluster::real("real_internal_topic_configs") else {
        return;
    };
    let input = unique("itc-in");
    let (out_counts, out_windows) = (unique("itc-counts"), unique("itc-windows"));
    let app = unique("itc-app");
    cluster.create(&[(&input, 2), (&out_counts, 2), (&out_windows, 2)]);
    let b = StreamsBuilder::new();
    let lines = b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()));
    lines
        .group_by(
            |_k, v| v.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts"))
        .to_stream()
        .to(&out_counts, Produced::with(Serdes::string(), Serdes::i64()));
    let windows = streams::window::TimeWindows::of_size_and_grace(
        Duration::from_secs(60),
        Duration::from_secs(300),
    )
    .unwrap();
    lines
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by_time(windows)
        .count(Materialized::as_("per-minute"))
        .to_stream()
        .to(
            &out_windows,
            Produced::with(
                Serdes::time_windowed(Serdes::string(), 60_000),
                Serdes::i64(),
            ),
        );
    let dir = state_dir();
    let s = start(b.build().unwrap(), config(&cluster, &app, dir.path()));
    wait_running(&s);
    let configs = |topic: &str| -> BTreeMap<String, String> {
        streams::runtime::topic_configs(&cluster.bootstrap, &format!("{app}-{topic}")).unwrap()
    };
    let map = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        configs("counts-repartition"),
        map(&[
            ("cleanup.policy", "delete"),
            ("message.timestamp.type", "CreateTime"),
            ("segment.bytes", "52428800"),
        ])
    );
    assert_eq!(
        configs("counts-changelog"),
        map(&[
            ("cleanup.policy", "compact"),
            ("message.timestamp.type", "CreateTime"),
        ])
    );
    assert_eq!(
        configs("per-minute-changelog"),
        map(&[
            ("cleanup.policy", "compact,delete"),
            ("message.timestamp.type", "CreateTime"),
            ("retention.ms", "86760000"),
        ])
    );
    // The shutdown-request topic is created in the background at the first
    // start, not waited for.
    eventually(
        "the shutdown-request topic",
        Duration::from_secs(30),
        || {
            streams::runtime::topic_configs(&cluster.bootstrap, &format!("{app}-shutdown-requests"))
                .is_ok_and(|c| !c.is_empty())
        },
    );
    assert_eq!(
        configs("shutdown-requests"),
        map(&[
            ("cleanup.policy", "delete"),
            ("message.timestamp.type", "CreateTime"),
            ("retention.ms", "86400000"),
        ])
    );
    close(s);
}

#[test]
fn real_static_membership() {
    let Some(cluster) = Cluster::real("real_static_membership") else {
        return;
    };
    super::rebalance::static_member_restarts_without_rebalance(&cluster);
}

#[test]
fn real_shutdown_application_across_processes() {
    let Some(cluster) = Cluster::real("real_shutdown_application_across_processes") else {
        return;
    };
    super::shutdown_application::across_processes(&cluster);
}

#[test]
fn real_dead_letter_topic() {
    let Some(cluster) = Cluster::real("real_dead_letter_topic") else {
        return;
    };
    super::dead_letter::dead_letter_topic(&cluster);
}

const EOS_ENV: &str = "KSTREAMS_EOS_CHILD";
const KEYS: usize = 8;

fn eos_topology(input: &str, output: &str) -> streams::topology::Topology {
    let b = StreamsBuilder::new();
    b.stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("eos-counts"))
        .to_stream()
        .to(output, Produced::with(Serdes::string(), Serdes::i64()));
    b.build().unwrap()
}

/// Not a test: the application process that `real_exactly_once_with_kills`
/// starts and kills. It runs until killed (or for two minutes at most).
#[test]
#[ignore = "not a test: the child process that real_exactly_once_with_kills starts (with --ignored) and kills"]
fn eos_child_process() {
    let Ok(spec) = std::env::var(EOS_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(';').collect();
    let [bootstrap, app, input, output, dir] = parts[..] else {
        panic!("bad {EOS_ENV}: {spec}")
    };
    let cfg = StreamsConfig::new()
        .set("application.id", app)
        .set("bootstrap.servers", bootstrap)
        .set("state.dir", dir)
        .set("processing.guarantee", "exactly_once_v2")
        // Long transactions, so that a kill lands inside one.
        .set("commit.interval.ms", "1000")
        .set("statestore.cache.max.bytes", "0")
        .set("poll.ms", "20")
        .set("consumer.session.timeout.ms", "2000")
        .set("consumer.heartbeat.interval.ms", "500")
        // Transactions of killed processes are aborted sooner.
        .set("producer.transaction.timeout.ms", "3000");
    let mut s = KafkaStreams::new(eos_topology(input, output), cfg);
    s.start().unwrap();
    std::thread::sleep(Duration::from_secs(120));
    s.close(Duration::from_secs(30));
}

fn spawn_child(spec: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "real_broker::eos_child_process",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(EOS_ENV, spec)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the application process")
}

/// exactly_once_v2 with the application process SIGKILLed several times
/// while input flows: the committed output is exactly the counts 1..n of
/// every key, each once and in order.
#[test]
fn real_exactly_once_with_kills() {
    let Some(cluster) = Cluster::real("real_exactly_once_with_kills") else {
        return;
    };
    let input = unique("eos-in");
    let output = unique("eos-out");
    let app = unique("eos-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let dir = state_dir();
    let spec = format!(
        "{};{app};{input};{output};{}",
        cluster.bootstrap,
        dir.path().display()
    );

    const MIN_RECORDS: usize = 2_000;
    const KILLS: usize = 3;
    let mut records = KeyedInput::new(KEYS);
    let output_counts = || {
        let all = streams::runtime::read_topic(&cluster.bootstrap, &output, false)
            .unwrap()
            .len();
        let committed = streams::runtime::read_topic(&cluster.bootstrap, &output, true)
            .unwrap()
            .len();
        (all, committed)
    };
    let mut child = spawn_child(&spec);
    let (mut all_at_spawn, mut committed_at_spawn): (usize, usize) = (0, 0);
    let mut kills = 0;
    let started = Instant::now();
    // Input flows in small slices. Once the process has committed output of
    // its own and a transaction is open (the log holds more records than
    // read_committed sees, beyond those of aborted transactions), it is
    // killed on the spot and a new one started.
    while kills < KILLS || records.produced() < MIN_RECORDS {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "only {kills} kills in 240 s"
        );
        produce(&cluster.bootstrap, &input, &records.next_slice(20)).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        if kills < KILLS {
            let (all, committed) = output_counts();
            let open =
                all.saturating_sub(committed) > all_at_spawn.saturating_sub(committed_at_spawn);
            if committed >= committed_at_spawn + 60 && open {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                eprintln!(
                    "killed the application inside a transaction ({all} records in the log, {committed} committed)"
                );
                child = spawn_child(&spec);
                (all_at_spawn, committed_at_spawn) = output_counts();
            }
        }
    }
    let processed = wait_until_processed(
        &cluster.bootstrap,
        &app,
        &[&input],
        Duration::from_secs(180),
    )
    .unwrap();
    assert!(processed, "the input was not processed within 180 s");

    // Transactions of killed processes stay open until the broker aborts
    // them (transaction.timeout.ms, 10 s); read_committed output is
    // complete once they are.
    let want = records.every_count();
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut got;
    loop {
        got = counts_per_key(&cluster, &output, true);
        if got == want || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    child.kill().ok();
    child.wait().ok();
    assert_eq!(
        got, want,
        "read_committed output must hold every count exactly once"
    );
    // The killed transactions were aborted: the log holds their records,
    // which read_committed skipped.
    let all = streams::runtime::read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .len();
    let committed: usize = want.values().map(Vec::len).sum();
    assert!(
        all > committed,
        "{all} records in the log, {committed} committed"
    );
}

/// exactly_once_v2 with the input already on the broker, so the thread
/// processes without pause while each periodic commit drains in the
/// background: the records sent meanwhile (sink and changelog) are held and
/// go out in the next transaction. The read_committed outputs are exactly
/// the input, per key in order, and the counts 1..n of every key.
#[test]
fn real_exactly_once_sends_held_during_background_commits() {
    let Some(cluster) = Cluster::real("real_exactly_once_sends_held_during_background_commits")
    else {
        return;
    };
    let (input, copies, counts, app) = (
        unique("eosbg-in"),
        unique("eosbg-copies"),
        unique("eosbg-counts"),
        unique("eosbg-app"),
    );
    cluster.create(&[(&input, 2), (&copies, 2), (&counts, 2)]);
    let mut records = KeyedInput::new(50);
    let input_records = records.next_slice(100_000);
    produce(&cluster.bootstrap, &input, &input_records).unwrap();

    let b = StreamsBuilder::new();
    let source = b.stream(&input, Consumed::with(Serdes::string(), Serdes::string()));
    source
        .map_values(|v| v.map(|s| s.to_uppercase()))
        .to(&copies, Produced::with(Serdes::string(), Serdes::string()));
    source
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("eosbg-counts-store"))
        .to_stream()
        .to(&counts, Produced::with(Serdes::string(), Serdes::i64()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path())
        .set("processing.guarantee", "exactly_once_v2")
        .set("statestore.cache.max.bytes", "0");
    let streams = start(b.build().unwrap(), cfg);
    wait_processed(&cluster, &app, &[&input]);

    let mut want_copies: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for r in &input_records {
        want_copies
            .entry(r.key_str().unwrap().to_string())
            .or_default()
            .push((
                String::from_utf8(r.value.clone().unwrap())
                    .unwrap()
                    .to_uppercase(),
                r.timestamp,
            ));
    }
    let mut got_copies: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
    for r in streams::runtime::read_topic(&cluster.bootstrap, &copies, true).unwrap() {
        got_copies
            .entry(r.key_str().unwrap().to_string())
            .or_default()
            .push((String::from_utf8(r.value.unwrap()).unwrap(), r.timestamp));
    }
    assert!(
        got_copies == want_copies,
        "the committed copies differ from the input ({} keys, {} records)",
        got_copies.len(),
        got_copies.values().map(Vec::len).sum::<usize>()
    );
    assert_eq!(
        counts_per_key(&cluster, &counts, true),
        records.every_count()
    );
    let m = streams.metrics();
    assert!(
        m.records_held_during_commits > 0,
        "no record was sent while a commit ran: the background path was not exercised ({m:?})"
    );
    assert_eq!(m.task_corruptions, 0);
    close(streams);
}
