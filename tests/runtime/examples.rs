//! The examples run end to end on the embedded broker and exit 0 with the
//! expected results. They are built by `cargo test --all-targets` (the
//! README's test command) next to this test binary; when they are not
//! there the test says so and is skipped.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn example(name: &str) -> Option<PathBuf> {
    // target/<profile>/deps/runtime-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().ok()?;
    let path = exe.parent()?.parent()?.join("examples").join(name);
    path.exists().then_some(path)
}

fn run_example(name: &str) -> Option<String> {
    let Some(path) = example(name) else {
        eprintln!("SKIPPED example {name}: not built (run cargo test --all-targets)");
        return None;
    };
    let mut child = Command::new(path)
        .env_remove("BOOTSTRAP_SERVERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the example");
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert!(
                status.success(),
                "{name} failed: {status}\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            return Some(stdout);
        }
        if Instant::now() >= deadline {
            child.kill().ok();
            panic!("{name} did not finish within 180 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn word_count_example() {
    let Some(out) = run_example("word_count") else {
        return;
    };
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
    let Some(out) = run_example("page_views") else {
        return;
    };
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
    let Some(out) = run_example("orders_join") else {
        return;
    };
    let tail = out.split("dropped):\n").nth(1).expect("orders printed");
    assert_eq!(
        tail,
        "  c1: Ada ordered 30 EUR\n  c1: Ada ordered 7 EUR\n  c2: Grace ordered 99 EUR\n  c3: Linus ordered 12 EUR\n"
    );
}
