//! What the examples share: where Kafka is (an embedded broker, or the
//! cluster named by `--bootstrap HOST:PORT` or `BOOTSTRAP_SERVERS`), and
//! running an application until it has processed its input, stopping early
//! on Ctrl-C or SIGTERM.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use streams::config::StreamsConfig;
use streams::error::StreamsError;
use streams::runtime::{EmbeddedKafka, KafkaStreams, ShutdownSignal, State, wait_until_processed};
use streams::topology::Topology;

/// Where the example runs.
pub struct Cluster {
    _embedded: Option<EmbeddedKafka>,
    /// Ctrl-C / SIGTERM, caught from the start so that a signal is never
    /// lost to the default action (killing the process mid-way).
    signal: ShutdownSignal,
    /// The bootstrap address.
    pub bootstrap: String,
    /// A suffix for topic names and the application id: empty on the
    /// embedded broker, unique per run on a real cluster, so that runs do
    /// not see each other's data.
    pub suffix: String,
}

impl Cluster {
    /// `--bootstrap HOST:PORT`, `--bootstrap=HOST:PORT` or
    /// `BOOTSTRAP_SERVERS`; an embedded broker when none is given.
    pub fn from_args() -> Result<Cluster, StreamsError> {
        let signal = ShutdownSignal::install()?;
        let mut requested = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "--bootstrap" {
                requested = Some(args.next().ok_or_else(|| {
                    StreamsError::Config("--bootstrap needs a value: --bootstrap HOST:PORT".into())
                })?);
            } else if let Some(v) = arg.strip_prefix("--bootstrap=") {
                requested = Some(v.to_string());
            } else {
                return Err(StreamsError::Config(format!(
                    "unknown argument '{arg}': the only option is --bootstrap HOST:PORT"
                )));
            }
        }
        let requested = requested.or_else(|| {
            std::env::var("BOOTSTRAP_SERVERS")
                .ok()
                .filter(|s| !s.trim().is_empty())
        });
        Ok(match requested {
            Some(bootstrap) => Cluster {
                _embedded: None,
                signal,
                bootstrap,
                suffix: format!("-{}", now_ms()),
            },
            None => {
                let embedded = EmbeddedKafka::start()?;
                println!(
                    "Started an embedded Kafka broker at {}",
                    embedded.bootstrap_servers()
                );
                Cluster {
                    signal,
                    bootstrap: embedded.bootstrap_servers().to_string(),
                    _embedded: Some(embedded),
                    suffix: String::new(),
                }
            }
        })
    }

    /// `name` with this run's suffix.
    pub fn name(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    /// A configuration for `application_id` on this cluster, with a state
    /// directory of its own (deleted by [`App::finish`]), overlaid with the
    /// `STREAMS_*` environment variables (`STREAMS_NUM_STREAM_THREADS=2`
    /// sets `num.stream.threads`), as a container deployment configures it.
    pub fn config(&self, application_id: &str) -> StreamsConfig {
        let state_dir =
            std::env::temp_dir().join(format!("kstreams-{application_id}-{}", std::process::id()));
        StreamsConfig::new()
            .set("application.id", application_id)
            .set("bootstrap.servers", &self.bootstrap)
            .set("state.dir", state_dir.display().to_string())
            // Commit (and so emit cached results) every second rather than
            // every 30 s, so that the examples finish quickly.
            .set("commit.interval.ms", "1000")
            .with_env()
    }
}

/// A started application.
pub struct App {
    streams: KafkaStreams,
    config: StreamsConfig,
    signal: ShutdownSignal,
}

/// How [`App::wait_until_processed`] ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Waited {
    /// Every input record was processed and its output written.
    Processed,
    /// Ctrl-C or SIGTERM arrived.
    Interrupted,
}

impl App {
    /// Starts `topology` on `cluster`.
    pub fn start(
        cluster: &Cluster,
        topology: Topology,
        config: StreamsConfig,
    ) -> Result<App, StreamsError> {
        let signal = cluster.signal.clone();
        let mut streams = KafkaStreams::new(topology, config.clone());
        streams.start()?;
        Ok(App {
            streams,
            config,
            signal,
        })
    }

    /// Waits (at most two minutes) until every stream thread runs its
    /// tasks (state RUNNING); `false` when a signal arrived first.
    pub fn wait_until_running(&self) -> Result<bool, StreamsError> {
        let started = Instant::now();
        while !self.signal.triggered() {
            if self
                .streams
                .wait_for_state(State::Running, Duration::from_millis(200))
            {
                return Ok(true);
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(StreamsError::Kafka(format!(
                    "the application was not RUNNING within 120 s (state {:?})",
                    self.streams.state()
                )));
            }
        }
        Ok(false)
    }

    /// Waits (at most two minutes) until the application has processed
    /// everything in `inputs`, or a signal arrives.
    pub fn wait_until_processed(
        &self,
        cluster: &Cluster,
        inputs: &[&str],
    ) -> Result<Waited, StreamsError> {
        let app = self.config.get("application.id").unwrap_or_default();
        let started = Instant::now();
        while !self.signal.triggered() {
            if wait_until_processed(&cluster.bootstrap, app, inputs, Duration::from_millis(500))? {
                return Ok(Waited::Processed);
            }
            if started.elapsed() > Duration::from_secs(120) {
                return Err(StreamsError::Kafka(
                    "the input was not processed within 120 s".into(),
                ));
            }
        }
        Ok(Waited::Interrupted)
    }

    /// Closes the application cleanly and deletes its state directory.
    pub fn finish(mut self) -> Result<(), StreamsError> {
        let closed = self.streams.close(Duration::from_secs(30));
        if let Some(dir) = self.config.get("state.dir") {
            let _ = std::fs::remove_dir_all(dir);
        }
        if closed {
            Ok(())
        } else {
            Err(StreamsError::Kafka(
                "the application did not close within 30 s".into(),
            ))
        }
    }
}

/// The wall clock in ms.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
