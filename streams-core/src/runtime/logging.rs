//! A minimal stderr logger for examples and tests, so that the runtime's
//! log lines (rebalances, restoration progress, errors) can be seen without
//! choosing a logging crate.

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        is_logged(self.level, metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{}", log_line(record));
        }
    }

    fn flush(&self) {}
}

/// Logs to stderr at the level named by the `STREAMS_LOG` environment
/// variable ([`log_level`]; which lines show: [`is_logged`], in the form
/// of [`log_line`]). Does nothing if a logger is already installed.
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

/// Whether [`init_logging`] at `level` shows a line with `metadata`: the
/// runtime's own lines up to `level`, other crates' from `warn` up, or
/// all of them at `trace` (librdkafka's own debug lines, asked for with a
/// client's `debug` setting such as `consumer.debug=cgrp,fetch`, come
/// through rdkafka at `debug`).
///
/// ```
/// use log::{Level, LevelFilter, MetadataBuilder};
/// let rdkafka = MetadataBuilder::new().level(Level::Debug).target("librdkafka").build();
/// assert!(!streams_core::runtime::is_logged(LevelFilter::Debug, &rdkafka));
/// assert!(streams_core::runtime::is_logged(LevelFilter::Trace, &rdkafka));
/// ```
pub fn is_logged(level: LevelFilter, metadata: &Metadata<'_>) -> bool {
    metadata.level() <= level
        && (metadata.target().starts_with("streams")
            || metadata.level() <= Level::Warn
            || level == LevelFilter::Trace)
}

/// The line [`init_logging`] writes for `record`: wall-clock seconds and
/// milliseconds, level, thread name (a stream thread's is
/// `<application id>-<process id>-StreamThread-<n>`), message.
///
/// ```
/// let line = streams_core::runtime::log_line(
///     &log::Record::builder().level(log::Level::Info).args(format_args!("hello")).build(),
/// );
/// assert!(line.contains(" INFO  [") && line.ends_with("] hello"), "{line}");
/// ```
pub fn log_line(record: &Record<'_>) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let thread = std::thread::current();
    format!(
        "{}.{:03} {:5} [{}] {}",
        now / 1000,
        now % 1000,
        record.level(),
        thread.name().unwrap_or("?"),
        record.args()
    )
}
