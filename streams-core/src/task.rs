//! A task: one instance of (part of) a topology with its stores, fed raw
//! records. The test driver and the Kafka runtime both drive tasks through
//! this type, so they run the same code and differ only in where records
//! come from, where they go, and which clock they read.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use crate::error::StreamsError;
use crate::processor::ConsumerRecord;
use crate::processor::node::{NodeControl, RawView};
use crate::processor::timestamp_extractor::DefaultExtractor;
use crate::processor::{
    Headers, PunctuationType, RecordCollector, RecordMetadata, Schedule, TaskContext, TaskId,
    TaskStore,
};
use crate::state::{ChangelogWriter, StoreContext, StoreResult};
use crate::topology::{BuiltTask, Topology};

/// What to do with a record that cannot be deserialized (Kafka Streams'
/// `default.deserialization.exception.handler`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeserializationHandler {
    /// Log and stop processing with an error (Kafka Streams' default).
    #[default]
    LogAndFail,
    /// Log, count the record as skipped, and go on.
    LogAndContinue,
}

/// Sends changelog records through the task's record collector.
struct CollectorChangelog(Rc<RefCell<dyn RecordCollector>>);

impl ChangelogWriter for CollectorChangelog {
    fn send(
        &mut self,
        topic: &str,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
        timestamp: i64,
    ) -> StoreResult<()> {
        self.0
            .borrow_mut()
            .send(
                topic,
                Some(key),
                value,
                &Headers::new(),
                timestamp,
                Some(partition),
            )
            .map_err(|e| {
                crate::state::StoreError::Closed(format!("changelog send to {topic} failed: {e}"))
            })
    }
}

/// Options for opening a task.
pub(crate) struct TaskOptions {
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) cache_max_bytes: usize,
    /// The pool the task's caching stores share with the other tasks of
    /// its stream thread (see [`CachePool`](crate::state::CachePool)).
    pub(crate) cache_pool: Option<crate::state::CachePool>,
    pub(crate) deserialization_handler: DeserializationHandler,
    pub(crate) emit_interval_ms: i64,
    pub(crate) wall_clock_ms: i64,
    /// `default.timestamp.extractor`.
    pub(crate) timestamp_extractor: DefaultExtractor,
    /// `processing.exception.handler` is `LogAndContinue`.
    pub(crate) continue_on_processing_error: bool,
}

/// One running task.
pub(crate) struct StreamTask {
    pub(crate) ctx: TaskContext,
    built: BuiltTask,
    handler: DeserializationHandler,
    /// Whether every record must go through an extractor: some source has
    /// one, or the default rewrites valid timestamps too (callers skip the
    /// per-record lookup otherwise, and extract only negative timestamps).
    extracting: bool,
    /// The extractor of sources without their own.
    default_extractor: DefaultExtractor,
    /// Whether a node may look at the records' headers (see
    /// [`Processor::uses_headers`](crate::processor::Processor::uses_headers)).
    /// Only the runtime's consumer asks.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    uses_headers: bool,
}

impl StreamTask {
    /// Instantiates the selected nodes, opens their stores and initializes
    /// the processors.
    pub(crate) fn open(
        topology: &Topology,
        application_id: Arc<str>,
        task_id: TaskId,
        include: impl Fn(usize) -> bool,
        collector: Rc<RefCell<dyn RecordCollector>>,
        options: TaskOptions,
    ) -> Result<Self, StreamsError> {
        let built = topology.instantiate(&application_id, include)?;
        let mut ctx = TaskContext::new(application_id.clone(), task_id, collector.clone());
        ctx.emit_interval_ms = options.emit_interval_ms;
        ctx.continue_on_processing_error = options.continue_on_processing_error;
        ctx.wall_clock_ms = options.wall_clock_ms;
        let changelog: Rc<RefCell<dyn ChangelogWriter>> =
            Rc::new(RefCell::new(CollectorChangelog(collector)));
        for name in &built.stores {
            let def = topology
                .stores
                .iter()
                .find(|s| &s.name == name)
                .ok_or_else(|| crate::topology::TopologyError::UnknownStore(name.clone()))?;
            let store_ctx = StoreContext {
                application_id: application_id.to_string(),
                task_id: task_id.to_string(),
                partition: task_id.partition,
                state_dir: options.state_dir.clone(),
                changelog: if def.global {
                    None
                } else {
                    Some(changelog.clone())
                },
                timestamp: ctx.timestamp.clone(),
                cache_max_bytes: options.cache_max_bytes,
                cache_pool: options.cache_pool.clone(),
            };
            let opened = def.factory.build(&store_ctx)?;
            ctx.stores.insert(
                name.clone(),
                TaskStore {
                    handle: opened.handle,
                    managed: opened.managed,
                },
            );
        }
        for (_, control) in &built.controls {
            control.init(&mut ctx)?;
        }
        let extracting = options.timestamp_extractor.rewrites_valid_timestamps()
            || built.sources.values().any(|(_, s)| s.has_extractor());
        // A source's own extractor is given each record with its headers;
        // the default extractors do not read them.
        let uses_headers = built.controls.iter().any(|(_, c)| c.uses_headers())
            || built.sources.values().any(|(_, s)| s.has_extractor());
        Ok(StreamTask {
            ctx,
            built,
            handler: options.deserialization_handler,
            extracting,
            default_extractor: options.timestamp_extractor,
            uses_headers,
        })
    }

    /// Whether anything in the task may look at its input records' headers:
    /// a node that says so ([`Processor::uses_headers`](crate::processor::Processor::uses_headers),
    /// every sink) or a source's own timestamp extractor. When nothing does,
    /// the runtime does not read them from the fetched records.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    pub(crate) fn uses_headers(&self) -> bool {
        self.uses_headers
    }

    /// Whether this task reads `topic` (as resolved, with prefixes).
    pub(crate) fn reads(&self, topic: &str) -> bool {
        self.built.sources.contains_key(topic)
    }

    /// The timestamp of a raw record of `topic`: its source's extractor's
    /// (see [`TimestampExtractor`](crate::processor::TimestampExtractor)),
    /// given the largest it gave in the partition so far, or else
    /// `default.timestamp.extractor`'s.
    fn extract_timestamp(
        &self,
        record: RawView<'_>,
        partition_time: i64,
    ) -> Result<i64, StreamsError> {
        let timestamp = record.timestamp;
        let Some((_, source)) = self.built.sources.get(record.topic) else {
            return Ok(timestamp);
        };
        if source.has_extractor() {
            return source
                .extract_timestamp(
                    RawView {
                        headers: record.headers,
                        ..record
                    },
                    partition_time,
                )
                .unwrap_or(Ok(timestamp));
        }
        self.default_extractor.extract(
            &ConsumerRecord {
                topic: record.topic,
                partition: record.partition,
                offset: record.offset,
                timestamp,
                key: None,
                value: None,
                headers: record.headers,
            },
            partition_time,
        )
    }

    /// The timestamp a raw record gets as it is buffered, given its
    /// partition's time (the largest timestamp given there so far; -1 for
    /// none), which it moves: Kafka's own when it is valid and nothing
    /// rewrites it (no lookup: the common case), else the extractor's.
    pub(crate) fn stamp(
        &self,
        record: RawView<'_>,
        partition_time: &mut i64,
    ) -> Result<i64, StreamsError> {
        let timestamp = if self.extracting || record.timestamp < 0 {
            self.extract_timestamp(record, *partition_time)?
        } else {
            record.timestamp
        };
        *partition_time = (*partition_time).max(timestamp);
        Ok(timestamp)
    }

    /// Processes one raw record of `topic`. Records with a negative
    /// timestamp are dropped, as Kafka Streams' record queue does.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn process(
        &mut self,
        topic: &str,
        partition: i32,
        offset: i64,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Headers,
    ) -> Result<(), StreamsError> {
        let Some((topic_name, source)) = self.built.sources.get(topic).cloned() else {
            return Err(StreamsError::Processing {
                node: String::new(),
                reason: format!("no source node reads topic '{topic}'"),
            });
        };
        if timestamp < 0 {
            log::warn!(
                "Skipping record due to negative extracted timestamp. topic=[{topic}] partition=[{partition}] offset=[{offset}] timestamp=[{timestamp}]"
            );
            self.ctx.metrics.dropped_records += 1;
            return Ok(());
        }
        // Kafka Streams' task-level `record-lateness`: how far behind stream
        // time each record arrives, taken before the record moves it.
        self.ctx
            .metrics
            .record_lateness(self.ctx.stream_time.saturating_sub(timestamp));
        self.ctx.stream_time = self.ctx.stream_time.max(timestamp);
        self.ctx.metadata = Some(RecordMetadata {
            topic: topic_name,
            partition,
            offset,
        });
        self.ctx.timestamp.set(timestamp);
        self.ctx.error_judged = false;
        let result = source.process_raw(key, value, timestamp, headers, &mut self.ctx);
        match result {
            Err(StreamsError::Deserialization { .. })
                if self.handler == DeserializationHandler::LogAndContinue =>
            {
                if let Err(e) = &result {
                    log::warn!("{e}; skipping the record (log-and-continue)");
                }
                self.ctx.metrics.skipped_deserialization += 1;
                Ok(())
            }
            other => other,
        }
    }

    fn punctuate_due(&mut self, kind: PunctuationType, now: i64) -> Result<bool, StreamsError> {
        let mut due: Vec<(i64, usize)> = self
            .ctx
            .schedules
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == kind && !s.cancelled.get() && now >= s.next)
            .map(|(i, s)| (s.next, i))
            .collect();
        if due.is_empty() {
            return Ok(false);
        }
        due.sort();
        for (_, i) in due {
            let (node, id) = {
                let s: &mut Schedule = &mut self.ctx.schedules[i];
                s.advance(now);
                (s.node, s.id)
            };
            let control = self.control(node);
            if let Some(control) = control {
                self.ctx.metadata = None;
                self.ctx.timestamp.set(now);
                self.ctx.error_judged = false;
                control.punctuate(id, now, &mut self.ctx)?;
            }
        }
        self.ctx.schedules.retain(|s| !s.cancelled.get());
        Ok(true)
    }

    fn control(&self, node: usize) -> Option<Rc<dyn NodeControl>> {
        self.built
            .controls
            .iter()
            .find(|(i, _)| *i == node)
            .map(|(_, c)| c.clone())
    }

    /// Fires the stream-time punctuations that are due.
    pub(crate) fn maybe_punctuate_stream_time(&mut self) -> Result<bool, StreamsError> {
        if self.ctx.stream_time < 0 {
            return Ok(false);
        }
        let now = self.ctx.stream_time;
        self.punctuate_due(PunctuationType::StreamTime, now)
    }

    /// Moves the task's wall clock and fires the wall-clock punctuations
    /// that are due.
    pub(crate) fn maybe_punctuate_wall_clock(&mut self, now: i64) -> Result<bool, StreamsError> {
        self.ctx.wall_clock_ms = now;
        self.punctuate_due(PunctuationType::WallClockTime, now)
    }

    /// Sets the wall clock without punctuating.
    pub(crate) fn set_wall_clock(&mut self, now: i64) {
        self.ctx.wall_clock_ms = now;
    }

    /// Commit: caching processors forward what their caches hold (in
    /// topological order, so what one forwards reaches the caches below it
    /// before those flush), then every store is flushed.
    pub(crate) fn commit(&mut self) -> Result<(), StreamsError> {
        self.ctx.metadata = None;
        for (_, control) in &self.built.controls {
            self.ctx.error_judged = false;
            control.flush(&mut self.ctx)?;
        }
        for store in self.ctx.stores.values() {
            store.managed.borrow_mut().flush()?;
        }
        Ok(())
    }

    /// Commit without a checkpoint (the runtime's commit): as
    /// [`commit`](Self::commit), but RocksDB stores keep their memtables,
    /// which only a checkpoint needs on disk.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    pub(crate) fn commit_without_checkpoint(&mut self) -> Result<(), StreamsError> {
        crate::state::rocksdb::without_memtable_flush(|| self.commit())
    }

    /// Flushes every store to disk, before a checkpoint records the
    /// changelog offsets the stores hold. Call after a commit: caches are
    /// empty then, and this only writes RocksDB memtables out.
    #[cfg_attr(not(feature = "runtime"), allow(dead_code))]
    pub(crate) fn flush_stores(&mut self) -> Result<(), StreamsError> {
        for store in self.ctx.stores.values() {
            store.managed.borrow_mut().flush()?;
        }
        Ok(())
    }

    /// Closes processors and stores.
    pub(crate) fn close(&mut self) -> Result<(), StreamsError> {
        for (_, control) in &self.built.controls {
            control.close();
        }
        let mut first_err = None;
        for store in self.ctx.stores.values() {
            if let Err(e) = store.managed.borrow_mut().close() {
                first_err.get_or_insert(e);
            }
        }
        match first_err {
            Some(e) => Err(e.into()),
            None => Ok(()),
        }
    }

    /// The typed handle of a store of this task.
    pub(crate) fn store_handle(&self, name: &str) -> Option<Rc<dyn std::any::Any>> {
        self.ctx.stores.get(name).map(|s| s.handle.clone())
    }

    /// Names of this task's stores.
    pub(crate) fn store_names(&self) -> Vec<String> {
        self.ctx.stores.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::dsl::Suppressed;
    use crate::dsl::{BufferConfig, Consumed, Grouped, Materialized, Produced, StreamsBuilder};
    use crate::processor::{
        FixedKeyProcessor, FixedKeyProcessorContext, FixedKeyRecord, Headers, Processor,
        ProcessorContext, Record,
    };
    use crate::serde::Serdes;
    use crate::window::TimeWindows;

    struct Discard;

    impl RecordCollector for Discard {
        fn send(
            &mut self,
            _: &str,
            _: Option<&[u8]>,
            _: Option<&[u8]>,
            _: &Headers,
            _: i64,
            _: Option<i32>,
        ) -> Result<(), StreamsError> {
            Ok(())
        }
    }

    /// A Processor API processor: `uses_headers` as it is told.
    struct Forward(bool);

    impl Processor<String, String, String, String> for Forward {
        fn process(
            &mut self,
            record: Record<String, String>,
            ctx: &mut ProcessorContext<'_, String, String>,
        ) -> Result<(), StreamsError> {
            ctx.forward(record)
        }
        fn uses_headers(&self) -> bool {
            self.0
        }
    }

    /// A fixed-key processor: `uses_headers` as it is told.
    struct FixedForward(bool);

    impl FixedKeyProcessor<String, String, String> for FixedForward {
        fn process(
            &mut self,
            record: FixedKeyRecord<String, String>,
            ctx: &mut FixedKeyProcessorContext<'_, '_, String, String>,
        ) -> Result<(), StreamsError> {
            ctx.forward(record)
        }
        fn uses_headers(&self) -> bool {
            self.0
        }
    }

    /// Whether the task of each sub-topology may use its records' headers,
    /// in the sub-topologies' order.
    fn uses_headers(builder: StreamsBuilder) -> Vec<bool> {
        let topology = builder.build().unwrap();
        topology
            .subtopologies()
            .into_iter()
            .filter(|sub| !sub.global)
            .map(|sub| {
                let task = StreamTask::open(
                    &topology,
                    "app".into(),
                    TaskId {
                        subtopology: sub.id,
                        partition: 0,
                    },
                    |i| sub.nodes.contains(&i),
                    Rc::new(RefCell::new(Discard)),
                    TaskOptions {
                        state_dir: None,
                        cache_max_bytes: 1 << 20,
                        cache_pool: None,
                        deserialization_handler: DeserializationHandler::LogAndFail,
                        emit_interval_ms: 1000,
                        wall_clock_ms: 0,
                        timestamp_extractor: DefaultExtractor::default(),
                        continue_on_processing_error: false,
                    },
                )
                .unwrap();
                task.uses_headers()
            })
            .collect()
    }

    fn strings() -> Consumed<String, String> {
        Consumed::with(Serdes::string(), Serdes::string())
    }

    #[test]
    fn dsl_processors_alone_leave_headers_unread() {
        let b = StreamsBuilder::new();
        let windows =
            TimeWindows::of_size_and_grace(Duration::from_secs(1), Duration::ZERO).unwrap();
        b.stream("in", strings())
            .filter(|k, _| k.is_some())
            .map_values(|v| v.cloned())
            .peek(|_, _| {})
            .group_by_key(Grouped::none())
            .windowed_by_time(windows)
            .count(Materialized::none());
        assert_eq!(uses_headers(b), [false]);
    }

    #[test]
    fn a_sink_reads_headers_in_its_subtopology_only() {
        let b = StreamsBuilder::new();
        b.stream("in", strings())
            .select_key(|_, v| v.cloned())
            .group_by_key(Grouped::with(Serdes::string(), Serdes::string()))
            .count(Materialized::none());
        // The repartition topic's sink writes the headers on; the counting
        // side reads that topic and uses none.
        assert_eq!(uses_headers(b), [true, false]);

        let b = StreamsBuilder::new();
        b.stream("in", strings())
            .map_values(|v| v.cloned())
            .to("out", Produced::with(Serdes::string(), Serdes::string()));
        assert_eq!(uses_headers(b), [true]);
    }

    #[test]
    fn processors_read_headers_unless_they_say_otherwise() {
        let b = StreamsBuilder::new();
        b.stream("in", strings()).process(|| Forward(true), &[]);
        assert_eq!(uses_headers(b), [true]);

        let b = StreamsBuilder::new();
        b.stream("in", strings()).process(|| Forward(false), &[]);
        assert_eq!(uses_headers(b), [false]);

        for says in [true, false] {
            let b = StreamsBuilder::new();
            b.stream("in", strings())
                .process_values(move || FixedForward(says), &[]);
            assert_eq!(uses_headers(b), [says]);
        }
    }

    #[test]
    fn extractors_and_suppression_read_headers() {
        // A source's own extractor is given each record with its headers.
        let b = StreamsBuilder::new();
        b.stream(
            "in",
            strings().with_timestamp_extractor(|r: &ConsumerRecord<String, String>, _| r.timestamp),
        )
        .peek(|_, _| {});
        assert_eq!(uses_headers(b), [true]);

        // The suppression buffer keeps each record's context, headers
        // included, in its changelog.
        let b = StreamsBuilder::new();
        let windows =
            TimeWindows::of_size_and_grace(Duration::from_secs(1), Duration::ZERO).unwrap();
        b.stream("in", strings())
            .group_by_key(Grouped::none())
            .windowed_by_time(windows)
            .count(Materialized::none())
            .suppress(Suppressed::until_window_closes(BufferConfig::unbounded()));
        assert_eq!(uses_headers(b), [true]);
    }
}
