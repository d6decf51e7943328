//! Stores restored from their changelogs: into an empty state directory
//! (a new machine), and from a checkpoint (a restart on the same machine).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use streams::dsl::{StoreType, StreamJoined};
use streams::partition::partition_for_key;
use streams::runtime::StateRestoreListener;
use streams::window::JoinWindows;

use super::*;

const FIRST: [&str; 3] = ["a b c a", "b a d", "c c c a"];
const SECOND: [&str; 2] = ["a d e", "e e b a"];

/// What a restore listener heard, per changelog partition.
#[derive(Default, Debug, PartialEq, Eq)]
struct Heard {
    /// `(start offset, end offset)` of `on_restore_start`.
    started: BTreeMap<i32, (i64, i64)>,
    /// Records over every `on_batch_restored`.
    batched: BTreeMap<i32, u64>,
    /// `batch_end_offset` of the last batch.
    last_offset: BTreeMap<i32, i64>,
    /// `total_restored` of `on_restore_end`.
    ended: BTreeMap<i32, u64>,
}

struct Listener {
    changelog: String,
    heard: Arc<Mutex<Heard>>,
}

impl StateRestoreListener for Listener {
    fn on_restore_start(&self, topic: &str, p: i32, store: &str, start: i64, end: i64) {
        assert_eq!((topic, store), (self.changelog.as_str(), "counts-store"));
        let old = self.heard.lock().unwrap().started.insert(p, (start, end));
        assert_eq!(old, None, "partition {p} restored twice");
    }
    fn on_batch_restored(&self, topic: &str, p: i32, store: &str, end: i64, n: u64) {
        assert_eq!((topic, store), (self.changelog.as_str(), "counts-store"));
        let mut h = self.heard.lock().unwrap();
        *h.batched.entry(p).or_default() += n;
        h.last_offset.insert(p, end);
    }
    fn on_restore_end(&self, topic: &str, p: i32, store: &str, total: u64) {
        assert_eq!((topic, store), (self.changelog.as_str(), "counts-store"));
        self.heard.lock().unwrap().ended.insert(p, total);
    }
}

/// What a listener hears when a store is restored from the start of a
/// changelog holding one record per occurrence of each word of `lines`
/// (no cache), the word's partition among `partitions`.
fn expected_restore(lines: &[&str], partitions: i32) -> Heard {
    let mut heard = Heard::default();
    for p in 0..partitions {
        let n = lines
            .iter()
            .flat_map(|l| l.split_whitespace())
            .filter(|w| partition_for_key(w.to_lowercase().as_bytes(), partitions) == p)
            .count() as i64;
        if n > 0 {
            heard.started.insert(p, (0, n));
            heard.batched.insert(p, n as u64);
            heard.last_offset.insert(p, n - 1);
            heard.ended.insert(p, n as u64);
        }
    }
    heard
}

/// An instance processes some input and stops; a new instance with an
/// empty state directory restores the counts from the changelog and
/// continues them exactly.
pub fn restore_into_empty_state_dir(cluster: &Cluster, store: StoreType) {
    let input = unique("rs-in");
    let output = unique("rs-out");
    let app = unique("rs-app");
    cluster.create(&[(&input, 2), (&output, 2)]);

    // Without a cache every update is one changelog record, so the number
    // of restored records is known.
    let cfg =
        |dir: &std::path::Path| config(cluster, &app, dir).set("statestore.cache.max.bytes", "0");
    let dir1 = state_dir();
    let first = start(
        word_count_topology(&input, &output, store),
        cfg(dir1.path()),
    );
    produce_lines(cluster, &input, &FIRST, t0() + 1_000);
    wait_processed(cluster, &app, &[&input]);
    assert_eq!(final_counts(cluster, &output), expected_counts(&FIRST));
    close(first);

    let dir2 = state_dir();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut second = KafkaStreams::new(
        word_count_topology(&input, &output, store),
        cfg(dir2.path()),
    );
    second.set_global_state_restore_listener(Listener {
        changelog: format!("{app}-counts-store-changelog"),
        heard: heard.clone(),
    });
    second.start().unwrap();
    wait_running(&second);
    // Every counted word went through the changelog (one record per
    // update); each count task restored its partition from the start.
    let updates: usize = FIRST.iter().map(|l| l.split_whitespace().count()).sum();
    assert_eq!(second.metrics().restored_records, updates as u64);
    assert_eq!(*heard.lock().unwrap(), expected_restore(&FIRST, 2));

    produce_lines(cluster, &input, &SECOND, t0() + 2_000);
    wait_processed(cluster, &app, &[&input]);
    let all: Vec<&str> = FIRST.iter().chain(SECOND.iter()).copied().collect();
    assert_eq!(final_counts(cluster, &output), expected_counts(&all));
    close(second);
}

#[test]
fn embedded_restore_into_empty_state_dir_rocksdb() {
    restore_into_empty_state_dir(&Cluster::embedded(), StoreType::RocksDb);
}

#[test]
fn embedded_restore_into_empty_state_dir_in_memory() {
    restore_into_empty_state_dir(&Cluster::embedded(), StoreType::InMemory);
}

/// A restart on the same state directory restores nothing (the checkpoint
/// says the RocksDB store is up to date) and continues exactly; an
/// in-memory store restores everything again.
#[test]
fn embedded_restart_from_checkpoint() {
    let cluster = Cluster::embedded();
    for (store, expect_restore) in [(StoreType::RocksDb, false), (StoreType::InMemory, true)] {
        let input = unique("cp-in");
        let output = unique("cp-out");
        let app = unique("cp-app");
        cluster.create(&[(&input, 2), (&output, 2)]);
        let dir = state_dir();
        let first = start(
            word_count_topology(&input, &output, store),
            config(&cluster, &app, dir.path()),
        );
        produce_lines(&cluster, &input, &FIRST, t0() + 1_000);
        wait_processed(&cluster, &app, &[&input]);
        close(first);

        let second = start(
            word_count_topology(&input, &output, store),
            config(&cluster, &app, dir.path()),
        );
        wait_running(&second);
        let restored = second.metrics().restored_records;
        if expect_restore {
            assert!(restored > 0, "in-memory stores restore from the changelog");
        } else {
            assert_eq!(restored, 0, "the checkpoint covers the whole changelog");
        }
        produce_lines(&cluster, &input, &SECOND, t0() + 2_000);
        wait_processed(&cluster, &app, &[&input]);
        let all: Vec<&str> = FIRST.iter().chain(SECOND.iter()).copied().collect();
        assert_eq!(
            final_counts(&cluster, &output),
            expected_counts(&all),
            "{store:?}"
        );
        close(second);
    }
}

/// A checkpoint that does not match the changelog (here: the state
/// directory of an application of the same name on another cluster) is
/// not trusted: the state is wiped and rebuilt from the changelog.
#[test]
fn embedded_checkpoint_from_another_cluster_is_discarded() {
    let dir = state_dir();
    let app = unique("foreign-app");
    let input = unique("fc-in");
    let output = unique("fc-out");
    {
        let cluster = Cluster::embedded();
        cluster.create(&[(&input, 1), (&output, 1)]);
        let s = start(
            word_count_topology(&input, &output, StoreType::RocksDb),
            config(&cluster, &app, dir.path()),
        );
        produce_lines(&cluster, &input, &FIRST, t0() + 1_000);
        wait_processed(&cluster, &app, &[&input]);
        close(s);
    }
    let cluster = Cluster::embedded();
    cluster.create(&[(&input, 1), (&output, 1)]);
    let s = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    produce_lines(&cluster, &input, &SECOND, t0() + 2_000);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(final_counts(&cluster, &output), expected_counts(&SECOND));
    close(s);
}

/// Changelog partitions of very different sizes: the short one is done
/// while the long one is still being read, so the restore consumer gives
/// up the finished partition and keeps reading the other (whose fetched
/// records must survive that change of assignment). Every record of both
/// partitions is restored exactly once and the counts continue from them.
#[test]
fn embedded_restore_partitions_of_uneven_size() {
    const LONG: usize = 40_000;
    let cluster = Cluster::embedded();
    let input = unique("ur-in");
    let output = unique("ur-out");
    let app = unique("ur-app");
    let changelog = format!("{app}-counts-store-changelog");
    cluster.create(&[(&input, 2), (&output, 2), (&changelog, 2)]);

    // Words by the partition the count task of their key owns: 3 words for
    // partition 0, LONG for partition 1, each with a count to restore.
    let mut words: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 0.. {
        let w = format!("w{i}");
        let p = partition_for_key(w.as_bytes(), 2) as usize;
        let cap = if p == 0 { 3 } else { LONG };
        if words[p].len() < cap {
            words[p].push(w);
        }
        if words[0].len() == 3 && words[1].len() == LONG {
            break;
        }
    }
    let count_of = |i: usize| (i % 5 + 1) as i64;
    let records: Vec<KafkaRecord> = words
        .iter()
        .flat_map(|ws| ws.iter().enumerate())
        .map(|(i, w)| {
            KafkaRecord::new(
                Some(w.as_bytes().to_vec()),
                Some(count_of(i).to_be_bytes().to_vec()),
                t0(),
            )
        })
        .collect();
    produce(&cluster.bootstrap, &changelog, &records).unwrap();

    let dir = state_dir();
    let heard = Arc::new(Mutex::new(Heard::default()));
    let mut streams = KafkaStreams::new(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    streams.set_global_state_restore_listener(Listener {
        changelog: changelog.clone(),
        heard: heard.clone(),
    });
    streams.start().unwrap();
    wait_running(&streams);
    let mut expected = Heard::default();
    for (p, n) in [(0, 3), (1, LONG)] {
        expected.started.insert(p, (0, n as i64));
        expected.batched.insert(p, n as u64);
        expected.last_offset.insert(p, n as i64 - 1);
        expected.ended.insert(p, n as u64);
    }
    assert_eq!(*heard.lock().unwrap(), expected);
    assert_eq!(streams.metrics().restored_records, (3 + LONG) as u64);

    // One word of each partition: the first of partition 0, the last of
    // partition 1 (the last record restored there).
    let (short, long) = (&words[0][0], &words[1][LONG - 1]);
    produce_lines(
        &cluster,
        &input,
        &[&format!("{short} {long}")],
        t0() + 1_000,
    );
    wait_processed(&cluster, &app, &[&input]);
    let expected_counts: BTreeMap<String, i64> = [
        (short.clone(), count_of(0) + 1),
        (long.clone(), count_of(LONG - 1) + 1),
    ]
    .into_iter()
    .collect();
    assert_eq!(final_counts(&cluster, &output), expected_counts);
    close(streams);
}

/// A left stream-stream join over topics `left` and `right` into `output`:
/// windows of 100 ms either side, no grace; the joiner writes `l+r`.
fn left_join_topology(left: &str, right: &str, output: &str) -> Topology {
    let builder = StreamsBuilder::new();
    let l = builder.stream(left, Consumed::with(Serdes::string(), Serdes::string()));
    let r = builder.stream(right, Consumed::with(Serdes::string(), Serdes::string()));
    let windows =
        JoinWindows::of_time_difference_and_grace(Duration::from_millis(100), Duration::ZERO)
            .unwrap();
    l.left_join(
        &r,
        |l: &String, r: Option<&String>| format!("{l}+{}", r.map_or("null", String::as_str)),
        windows,
        StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string()),
    )
    .to(output, Produced::with(Serdes::string(), Serdes::string()));
    builder.build().unwrap()
}

/// A left record that found no partner waits in the join's shared store
/// for its window to close. Restored into an empty state directory, it
/// is still known there: a partner arriving after the restart joins it
/// and takes it out of the store, so closing its window emits nothing
/// for it (no `l+null` on top of the join result).
#[test]
fn embedded_left_join_pending_record_survives_restore() {
    let cluster = Cluster::embedded();
    let (left, right, output) = (unique("lj-left"), unique("lj-right"), unique("lj-out"));
    let app = unique("lj-app");
    cluster.create(&[(&left, 1), (&right, 1), (&output, 1)]);
    let t = t0();

    let dir1 = state_dir();
    let first = start(
        left_join_topology(&left, &right, &output),
        config(&cluster, &app, dir1.path()),
    );
    produce(&cluster.bootstrap, &left, &[kv("a", "A", 0)]).unwrap();
    wait_processed(&cluster, &app, &[&left, &right]);
    close(first);

    let dir2 = state_dir();
    let second = start(
        left_join_topology(&left, &right, &output),
        config(&cluster, &app, dir2.path()),
    );
    wait_running(&second);
    assert!(
        second.metrics().restored_records > 0,
        "nothing was restored"
    );
    // `a`'s partner, then `b`, which finds none and waits in the store.
    produce(&cluster.bootstrap, &right, &[kv("a", "X", 50)]).unwrap();
    wait_processed(&cluster, &app, &[&left, &right]);
    produce(&cluster.bootstrap, &left, &[kv("b", "B", 60)]).unwrap();
    wait_processed(&cluster, &app, &[&left, &right]);
    // Past the internal emit interval (1 s of wall-clock time), a record
    // beyond both windows closes them.
    std::thread::sleep(Duration::from_millis(1_100));
    produce(&cluster.bootstrap, &left, &[kv("c", "C", 1_000)]).unwrap();
    wait_processed(&cluster, &app, &[&left, &right]);
    close(second);

    let got: Vec<(String, String, i64)> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .map(|r| {
            let (k, v) = (r.key_str().unwrap(), r.value_str().unwrap());
            (k.to_string(), v.to_string(), r.timestamp)
        })
        .collect();
    let want = [("a", "A+X", t + 50), ("b", "B+null", t + 60)]
        .map(|(k, v, ts)| (k.to_string(), v.to_string(), ts));
    assert_eq!(got, want);
}

/// Offset lookups that fail with `NOT_LEADER_OR_FOLLOWER` while a task
/// starts, as they do for a changelog created a moment ago on a real broker
/// whose partition has no leader yet: the thread asks for the changelog's
/// offsets again instead of failing, and then counts as usual.
#[test]
fn embedded_changelog_offsets_asked_again_while_leader_settles() {
    let cluster = Cluster::embedded();
    let kafka = cluster.embedded_broker().unwrap();
    let (input, output, app) = (unique("nl-in"), unique("nl-out"), unique("nl-app"));
    cluster.create(&[(&input, 1), (&output, 1)]);
    // More than the main consumer's own offset resets take (librdkafka
    // retries those itself), so the changelog's lookups meet some too.
    kafka.fail_next_list_offsets(8).unwrap();
    let dir = state_dir();
    let streams = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    wait_running(&streams);
    produce_lines(&cluster, &input, &FIRST, t0() + 1_000);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(final_counts(&cluster, &output), expected_counts(&FIRST));
    close(streams);
}
