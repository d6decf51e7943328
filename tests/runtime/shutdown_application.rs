//! `ShutdownApplication` across processes: a processor of instance A fails
//! and A's handler answers `ShutdownApplication`; instance B, the same
//! application in another process (so not reached through the in-process
//! registry), stops too. Both end in ERROR with the client states Kafka
//! Streams shows (measured on Kafka Streams 4.3.1, one thread per instance,
//! each owning one task: A `RUNNING -> PENDING_ERROR -> ERROR`, B
//! `RUNNING -> REBALANCING -> PENDING_ERROR -> ERROR`), and an instance
//! started afterwards runs: the old request does not stop it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};

use streams::error::StreamsError;
use streams::processor::{Processor, ProcessorContext, Record};
use streams::runtime::StreamsUncaughtExceptionResponse as Response;

use super::*;

const CHILD_ENV: &str = "KSTREAMS_SHUTDOWN_CHILD";
/// Marks the child's report lines on its stdout (the test harness writes
/// there too).
const REPORT: &str = "shutdown-child:";

#[test]
fn embedded_shutdown_application_stops_an_instance_in_another_process() {
    let cluster = Cluster::embedded();
    across_processes(&cluster);
}

/// Passes values on; fails on `boom` when `fail` is set.
struct FailOnBoom {
    fail: bool,
}

impl Processor<String, String, String, String> for FailOnBoom {
    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), StreamsError> {
        if self.fail && record.value.as_deref() == Some("boom") {
            return Err(StreamsError::Processing {
                node: "fail-on-boom".into(),
                reason: "boom".into(),
            });
        }
        ctx.forward(record)
    }
}

fn topology(input: &str, output: &str, fail: bool) -> Topology {
    let b = StreamsBuilder::new();
    b.stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .process(move || FailOnBoom { fail }, &[])
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    b.build().unwrap()
}

/// `(new, old)` pairs, in the order the listener heard them.
type Transitions = Arc<Mutex<Vec<(State, State)>>>;

fn listen(streams: &mut KafkaStreams) -> Transitions {
    let seen: Transitions = Arc::default();
    let s = seen.clone();
    streams.set_state_listener(move |new, old| s.lock().unwrap().push((new, old)));
    seen
}

/// The start of every instance's history: `CREATED -> REBALANCING ->
/// RUNNING`, then as many `RUNNING -> REBALANCING -> RUNNING` rounds as the
/// group had rebalances (the other instance joining).
fn assert_started(who: &str, seen: &[(State, State)]) {
    assert!(
        seen.len() >= 2 && seen.len().is_multiple_of(2),
        "{who}: {seen:?}"
    );
    assert_eq!(
        seen[0],
        (State::Rebalancing, State::Created),
        "{who}: {seen:?}"
    );
    for pair in seen[1..].chunks(2) {
        match pair {
            [(State::Running, State::Rebalancing)] => {}
            [
                (State::Running, State::Rebalancing),
                (State::Rebalancing, State::Running),
            ] => {}
            _ => panic!("{who}: {seen:?}"),
        }
    }
    assert_eq!(
        seen.last(),
        Some(&(State::Running, State::Rebalancing)),
        "{who}: {seen:?}"
    );
}

fn state_named(name: &str) -> State {
    match name {
        "Created" => State::Created,
        "Rebalancing" => State::Rebalancing,
        "Running" => State::Running,
        "PendingShutdown" => State::PendingShutdown,
        "NotRunning" => State::NotRunning,
        "PendingError" => State::PendingError,
        "Error" => State::Error,
        other => panic!("unknown state {other}"),
    }
}

/// Not a test: instance B, which `across_processes` runs in a child
/// process. It reports its state changes and task count on stdout, runs
/// until it is in ERROR (at most three minutes), then closes.
#[test]
#[ignore = "not a test: the child process that the shutdown_application tests start (with --ignored)"]
fn shutdown_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split(';').collect();
    let [bootstrap, real, app, input, output, dir] = parts[..] else {
        panic!("bad {CHILD_ENV}: {spec}")
    };
    crate::log_capture::install();
    let cluster = Cluster {
        _embedded: None,
        bootstrap: bootstrap.to_string(),
        real: real == "real",
    };
    let mut s = KafkaStreams::new(
        topology(input, output, false),
        config(&cluster, app, std::path::Path::new(dir)),
    );
    s.set_state_listener(|new, old| println!("{REPORT} state {old:?} {new:?}"));
    s.set_uncaught_exception_handler(|e| {
        println!("{REPORT} handler {e}");
        Response::ShutdownApplication
    });
    s.start().unwrap();
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut tasks = 0;
    while s.state() != State::Error && Instant::now() < deadline {
        let now = s.active_tasks().len();
        if now != tasks {
            tasks = now;
            println!("{REPORT} tasks {tasks}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let closed = s.close(Duration::from_secs(30));
    println!("{REPORT} closed {closed} {:?}", s.state());
}

/// Instance B in a child process, and what it reported.
struct ChildInstance {
    process: Child,
    reports: Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
}

impl ChildInstance {
    fn spawn(spec: &str, stderr: PathBuf) -> ChildInstance {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .args([
                "shutdown_application::shutdown_child_process",
                "--exact",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("child log file"))
            .spawn()
            .expect("spawn instance B");
        let stdout = process.stdout.take().unwrap();
        let (tx, reports) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // The harness's "test ... " may precede the first report
                // on its line.
                if let Some(at) = line.find(REPORT) {
                    let _ = tx.send(line[at + REPORT.len()..].trim().to_string());
                }
            }
        });
        ChildInstance {
            process,
            reports,
            seen: Vec::new(),
            stderr,
        }
    }

    /// Takes the reports that arrived.
    fn drain(&mut self) {
        while let Ok(r) = self.reports.try_recv() {
            self.seen.push(r);
        }
    }

    /// The state changes B reported, as `(new, old)`.
    fn transitions(&self) -> Vec<(State, State)> {
        self.seen
            .iter()
            .filter_map(|r| r.strip_prefix("state "))
            .map(|r| {
                let (old, new) = r.split_once(' ').unwrap();
                (state_named(new), state_named(old))
            })
            .collect()
    }

    fn state(&self) -> State {
        self.transitions()
            .last()
            .map(|(new, _)| *new)
            .unwrap_or(State::Created)
    }

    fn tasks(&self) -> usize {
        self.seen
            .iter()
            .filter_map(|r| r.strip_prefix("tasks "))
            .next_back()
            .map(|n| n.parse().unwrap())
            .unwrap_or(0)
    }

    /// Waits until `done` holds for the reports, failing after `timeout`
    /// with B's log.
    fn wait(&mut self, what: &str, timeout: Duration, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + timeout;
        loop {
            self.drain();
            if done(self) {
                return;
            }
            if Instant::now() >= deadline {
                let log = std::fs::read_to_string(&self.stderr).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                panic!(
                    "instance B: timed out waiting for {what}; reports {:?}; its log ends with:\n{}",
                    self.seen,
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            if let Ok(r) = self.reports.recv_timeout(Duration::from_millis(50)) {
                self.seen.push(r);
            }
        }
    }
}

impl Drop for ChildInstance {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// The scenario, on an embedded or a real cluster.
pub fn across_processes(cluster: &Cluster) {
    let input = unique("sap-in");
    let output = unique("sap-out");
    let app = unique("sap-app");
    cluster.create(&[(&input, 2), (&output, 2)]);
    let (dir_a, dir_b, dir_c, logs) = (state_dir(), state_dir(), state_dir(), state_dir());

    // A first: on an embedded broker its start creates the internal topics
    // (the child process cannot: the mock broker belongs to this process).
    let mut a = KafkaStreams::new(
        topology(&input, &output, true),
        config(cluster, &app, dir_a.path()),
    );
    let ta = listen(&mut a);
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    a.set_uncaught_exception_handler(move |_| {
        h.fetch_add(1, Ordering::SeqCst);
        Response::ShutdownApplication
    });
    a.start().unwrap();
    wait_running(&a);

    let spec = format!(
        "{};{};{app};{input};{output};{}",
        cluster.bootstrap,
        if cluster.real { "real" } else { "embedded" },
        dir_b.path().display()
    );
    let mut b = ChildInstance::spawn(&spec, logs.path().join("instance-b.log"));
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        b.drain();
        if a.state() == State::Running
            && a.active_tasks().len() == 1
            && b.state() == State::Running
            && b.tasks() == 1
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "A and B do not share the tasks after 120 s: A {:?} {:?}, B reported {:?}",
            a.state(),
            a.active_tasks(),
            b.seen
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let before_a = ta.lock().unwrap().clone();
    let before_b = b.transitions();
    assert_started("A", &before_a);
    assert_started("B", &before_b);

    // The poison record goes to A's partition only.
    let partition = a.active_tasks()[0].partition;
    let failed_at = Instant::now();
    produce(
        &cluster.bootstrap,
        &input,
        &[
            KafkaRecord::new(Some(b"k".to_vec()), Some(b"boom".to_vec()), t0())
                .with_partition(partition),
        ],
    )
    .unwrap();
    assert!(
        a.wait_for_state(State::Error, Duration::from_secs(60)),
        "A: state {:?}",
        a.state()
    );
    b.wait("ERROR", Duration::from_secs(30), |b| {
        b.state() == State::Error
    });
    eprintln!(
        "A and B in ERROR {} ms after the poison record was written",
        failed_at.elapsed().as_millis()
    );
    assert_eq!(handled.load(Ordering::SeqCst), 1);

    // ERROR is final: close is not needed, returns true and leaves it.
    assert!(a.close(Duration::from_secs(30)));
    assert_eq!(a.state(), State::Error);
    b.wait("its close", Duration::from_secs(60), |b| {
        b.seen.iter().any(|r| r.starts_with("closed"))
    });
    assert!(
        b.process.wait().unwrap().success(),
        "instance B's process failed"
    );
    let closed: Vec<&String> = b.seen.iter().filter(|r| r.starts_with("closed")).collect();
    assert_eq!(closed, ["closed true Error"]);
    assert!(
        !b.seen.iter().any(|r| r.starts_with("handler")),
        "B's handler must not be called: {:?}",
        b.seen
    );

    let after_a = ta.lock().unwrap()[before_a.len()..].to_vec();
    assert_eq!(
        after_a,
        [
            (State::PendingError, State::Running),
            (State::Error, State::PendingError),
        ]
    );
    let after_b = b.transitions()[before_b.len()..].to_vec();
    assert_eq!(
        after_b,
        [
            (State::Rebalancing, State::Running),
            (State::PendingError, State::Rebalancing),
            (State::Error, State::PendingError),
        ]
    );
    drop(b);

    // A restarted instance reads requests from its own start on: the one
    // above does not stop it, and it processes.
    let mut c = KafkaStreams::new(
        topology(&input, &output, false),
        config(cluster, &app, dir_c.path()),
    );
    let tc = listen(&mut c);
    c.start().unwrap();
    wait_running(&c);
    produce(
        &cluster.bootstrap,
        &input,
        &[
            KafkaRecord::new(Some(b"k".to_vec()), Some(b"after".to_vec()), t0() + 1)
                .with_partition(partition),
        ],
    )
    .unwrap();
    wait_processed(cluster, &app, &[&input]);
    let out: Vec<(String, String)> = read_topic(&cluster.bootstrap, &output, false)
        .unwrap()
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap().to_string(),
                r.value_str().unwrap().to_string(),
            )
        })
        .collect();
    // The poison record's offset was never committed: C, which does not
    // fail on it, processes it again.
    assert_eq!(
        out,
        [
            ("k".to_string(), "boom".to_string()),
            ("k".to_string(), "after".to_string()),
        ]
    );
    assert_eq!(c.state(), State::Running);
    close(c);
    assert_eq!(
        *tc.lock().unwrap(),
        [
            (State::Rebalancing, State::Created),
            (State::Running, State::Rebalancing),
            (State::PendingShutdown, State::Running),
            (State::NotRunning, State::PendingShutdown),
        ]
    );
}
