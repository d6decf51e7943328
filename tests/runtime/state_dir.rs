//! Task state directories: locked while a task uses them (so that two
//! instances never open the same stores), and deleted once no task of this
//! instance owns them (after `state.cleanup.delay.ms`).

use std::process::{Command, Stdio};
use std::time::Duration;

use streams::dsl::StoreType;
use streams::runtime::read_topic;

use super::*;

/// A task whose directory is locked by another live process waits (the
/// instance stays REBALANCING and processes nothing); once that process is
/// gone its lock is stale, the task starts and processes its input.
#[test]
fn embedded_a_task_waits_for_the_lock_of_another_process() {
    let cluster = Cluster::embedded();
    let input = unique("lk-in");
    let output = unique("lk-out");
    let app = unique("lk-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    // Another process holds task 0_0's directory.
    let mut other = Command::new("sleep")
        .arg("600")
        .stdout(Stdio::null())
        .spawn()
        .expect("start a process to hold the lock");
    let task_dir = dir.path().join(&app).join("0_0");
    std::fs::create_dir_all(&task_dir).unwrap();
    std::fs::write(task_dir.join(".lock"), other.id().to_string()).unwrap();

    let s = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        config(&cluster, &app, dir.path()),
    );
    produce_lines(&cluster, &input, &["a b a"], t0());
    // The group assigned every task; 0_0 cannot start, the rest can.
    eventually("every task assigned", Duration::from_secs(60), || {
        s.active_tasks().len() == 2
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(s.state(), State::Rebalancing);
    assert_eq!(
        std::fs::read_to_string(task_dir.join(".lock")).unwrap(),
        other.id().to_string(),
        "the other process's lock is left alone"
    );
    assert!(
        read_topic(&cluster.bootstrap, &output, false)
            .unwrap()
            .is_empty()
    );

    other.kill().unwrap();
    other.wait().unwrap();
    wait_running(&s);
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(
        count_updates(&cluster, &output, false),
        BTreeMap::from([
            ("a".to_string(), vec![(2, t0())]),
            ("b".to_string(), vec![(1, t0())]),
        ])
    );
    // Now this process holds it.
    assert_eq!(
        std::fs::read_to_string(task_dir.join(".lock")).unwrap(),
        std::process::id().to_string()
    );
    close(s);
    assert!(!task_dir.join(".lock").exists());
}

/// Directories of tasks this instance does not own are deleted after
/// `state.cleanup.delay.ms`; those of its tasks, and anything that is not a
/// task directory, are kept.
#[test]
fn embedded_state_of_unowned_tasks_is_cleaned_up() {
    let cluster = Cluster::embedded();
    let input = unique("cl-in");
    let output = unique("cl-out");
    let app = unique("cl-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    let app_dir = dir.path().join(&app);
    // Left by an earlier run: tasks 0_5 and 1_3 (no longer assigned here),
    // and a directory that is not a task's.
    for d in ["0_5/rocksdb/counts-store", "1_3", "notes"] {
        std::fs::create_dir_all(app_dir.join(d)).unwrap();
        std::fs::write(app_dir.join(d).join("data"), "x").unwrap();
    }
    let cfg = config(&cluster, &app, dir.path()).set("state.cleanup.delay.ms", "0");
    let s = start(
        word_count_topology(&input, &output, StoreType::RocksDb),
        cfg,
    );
    wait_running(&s);
    produce_lines(&cluster, &input, &["x y"], t0());
    wait_processed(&cluster, &app, &[&input]);
    eventually(
        "unowned task directories deleted",
        Duration::from_secs(30),
        || !app_dir.join("0_5").exists() && !app_dir.join("1_3").exists(),
    );
    let names: Vec<String> = std::fs::read_dir(&app_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    // The process id Kafka Streams keeps for apps with persistent stores
    // stays too.
    assert_eq!(
        names,
        ["0_0", "1_0", "kafka-streams-process-metadata", "notes"]
    );
    assert_eq!(
        std::fs::read_to_string(app_dir.join("notes/data")).unwrap(),
        "x"
    );
    assert_eq!(
        final_counts(&cluster, &output),
        BTreeMap::from([("x".to_string(), 1), ("y".to_string(), 1)])
    );
    close(s);
}
