//! Nodes: the typed wrappers the task calls. A node owns one processor and
//! its children; children are typed by the node's output types, so records
//! move by value from node to node with no boxing and no downcast per record.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use super::Processor;
use super::context::{NodeInfo, ProcessorContext, ScheduleId, TaskContext};
use super::record::{Headers, Record, RecordMetadata};
use super::timestamp_extractor::{ConsumerRecord, ExtractorRef};
use crate::error::StreamsError;
use crate::serde::SerdeRef;

/// A node that accepts records of key type `K` and value type `V`.
pub(crate) trait Node<K, V> {
    fn process(&self, record: Record<K, V>, task: &mut TaskContext) -> Result<(), StreamsError>;
}

/// The type-erased side of a node, for the task's life-cycle calls.
pub(crate) trait NodeControl {
    fn init(&self, task: &mut TaskContext) -> Result<(), StreamsError>;
    fn punctuate(
        &self,
        id: ScheduleId,
        timestamp: i64,
        task: &mut TaskContext,
    ) -> Result<(), StreamsError>;
    fn flush(&self, task: &mut TaskContext) -> Result<(), StreamsError>;
    fn close(&self);
    /// Whether the node may look at its records' headers (see
    /// [`Processor::uses_headers`](super::Processor::uses_headers)).
    fn uses_headers(&self) -> bool;
}

/// A child of a node: its name (for `forward_to`) and the node itself.
pub(crate) struct Child<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) node: Rc<dyn Node<K, V>>,
}

/// A processor node. The processor sits in a `RefCell` because the graph is
/// shared (`Rc`) between parents; the graph is acyclic, so a node is never
/// re-entered while it runs.
pub(crate) struct ProcessorNode<P, KIn, VIn, KOut, VOut> {
    pub(crate) info: NodeInfo,
    pub(crate) processor: RefCell<P>,
    pub(crate) children: Vec<Child<KOut, VOut>>,
    pub(crate) _in: PhantomData<fn(KIn, VIn)>,
}

impl<P, KIn, VIn, KOut, VOut> ProcessorNode<P, KIn, VIn, KOut, VOut> {
    fn busy(&self) -> StreamsError {
        StreamsError::Processing {
            node: self.info.name.to_string(),
            reason: "node re-entered while processing: the topology has a cycle".into(),
        }
    }
}

impl<P, KIn, VIn, KOut, VOut> Node<KIn, VIn> for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
{
    #[inline]
    fn process(
        &self,
        record: Record<KIn, VIn>,
        task: &mut TaskContext,
    ) -> Result<(), StreamsError> {
        let mut processor = self.processor.try_borrow_mut().map_err(|_| self.busy())?;
        let mut ctx = ProcessorContext {
            task: &mut *task,
            children: &self.children,
            node: &self.info,
        };
        let result = processor.process(record, &mut ctx);
        match result {
            Err(e) => judge_error(&self.info, task, e),
            ok => ok,
        }
    }
}

/// Applies `processing.exception.handler` to an error a processor returned:
/// Kafka Streams asks the handler where the error is raised, at the failing
/// node only. An error passed up from a child (already judged there, or a
/// failed send) goes on as it is. Continuing drops the record at this node
/// alone (its siblings still get it) and counts it in `dropped_records`.
fn judge_error(
    node: &NodeInfo,
    task: &mut TaskContext,
    error: StreamsError,
) -> Result<(), StreamsError> {
    if task.error_judged {
        return Err(error);
    }
    if task.continue_on_processing_error {
        log::warn!(
            "processor '{}' failed: {error}; continuing with the next record (processing.exception.handler=LogAndContinueProcessingExceptionHandler)",
            node.name
        );
        task.metrics.dropped_records += 1;
        return Ok(());
    }
    task.error_judged = true;
    Err(error)
}

impl<P, KIn, VIn, KOut, VOut> NodeControl for ProcessorNode<P, KIn, VIn, KOut, VOut>
where
    P: Processor<KIn, VIn, KOut, VOut>,
{
    fn init(&self, task: &mut TaskContext) -> Result<(), StreamsError> {
        let mut processor = self.processor.try_borrow_mut().map_err(|_| self.busy())?;
        let mut ctx = ProcessorContext {
            task,
            children: &self.children,
            node: &self.info,
        };
        processor.init(&mut ctx)
    }
    fn punctuate(
        &self,
        id: ScheduleId,
        timestamp: i64,
        task: &mut TaskContext,
    ) -> Result<(), StreamsError> {
        let mut processor = self.processor.try_borrow_mut().map_err(|_| self.busy())?;
        let mut ctx = ProcessorContext {
            task: &mut *task,
            children: &self.children,
            node: &self.info,
        };
        match processor.punctuate(id, timestamp, &mut ctx) {
            Err(e) => judge_error(&self.info, task, e),
            ok => ok,
        }
    }
    fn flush(&self, task: &mut TaskContext) -> Result<(), StreamsError> {
        let mut processor = self.processor.try_borrow_mut().map_err(|_| self.busy())?;
        let mut ctx = ProcessorContext {
            task,
            children: &self.children,
            node: &self.info,
        };
        processor.flush(&mut ctx)
    }
    fn close(&self) {
        if let Ok(mut p) = self.processor.try_borrow_mut() {
            p.close();
        }
    }
    fn uses_headers(&self) -> bool {
        self.processor
            .try_borrow()
            .map_or(true, |p| p.uses_headers())
    }
}

/// A source node as the task sees it: raw bytes in.
pub(crate) trait RawSource {
    /// Whether this source has a timestamp extractor.
    fn has_extractor(&self) -> bool {
        false
    }
    /// The timestamp this source's extractor gives the record, given the
    /// largest it gave in the partition so far (-1 for none); `None` when
    /// the source has no extractor or the record does not deserialize (it
    /// then keeps Kafka's timestamp, and meets the deserialization handler
    /// when processed).
    fn extract_timestamp(
        &self,
        _record: RawView<'_>,
        _partition_time: i64,
    ) -> Option<Result<i64, StreamsError>> {
        None
    }

    fn process_raw(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Headers,
        task: &mut TaskContext,
    ) -> Result<(), StreamsError>;
}

/// A source record before deserialization, as a timestamp extractor's
/// caller has it.
pub(crate) struct RawView<'a> {
    pub(crate) topic: &'a str,
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    pub(crate) timestamp: i64,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) value: Option<&'a [u8]>,
    pub(crate) headers: &'a Headers,
}

/// Deserializes once, then forwards typed records to its children.
pub(crate) struct SourceNode<K, V> {
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) extractor: Option<ExtractorRef<K, V>>,
    pub(crate) children: Vec<Child<K, V>>,
}

impl<K: Clone + 'static, V: Clone + 'static> RawSource for SourceNode<K, V> {
    fn has_extractor(&self) -> bool {
        self.extractor.is_some()
    }

    fn extract_timestamp(
        &self,
        record: RawView<'_>,
        partition_time: i64,
    ) -> Option<Result<i64, StreamsError>> {
        let extractor = self.extractor.as_ref()?;
        let key = match record.key {
            Some(bytes) => Some(self.key_serde.deserialize(record.topic, bytes).ok()?),
            None => None,
        };
        let value = match record.value {
            Some(bytes) => Some(self.value_serde.deserialize(record.topic, bytes).ok()?),
            None => None,
        };
        Some(extractor.extract(
            &ConsumerRecord {
                topic: record.topic,
                partition: record.partition,
                offset: record.offset,
                timestamp: record.timestamp,
                key: key.as_ref(),
                value: value.as_ref(),
                headers: record.headers,
            },
            partition_time,
        ))
    }

    fn process_raw(
        &self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        timestamp: i64,
        headers: Headers,
        task: &mut TaskContext,
    ) -> Result<(), StreamsError> {
        let topic = task.metadata.as_ref().map(|m| &*m.topic).unwrap_or("");
        let deser_err = |source| StreamsError::Deserialization {
            topic: topic.to_string(),
            partition: task.metadata.as_ref().map_or(-1, |m| m.partition),
            offset: task.metadata.as_ref().map_or(-1, |m| m.offset),
            source,
        };
        let key = match key {
            Some(bytes) => Some(
                self.key_serde
                    .deserialize(topic, bytes)
                    .map_err(deser_err)?,
            ),
            None => None,
        };
        let value = match value {
            Some(bytes) => Some(
                self.value_serde
                    .deserialize(topic, bytes)
                    .map_err(deser_err)?,
            ),
            None => None,
        };
        task.timestamp.set(timestamp);
        let record = Record {
            key,
            value,
            timestamp,
            headers,
        };
        super::context::forward_to_all(&self.children, record, task)
    }
}

impl<K: Clone + 'static, V: Clone + 'static> Node<K, V> for SourceNode<K, V> {
    // A source fed by a parent node: only global-table bootstrapping in
    // memory uses this; records from Kafka come in through `process_raw`.
    fn process(&self, record: Record<K, V>, task: &mut TaskContext) -> Result<(), StreamsError> {
        super::context::forward_to_all(&self.children, record, task)
    }
}

/// What a topic-name extractor sees of the record being sent.
pub struct RecordContext<'a> {
    /// The record's timestamp.
    pub timestamp: i64,
    /// Where the input record came from (absent in punctuations).
    pub metadata: Option<&'a RecordMetadata>,
    /// The record's headers.
    pub headers: &'a Headers,
}

/// Chooses the output topic of each record (Kafka Streams'
/// `TopicNameExtractor`).
pub type TopicNameExtractor<K, V> =
    Arc<dyn Fn(Option<&K>, Option<&V>, &RecordContext<'_>) -> String + Send + Sync>;

/// Chooses the partition of each record written by a sink (Kafka Streams'
/// `StreamPartitioner`). `None` leaves the choice to the producer.
pub trait StreamPartitioner<K, V>: Send + Sync + 'static {
    /// The partition for this record, out of `num_partitions`.
    fn partition(
        &self,
        topic: &str,
        key: Option<&K>,
        value: Option<&V>,
        num_partitions: i32,
    ) -> Option<i32>;
}

/// The output topic of a sink.
pub(crate) enum SinkTopic<K, V> {
    Fixed(Arc<str>),
    Extractor(TopicNameExtractor<K, V>),
}

impl<K, V> Clone for SinkTopic<K, V> {
    fn clone(&self) -> Self {
        match self {
            SinkTopic::Fixed(t) => SinkTopic::Fixed(t.clone()),
            SinkTopic::Extractor(e) => SinkTopic::Extractor(e.clone()),
        }
    }
}

/// Serializes once and hands the bytes to the task's collector.
pub(crate) struct SinkNode<K, V> {
    pub(crate) name: Arc<str>,
    pub(crate) topic: SinkTopic<K, V>,
    pub(crate) key_serde: SerdeRef<K>,
    pub(crate) value_serde: SerdeRef<V>,
    pub(crate) partitioner: Option<Arc<dyn StreamPartitioner<K, V>>>,
}

impl<K: 'static, V: 'static> Node<K, V> for SinkNode<K, V> {
    fn process(&self, record: Record<K, V>, task: &mut TaskContext) -> Result<(), StreamsError> {
        let result = self.send(record, task);
        if result.is_err() {
            // A failed send or serialization is not a processing error:
            // the processors upstream pass it on without asking
            // `processing.exception.handler` (it never skips a write).
            task.error_judged = true;
        }
        result
    }
}

impl<K: 'static, V: 'static> SinkNode<K, V> {
    fn send(&self, record: Record<K, V>, task: &mut TaskContext) -> Result<(), StreamsError> {
        let extracted;
        let topic: &str = match &self.topic {
            SinkTopic::Fixed(t) => t,
            SinkTopic::Extractor(f) => {
                let rc = RecordContext {
                    timestamp: record.timestamp,
                    metadata: task.metadata.as_ref(),
                    headers: &record.headers,
                };
                extracted = f(record.key.as_ref(), record.value.as_ref(), &rc);
                &extracted
            }
        };
        // Kafka Streams refuses to send a negative timestamp.
        if record.timestamp < 0 {
            return Err(StreamsError::Processing {
                node: self.name.to_string(),
                reason: format!(
                    "cannot send a record with negative timestamp {} to topic '{topic}'",
                    record.timestamp
                ),
            });
        }
        let mut key_buf = std::mem::take(&mut task.key_buf);
        let mut value_buf = std::mem::take(&mut task.value_buf);
        key_buf.clear();
        value_buf.clear();
        let result = (|| {
            if let Some(k) = &record.key {
                self.key_serde.serialize_into(topic, k, &mut key_buf)?;
            }
            if let Some(v) = &record.value {
                self.value_serde.serialize_into(topic, v, &mut value_buf)?;
            }
            let partition = match &self.partitioner {
                Some(p) => {
                    let n = task.collector.borrow().partitions_for(topic).unwrap_or(1);
                    p.partition(topic, record.key.as_ref(), record.value.as_ref(), n)
                }
                None => None,
            };
            task.collector.borrow_mut().send(
                topic,
                record.key.as_ref().map(|_| key_buf.as_slice()),
                record.value.as_ref().map(|_| value_buf.as_slice()),
                &record.headers,
                record.timestamp,
                partition,
            )
        })();
        task.key_buf = key_buf;
        task.value_buf = value_buf;
        result
    }
}

impl<K: 'static, V: 'static> NodeControl for SinkNode<K, V> {
    fn init(&self, _task: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn punctuate(
        &self,
        _id: ScheduleId,
        _ts: i64,
        _task: &mut TaskContext,
    ) -> Result<(), StreamsError> {
        Ok(())
    }
    fn flush(&self, _task: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn close(&self) {}
    // A sink writes its records' headers.
    fn uses_headers(&self) -> bool {
        true
    }
}

/// Life-cycle of a source node: nothing to do.
pub(crate) struct SourceControl;

impl NodeControl for SourceControl {
    fn init(&self, _task: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn punctuate(
        &self,
        _id: ScheduleId,
        _ts: i64,
        _task: &mut TaskContext,
    ) -> Result<(), StreamsError> {
        Ok(())
    }
    fn flush(&self, _task: &mut TaskContext) -> Result<(), StreamsError> {
        Ok(())
    }
    fn close(&self) {}
    // Its timestamp extractor, if any, is the task's to ask about.
    fn uses_headers(&self) -> bool {
        false
    }
}
