//! A minimal stderr logger for examples and tests, so that the runtime's
//! log lines (rebalances, restoration progress, errors) can be seen without
//! choosing a logging crate.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
            && (metadata.target().starts_with("streams")
                || metadata.level() <= Level::Warn
                // librdkafka's own debug lines (its `debug` setting, e.g.
                // `consumer.debug=cgrp,fetch`) come at `trace`.
                || self.level == LevelFilter::Trace)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis())
                .unwrap_or(0);
            let thread = std::thread::current();
            eprintln!(
                "{}.{:03} {:5} [{}] {}",
                now / 1000,
                now % 1000,
                record.level(),
                thread.name().unwrap_or("?"),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

/// Logs to stderr at the level named by the `STREAMS_LOG` environment
/// variable (`error`, `warn`, `info`, `debug`, `trace`; `warn` when unset).
/// Other crates' lines are shown from `warn` up, or all of them at `trace`
/// (librdkafka's `debug` output, asked for with a client's `debug` setting
/// such as `consumer.debug=cgrp,fetch`, logs through rdkafka).
/// Does nothing if a logger is already installed.
///
/// ```
/// streams_core::runtime::init_logging();
/// ```
pub fn init_logging() {
    let level = log_level();
    let logger = Box::leak(Box::new(StderrLogger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

/// The level the `STREAMS_LOG` environment variable names (`off`,
/// `error`, `warn`, `info`, `debug`, `trace`, in any case; `warn` when
/// unset or unknown): what [`init_logging`] logs at, for an application
/// that installs a logger of its own.
///
/// ```
/// let level = streams_core::runtime::log_level();
/// assert!(level >= log::LevelFilter::Off);
/// ```
pub fn log_level() -> LevelFilter {
    match std::env::var(crate::config::LOG_ENV)
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "off" => LevelFilter::Off,
        "error" => LevelFilter::Error,
        "info" => LevelFilter::Info,
        "debug" => LevelFilter::Debug,
        "trace" => LevelFilter::Trace,
        _ => LevelFilter::Warn,
    }
}
