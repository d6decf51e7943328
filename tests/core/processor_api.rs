//! The Processor API: custom processors with stores and punctuation.

use std::time::Duration;

use streams::dsl::{Consumed, Produced, StreamsBuilder};
use streams::dsl::{Grouped, Materialized};
use streams::error::StreamsError;
use streams::processor::{
    FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord, Processor, ProcessorContext,
    PunctuationType, Record, ScheduleId,
};
use streams::serde::Serdes;
use streams::state::{KeyValueStore, Stores};
use streams::testing::TopologyTestDriver;

use super::{config, rec, s};

/// Counts records per key in a store; every 10 ms of stream time it emits
/// every count, every second of wall-clock time it emits a tick.
#[derive(Default)]
struct Counter {
    store: Option<KeyValueStore<String, i64>>,
    stream_schedule: Option<ScheduleId>,
}

impl Processor<String, String, String, i64> for Counter {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, i64>) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store("seen")?);
        self.stream_schedule = Some(
            ctx.schedule(Duration::from_millis(10), PunctuationType::StreamTime)?
                .id(),
        );
        ctx.schedule(Duration::from_secs(1), PunctuationType::WallClockTime)?;
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<String, String>,
        _ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), StreamsError> {
        let store = self.store.as_ref().unwrap();
        if let Some(k) = &record.key {
            let n = store.get(k)?.unwrap_or(0) + 1;
            store.put(k, Some(&n))?;
        }
        Ok(())
    }

    fn punctuate(
        &mut self,
        schedule: ScheduleId,
        timestamp: i64,
        ctx: &mut ProcessorContext<'_, String, i64>,
    ) -> Result<(), StreamsError> {
        assert!(ctx.record_metadata().is_none());
        if Some(schedule) == self.stream_schedule {
            for (k, n) in self.store.as_ref().unwrap().all()? {
                ctx.forward(Record::new(Some(k), Some(n), timestamp))?;
            }
        } else {
            ctx.forward(Record::new(Some("wall".to_string()), Some(0), timestamp))?;
        }
        Ok(())
    }
}

#[test]
fn processor_with_store_and_punctuations() {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("seen"),
        Serdes::string(),
        Serdes::i64(),
    ));
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process(Counter::default, &["seen"])
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let d = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0).unwrap();
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = d.create_output_topic("out", Serdes::string(), Serdes::i64());

    // Stream time starts unknown: the first record (ts 3) fires the
    // schedule at once; the next is due at 10.
    input.pipe_input_at(s("a"), s("x"), 3).unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("a")), Some(1), 3)]
    );
    input.pipe_input_at(s("b"), s("x"), 7).unwrap();
    assert!(out.is_empty());
    // 25 is past 10 and 20: one call, and the next is due at 30.
    input.pipe_input_at(s("a"), s("x"), 25).unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(2), 25),
            rec(Some(s("b")), Some(1), 25)
        ]
    );
    input.pipe_input_at(s("b"), s("x"), 29).unwrap();
    assert!(out.is_empty());
    input.pipe_input_at(s("c"), s("x"), 30).unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(2), 30),
            rec(Some(s("b")), Some(2), 30),
            rec(Some(s("c")), Some(1), 30)
        ]
    );

    d.advance_wall_clock_time(Duration::from_millis(999))
        .unwrap();
    assert!(out.is_empty());
    d.advance_wall_clock_time(Duration::from_millis(1)).unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("wall")), Some(0), 1000)]
    );
    d.advance_wall_clock_time(Duration::from_millis(2500))
        .unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![rec(Some(s("wall")), Some(0), 3500)]
    );

    let store = d.get_key_value_store::<String, i64>("seen").unwrap();
    assert_eq!(store.get(&s("b")).unwrap(), Some(2));
}

#[test]
fn processor_without_store_access_fails_naming_the_fix() {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("seen"),
        Serdes::string(),
        Serdes::i64(),
    ));
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process(Counter::default, &[])
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let err = TopologyTestDriver::with_wall_clock(b.build().unwrap(), config(), 0)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("has no access to state store 'seen'"), "{err}");
}

#[test]
fn process_with_an_unknown_store_fails_the_build() {
    let b = StreamsBuilder::new();
    b.stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process(Counter::default, &["nope"])
        .to("out", Produced::with(Serdes::string(), Serdes::i64()));
    let err = b.build().unwrap_err().to_string();
    assert!(
        err.contains("state store 'nope' is not part of this topology"),
        "{err}"
    );
}

/// Keeps a running total per key in a store and forwards `value:total`,
/// one millisecond later than the input; null values pass as nulls.
#[derive(Default)]
struct RunningTotal {
    store: Option<KeyValueStore<String, i64>>,
}

impl FixedKeyProcessor<String, String, String> for RunningTotal {
    fn init(
        &mut self,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), StreamsError> {
        self.store = Some(ctx.get_state_store("totals")?);
        Ok(())
    }

    fn process(
        &mut self,
        mut record: FixedKeyRecord<String, String>,
        ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
    ) -> Result<(), StreamsError> {
        let ts = record.timestamp() + 1;
        let Some(value) = record.take_value() else {
            return ctx.forward(record.with_timestamp(ts));
        };
        let store = self.store.as_ref().unwrap();
        let key = record.key().cloned().unwrap_or_default();
        let total = store.get(&key)?.unwrap_or(0) + value.len() as i64;
        store.put(&key, Some(&total))?;
        ctx.forward(
            record
                .with_value(Some(format!("{value}:{total}")))
                .with_timestamp(ts),
        )
    }
}

#[test]
fn process_values_keeps_keys_so_grouping_needs_no_repartition() {
    let b = StreamsBuilder::new();
    b.add_state_store(Stores::key_value_store_builder(
        Stores::in_memory_key_value_store("totals"),
        Serdes::string(),
        Serdes::i64(),
    ));
    let totals = b
        .stream("in", Consumed::with(Serdes::string(), Serdes::string()))
        .process_values(RunningTotal::default, &["totals"]);
    totals.to("out", Produced::with(Serdes::string(), Serdes::string()));
    totals
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .count(Materialized::as_("counts"))
        .to_stream()
        .to("counts", Produced::with(Serdes::string(), Serdes::i64()));
    let topology = b.build().unwrap();
    // One sub-topology: process_values promised fixed keys, so the grouping
    // reads the processor's output directly.
    let description = topology.describe().to_string();
    assert!(!description.contains("repartition"), "{description}");
    assert!(
        description.contains("KSTREAM-PROCESSVALUES-0000000001"),
        "{description}"
    );

    let d = TopologyTestDriver::new(topology, config()).unwrap();
    let mut input = d.create_input_topic("in", Serdes::string(), Serdes::string());
    let out = d.create_output_topic("out", Serdes::string(), Serdes::string());
    let counts = d.create_output_topic("counts", Serdes::string(), Serdes::i64());
    input.pipe_input_at(s("a"), s("xy"), 10).unwrap();
    input.pipe_input_at(s("b"), s("z"), 11).unwrap();
    input.pipe_record(rec(Some(s("a")), None, 12)).unwrap();
    input.pipe_input_at(s("a"), s("xyz"), 13).unwrap();
    assert_eq!(
        out.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(s("xy:2")), 11),
            rec(Some(s("b")), Some(s("z:1")), 12),
            rec(Some(s("a")), None, 13),
            rec(Some(s("a")), Some(s("xyz:5")), 14),
        ]
    );
    // count() skips the null value, as Kafka Streams does.
    assert_eq!(
        counts.read_records_to_list().unwrap(),
        vec![
            rec(Some(s("a")), Some(1), 11),
            rec(Some(s("b")), Some(1), 12),
            rec(Some(s("a")), Some(2), 14),
        ]
    );
}
