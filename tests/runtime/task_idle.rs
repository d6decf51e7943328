//! `max.task.idle.ms`: a task with several input partitions (here a
//! stream-table join) waits for an empty input as Kafka Streams'
//! `PartitionGroup.readyToProcess` does, so that records are joined in
//! timestamp order across inputs.

use std::time::Duration;

use streams::dsl::{Consumed, Joined, Materialized, Produced, StreamsBuilder};
use streams::runtime::{KafkaRecord, produce, read_topic};
use streams::serde::Serdes;

use super::*;

struct JoinApp {
    cluster: Cluster,
    orders: String,
    users: String,
    output: String,
    app: String,
    streams: KafkaStreams,
    _dir: tempfile::TempDir,
}

/// orders (stream) left-joined with users (table), one partition each.
/// With `pre` records produced before the application starts.
fn join_app(max_task_idle_ms: &str, pre: &[(&str, &str, &str, i64)]) -> JoinApp {
    let cluster = Cluster::embedded();
    let (orders, users, output, app) = (
        unique("idle-orders"),
        unique("idle-users"),
        unique("idle-out"),
        unique("idle-app"),
    );
    cluster.create(&[(&orders, 1), (&users, 1), (&output, 1)]);
    for (topic, k, v, ts) in pre {
        let topic = if *topic == "orders" { &orders } else { &users };
        send(&cluster, topic, k, v, *ts);
    }
    let b = StreamsBuilder::new();
    let users_table = b.table(
        &users,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    );
    b.stream(&orders, Consumed::with(Serdes::string(), Serdes::string()))
        .left_join_table(
            &users_table,
            |order, user| format!("{order} by {}", user.map_or("?", |u| u.as_str())),
            Joined::none(),
        )
        .to(&output, Produced::with(Serdes::string(), Serdes::string()));
    let dir = state_dir();
    let cfg = config(&cluster, &app, dir.path()).set("max.task.idle.ms", max_task_idle_ms);
    let streams = start(b.build().unwrap(), cfg);
    wait_running(&streams);
    JoinApp {
        cluster,
        orders,
        users,
        output,
        app,
        streams,
        _dir: dir,
    }
}

fn send(cluster: &Cluster, topic: &str, k: &str, v: &str, ts: i64) {
    let r = KafkaRecord::new(
        Some(k.as_bytes().to_vec()),
        Some(v.as_bytes().to_vec()),
        t0() + ts,
    );
    produce(&cluster.bootstrap, topic, &[r]).unwrap();
}

fn output(app: &JoinApp) -> Vec<(String, String, i64)> {
    read_topic(&app.cluster.bootstrap, &app.output, false)
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                String::from_utf8(r.value.unwrap()).unwrap(),
                r.timestamp - t0(),
            )
        })
        .collect()
}

fn expect_output(app: &JoinApp, want: &[(&str, &str, i64)]) {
    let want: Vec<(String, String, i64)> = want
        .iter()
        .map(|(k, v, ts)| (k.to_string(), v.to_string(), *ts))
        .collect();
    eventually("the join output", Duration::from_secs(60), || {
        output(app).len() >= want.len()
    });
    // Nothing more arrives.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(output(app), want);
}

/// A positive `max.task.idle.ms` holds an order back while the users
/// partition is empty, so a user record with an earlier timestamp that
/// arrives within the idle time is processed first and the order joins it.
#[test]
fn embedded_idle_time_waits_for_the_other_input() {
    let app = join_app("5000", &[]);
    send(&app.cluster, &app.orders, "u1", "order-1", 100);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(output(&app), vec![], "the order was not held back");
    send(&app.cluster, &app.users, "u1", "alice", 50);
    expect_output(&app, &[("u1", "order-1 by alice", 100)]);
    close(app.streams);
}

/// Once the idle time has passed with the users partition still empty,
/// the order is processed anyway (Kafka Streams' enforced processing).
#[test]
fn embedded_idle_time_passes_and_processing_goes_on() {
    let app = join_app("1000", &[]);
    send(&app.cluster, &app.orders, "u1", "order-1", 100);
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(output(&app), vec![], "the order was not held back");
    expect_output(&app, &[("u1", "order-1 by ?", 100)]);
    // A user arriving later does not change what was emitted. The next
    // order is sent once the user is in the table: sent at once, it could
    // be fetched first and (the users partition then looking caught up)
    // be processed after the idle time without it, which is right but not
    // what this test is about.
    send(&app.cluster, &app.users, "u1", "alice", 50);
    wait_processed(&app.cluster, &app.app, &[&app.users]);
    send(&app.cluster, &app.orders, "u1", "order-2", 200);
    expect_output(
        &app,
        &[("u1", "order-1 by ?", 100), ("u1", "order-2 by alice", 200)],
    );
    close(app.streams);
}

/// With the default (0) a task never waits once the empty input is known
/// to have nothing more on the broker: the order is joined with what the
/// table holds now.
#[test]
fn embedded_default_idle_does_not_wait_for_a_caught_up_input() {
    let app = join_app("0", &[]);
    send(&app.cluster, &app.orders, "u1", "order-1", 100);
    expect_output(&app, &[("u1", "order-1 by ?", 100)]);
    close(app.streams);
}

/// Even with the default (0), a task waits for an input whose records are
/// on the broker but not fetched yet: records produced before the start
/// are processed in timestamp order across both inputs, so each order
/// meets the user version current at its time.
#[test]
fn embedded_default_idle_waits_for_unfetched_records() {
    let pre = [
        ("users", "u1", "alice", 10),
        ("users", "u2", "bob", 20),
        ("orders", "u1", "order-1", 30),
        ("users", "u1", "alice-2", 40),
        ("orders", "u1", "order-2", 50),
        ("orders", "u2", "order-3", 60),
    ];
    let app = join_app("0", &pre);
    expect_output(
        &app,
        &[
            ("u1", "order-1 by alice", 30),
            ("u1", "order-2 by alice-2", 50),
            ("u2", "order-3 by bob", 60),
        ],
    );
    close(app.streams);
}
