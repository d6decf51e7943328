//! The client's states as a state listener sees them, and the three
//! responses of the uncaught-error handler.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::processor::{Processor, ProcessorContext, Record};
use streams::runtime::{StreamsUncaughtExceptionResponse as Response, produce, read_topic};
use streams::serde::Serdes;
use streams::topology::Topology;

use super::*;

/// `(new, old)` pairs, in the order the listener heard them.
type Transitions = Arc<Mutex<Vec<(State, State)>>>;

fn listen(streams: &mut KafkaStreams) -> Transitions {
    let seen: Transitions = Arc::default();
    let s = seen.clone();
    streams.set_state_listener(move |new, old| s.lock().unwrap().push((new, old)));
    seen
}

fn seen(t: &Transitions) -> Vec<(State, State)> {
    t.lock().unwrap().clone()
}

/// Passes values on, failing on `boom` as long as `failures` is above 0
/// (each failure takes one off).
struct FailOnBoom {
    failures: Arc<AtomicUsize>,
}

impl Processor<String, String, String, String> for FailOnBoom {
    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), StreamsError> {
        if record.value.as_deref() == Some("boom")
            && self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return Err(StreamsError::Processing {
                node: "fail-on-boom".into(),
                reason: "boom".into(),
            });
        }
        ctx.forward(record)
    }
}

fn failing(input: &str, output: &str, failures: Arc<AtomicUsize>) -> Topology {
    let b = StreamsBuilder::new();
    b.stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .process(
            move || FailOnBoom {
                failures: failures.clone(),
            },
            &[],
        )
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

fn kv(key: &str, value: &str, ts: i64) -> KafkaRecord {
    KafkaRecord::new(
        Some(key.as_bytes().to_vec()),
        Some(value.as_bytes().to_vec()),
        t0() + ts,
    )
}

fn read(cluster: &Cluster, topic: &str) -> Vec<(String, String, i64)> {
    read_topic(&cluster.bootstrap, topic, false)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                r.value_str().unwrap().to_string(),
                r.timestamp - t0(),
            )
        })
        .collect()
}

fn owned(records: &[(&str, &str, i64)]) -> Vec<(String, String, i64)> {
    records
        .iter()
        .map(|(k, v, t)| (k.to_string(), v.to_string(), *t))
        .collect()
}

#[test]
fn embedded_state_listener_hears_start_and_close() {
    let cluster = Cluster::embedded();
    let input = unique("st-in");
    let output = unique("st-out");
    let app = unique("st-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let dir = state_dir();
    let mut s = KafkaStreams::new(
        failing(&input, &output, Arc::default()),
        config(&cluster, &app, dir.path()),
    );
    let t = listen(&mut s);
    assert_eq!(s.state(), State::Created);
    s.start().unwrap();
    wait_running(&s);
    produce(&cluster.bootstrap, &input, &[kv("k", "v", 1)]).unwrap();
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(read(&cluster, &output), owned(&[("k", "v", 1)]));
    close(s);
    assert_eq!(
        seen(&t),
        vec![
            (State::Rebalancing, State::Created),
            (State::Running, State::Rebalancing),
            (State::PendingShutdown, State::Running),
            (State::NotRunning, State::PendingShutdown),
        ]
    );
}

#[test]
fn closing_an_instance_that_never_started() {
    let mut s = KafkaStreams::new(failing("in", "out", Arc::default()), StreamsConfig::new());
    let t = listen(&mut s);
    assert!(s.close(Duration::from_secs(1)));
    assert_eq!(s.state(), State::NotRunning);
    assert_eq!(
        seen(&t),
        vec![
            (State::PendingShutdown, State::Created),
            (State::NotRunning, State::PendingShutdown),
        ]
    );
    let err = s.start().unwrap_err().to_string();
    assert!(err.contains("start() can only be called once"), "{err}");
}

/// `ShutdownClient`: the threads stop, the client goes through
/// PENDING_ERROR to ERROR, which is final (`close` leaves it).
#[test]
fn embedded_shutdown_client_ends_in_error() {
    let cluster = Cluster::embedded();
    let input = unique("sc-in");
    let output = unique("sc-out");
    let app = unique("sc-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    let mut s = KafkaStreams::new(
        failing(&input, &output, Arc::new(AtomicUsize::new(usize::MAX))),
        config(&cluster, &app, dir.path()),
    );
    let t = listen(&mut s);
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let e = errors.clone();
    s.set_uncaught_exception_handler(move |error| {
        e.lock().unwrap().push(error.to_string());
        Response::ShutdownClient
    });
    s.start().unwrap();
    wait_running(&s);
    produce(&cluster.bootstrap, &input, &[kv("k", "boom", 1)]).unwrap();
    assert!(
        s.wait_for_state(State::Error, Duration::from_secs(60)),
        "state {:?}",
        s.state()
    );
    assert_eq!(
        *errors.lock().unwrap(),
        vec!["processor 'fail-on-boom' failed: boom".to_string()]
    );
    assert!(s.close(Duration::from_secs(30)));
    assert_eq!(s.state(), State::Error);
    assert_eq!(
        seen(&t),
        vec![
            (State::Rebalancing, State::Created),
            (State::Running, State::Rebalancing),
            (State::PendingError, State::Running),
            (State::Error, State::PendingError),
        ]
    );
    assert!(s.active_tasks().is_empty());
}

/// `ReplaceThread`: a new thread takes over, reprocesses from the last
/// committed offset (the failing record included, which now passes) and
/// the output holds every record once.
#[test]
fn embedded_replace_thread_continues_from_the_last_commit() {
    let cluster = Cluster::embedded();
    let input = unique("rt-in");
    let output = unique("rt-out");
    let app = unique("rt-app");
    cluster.create(&[(&input, 1), (&output, 1)]);
    let dir = state_dir();
    let mut s = KafkaStreams::new(
        failing(&input, &output, Arc::new(AtomicUsize::new(1))),
        config(&cluster, &app, dir.path()),
    );
    let t = listen(&mut s);
    let errors: Arc<Mutex<Vec<String>>> = Arc::default();
    let e = errors.clone();
    s.set_uncaught_exception_handler(move |error| {
        e.lock().unwrap().push(error.to_string());
        Response::ReplaceThread
    });
    s.start().unwrap();
    wait_running(&s);
    produce(&cluster.bootstrap, &input, &[kv("a", "first", 1)]).unwrap();
    // Committed: the replacement does not process it again.
    wait_processed(&cluster, &app, &[&input]);
    produce(
        &cluster.bootstrap,
        &input,
        &[kv("b", "boom", 2), kv("c", "last", 3)],
    )
    .unwrap();
    wait_processed(&cluster, &app, &[&input]);
    assert_eq!(
        read(&cluster, &output),
        owned(&[("a", "first", 1), ("b", "boom", 2), ("c", "last", 3)])
    );
    assert_eq!(
        *errors.lock().unwrap(),
        vec!["processor 'fail-on-boom' failed: boom".to_string()]
    );
    assert_eq!(s.metrics().replaced_threads, 1);
    assert_eq!(s.state(), State::Running);
    close(s);
    // The new thread joined the group and created its tasks again.
    assert_eq!(
        seen(&t),
        vec![
            (State::Rebalancing, State::Created),
            (State::Running, State::Rebalancing),
            (State::Rebalancing, State::Running),
            (State::Running, State::Rebalancing),
            (State::PendingShutdown, State::Running),
            (State::NotRunning, State::PendingShutdown),
        ]
    );
}

/// `ShutdownApplication`: every instance of the application (here both in
/// this process; `shutdown_application.rs` has one in another process)
/// stops and ends in ERROR, not only the failing one. As in Kafka Streams,
/// the instance that did not fail, whose thread owns a task, goes through
/// REBALANCING first.
#[test]
fn embedded_shutdown_application_stops_every_instance() {
    let cluster = Cluster::embedded();
    let input = unique("sa-in");
    let output = unique("sa-out");
    let app = unique("sa-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let failures = Arc::new(AtomicUsize::new(usize::MAX));
    let (dir_a, dir_b) = (state_dir(), state_dir());
    let mut a = KafkaStreams::new(
        failing(&input, &output, failures.clone()),
        config(&cluster, &app, dir_a.path()),
    );
    let mut b = KafkaStreams::new(
        failing(&input, &output, failures),
        config(&cluster, &app, dir_b.path()),
    );
    let (ta, tb) = (listen(&mut a), listen(&mut b));
    let handled = Arc::new(AtomicUsize::new(0));
    for s in [&mut a, &mut b] {
        let h = handled.clone();
        s.set_uncaught_exception_handler(move |_| {
            h.fetch_add(1, Ordering::SeqCst);
            Response::ShutdownApplication
        });
    }
    a.start().unwrap();
    b.start().unwrap();
    eventually("A and B share the tasks", Duration::from_secs(90), || {
        a.active_tasks().len() == 1
            && b.active_tasks().len() == 1
            && a.state() == State::Running
            && b.state() == State::Running
    });
    let a_fails = a.active_tasks()[0].partition == 0;
    produce(
        &cluster.bootstrap,
        &input,
        &[kv("k", "boom", 1).with_partition(0)],
    )
    .unwrap();
    for s in [&a, &b] {
        assert!(
            s.wait_for_state(State::Error, Duration::from_secs(60)),
            "state {:?}",
            s.state()
        );
    }
    assert_eq!(handled.load(Ordering::SeqCst), 1);
    for (s, t, failed) in [(&mut a, &ta, a_fails), (&mut b, &tb, !a_fails)] {
        assert!(s.close(Duration::from_secs(30)));
        assert_eq!(s.state(), State::Error);
        let t = seen(t);
        assert_eq!(t[0], (State::Rebalancing, State::Created));
        if failed {
            assert_eq!(
                t[t.len() - 2..],
                [
                    (State::PendingError, State::Running),
                    (State::Error, State::PendingError)
                ]
            );
        } else {
            assert_eq!(
                t[t.len() - 3..],
                [
                    (State::Rebalancing, State::Running),
                    (State::PendingError, State::Rebalancing),
                    (State::Error, State::PendingError)
                ]
            );
        }
    }
}

/// `auto.offset.reset` on a group's first start: Kafka Streams' default
/// (`earliest`) reads the input from the log start; `latest` skips what
/// was there before the assignment. A restart continues from the
/// committed offsets whatever the policy.
#[test]
fn embedded_offset_reset_then_committed_offsets() {
    let cluster = Cluster::embedded();
    let input = unique("or-in");
    let early_out = unique("or-early-out");
    let late_out = unique("or-late-out");
    cluster.create(&[(&input, 1), (&early_out, 1), (&late_out, 1)]);
    produce(
        &cluster.bootstrap,
        &input,
        &[kv("a", "before", 1), kv("b", "before", 2)],
    )
    .unwrap();

    let early = unique("or-early");
    let dir = state_dir();
    let s = start(
        failing(&input, &early_out, Arc::default()),
        config(&cluster, &early, dir.path()),
    );
    wait_processed(&cluster, &early, &[&input]);
    assert_eq!(
        read(&cluster, &early_out),
        owned(&[("a", "before", 1), ("b", "before", 2)])
    );

    let late = unique("or-late");
    let late_dir = state_dir();
    let l = start(
        failing(&input, &late_out, Arc::default()),
        config(&cluster, &late, late_dir.path()).set("consumer.auto.offset.reset", "latest"),
    );
    wait_running(&l);
    // The log end is looked up once the partition is assigned, and RUNNING
    // may come first: records go on arriving until one comes out. Whatever
    // comes out is a run of them that ends with the last one sent, and
    // never a record that was there before the start.
    let mut sent = Vec::new();
    for i in 0..600 {
        let ts = 10 + i;
        produce(&cluster.bootstrap, &input, &[kv("c", "after", ts)]).unwrap();
        sent.push(("c".to_string(), "after".to_string(), ts));
        std::thread::sleep(Duration::from_millis(100));
        if !read(&cluster, &late_out).is_empty() {
            break;
        }
    }
    wait_processed(&cluster, &late, &[&input]);
    let out = read(&cluster, &late_out);
    assert!(
        !out.is_empty(),
        "nothing came out of the `latest` application"
    );
    assert_eq!(out, sent[sent.len() - out.len()..].to_vec());
    close(l);

    // The first application, restarted with `latest`, continues where it
    // committed: the records sent meanwhile, not the log end.
    close(s);
    produce(&cluster.bootstrap, &input, &[kv("d", "later", 700)]).unwrap();
    let s = start(
        failing(&input, &early_out, Arc::default()),
        config(&cluster, &early, dir.path()).set("consumer.auto.offset.reset", "latest"),
    );
    wait_processed(&cluster, &early, &[&input]);
    let mut expected = owned(&[("a", "before", 1), ("b", "before", 2)]);
    expected.extend(sent.iter().cloned());
    expected.push(("d".into(), "later".into(), 700));
    assert_eq!(read(&cluster, &early_out), expected);
    close(s);
}
