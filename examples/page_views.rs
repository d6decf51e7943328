//! Page views per page and minute: a windowed count, end to end on Kafka.
//!
//! Produces page views (key: user, value: page) to `page-views`, counts
//! them per page in one-minute tumbling windows with a five-minute grace
//! (re-keyed by page, so through a repartition topic), and prints the
//! final count of every (page, minute) read back from
//! `page-views-per-minute`, whose keys are Kafka Streams' time-windowed
//! keys (`[page bytes][8-byte window start]`).
//!
//! ```text
//! cargo run --example page_views                          # embedded broker
//! cargo run --example page_views -- --bootstrap localhost:9092
//! ```
//!
//! As in `word_count`: `BOOTSTRAP_SERVERS` works as `--bootstrap`,
//! `STREAMS_*` environment variables override the configuration
//! (`STREAMS_NUM_STREAM_THREADS=2`), Ctrl-C or SIGTERM closes the
//! application cleanly, and `STREAMS_LOG=info` shows what the runtime does.

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use common::{App, Cluster, Waited, now_ms};
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::runtime::{KafkaRecord, TopicSpec, create_topics, produce, read_topic};
use streams::serde::Serdes;
use streams::topology::Topology;
use streams::window::TimeWindows;

const MINUTE_MS: i64 = 60_000;

/// `(user, page, seconds after the first minute's start)`.
const VIEWS: [(&str, &str, i64); 10] = [
    ("alice", "/home", 1),
    ("bob", "/home", 12),
    ("alice", "/pricing", 30),
    ("carol", "/home", 59),
    ("bob", "/docs", 61),
    ("alice", "/home", 75),
    ("carol", "/docs", 90),
    ("dave", "/docs", 119),
    ("alice", "/pricing", 121),
    ("bob", "/home", 150),
];

fn topology(input: &str, output: &str) -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    // Views reach the count out of order (they come from several input
    // partitions through the repartition topic): a five-minute grace keeps
    // late ones in their window.
    let windows = TimeWindows::of_size_and_grace(
        Duration::from_millis(MINUTE_MS as u64),
        Duration::from_secs(300),
    )
    .map_err(|e| StreamsError::Config(e.to_string()))?;
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .group_by(
            |_user, page| page.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()).with_name("by-page"),
        )
        .windowed_by_time(windows)
        .count(Materialized::as_("views-per-minute"))
        .to_stream()
        .to(
            output,
            Produced::with(
                Serdes::time_windowed(Serdes::string(), MINUTE_MS),
                Serdes::i64(),
            ),
        );
    Ok(builder.build()?)
}

fn run() -> Result<(), StreamsError> {
    streams::runtime::init_logging();
    let cluster = Cluster::from_args()?;
    let input = cluster.name("page-views");
    let output = cluster.name("page-views-per-minute");
    let application_id = cluster.name("page-view-counts");
    create_topics(
        &cluster.bootstrap,
        &[TopicSpec::new(&input, 2), TopicSpec::new(&output, 2)],
    )?;
    let topology = topology(&input, &output)?;
    println!("{}", topology.describe());

    // Minutes aligned on the epoch, as the windows are.
    let first_minute = (now_ms() / MINUTE_MS - 3) * MINUTE_MS;
    let records: Vec<KafkaRecord> = VIEWS
        .iter()
        .map(|(user, page, secs)| {
            KafkaRecord::new(
                Some(user.as_bytes().to_vec()),
                Some(page.as_bytes().to_vec()),
                first_minute + secs * 1000,
            )
        })
        .collect();
    produce(&cluster.bootstrap, &input, &records)?;

    let app = App::start(&cluster, topology, cluster.config(&application_id))?;
    if app.wait_until_processed(&cluster, &[&input])? == Waited::Interrupted {
        app.finish()?;
        println!("Interrupted; closed cleanly");
        return Ok(());
    }
    let key_serde = Serdes::time_windowed(Serdes::string(), MINUTE_MS);
    let mut counts: BTreeMap<(i64, String), i64> = BTreeMap::new();
    for record in read_topic(&cluster.bootstrap, &output, false)? {
        let (Some(key), Some(value)) = (record.key.as_deref(), record.value.as_deref()) else {
            continue;
        };
        let windowed = key_serde.deserialize(&output, key)?;
        let count = Serdes::i64().deserialize(&output, value)?;
        let minute = (windowed.window.start() - first_minute) / MINUTE_MS;
        counts.insert((minute, windowed.key), count);
    }
    println!("Views per page and minute:");
    for ((minute, page), count) in &counts {
        println!("  minute {minute}  {page:<10} {count}");
    }
    app.finish()
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
