//! `processing.exception.handler`: a processor's error stops processing
//! (`LogAndFailProcessingExceptionHandler`, the default) or drops the
//! record at that processor and goes on
//! (`LogAndContinueProcessingExceptionHandler`), as in Kafka Streams
//! (KIP-1033): decided where the error is raised, once.

use std::time::Duration;

use streams::config::StreamsConfig;
use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::error::StreamsError;
use streams::processor::{Processor, ProcessorContext, PunctuationType, Record};
use streams::serde::{Serde, SerdeError, SerdeRef, Serdes};
use streams::testing::{TestRecord, TopologyTestDriver};

use super::{config, rec, s};

/// Fails on the value "bad", forwards the others upper-cased; with
/// `punctuate_fails`, its stream-time punctuation (every 10 ms) fails.
struct Upper {
    punctuate_fails: bool,
}

impl Processor<String, String, String, String> for Upper {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, String>) -> Result<(), StreamsError> {
        if self.punctuate_fails {
            ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime)?;
        }
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<String, String>,
        ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), StreamsError> {
        if record.value.as_deref() == Some("bad") {
            return Err(StreamsError::Processing {
                node: "upper".into(),
                reason: "cannot take 'bad'".into(),
            });
        }
        let value = record.value.as_ref().map(|v| v.to_uppercase());
        ctx.forward(record.with_value(value))
    }

    fn punctuate(
        &mut self,
        _id: streams::processor::ScheduleId,
        timestamp: i64,
        _ctx: &mut ProcessorContext<'_, String, String>,
    ) -> Result<(), StreamsError> {
        Err(StreamsError::Processing {
            node: "upper".into(),
            reason: format!("punctuation at {timestamp} failed"),
        })
    }
}

fn continuing() -> StreamsConfig {
    config().set(
        "processing.exception.handler",
        "org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler",
    )
}

fn driver(b: &StreamsBuilder, cfg: StreamsConfig) -> TopologyTestDriver {
    TopologyTestDriver::with_wall_clock(b.build().unwrap(), cfg, 0).unwrap()
}

fn read(d: &TopologyTestDriver, topic: &str) -> Vec<TestRecord<String, String>> {
    d.create_output_topic(topic, Serdes::string(), Serdes::string())
        .read_records_to_list()
        .unwrap()
}

/// in -> upper -> out, and in -> copy (a sibling branch).
fn branches(punctuate_fails: bool) -> StreamsBuilder {
    let b = StreamsBuilder::new();
    let input = b.stream("in", Consumed::with(Serdes::string(), Serdes::string()));
    input
        .process(move || Upper { punctuate_fails }, &[])
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    input.to("copy", Produced::with(Serdes::string(), Serdes::string()));
    b
}

#[test]
fn by_default_a_processor_error_fails() {
    let d = driver(&branches(false), config());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 1).unwrap();
    let err = input
        .pipe_input_at(s("k"), s("bad"), 2)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot take 'bad'"), "{err}");
    assert_eq!(read(&d, "out"), vec![rec(Some(s("k")), Some(s("A")), 1)]);
}

/// Continuing drops the record at the failing processor only: the sibling
/// branch still gets it, the records after it flow, and it is counted once.
#[test]
fn log_and_continue_drops_the_record_at_the_failing_processor() {
    let d = driver(&branches(false), continuing());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    for (v, ts) in [("a", 1), ("bad", 2), ("c", 3)] {
        input.pipe_input_at(s("k"), s(v), ts).unwrap();
    }
    assert_eq!(
        read(&d, "out"),
        vec![
            rec(Some(s("k")), Some(s("A")), 1),
            rec(Some(s("k")), Some(s("C")), 3),
        ]
    );
    assert_eq!(
        read(&d, "copy"),
        vec![
            rec(Some(s("k")), Some(s("a")), 1),
            rec(Some(s("k")), Some(s("bad")), 2),
            rec(Some(s("k")), Some(s("c")), 3),
        ]
    );
    assert_eq!(d.metrics().dropped_records, 1);
}

/// An error raised below is decided there: the processors above it see no
/// error and count nothing (`sink_errors_are_not_skipped` shows the other
/// half: an error already decided passes the processors above unchanged).
#[test]
fn an_error_is_judged_once_where_it_is_raised() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .map_values(|v| v.cloned())
        .process(
            || Upper {
                punctuate_fails: false,
            },
            &[],
        )
        .to("out", Produced::with(Serdes::string(), Serdes::string()));
    let d = driver(&b, continuing());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("bad"), 1).unwrap();
    input.pipe_input_at(s("k"), s("ok"), 2).unwrap();
    assert_eq!(read(&d, "out"), vec![rec(Some(s("k")), Some(s("OK")), 2)]);
    assert_eq!(d.metrics().dropped_records, 1);
}

/// A failing punctuation goes to the handler too.
#[test]
fn punctuation_errors_go_to_the_handler() {
    let d = driver(&branches(true), config());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = input
        .pipe_input_at(s("k"), s("a"), 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("punctuation at 0 failed"), "{err}");

    let d = driver(&branches(true), continuing());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    input.pipe_input_at(s("k"), s("a"), 0).unwrap();
    input.pipe_input_at(s("k"), s("b"), 20).unwrap();
    assert_eq!(
        read(&d, "out"),
        vec![
            rec(Some(s("k")), Some(s("A")), 0),
            rec(Some(s("k")), Some(s("B")), 20),
        ]
    );
    assert_eq!(d.metrics().dropped_records, 2);
}

/// A serde that cannot serialize anything.
struct Unwritable;

impl Serde<String> for Unwritable {
    fn serialize_into(&self, topic: &str, _: &String, _: &mut Vec<u8>) -> Result<(), SerdeError> {
        Err(SerdeError::Serialize {
            type_name: "String",
            topic: topic.to_string(),
            reason: "unwritable".into(),
        })
    }
    fn deserialize(&self, _: &str, bytes: &[u8]) -> Result<String, SerdeError> {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// A record the sink cannot serialize is not a processing error: it fails
/// even with log-and-continue (nothing is silently left unwritten).
#[test]
fn sink_errors_are_not_skipped() {
    let b = StreamsBuilder::new();
    let unwritable: SerdeRef<String> = std::sync::Arc::new(Unwritable);
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process(
            || Upper {
                punctuate_fails: false,
            },
            &[],
        )
        .to("out", Produced::with(Serdes::string(), unwritable));
    let d = driver(&b, continuing());
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let err = input
        .pipe_input_at(s("k"), s("a"), 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unwritable"), "{err}");
}

#[test]
fn unknown_handler_is_a_configuration_error() {
    let cfg = config().set("processing.exception.handler", "com.example.Mine");
    let err = TopologyTestDriver::with_wall_clock(branches(false).build().unwrap(), cfg, 0)
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("com.example.Mine")
            && err.contains("LogAndContinueProcessingExceptionHandler"),
        "{err}"
    );
}
