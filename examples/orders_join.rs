//! Orders enriched with their customers: a stream-table join, end to end
//! on Kafka.
//!
//! Customers (key: customer id, value: name) go to the compacted topic
//! `customers`, read as a table; orders (key: order id, value:
//! `<customer id>:<amount>`) go to `orders`. The orders are re-keyed by
//! customer id (so through a repartition topic, co-partitioned with the
//! customers) and joined with the table; the enriched orders are written to
//! `orders-enriched` and printed.
//!
//! ```text
//! cargo run --example orders_join                         # embedded broker
//! cargo run --example orders_join -- --bootstrap localhost:9092
//! ```
//!
//! As in `word_count`: `BOOTSTRAP_SERVERS` works as `--bootstrap`,
//! `STREAMS_*` environment variables override the configuration
//! (`STREAMS_NUM_STREAM_THREADS=2`), Ctrl-C or SIGTERM closes the
//! application cleanly, and `STREAMS_LOG=info` shows what the runtime does.

mod common;

use std::process::ExitCode;

use common::{App, Cluster, Waited, now_ms};
use streams::dsl::{Consumed, Joined, Materialized, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::runtime::{KafkaRecord, TopicSpec, create_topics, produce, read_topic};
use streams::serde::Serdes;
use streams::topology::Topology;

const CUSTOMERS: [(&str, &str); 3] = [("c1", "Ada"), ("c2", "Grace"), ("c3", "Linus")];
const ORDERS: [(&str, &str); 5] = [
    ("o1", "c1:30"),
    ("o2", "c3:12"),
    ("o3", "c2:99"),
    ("o4", "c9:5"),
    ("o5", "c1:7"),
];

fn topology(customers: &str, orders: &str, output: &str) -> Result<Topology, StreamsError> {
    let builder = StreamsBuilder::new();
    let customers = builder.table(
        customers,
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::as_("customers-store"),
    );
    builder
        .stream(orders, Consumed::with(Serdes::string(), Serdes::string()))
        .select_key(|_order_id, order| order.and_then(|o| o.split(':').next()).map(str::to_owned))
        .join_table(
            &customers,
            |order: &String, name: &String| {
                let amount = order.split(':').nth(1).unwrap_or("?");
                format!("{name} ordered {amount} EUR")
            },
            Joined::with(Serdes::string(), Serdes::string(), Serdes::string()),
        )
        .to(output, Produced::with(Serdes::string(), Serdes::string()));
    Ok(builder.build()?)
}

fn records(pairs: &[(&str, &str)], t0: i64) -> Vec<KafkaRecord> {
    pairs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| {
            KafkaRecord::new(
                Some(k.as_bytes().to_vec()),
                Some(v.as_bytes().to_vec()),
                t0 + i as i64,
            )
        })
        .collect()
}

fn run() -> Result<(), StreamsError> {
    streams::runtime::init_logging();
    let cluster = Cluster::from_args()?;
    let customers = cluster.name("customers");
    let orders = cluster.name("orders");
    let output = cluster.name("orders-enriched");
    let application_id = cluster.name("orders-enrichment");
    create_topics(
        &cluster.bootstrap,
        &[
            TopicSpec::new(&customers, 2).with_config("cleanup.policy", "compact"),
            TopicSpec::new(&orders, 2),
            TopicSpec::new(&output, 2),
        ],
    )?;
    let topology = topology(&customers, &orders, &output)?;
    println!("{}", topology.describe());

    // The table is loaded before the orders arrive: a stream-table join
    // sees the table as it is when each order is processed.
    let t0 = now_ms();
    produce(&cluster.bootstrap, &customers, &records(&CUSTOMERS, t0))?;
    let app = App::start(&cluster, topology, cluster.config(&application_id))?;
    if app.wait_until_processed(&cluster, &[&customers])? == Waited::Interrupted {
        app.finish()?;
        println!("Interrupted; closed cleanly");
        return Ok(());
    }
    produce(&cluster.bootstrap, &orders, &records(&ORDERS, t0 + 1_000))?;
    if app.wait_until_processed(&cluster, &[&customers, &orders])? == Waited::Interrupted {
        app.finish()?;
        println!("Interrupted; closed cleanly");
        return Ok(());
    }
    let mut enriched: Vec<(String, String)> = read_topic(&cluster.bootstrap, &output, false)?
        .iter()
        .map(|r| {
            (
                r.key_str().unwrap_or_default().to_string(),
                r.value_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    enriched.sort();
    println!("Enriched orders (by customer; the order of an unknown customer is dropped):");
    for (customer, line) in &enriched {
        println!("  {customer}: {line}");
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
