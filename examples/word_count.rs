//! Word count: Kafka Streams' WordCountDemo, end to end on Kafka.
//!
//! Produces a few lines of sample text to `streams-plaintext-input`, runs
//! the word-count topology with `KafkaStreams` until it has processed them
//! all, prints the final count of every word (read back from
//! `streams-wordcount-output`), closes the application and exits 0.
//!
//! ```text
//! cargo run --example word_count                          # embedded broker (in-process)
//! cargo run --example word_count -- --bootstrap localhost:9092
//! BOOTSTRAP_SERVERS=localhost:9092 cargo run --example word_count
//! ```
//!
//! Without a bootstrap address it starts an `EmbeddedKafka` (librdkafka's
//! mock cluster) in the process. On a real cluster the topic names and the
//! application id get a unique suffix per run, so runs do not see each
//! other's data. `STREAMS_*` environment variables override the
//! configuration, as in a container deployment
//! (`STREAMS_NUM_STREAM_THREADS=2` sets `num.stream.threads`). Ctrl-C or
//! SIGTERM closes the application cleanly. `STREAMS_LOG=info` shows what
//! the runtime does.

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;

use common::{App, Cluster, Waited, now_ms};
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::runtime::{KafkaRecord, TopicSpec, create_topics, produce, read_topic};
use streams::serde::Serdes;
use streams::topology::Topology;

const LINES: [&str; 3] = [
    "Apache Kafka Streams Example",
    "Using Kafka Streams Test Utils",
    "Reading and Writing Kafka Topic",
];

/// The word-count topology, as in Kafka's WordCountDemo.
fn topology(input: &str, output: &str) -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream(input, Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line| {
            line.map(|l| {
                l.to_lowercase()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
        })
        .group_by(
            |_key, word| word.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts-store"))
        .to_stream()
        .to(output, Produced::with(Serdes::string(), Serdes::i64()));
    Ok(builder.build()?)
}

fn run() -> Result<(), StreamsError> {
    streams::runtime::init_logging();
    let cluster = Cluster::from_args()?;
    let input = cluster.name("streams-plaintext-input");
    let output = cluster.name("streams-wordcount-output");
    let application_id = cluster.name("streams-wordcount");
    create_topics(
        &cluster.bootstrap,
        &[TopicSpec::new(&input, 2), TopicSpec::new(&output, 2)],
    )?;

    let topology = topology(&input, &output)?;
    println!("{}", topology.describe());
    let now = now_ms();
    let records: Vec<KafkaRecord> = LINES
        .iter()
        .map(|line| {
            println!("> {line}");
            KafkaRecord::new(None, Some(line.as_bytes().to_vec()), now)
        })
        .collect();
    let app = App::start(&cluster, topology, cluster.config(&application_id))?;
    // The input goes in once every stream thread has its tasks. With
    // several threads (STREAMS_NUM_STREAM_THREADS), one that joins the
    // group late makes the others hand their tasks over; the embedded
    // broker refuses their commits during that join, so at-least-once they
    // would count again what they had counted.
    if !app.wait_until_running()? {
        app.finish()?;
        println!("Interrupted; closed cleanly");
        return Ok(());
    }
    produce(&cluster.bootstrap, &input, &records)?;
    if app.wait_until_processed(&cluster, &[&input])? == Waited::Interrupted {
        app.finish()?;
        println!("Interrupted; closed cleanly");
        return Ok(());
    }
    // The last count written for each word is its final count.
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for record in read_topic(&cluster.bootstrap, &output, false)? {
        let word = record.key_str().unwrap_or_default().to_string();
        let count = record
            .value
            .as_deref()
            .and_then(|v| <[u8; 8]>::try_from(v).ok())
            .map(i64::from_be_bytes)
            .unwrap_or_default();
        counts.insert(word, count);
    }
    println!("Final counts:");
    for (word, count) in &counts {
        println!("  {word}: {count}");
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
