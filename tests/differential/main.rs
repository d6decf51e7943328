//! Differential tests against Java Kafka Streams.
//!
//! For every enabled canonical topology (see `tests/java-ref/README.md`) and
//! every seed, a generated input (`inputs`) runs through Kafka 4.3.1's own
//! `TopologyTestDriver` (the Java runner, `tests/java-ref/run.sh`) and through
//! the same topology built with our DSL in our driver (`topologies`). The two
//! outputs must be the same records (key, value, timestamp) in the same
//! order, compared as parsed JSON.
//!
//! All Java runs share one JVM start; the Rust runs happen meanwhile, on
//! every core. On a mismatch the inputs and both outputs stay in a temp
//! directory, whose path the failure message gives.
//!
//! Environment:
//! - `KSTREAMS_JAVA_REF`: the runner (default: `tests/java-ref/run.sh` in
//!   this checkout). Needs `java` 17+ and, for its first build, `mvn`;
//!   `scripts/setup.sh` says what is missing.
//! - `KSTREAMS_DIFF_SEEDS`: seeds per topology (default 20).
//! - `KSTREAMS_DIFF_ONLY`: comma-separated topology names to run.
//!
//! # Adding a topology
//!
//! 1. In `topologies.rs`, write `pub fn <name>(input: &[InRecord]) ->
//!    Result<Vec<Value>, String>` that builds the Java chain (as written in
//!    `tests/java-ref/README.md`) on a `StreamsBuilder` and ends with
//!    `drive(&b, input, <output key serde>, <output value serde>)`.
//! 2. Add `Case { name: "<java name>", inputs: inputs::<shape>, run:
//!    topologies::<name> }` to [`CASES`] (variants can share a builder:
//!    `run: |i| topologies::windowed_count(i, Windowing::Tumbling, true)`).

mod inputs;
mod topologies;

use std::fmt::Write as _;
use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::Value;

use inputs::InRecord;
use topologies::{JoinKind, Windowing};

/// One canonical topology, run on both sides.
struct Case {
    /// The topology's name in the Java runner (`run.sh --list`).
    name: &'static str,
    /// The input for a seed.
    inputs: fn(u64) -> Vec<InRecord>,
    /// Our side: the topology in our driver, output as the runner's JSON lines.
    run: fn(&[InRecord]) -> Result<Vec<Value>, String>,
}

/// The canonical topologies: every one the Java runner has.
const CASES: &[Case] = &[
    Case {
        name: "word-count",
        inputs: inputs::word_count,
        run: topologies::word_count,
    },
    Case {
        name: "table-agg",
        inputs: inputs::table_agg,
        run: topologies::table_agg,
    },
    Case {
        name: "stream-stream-inner",
        inputs: inputs::stream_stream,
        run: |i| topologies::stream_stream(i, JoinKind::Inner),
    },
    Case {
        name: "stream-stream-left",
        inputs: inputs::stream_stream,
        run: |i| topologies::stream_stream(i, JoinKind::Left),
    },
    Case {
        name: "stream-stream-outer",
        inputs: inputs::stream_stream,
        run: |i| topologies::stream_stream(i, JoinKind::Outer),
    },
    Case {
        name: "stream-table-inner",
        inputs: inputs::stream_table,
        run: |i| topologies::stream_table(i, JoinKind::Inner),
    },
    Case {
        name: "stream-table-left",
        inputs: inputs::stream_table,
        run: |i| topologies::stream_table(i, JoinKind::Left),
    },
    Case {
        name: "table-table-inner",
        inputs: inputs::table_table,
        run: |i| topologies::table_table(i, JoinKind::Inner),
    },
    Case {
        name: "table-table-left",
        inputs: inputs::table_table,
        run: |i| topologies::table_table(i, JoinKind::Left),
    },
    Case {
        name: "table-table-outer",
        inputs: inputs::table_table,
        run: |i| topologies::table_table(i, JoinKind::Outer),
    },
    Case {
        name: "fk-inner",
        inputs: inputs::fk,
        run: |i| topologies::fk(i, JoinKind::Inner),
    },
    Case {
        name: "fk-left",
        inputs: inputs::fk,
        run: |i| topologies::fk(i, JoinKind::Left),
    },
    Case {
        name: "tumbling-count",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Tumbling, false),
    },
    Case {
        name: "extracted-tumbling-count",
        inputs: inputs::windowed,
        run: topologies::extracted_tumbling_count,
    },
    Case {
        name: "processing-continue",
        inputs: inputs::windowed,
        run: topologies::processing_continue,
    },
    Case {
        name: "tumbling-count-suppressed",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Tumbling, true),
    },
    Case {
        name: "hopping-count",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Hopping, false),
    },
    Case {
        name: "hopping-count-suppressed",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Hopping, true),
    },
    Case {
        name: "sliding-count",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Sliding, false),
    },
    Case {
        name: "sliding-count-suppressed",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Sliding, true),
    },
    Case {
        name: "session-count",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Session, false),
    },
    Case {
        name: "session-count-suppressed",
        inputs: inputs::windowed,
        run: |i| topologies::windowed_count(i, Windowing::Session, true),
    },
];

const DEFAULT_SEEDS: u64 = 20;

/// One (topology, seed) run.
struct Job {
    case: &'static Case,
    seed: u64,
    input: Vec<InRecord>,
    input_path: PathBuf,
    expected_path: PathBuf,
}

#[test]
fn rust_output_equals_java_kafka_streams_output() {
    let started = Instant::now();
    let runner = java_runner();
    let seeds: u64 = match std::env::var("KSTREAMS_DIFF_SEEDS") {
        Ok(s) => s.parse().expect("KSTREAMS_DIFF_SEEDS must be a number"),
        Err(_) => DEFAULT_SEEDS,
    };
    let only: Option<Vec<String>> = std::env::var("KSTREAMS_DIFF_ONLY")
        .ok()
        .map(|s| s.split(',').map(|t| t.trim().to_string()).collect());
    let cases: Vec<&'static Case> = CASES
        .iter()
        .filter(|c| only.as_ref().is_none_or(|o| o.iter().any(|n| n == c.name)))
        .collect();
    assert!(
        !cases.is_empty(),
        "KSTREAMS_DIFF_ONLY={only:?} matches no enabled topology"
    );

    let dir = tempfile::Builder::new()
        .prefix("kstreams-differential-")
        .tempdir()
        .expect("creating a temp dir");
    let mut jobs = Vec::new();
    for case in &cases {
        for seed in 0..seeds {
            let input = (case.inputs)(seed);
            let stem = format!("{}.seed{seed}", case.name);
            let input_path = dir.path().join(format!("{stem}.in.jsonl"));
            let mut text = String::new();
            for r in &input {
                writeln!(text, "{}", r.to_json()).unwrap();
            }
            fs::write(&input_path, text).expect("writing an input file");
            jobs.push(Job {
                case,
                seed,
                input,
                input_path,
                expected_path: dir.path().join(format!("{stem}.java.jsonl")),
            });
        }
    }

    // Java: every (topology, seed) in one JVM, in the background.
    let java_started = Instant::now();
    let log_path = dir.path().join("java.log");
    let mut java = Command::new("bash");
    java.arg(&runner);
    for j in &jobs {
        java.arg(j.case.name)
            .arg(&j.input_path)
            .arg(&j.expected_path);
    }
    // A file, not a pipe: nobody reads a pipe while the Rust side runs.
    let log = fs::File::create(&log_path).expect("creating the Java log file");
    let mut child = java
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().expect("cloning a file handle")))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {} with bash: {e}. Run scripts/setup.sh.",
                runner.display()
            )
        });

    // Rust: meanwhile, on every core.
    let rust_started = Instant::now();
    let ours = run_rust_side(&jobs);
    let rust_time = rust_started.elapsed();

    let status = child.wait().expect("waiting for the Java runner");
    let java_time = java_started.elapsed();
    if !status.success() {
        let log = fs::read_to_string(&log_path).unwrap_or_default();
        let kept = dir.keep();
        panic!(
            "the Java reference runner failed ({status}):\n{}\n\ninputs kept in {}\n\
             If java (17+) or mvn is missing, run scripts/setup.sh.",
            tail(&log, 60),
            kept.display()
        );
    }

    // Compare.
    let mut failures: Vec<String> = Vec::new();
    let mut summary = String::new();
    for case in &cases {
        let (mut ok, mut records) = (0, 0);
        for (job, ours) in jobs
            .iter()
            .zip(&ours)
            .filter(|(j, _)| std::ptr::eq(j.case, *case))
        {
            let expected = match read_jsonl(&job.expected_path) {
                Ok(expected) => expected,
                Err(e) => {
                    failures.push(format!("{} seed {}: {e}", case.name, job.seed));
                    continue;
                }
            };
            records += expected.len();
            let actual_path = job
                .input_path
                .with_file_name(format!("{}.seed{}.rust.jsonl", case.name, job.seed));
            match ours {
                Err(e) => failures.push(format!(
                    "{} seed {}: our side failed: {e}\n  input:    {}\n  expected: {}",
                    case.name,
                    job.seed,
                    job.input_path.display(),
                    job.expected_path.display()
                )),
                Ok(actual) => match first_difference(&expected, actual) {
                    None => ok += 1,
                    Some(at) => {
                        let text: String = actual.iter().map(|v| format!("{v}\n")).collect();
                        fs::write(&actual_path, text).unwrap();
                        failures.push(describe_mismatch(job, &expected, actual, at, &actual_path));
                    }
                },
            }
        }
        writeln!(
            summary,
            "  {:<28} {ok}/{seeds} seeds equal ({} input records and {records} Java output records in all)",
            case.name,
            seeds as usize * inputs::RECORDS
        )
        .unwrap();
    }
    println!(
        "differential: {} runs; Java {:.1?} (one JVM), Rust {:.1?} (in parallel with Java), total {:.1?}\n{summary}",
        jobs.len(),
        java_time,
        rust_time,
        started.elapsed()
    );
    if !failures.is_empty() {
        let kept = dir.keep();
        panic!(
            "{} of {} runs differ from Java Kafka Streams (files kept in {}):\n{summary}\n{}",
            failures.len(),
            jobs.len(),
            kept.display(),
            failures.join("\n")
        );
    }
}

/// The Java runner's path, or a failure that says how to get it working.
fn java_runner() -> PathBuf {
    let runner = match std::env::var_os("KSTREAMS_JAVA_REF") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/java-ref/run.sh"),
    };
    assert!(
        runner.is_file(),
        "the Java reference runner {} does not exist; point KSTREAMS_JAVA_REF at tests/java-ref/run.sh \
         of a full checkout",
        runner.display()
    );
    let on_path = |exe: &str| {
        std::env::var_os("PATH")
            .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(exe).is_file()))
    };
    assert!(
        on_path("java"),
        "java is not on PATH: the differential tests need a JDK 17+ (and Maven for the runner's first build). \
         Run scripts/setup.sh, which names what is missing."
    );
    runner
}

/// Runs every job through our side on all cores; a panic in a job (e.g. in
/// a topology's lambda) becomes that job's error.
/// What one run of our side gives: the output records, or why it failed.
type RunResult = Result<Vec<Value>, String>;

fn run_rust_side(jobs: &[Job]) -> Vec<RunResult> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<RunResult>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    let threads = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(jobs.len());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let result = catch_unwind(AssertUnwindSafe(|| (job.case.run)(&job.input)))
                        .unwrap_or_else(|p| {
                            let msg = p
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            Err(format!("panicked: {msg}"))
                        });
                    results.lock().unwrap()[i] = Some(result);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn read_jsonl(path: &Path) -> Result<Vec<Value>, String> {
    let text = fs::read_to_string(path)
        .map_err(|e| format!("reading Java's output {}: {e}", path.display()))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, l)| {
            serde_json::from_str(l)
                .map_err(|e| format!("{}:{}: not JSON ({e}): {l}", path.display(), i + 1))
        })
        .collect()
}

/// The index of the first record that differs, counting a missing record
/// as a difference; `None` if the lists are equal.
fn first_difference(expected: &[Value], actual: &[Value]) -> Option<usize> {
    let common = expected.len().min(actual.len());
    (0..common)
        .find(|&i| expected[i] != actual[i])
        .or((expected.len() != actual.len()).then_some(common))
}

/// The topology, seed, first differing record with a few around it, and
/// where the files are.
fn describe_mismatch(
    job: &Job,
    expected: &[Value],
    actual: &[Value],
    at: usize,
    actual_path: &Path,
) -> String {
    let mut s = format!(
        "{} seed {}: first difference at output record #{at} (Java wrote {} records, we wrote {})\n  \
         input:    {}\n  expected: {}\n  ours:     {}\n",
        job.case.name,
        job.seed,
        expected.len(),
        actual.len(),
        job.input_path.display(),
        job.expected_path.display(),
        actual_path.display()
    );
    let show = |v: Option<&Value>| v.map_or("(none)".to_string(), Value::to_string);
    for i in at.saturating_sub(3)..(at + 4).min(expected.len().max(actual.len())) {
        let (e, a) = (expected.get(i), actual.get(i));
        if e == a {
            writeln!(s, "    #{i:<5} both {}", show(e)).unwrap();
        } else {
            writeln!(
                s,
                "    #{i:<5} java {}\n    {:6} ours {}",
                show(e),
                "",
                show(a)
            )
            .unwrap();
        }
    }
    s
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
