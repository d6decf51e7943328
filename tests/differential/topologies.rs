//! The canonical topologies of `tests/java-ref/README.md`, built with our
//! DSL, and [`drive`], which runs one through our `TopologyTestDriver` the way
//! the Java runner runs it through Kafka's.
//!
//! Each builder mirrors its Java lambdas exactly, null handling and Java
//! quirks included (`\s` is ASCII-only, `long` arithmetic wraps): a
//! difference in the lambda would show up as a difference in the output and
//! be blamed on the library.
//!
//! Every canonical topology of `tests/java-ref/README.md` is enabled; the
//! windowed ones (`tumbling-`, `hopping-`, `sliding-`, `session-count`, each
//! also `-suppressed`) are [`windowed_count`]. [`drive`] renders
//! `Windowed<String>` keys as the runner does.

use serde_json::{Value, json};
use std::time::Duration;
use streams::config::StreamsConfig;

use streams::dsl::{
    BufferConfig, Consumed, Grouped, Joined, KStream, KTable, Materialized, Produced, StreamJoined,
    StreamsBuilder, Suppressed,
};
use streams::serde::{SerdeRef, Serdes};
use streams::testing::{TestInputTopic, TestRecord, TopologyTestDriver};
use streams::window::{JoinWindows, SessionWindows, SlidingWindows, TimeWindows, Windowed};

use crate::inputs::InRecord;

/// How an output key or value appears in the Java runner's JSON.
pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        Value::from(*self)
    }
}

/// `{"key","start","end"}`, as the runner prints Kafka's `Windowed<String>`.
impl<K: ToJson> ToJson for Windowed<K> {
    fn to_json(&self) -> Value {
        json!({"key": self.key.to_json(), "start": self.window.start(), "end": self.window.end()})
    }
}

/// Runs `input` in file order through the topology in our driver, set up as
/// the Java runner sets up Kafka's (application.id "ref", wall clock fixed
/// at 0, String serdes in), and returns topic `output` as the runner's JSON
/// lines. An error names the input line that caused it.
pub fn drive<K: ToJson + 'static, V: ToJson + 'static>(
    builder: &StreamsBuilder,
    input: &[InRecord],
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
) -> Result<Vec<Value>, String> {
    drive_with(builder, input, key_serde, value_serde, &[])
}

/// [`drive`] with these settings on top of the runner's.
pub fn drive_with<K: ToJson + 'static, V: ToJson + 'static>(
    builder: &StreamsBuilder,
    input: &[InRecord],
    key_serde: SerdeRef<K>,
    value_serde: SerdeRef<V>,
    settings: &[(&str, &str)],
) -> Result<Vec<Value>, String> {
    let topology = builder
        .build()
        .map_err(|e| format!("building the topology: {e}"))?;
    let config = settings.iter().fold(
        StreamsConfig::new().set("application.id", "ref"),
        |c, (k, v)| c.set(*k, *v),
    );
    let driver = TopologyTestDriver::with_wall_clock(topology, config, 0)
        .map_err(|e| format!("starting the driver: {e}"))?;
    let mut topics: Vec<(&str, TestInputTopic<String, String>)> = Vec::new();
    for (line, r) in input.iter().enumerate() {
        let i = match topics.iter().position(|(t, _)| *t == r.topic) {
            Some(i) => i,
            None => {
                topics.push((
                    r.topic,
                    driver.create_input_topic(r.topic, Serdes::string(), Serdes::string()),
                ));
                topics.len() - 1
            }
        };
        topics[i]
            .1
            .pipe_record(TestRecord::new(r.key.clone(), r.value.clone(), r.ts))
            .map_err(|e| format!("input line {}: {e}", line + 1))?;
    }
    let output = driver.create_output_topic("output", key_serde, value_serde);
    let records = output
        .read_records_to_list()
        .map_err(|e| format!("reading topic output: {e}"))?;
    Ok(records
        .into_iter()
        .map(|r| {
            json!({
                "topic": "output",
                "key": r.key.map(|k| k.to_json()),
                "value": r.value.map(|v| v.to_json()),
                "ts": r.timestamp,
            })
        })
        .collect())
}

/// Java's `\s` without flags: `[ \t\n\x0B\f\r]`. Not `char::is_ascii_whitespace`,
/// which leaves out `\x0B`, nor `char::is_whitespace`, which adds Unicode spaces.
fn is_java_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0B' | '\x0C' | '\r')
}

/// `word-count`.
pub fn word_count(input: &[InRecord]) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    b.stream("input", Consumed::with(Serdes::string(), Serdes::string()))
        // v == null ? [] : split(v.toLowerCase(ROOT), "\\s+") without empty words
        .flat_map_values(|v: Option<&String>| match v {
            None => Vec::new(),
            Some(v) => v
                .to_lowercase()
                .split(is_java_space)
                .filter(|w| !w.is_empty())
                .map(str::to_owned)
                .collect(),
        })
        // (k, w) -> w
        .group_by(
            |_k, w| w.cloned(),
            Grouped::with(Serdes::string(), Serdes::string()),
        )
        .count(Materialized::as_("counts-store"))
        .to_stream()
        .to("output", Produced::with(Serdes::string(), Serdes::i64()));
    drive(&b, input, Serdes::string(), Serdes::i64())
}

/// `table-agg`.
pub fn table_agg(input: &[InRecord]) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    b.table(
        "input",
        Consumed::with(Serdes::string(), Serdes::string()),
        Materialized::none(),
    )
    // (k, v) -> (v.substring(0, v.indexOf(':')), Long.parseLong(v.substring(v.indexOf(':') + 1))).
    // Java throws on a value without ':' or with a bad number; so do we
    // (the harness turns the panic into a failure naming the seed).
    .group_by(
        |_k, v: &String| {
            let i = v
                .find(':')
                .unwrap_or_else(|| panic!("table-agg value without ':': {v:?}"));
            let n = v[i + 1..]
                .parse::<i64>()
                .unwrap_or_else(|e| panic!("table-agg value {v:?}: {e}"));
            (v[..i].to_string(), n)
        },
        Grouped::with(Serdes::string(), Serdes::i64()),
    )
    .aggregate(
        || 0i64,
        // Java `long` arithmetic wraps.
        |_k, v, agg| agg.wrapping_add(*v),
        |_k, v, agg| agg.wrapping_sub(*v),
        Materialized::with(Serdes::string(), Serdes::i64()),
    )
    .to_stream()
    .to("output", Produced::with(Serdes::string(), Serdes::i64()));
    drive(&b, input, Serdes::string(), Serdes::i64())
}

/// Java's `JOINER`, `(l, r) -> l + "|" + r`: string concatenation prints a
/// null side as `"null"`.
fn joiner(l: Option<&String>, r: Option<&String>) -> String {
    format!(
        "{}|{}",
        l.map_or("null", String::as_str),
        r.map_or("null", String::as_str)
    )
}

fn strings() -> Consumed<String, String> {
    Consumed::with(Serdes::string(), Serdes::string())
}

/// The two input streams `left` and `right`.
fn two_streams(b: &StreamsBuilder) -> (KStream<String, String>, KStream<String, String>) {
    (b.stream("left", strings()), b.stream("right", strings()))
}

/// The two input tables `left` and `right`.
fn two_tables(b: &StreamsBuilder) -> (KTable<String, String>, KTable<String, String>) {
    (
        b.table("left", strings(), Materialized::none()),
        b.table("right", strings(), Materialized::none()),
    )
}

/// Which join of two inputs a topology uses.
#[derive(Clone, Copy)]
pub enum JoinKind {
    Inner,
    Left,
    Outer,
}

/// `stream-stream-inner`, `-left`, `-outer`.
pub fn stream_stream(input: &[InRecord], kind: JoinKind) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let (left, right) = two_streams(&b);
    // before = 50, after = 20, grace = 10
    let windows = JoinWindows::of_time_difference_and_grace(
        Duration::from_millis(50),
        Duration::from_millis(10),
    )
    .and_then(|w| w.after(Duration::from_millis(20)))
    .map_err(|e| format!("join windows: {e}"))?;
    let joined = || StreamJoined::with(Serdes::string(), Serdes::string(), Serdes::string());
    let out = match kind {
        JoinKind::Inner => left.join(&right, |l, r| joiner(Some(l), Some(r)), windows, joined()),
        JoinKind::Left => left.left_join(&right, |l, r| joiner(Some(l), r), windows, joined()),
        JoinKind::Outer => left.outer_join(&right, joiner, windows, joined()),
    };
    out.to("output", Produced::with(Serdes::string(), Serdes::string()));
    drive(&b, input, Serdes::string(), Serdes::string())
}

/// `stream-table-inner`, `-left`.
pub fn stream_table(input: &[InRecord], kind: JoinKind) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let left = b.stream("left", strings());
    let right = b.table("right", strings(), Materialized::none());
    let joined = || Joined::with(Serdes::string(), Serdes::string(), Serdes::string());
    let out = match kind {
        JoinKind::Inner => left.join_table(&right, |l, r| joiner(Some(l), Some(r)), joined()),
        JoinKind::Left => left.left_join_table(&right, |l, r| joiner(Some(l), r), joined()),
        JoinKind::Outer => return Err("a stream-table join has no outer variant".into()),
    };
    out.to("output", Produced::with(Serdes::string(), Serdes::string()));
    drive(&b, input, Serdes::string(), Serdes::string())
}

/// `table-table-inner`, `-left`, `-outer`.
pub fn table_table(input: &[InRecord], kind: JoinKind) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let (left, right) = two_tables(&b);
    let out = match kind {
        JoinKind::Inner => left.join(&right, |l, r| joiner(Some(l), Some(r))),
        JoinKind::Left => left.left_join(&right, |l, r| joiner(Some(l), r)),
        JoinKind::Outer => left.outer_join(&right, joiner),
    };
    out.to_stream()
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    drive(&b, input, Serdes::string(), Serdes::string())
}

/// Java's `v -> v.split(":")[0]`. For the values the generator makes (fks
/// never empty) that is the text before the first `:`; Java's `split`
/// differs only on values that start with `:` (a leading empty string is
/// kept) or are only colons (Java throws), which it never makes.
#[allow(clippy::ptr_arg)] // the extractor's signature is fixed by the API: Fn(&V) with V = String
fn foreign_key(v: &String) -> Option<String> {
    Some(v.split(':').next().unwrap_or_default().to_string())
}

/// `fk-inner`, `fk-left`.
pub fn fk(input: &[InRecord], kind: JoinKind) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let (left, right) = two_tables(&b);
    let out = match kind {
        JoinKind::Inner => {
            left.join_on_foreign_key(&right, foreign_key, |l, r| joiner(Some(l), Some(r)))
        }
        JoinKind::Left => {
            left.left_join_on_foreign_key(&right, foreign_key, |l, r| joiner(Some(l), r))
        }
        JoinKind::Outer => return Err("a foreign-key join has no outer variant".into()),
    };
    out.to_stream()
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    drive(&b, input, Serdes::string(), Serdes::string())
}

/// The windowing of a windowed canonical topology.
#[derive(Clone, Copy)]
pub enum Windowing {
    /// `TimeWindows.ofSizeAndGrace(100ms, 50ms)`.
    Tumbling,
    /// The same, `.advanceBy(30ms)`.
    Hopping,
    /// `SlidingWindows.ofTimeDifferenceAndGrace(50ms, 30ms)`.
    Sliding,
    /// `SessionWindows.ofInactivityGapAndGrace(30ms, 20ms)`.
    Session,
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `tumbling-count`, `hopping-count`, `sliding-count`, `session-count`, and
/// with `suppressed` their `-suppressed` variants:
/// `stream("input").groupByKey().windowedBy(..).count()`, then
/// `suppress(untilWindowCloses(unbounded()))` when suppressed, `toStream()`
/// to `output`.
pub fn windowed_count(
    input: &[InRecord],
    windowing: Windowing,
    suppressed: bool,
) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let grouped = b
        .stream("input", strings())
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()));
    let time = || {
        TimeWindows::of_size_and_grace(ms(100), ms(50)).map_err(|e| format!("time windows: {e}"))
    };
    let counts = match windowing {
        Windowing::Tumbling => grouped
            .windowed_by_time(time()?)
            .count(Materialized::none()),
        Windowing::Hopping => {
            let hopping = time()?
                .advance_by(ms(30))
                .map_err(|e| format!("hopping windows: {e}"))?;
            grouped
                .windowed_by_time(hopping)
                .count(Materialized::none())
        }
        Windowing::Sliding => {
            let sliding = SlidingWindows::of_time_difference_and_grace(ms(50), ms(30))
                .map_err(|e| format!("sliding windows: {e}"))?;
            grouped
                .windowed_by_sliding(sliding)
                .count(Materialized::none())
        }
        Windowing::Session => {
            let sessions = SessionWindows::of_inactivity_gap_and_grace(ms(30), ms(20))
                .map_err(|e| format!("session windows: {e}"))?;
            grouped
                .windowed_by_session(sessions)
                .count(Materialized::none())
        }
    };
    let counts = if suppressed {
        counts.suppress(Suppressed::until_window_closes(BufferConfig::unbounded()))
    } else {
        counts
    };
    let key_serde = match windowing {
        Windowing::Tumbling | Windowing::Hopping => Serdes::time_windowed(Serdes::string(), 100),
        Windowing::Sliding => Serdes::time_windowed(Serdes::string(), 50),
        Windowing::Session => Serdes::session_windowed(Serdes::string()),
    };
    counts
        .to_stream()
        .to("output", Produced::with(key_serde.clone(), Serdes::i64()));
    drive(&b, input, key_serde, Serdes::i64())
}

/// Topology 11 of `tests/java-ref/README.md`: the tumbling count over
/// timestamps from an extractor (shifted event time, or the partition time).
pub fn extracted_tumbling_count(input: &[InRecord]) -> Result<Vec<Value>, String> {
    let shifted = |r: &streams::processor::ConsumerRecord<String, String>, partition_time: i64| {
        let Some(v) = r.value else {
            return r.timestamp;
        };
        let i: i64 = v.get(1..).and_then(|d| d.parse().ok()).unwrap_or(0);
        if i % 7 == 0 {
            partition_time
        } else {
            r.timestamp + (i % 5) * 20 - 40
        }
    };
    let b = StreamsBuilder::new();
    let windows = TimeWindows::of_size_and_grace(ms(100), ms(50))
        .map_err(|e| format!("time windows: {e}"))?;
    let key_serde = Serdes::time_windowed(Serdes::string(), 100);
    b.stream("input", strings().with_timestamp_extractor(shifted))
        .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
        .windowed_by_time(windows)
        .count(Materialized::none())
        .to_stream()
        .to("output", Produced::with(key_serde.clone(), Serdes::i64()));
    drive(&b, input, key_serde, Serdes::i64())
}

/// Fails on a null value and on every `v<i>` with `i % 4 == 0`; forwards
/// the others upper-cased.
struct FailEveryFourth;

impl streams::processor::Processor<String, String, String, String> for FailEveryFourth {
    fn process(
        &mut self,
        record: streams::processor::Record<String, String>,
        ctx: &mut streams::processor::ProcessorContext<'_, String, String>,
    ) -> Result<(), streams::error::StreamsError> {
        let i: Option<i64> = record
            .value
            .as_deref()
            .and_then(|v| v.get(1..))
            .and_then(|d| d.parse().ok());
        match i {
            Some(i) if i % 4 != 0 => {
                let upper = record.value.as_ref().map(|v| v.to_uppercase());
                ctx.forward(record.with_value(upper))
            }
            _ => Err(streams::error::StreamsError::Processing {
                node: "fail-every-fourth".into(),
                reason: format!("cannot take {:?}", record.value),
            }),
        }
    }
}

/// Topology 12 of `tests/java-ref/README.md`: a failing processor beside a
/// copying branch, under the log-and-continue processing handler.
pub fn processing_continue(input: &[InRecord]) -> Result<Vec<Value>, String> {
    let b = StreamsBuilder::new();
    let stream = b.stream("input", strings());
    stream
        .process(|| FailEveryFourth, &[])
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    stream
        .map_values(|v| Some(format!("copy:{}", v.map_or("null", String::as_str))))
        .to("output", Produced::with(Serdes::string(), Serdes::string()));
    drive_with(
        &b,
        input,
        Serdes::string(),
        Serdes::string(),
        &[(
            "processing.exception.handler",
            "org.apache.kafka.streams.errors.LogAndContinueProcessingExceptionHandler",
        )],
    )
}
