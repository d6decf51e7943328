//! The [`RecordCollector`] of the runtime: sinks and changelogs send through
//! one producer per stream thread, transactional under exactly-once.
//!
//! Sends are asynchronous; the producer reports each delivery to
//! [`CollectorContext`], which keeps the first failure (raised at the next
//! flush or commit: nothing is lost silently) and the offset of the last
//! record written to each partition (what `.checkpoint` files record for
//! changelog partitions).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, Header as KHeader, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, ProducerContext};

use super::errors::{RuntimeError, RuntimeResult};
use crate::error::StreamsError;
use crate::processor::{Headers, RecordCollector};

#[derive(Default)]
struct DeliveryState {
    first_error: Option<RuntimeError>,
    offsets: HashMap<String, HashMap<i32, i64>>,
}

/// Receives delivery reports (on the thread that polls the producer).
#[derive(Default)]
pub(crate) struct CollectorContext {
    state: Mutex<DeliveryState>,
}

impl ClientContext for CollectorContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let fatal = matches!(error.rdkafka_error_code(), Some(RDKafkaErrorCode::Fatal));
        if fatal {
            log::error!("fatal producer error: {error}: {reason}");
            if let Ok(mut s) = self.state.lock() {
                s.first_error
                    .get_or_insert(RuntimeError::Fenced(format!("{error}: {reason}")));
            }
        } else {
            log::warn!("producer: {error}: {reason}");
        }
    }
}

impl ProducerContext for CollectorContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match result {
            Ok(m) => {
                let topic = m.topic();
                let partition = m.partition();
                let offset = m.offset();
                match state.offsets.get_mut(topic) {
                    Some(p) => {
                        let e = p.entry(partition).or_insert(offset);
                        *e = (*e).max(offset);
                    }
                    None => {
                        state
                            .offsets
                            .insert(topic.to_string(), HashMap::from([(partition, offset)]));
                    }
                }
            }
            Err((e, m)) => {
                log::error!(
                    "could not send a record to {}-{}: {e}",
                    m.topic(),
                    m.partition()
                );
                if state.first_error.is_none() {
                    state.first_error = Some(RuntimeError::Send {
                        topic: m.topic().to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

/// Sends what a thread's tasks produce.
pub(crate) struct KafkaCollector {
    producer: BaseProducer<CollectorContext>,
    exactly_once: bool,
    in_transaction: bool,
    partitions: RefCell<HashMap<String, i32>>,
    timeout: Duration,
}

impl KafkaCollector {
    /// A collector over `producer`; under exactly-once the producer's
    /// transactions are initialized (fencing older producers with the same
    /// transactional id).
    pub(crate) fn new(
        producer: BaseProducer<CollectorContext>,
        exactly_once: bool,
        timeout: Duration,
    ) -> RuntimeResult<Self> {
        if exactly_once {
            producer
                .init_transactions(timeout)
                .map_err(|e| RuntimeError::client("initializing the transactional producer", e))?;
        }
        Ok(KafkaCollector {
            producer,
            exactly_once,
            in_transaction: false,
            partitions: RefCell::new(HashMap::new()),
            timeout,
        })
    }

    /// Whether a transaction is open (exactly-once).
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction
    }

    fn ensure_transaction(&mut self) -> RuntimeResult<()> {
        if self.exactly_once && !self.in_transaction {
            self.producer
                .begin_transaction()
                .map_err(classify_txn("beginning a transaction"))?;
            self.in_transaction = true;
        }
        Ok(())
    }

    /// Serves delivery reports without blocking.
    pub(crate) fn poll(&self) {
        self.producer.poll(Duration::ZERO);
    }

    /// The first send failure since the last call, if any.
    pub(crate) fn take_error(&self) -> Option<RuntimeError> {
        self.producer
            .context()
            .state
            .lock()
            .ok()?
            .first_error
            .take()
    }

    /// Waits until every record sent so far is acknowledged (at-least-once
    /// commit), then reports any failure.
    pub(crate) fn flush(&self) -> RuntimeResult<()> {
        self.producer
            .flush(self.timeout)
            .map_err(|e| RuntimeError::client("flushing the producer", e))?;
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Offset of the last record acknowledged on `topic`-`partition`.
    pub(crate) fn written_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.producer.context().state.lock().ok()?;
        state.offsets.get(topic)?.get(&partition).copied()
    }

    /// Commits the open transaction with the input `offsets` (exactly-once),
    /// beginning one first if needed so that the offsets commit even when
    /// nothing was produced.
    pub(crate) fn commit_transaction(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> RuntimeResult<()> {
        self.ensure_transaction()?;
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, self.timeout)
                .map_err(classify_txn("sending offsets to the transaction"))?;
        }
        self.producer
            .commit_transaction(self.timeout)
            .map_err(classify_txn("committing the transaction"))?;
        self.in_transaction = false;
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Aborts the open transaction, if any (exactly-once error path).
    pub(crate) fn abort_transaction(&mut self) {
        if self.in_transaction {
            if let Err(e) = self.producer.abort_transaction(self.timeout) {
                log::warn!("aborting the transaction failed: {e}");
            }
            self.in_transaction = false;
        }
        let _ = self.take_error();
    }

    /// Sends raw bytes (also used for dead-letter records).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn send_raw(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
        timestamp: i64,
        partition: Option<i32>,
    ) -> RuntimeResult<()> {
        self.ensure_transaction()?;
        let mut record: BaseRecord<'_, [u8], [u8]> = BaseRecord::to(topic).timestamp(timestamp);
        if let Some(k) = key {
            record = record.key(k);
        }
        if let Some(v) = value {
            record = record.payload(v);
        }
        if let Some(p) = partition {
            record = record.partition(p);
        }
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for h in headers.iter() {
                owned = owned.insert(KHeader {
                    key: &h.key,
                    value: h.value.as_deref(),
                });
            }
            record = record.headers(owned);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    // The local queue is full: serve deliveries, then retry.
                    record = back;
                    self.producer.poll(Duration::from_millis(50));
                }
                Err((e, _)) => {
                    return Err(RuntimeError::Send {
                        topic: topic.to_string(),
                        reason: e.to_string(),
                    });
                }
            }
        }
    }
}

fn classify_txn(operation: &'static str) -> impl Fn(KafkaError) -> RuntimeError {
    move |e| {
        let fenced = match &e {
            KafkaError::Transaction(t) => {
                t.is_fatal()
                    || matches!(
                        t.code(),
                        RDKafkaErrorCode::ProducerFenced
                            | RDKafkaErrorCode::InvalidProducerEpoch
                            | RDKafkaErrorCode::Fenced
                    )
            }
            _ => false,
        };
        if fenced {
            RuntimeError::Fenced(format!("{operation}: {e}"))
        } else {
            RuntimeError::client(operation, e)
        }
    }
}

impl RecordCollector for KafkaCollector {
    fn send(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
        timestamp: i64,
        partition: Option<i32>,
    ) -> Result<(), StreamsError> {
        Ok(self.send_raw(topic, key, value, headers, timestamp, partition)?)
    }

    fn partitions_for(&self, topic: &str) -> Option<i32> {
        if let Some(&n) = self.partitions.borrow().get(topic) {
            return Some(n);
        }
        let metadata = self
            .producer
            .client()
            .fetch_metadata(Some(topic), self.timeout)
            .ok()?;
        let n = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len() as i32)
            .filter(|&n| n > 0)?;
        self.partitions.borrow_mut().insert(topic.to_string(), n);
        Some(n)
    }
}
