//! End-to-end benchmarks on a real broker: Kafka Streams' SimpleBenchmark
//! workloads run by this crate's runtime, against the raw client
//! (librdkafka through rdkafka) and, from `scripts/bench.sh`, against Java
//! Kafka Streams (`benches/e2e/java`).
//!
//! One invocation does one thing, so that every workload runs in its own
//! process and its peak RSS is its own:
//!
//! ```text
//! e2e load --bootstrap B --prefix P [--records N] [--partitions P] [--restore-keys K]
//! e2e run  --bootstrap B --prefix P --workload W [--guarantee G] [--records N]
//!          [--restore-keys K] [--state-dir D] [--timeout-s S] [--set key=value ...]
//! e2e inprocess --workload W [--records N] [--partitions P]
//! e2e drop --bootstrap B --prefix P
//! ```
//!
//! `load` creates and fills the topics and prints a manifest (one JSON
//! line); `run` prints one JSON line with the measurement; `inprocess`
//! runs a workload's tasks on the same data with no broker (see
//! `inprocess.rs`) and prints one JSON line; `drop` deletes every topic
//! named `P-...` (what `load` and the runs under that prefix made), so a
//! broker that serves many invocations does not pile them up. The topics,
//! data and workloads are described in `benches/README.md`
//! ("End-to-end"); `scripts/bench.sh` drives the whole comparison.

mod inprocess;
mod load;
mod raw;
mod workloads;

use std::process::ExitCode;
use std::time::Duration;

/// Command-line options shared by the subcommands.
#[derive(Debug, Clone)]
pub struct Args {
    pub bootstrap: String,
    pub prefix: String,
    pub records: u64,
    pub partitions: i32,
    pub restore_keys: u64,
    pub workload: String,
    pub guarantee: String,
    pub state_dir: std::path::PathBuf,
    pub timeout: Duration,
    /// Extra `StreamsConfig` entries (`--set key=value`), for experiments;
    /// `scripts/bench.sh` passes none, so both implementations run with
    /// the same (default) settings.
    pub extra: Vec<(String, String)>,
}

impl Args {
    fn parse(mut it: impl Iterator<Item = String>) -> Result<Args, String> {
        let mut a = Args {
            bootstrap: String::new(),
            prefix: String::new(),
            records: 1_000_000,
            partitions: 4,
            restore_keys: 1_000_000,
            workload: String::new(),
            guarantee: "at_least_once".into(),
            state_dir: std::env::temp_dir().join("kstreams-e2e"),
            timeout: Duration::from_secs(900),
            extra: Vec::new(),
        };
        while let Some(flag) = it.next() {
            // `cargo bench` appends `--bench` to a harness-less bench's
            // arguments; it means nothing here.
            if flag == "--bench" {
                continue;
            }
            let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
            match flag.as_str() {
                "--bootstrap" => a.bootstrap = value()?,
                "--prefix" => a.prefix = value()?,
                "--records" => a.records = number(&flag, &value()?)?,
                "--partitions" => a.partitions = number(&flag, &value()?)? as i32,
                "--restore-keys" => a.restore_keys = number(&flag, &value()?)?,
                "--workload" => a.workload = value()?,
                "--guarantee" => a.guarantee = value()?,
                "--state-dir" => a.state_dir = value()?.into(),
                "--set" => {
                    let kv = value()?;
                    let (k, v) = kv
                        .split_once('=')
                        .ok_or_else(|| format!("--set needs key=value, not '{kv}'"))?;
                    a.extra.push((k.to_string(), v.to_string()));
                }
                "--timeout-s" => a.timeout = Duration::from_secs(number(&flag, &value()?)?),
                other => return Err(format!("unknown option {other}")),
            }
        }
        if a.records == 0 || a.partitions <= 0 {
            return Err("--records and --partitions must be positive".into());
        }
        Ok(a)
    }
}

fn number(flag: &str, v: &str) -> Result<u64, String> {
    v.replace('_', "")
        .parse()
        .map_err(|_| format!("{flag}: '{v}' is not a number"))
}

/// The process's peak resident set size (`VmHWM`), in bytes.
pub fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

fn main() -> ExitCode {
    let mut argv = std::env::args().skip(1).filter(|a| a != "--bench");
    let Some(command) = argv.next() else {
        // No command: `cargo test --all-targets` runs every bench once with
        // no arguments as a smoke test; this one needs a broker, so it only
        // says how to run it.
        eprintln!(
            "usage: e2e load|run|inprocess|drop --bootstrap HOST:PORT --prefix P [options] (see benches/e2e/e2e.rs; scripts/bench.sh drives it)"
        );
        return ExitCode::SUCCESS;
    };
    let args = match Args::parse(argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("e2e: {e}");
            return ExitCode::from(2);
        }
    };
    streams::runtime::init_logging();
    let needs_broker = command != "inprocess";
    if needs_broker && (args.bootstrap.is_empty() || args.prefix.is_empty()) {
        eprintln!("e2e {command}: --bootstrap and --prefix are required");
        return ExitCode::from(2);
    }
    let result = match command.as_str() {
        "load" => load::load(&args),
        "run" => workloads::run(&args),
        "inprocess" => inprocess::run(&args),
        "drop" => load::drop_topics(&args),
        other => Err(format!("unknown command {other}")),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("e2e {command}: {e}");
            ExitCode::FAILURE
        }
    }
}
