//! The examples run end to end on the embedded broker and exit 0 with the
//! expected results; they read `STREAMS_*` environment variables; and a
//! SIGTERM closes them cleanly.
//!
//! The examples are built (or found up to date) with cargo into the target
//! directory of this test binary, once per run, so these tests never run a
//! stale example nor skip one.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// `target/<profile>/examples/<name>`, built by cargo (once per process).
fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/runtime-<hash> -> target/<profile>
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps")
        .to_path_buf();
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let target_dir = profile_dir.parent().expect("target dir");
        let mut cargo = Command::new(env!("CARGO"));
        cargo
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("CARGO_TARGET_DIR", target_dir)
            .args([
                "build",
                "--workspace",
                "--features",
                "runtime",
                "--examples",
            ]);
        if profile_dir.ends_with("release") {
            cargo.arg("--release");
        }
        match cargo.output() {
            Ok(out) if out.status.success() => Ok(()),
            Ok(out) => Err(String::from_utf8_lossy(&out.stderr).into_owned()),
            Err(e) => Err(e.to_string()),
        }
    });
    if let Err(e) = built {
        panic!("building the examples failed:\n{e}");
    }
    profile_dir.join("examples").join(name)
}

/// Runs an example to its end (at most 180 s): its exit status, stdout and
/// stderr.
fn run(mut command: Command, name: &str) -> (std::process::ExitStatus, String, String) {
    let mut child = command
        .env_remove("BOOTSTRAP_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let deadline = Instant::now() + Duration::from_secs(180);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            child.kill().ok();
            panic!("{name} did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn run_example(name: &str) -> String {
    let (status, stdout, stderr) = run(Command::new(example(name)), name);
    assert!(
        status.success(),
        "{name} failed: {status}\n{stdout}\n{stderr}"
    );
    stdout
}

#[test]
fn word_count_example() {
    let out = run_example("word_count");
    let tail = out
        .split("Final counts:\n")
        .nth(1)
        .expect("final counts printed");
    assert_eq!(
        tail,
        "  and: 1\n  apache: 1\n  example: 1\n  kafka: 3\n  reading: 1\n  streams: 2\n  test: 1\n  topic: 1\n  using: 1\n  utils: 1\n  writing: 1\n"
    );
}

#[test]
fn page_views_example() {
    let out = run_example("page_views");
    let tail = out
        .split("Views per page and minute:\n")
        .nth(1)
        .expect("counts printed");
    assert_eq!(
        tail,
        "  minute 0  /home      3\n  minute 0  /pricing   1\n  minute 1  /docs      3\n  minute 1  /home      1\n  minute 2  /home      1\n  minute 2  /pricing   1\n"
    );
}

#[test]
fn orders_join_example() {
    let out = run_example("orders_join");
    let tail = out.split("dropped):\n").nth(1).expect("orders printed");
    assert_eq!(
        tail,
        "  c1: Ada ordered 30 EUR\n  c1: Ada ordered 7 EUR\n  c2: Grace ordered 99 EUR\n  c3: Linus ordered 12 EUR\n"
    );
}

/// `STREAMS_*` variables configure the example's application (here two
/// stream threads, which the log shows), as in a container deployment.
#[test]
fn word_count_example_reads_the_environment() {
    let mut command = Command::new(example("word_count"));
    command
        .env("STREAMS_NUM_STREAM_THREADS", "2")
        .env("STREAMS_LOG", "info");
    let (status, stdout, stderr) = run(command, "word_count");
    assert!(status.success(), "{status}\n{stdout}\n{stderr}");
    assert!(stdout.contains("Final counts:\n  and: 1\n"), "{stdout}");
    for thread in ["StreamThread-1]", "StreamThread-2]"] {
        assert!(
            stderr.contains(thread),
            "no log line of {thread}:\n{stderr}"
        );
    }
}

/// SIGTERM while the application runs: it closes cleanly and exits 0.
#[test]
fn word_count_example_closes_cleanly_on_sigterm() {
    let mut child = Command::new(example("word_count"))
        .env_remove("BOOTSTRAP_SERVERS")
        .env("STREAMS_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    // Signal as soon as the application has started (its first state
    // transition is logged).
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        use std::io::BufRead;
        let mut all = String::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if line.contains("state transition from Created to Rebalancing") {
                let _ = tx.send(line.clone());
            }
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("the application started");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = reader.join().unwrap();
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(
        stdout.ends_with("Interrupted; closed cleanly\n"),
        "{stdout}"
    );
    assert!(
        stderr.contains("state transition from PendingShutdown to NotRunning"),
        "{stderr}"
    );
}
