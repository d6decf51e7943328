//! The raw-client baselines (SimpleBenchmark's `consume` and
//! `consumeproduce`), written directly on rdkafka: what librdkafka itself
//! moves on this machine and broker, the bound the runtime is measured
//! against.

use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::Args;
use crate::load::Topics;
use crate::workloads::Measurement;

fn consumer(args: &Args) -> Result<BaseConsumer, String> {
    ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        // Assign mode; nothing is committed.
        .set("group.id", format!("{}-raw", args.prefix))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .set("auto.offset.reset", "earliest")
        // librdkafka (>= 2.4) stops fetching a partition for
        // fetch.queue.backoff.ms (1 s by default) whenever its prefetch
        // queue reached queued.min.messages: a consumer that produces as it
        // goes then idles most of the time. The baseline is what the client
        // can move, so it fetches again as soon as the queue drains.
        .set("fetch.queue.backoff.ms", "1")
        .create()
        .map_err(|e| format!("creating the consumer: {e}"))
}

fn assign_all(consumer: &BaseConsumer, topic: &str) -> Result<(), String> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| format!("metadata of {topic}: {e}"))?;
    let mut tpl = TopicPartitionList::new();
    for t in md.topics().iter().filter(|t| t.name() == topic) {
        for p in t.partitions() {
            tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                .map_err(|e| e.to_string())?;
        }
    }
    if tpl.count() == 0 {
        return Err(format!("topic {topic} has no partitions (was it loaded?)"));
    }
    consumer.assign(&tpl).map_err(|e| format!("assign: {e}"))
}

/// Reads the N records of input-1; with `produce`, writes each one to the
/// sink topic (same key, value and timestamp) and waits until all are
/// acknowledged before stopping the clock.
pub fn run(args: &Args, produce: bool) -> Result<Measurement, String> {
    let topics = Topics::new(&args.prefix);
    // The clock starts before the clients are created, as in
    // SimpleBenchmark, and as for the streams workloads (which start it
    // before `KafkaStreams::start`).
    let started = Instant::now();
    let consumer = consumer(args)?;
    let producer: Option<BaseProducer> = if produce {
        Some(
            ClientConfig::new()
                .set("bootstrap.servers", &args.bootstrap)
                .set("partitioner", "murmur2_random")
                // Kafka Streams' producer default, which the runtime uses.
                .set("linger.ms", "100")
                .create()
                .map_err(|e| format!("creating the producer: {e}"))?,
        )
    } else {
        None
    };
    assign_all(&consumer, &topics.input1)?;
    let deadline = started + args.timeout;
    let mut count = 0u64;
    let mut first = None;
    while count < args.records {
        if Instant::now() > deadline {
            return Err(format!("timed out after {count} records"));
        }
        let Some(msg) = consumer.poll(Duration::from_millis(100)) else {
            continue;
        };
        let msg = msg.map_err(|e| format!("consuming: {e}"))?;
        count += 1;
        if first.is_none() {
            first = Some(started.elapsed());
        }
        if let Some(p) = &producer {
            let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(&topics.sink);
            if let Some(k) = msg.key() {
                record = record.key(k);
            }
            if let Some(v) = msg.payload() {
                record = record.payload(v);
            }
            if let Some(ts) = msg.timestamp().to_millis() {
                record = record.timestamp(ts);
            }
            loop {
                match p.send(record) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        p.poll(Duration::from_millis(1));
                    }
                    Err((e, _)) => return Err(format!("producing: {e}")),
                }
            }
            // Serve delivery reports now and then (a poll per record would
            // cost more than it saves).
            if count.is_multiple_of(1024) {
                p.poll(Duration::ZERO);
            }
        }
    }
    if let Some(p) = &producer {
        p.flush(Duration::from_secs(120))
            .map_err(|e| format!("flushing: {e}"))?;
    }
    let seconds = started.elapsed();
    Ok(Measurement {
        records: count,
        seconds,
        first_record: first.unwrap_or_default(),
        restored: None,
    })
}
