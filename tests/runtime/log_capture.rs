//! The runtime's log, kept in memory for the test that fails.
//!
//! The runtime tests share one process, and the failures worth a log are
//! the rare ones (a group that never settles on the embedded broker, a
//! restore that never ends) that a re-run with `STREAMS_LOG=debug` does not
//! reproduce. So every debug line of the runtime is kept in a ring buffer,
//! with its thread's name (`<application id>-<process id>-StreamThread-<n>`),
//! and a failing wait prints the lines of its application's threads.
//! Warnings (and what `STREAMS_LOG` asks for) still go to stderr at once.

use std::collections::VecDeque;
use std::sync::{Mutex, Once};

use log::{LevelFilter, Log, Metadata, Record};
use streams::runtime::{is_logged, log_line};

/// Lines kept: a few minutes of two tests' debug output.
const CAPACITY: usize = 200_000;
/// Lines printed by one [`dump`], the last ones.
const DUMP_MAX: usize = 4_000;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

struct Capture {
    stderr: LevelFilter,
}

impl Log for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // Kept: the runtime's debug lines at least, as `STREAMS_LOG` asks
        // for more.
        is_logged(LevelFilter::Debug.max(self.stderr), metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = log_line(record);
        if is_logged(self.stderr, record.metadata()) {
            eprintln!("{line}");
        }
        if let Ok(mut lines) = LINES.lock() {
            if lines.len() == CAPACITY {
                lines.pop_front();
            }
            lines.push_back(line);
        }
    }

    fn flush(&self) {}
}

/// Installs the capturing logger (once per process).
pub fn install() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let stderr = streams::runtime::log_level();
        let logger: &'static Capture = Box::leak(Box::new(Capture { stderr }));
        if log::set_logger(logger).is_ok() {
            log::set_max_level(LevelFilter::Debug.max(stderr));
        }
    });
}

/// Prints the kept lines of the threads whose name contains `thread`.
pub fn dump(thread: &str) {
    let Ok(lines) = LINES.lock() else { return };
    // A line is `<time> <level> [<thread>] <message>`.
    let picked: Vec<&String> = lines
        .iter()
        .filter(|l| {
            l.split_once(" [")
                .and_then(|(_, rest)| rest.split_once(']'))
                .is_some_and(|(name, _)| name.contains(thread))
        })
        .collect();
    let skip = picked.len().saturating_sub(DUMP_MAX);
    eprintln!(
        "---- log of threads matching {thread:?}: {} lines{} ----",
        picked.len(),
        if skip > 0 {
            format!(", the last {DUMP_MAX}")
        } else {
            String::new()
        }
    );
    // The commit of every interval says only that the thread is alive:
    // runs of them are counted, not printed.
    let mut commits = 0;
    for l in picked.into_iter().skip(skip) {
        if l.contains(": committed in ") {
            commits += 1;
            continue;
        }
        if commits > 0 {
            eprintln!("  ({commits} commit lines)");
            commits = 0;
        }
        eprintln!("{l}");
    }
    if commits > 0 {
        eprintln!("  ({commits} commit lines)");
    }
    eprintln!("---- end of log ----");
}
