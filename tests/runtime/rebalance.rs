//! Two instances in one group share the tasks; when one leaves, its tasks
//! move to the other, which restores their state.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streams::dsl::StoreType;
use streams::processor::TaskId;

use super::*;

const FIRST: [&str; 4] = ["a b c d e f", "g h a b", "c d e a", "f g h h"];
const SECOND: [&str; 3] = ["a a b", "h g f e", "d c b a"];

pub fn two_instances_share_and_migrate(cluster: &Cluster, store: StoreType) {
    let input = unique("rb-in");
    let output = unique("rb-out");
    let app = unique("rb-app");
    cluster.create(&[(&input, 4), (&output, 4)]);
    let all_tasks: BTreeSet<TaskId> = (0..2)
        .flat_map(|s| {
            (0..4).map(move |p| TaskId {
                subtopology: s,
                partition: p,
            })
        })
        .collect();

    let dir_a = state_dir();
    let dir_b = state_dir();
    let a = start(
        word_count_topology(&input, &output, store),
        config(cluster, &app, dir_a.path()),
    );
    wait_running(&a);
    eventually(
        "instance A owns every task",
        Duration::from_secs(60),
        || a.active_tasks().into_iter().collect::<BTreeSet<_>>() == all_tasks,
    );
    let b = start(
        word_count_topology(&input, &output, store),
        config(cluster, &app, dir_b.path()),
    );
    eventually("A and B split the tasks", Duration::from_secs(90), || {
        let ta: BTreeSet<TaskId> = a.active_tasks().into_iter().collect();
        let tb: BTreeSet<TaskId> = b.active_tasks().into_iter().collect();
        !ta.is_empty()
            && !tb.is_empty()
            && ta.is_disjoint(&tb)
            && ta.union(&tb).copied().collect::<BTreeSet<_>>() == all_tasks
    });
    wait_running(&a);
    wait_running(&b);
    // Range assignment: each instance holds the same partitions of both
    // sub-topologies (co-partitioned inputs stay together).
    let parts = |s: &KafkaStreams, sub: u32| -> BTreeSet<i32> {
        s.active_tasks()
            .into_iter()
            .filter(|t| t.subtopology == sub)
            .map(|t| t.partition)
            .collect()
    };
    assert_eq!(parts(&a, 0), parts(&a, 1));
    assert_eq!(parts(&b, 0), parts(&b, 1));

    produce_lines(cluster, &input, &FIRST, t0() + 1_000);
    wait_processed(cluster, &app, &[&input]);
    assert_eq!(final_counts(cluster, &output), expected_counts(&FIRST));
    let b_tasks: BTreeSet<TaskId> = b.active_tasks().into_iter().collect();
    let restored_before = a.metrics().restored_records;
    close(b);

    eventually("A owns every task again", Duration::from_secs(90), || {
        a.active_tasks().into_iter().collect::<BTreeSet<_>>() == all_tasks
            && a.state() == State::Running
    });
    // A restored the count stores of the tasks that came from B.
    assert!(b_tasks.iter().any(|t| t.subtopology == 1));
    assert!(
        a.metrics().restored_records > restored_before,
        "the moved stores were restored"
    );

    produce_lines(cluster, &input, &SECOND, t0() + 2_000);
    wait_processed(cluster, &app, &[&input]);
    let all: Vec<&str> = FIRST.iter().chain(SECOND.iter()).copied().collect();
    assert_eq!(final_counts(cluster, &output), expected_counts(&all));
    close(a);
}

#[test]
fn embedded_two_instances_share_and_migrate() {
    two_instances_share_and_migrate(&Cluster::embedded(), StoreType::RocksDb);
}

#[test]
fn embedded_two_instances_share_and_migrate_in_memory() {
    two_instances_share_and_migrate(&Cluster::embedded(), StoreType::InMemory);
}

/// Two threads in one instance split the tasks between them.
#[test]
fn embedded_two_threads() {
    let cluster = Cluster::embedded();
    let input = unique("th-in");
    let output = unique("th-out");
    let app = unique("th-app");
    cluster.create(&[(&input, 4), (&output, 4)]);
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("num.stream.threads", "2");
    let s = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        cfg,
    );
    wait_running(&s);
    produce_lines(&cluster, &input, &FIRST, t0() + 1_000);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(final_counts(&cluster, &output), expected_counts(&FIRST));
    assert_eq!(s.active_tasks().len(), 8);
    close(s);
}

/// Static membership (`group.instance.id`): an instance that restarts
/// within the session timeout gets its tasks back without a rebalance; the
/// other instance keeps its tasks and never stops running. Real broker
/// only: the embedded mock cluster rebalances the group anyway.
pub fn static_member_restarts_without_rebalance(cluster: &Cluster) {
    let input = unique("sm-in");
    let output = unique("sm-out");
    let app = unique("sm-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let cfg = |dir: &std::path::Path, member: &str| {
        config(cluster, &app, dir)
            .set("consumer.group.instance.id", member)
            // Long enough for the restart below.
            .set("consumer.session.timeout.ms", "30000")
    };
    let (dir_a, dir_b) = (state_dir(), state_dir());
    let topology = || word_count_topology(&input, &output, StoreType::RocksDb);
    let a = start(topology(), cfg(dir_a.path(), "member-a"));
    wait_running(&a);
    let mut b = KafkaStreams::new(topology(), cfg(dir_b.path(), "member-b"));
    let heard: Arc<Mutex<Vec<(State, State)>>> = Arc::default();
    let h = heard.clone();
    b.set_state_listener(move |new, old| h.lock().unwrap().push((new, old)));
    b.start().unwrap();
    eventually("A and B share the tasks", Duration::from_secs(90), || {
        a.active_tasks().len() == 2
            && b.active_tasks().len() == 2
            && a.state() == State::Running
            && b.state() == State::Running
    });
    produce_lines(cluster, &input, &FIRST, t0() + 1_000);
    wait_processed(cluster, &app, &[&input]);
    let a_tasks = a.active_tasks();
    let b_tasks = b.active_tasks();
    let b_heard = heard.lock().unwrap().len();

    close(a);
    let a = start(topology(), cfg(dir_a.path(), "member-a"));
    wait_running(&a);
    assert_eq!(a.active_tasks(), a_tasks, "the same tasks came back");
    // Its stores were closed cleanly and checkpointed: nothing to restore.
    assert_eq!(a.metrics().restored_records, 0);
    produce_lines(cluster, &input, &SECOND, t0() + 2_000);
    wait_processed(cluster, &app, &[&input]);
    let all: Vec<&str> = FIRST.iter().chain(SECOND.iter()).copied().collect();
    assert_eq!(final_counts(cluster, &output), expected_counts(&all));
    assert_eq!(b.active_tasks(), b_tasks);
    assert_eq!(
        heard.lock().unwrap()[b_heard..],
        [],
        "B saw no rebalance while A restarted"
    );
    close(a);
    close(b);
}
