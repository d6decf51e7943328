//! Word count: Kafka Streams' WordCountDemo.
//!
//! Reads lines of text, splits them into lowercase words, counts each word
//! and writes the running counts. This build runs the topology in the
//! in-memory `TopologyTestDriver` on sample text and prints the final
//! counts; running it against Kafka comes with the `KafkaStreams` runtime.

use std::collections::BTreeMap;

use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Grouped, Materialized, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::serde::Serdes;
use streams::testing::TopologyTestDriver;
use streams::topology::Topology;

/// The word-count topology, as in Kafka's WordCountDemo.
fn topology() -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    builder
        .stream("streams-plaintext-input", Consumed::with(Serdes::string(), Serdes::string()))
        .flat_map_values(|line| {
            line.map(|l| l.to_lowercase().split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .group_by(|_key, word| word.cloned(), Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("counts-store"))
        .to_stream()
        .to("streams-wordcount-output", Produced::with(Serdes::string(), Serdes::i64()));
    Ok(builder.build()?)
}

fn main() -> Result<(), StreamsError> {
    let topology = topology()?;
    println!("{}", topology.describe());
    let config = StreamsConfig::new().set("application.id", "streams-wordcount");
    let driver = TopologyTestDriver::new(topology, config)?;
    let mut input = driver.create_input_topic("streams-plaintext-input", Serdes::string(), Serdes::string());
    let output = driver.create_output_topic("streams-wordcount-output", Serdes::string(), Serdes::i64());
    for line in [
        "Apache Kafka Streams Example",
        "Using Kafka Streams Test Utils",
        "Reading and Writing Kafka Topic",
    ] {
        println!("> {line}");
        input.pipe_value(line.to_string())?;
    }
    let counts: BTreeMap<String, i64> = output.read_key_values_to_map()?.into_iter().collect();
    println!("Final counts:");
    for (word, count) in &counts {
        println!("  {word}: {count}");
    }
    Ok(())
}
