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
            // Records purged by an abort: nothing to report.
            Err((e, _))
                if matches!(
                    e.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::PurgeQueue | RDKafkaErrorCode::PurgeInflight)
                ) => {}
            Err((e, m)) => {
                // Only the first failure until the next commit is reported;
                // the others are its echo (the same broker, the same cause).
                if state.first_error.is_some() {
                    log::debug!(
                        "could not send a record to {}-{}: {e}",
                        m.topic(),
                        m.partition()
                    );
                    return;
                }
                log::error!(
                    "could not send a record to {}-{}: {e}",
                    m.topic(),
                    m.partition()
                );
                {
                    // Kafka Streams' default production-exception handler:
                    // an error that retrying may fix (RETRY) marks the tasks
                    // corrupted, so they are recovered and the records sent
                    // again; any other (FAIL) stops the thread.
                    state.first_error = Some(if is_retriable_send_error(e) {
                        RuntimeError::TaskCorrupted(format!(
                            "sending to {}-{} failed: {e}; the broker is slow or was unreachable (consider a larger producer.delivery.timeout.ms)",
                            m.topic(),
                            m.partition()
                        ))
                    } else {
                        RuntimeError::Send {
                            topic: m.topic().to_string(),
                            reason: e.to_string(),
                        }
                    });
                }
            }
        }
    }
}

/// Whether a delivery failure is one Kafka's Java client calls retriable
/// (the record may go through when sent again).
fn is_retriable_send_error(e: &KafkaError) -> bool {
    use RDKafkaErrorCode as C;
    matches!(
        e.rdkafka_error_code(),
        Some(
            C::MessageTimedOut
                | C::RequestTimedOut
                | C::OperationTimedOut
                | C::NetworkException
                | C::BrokerTransportFailure
                | C::AllBrokersDown
                | C::LeaderNotAvailable
                | C::NotLeaderForPartition
                | C::NotEnoughReplicas
                | C::NotEnoughReplicasAfterAppend
                | C::KafkaStorageError
                | C::UnknownTopicOrPartition
        )
    )
}

/// Sends what a thread's tasks produce.
pub(crate) struct KafkaCollector {
    producer: BaseProducer<CollectorContext>,
    /// For faults armed by tests (`runtime::faults`).
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    application_id: std::sync::Arc<str>,
    exactly_once: bool,
    in_transaction: bool,
    /// A send that failed in a way the thread handles itself (fenced,
    /// corrupted), kept for [`take_send_failure`](Self::take_send_failure):
    /// processors see only an opaque error.
    send_failure: Option<RuntimeError>,
    partitions: RefCell<HashMap<String, i32>>,
    timeout: Duration,
}

impl KafkaCollector {
    /// A collector over `producer`; under exactly-once the producer's
    /// transactions are initialized (fencing older producers with the same
    /// transactional id).
    pub(crate) fn new(
        producer: BaseProducer<CollectorContext>,
        application_id: std::sync::Arc<str>,
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
            application_id,
            exactly_once,
            in_transaction: false,
            send_failure: None,
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
        self.send_now()?;
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sends every queued record at once, `linger.ms` notwithstanding, and
    /// waits for their acknowledgements, serving the delivery reports.
    ///
    /// Not rdkafka's `BaseProducer::flush`, for two reasons that made every
    /// commit last 100 ms or more:
    /// * it polls in slices of up to 100 ms, and a poll serves events until
    ///   its slice is over, however early the last report arrives;
    /// * librdkafka skips the linger only while a call to `rd_kafka_flush`
    ///   is in progress, and rdkafka calls it with a zero timeout between
    ///   its polls, too briefly for the broker threads to notice, so the
    ///   records waited out `linger.ms` (100 ms by default, as in Kafka
    ///   Streams, whose flush does skip it). This producer's delivery
    ///   reports are events only this thread serves, so a blocking
    ///   `rd_kafka_flush` here would wait for itself: a helper thread holds
    ///   one open instead, while this thread serves the reports.
    fn send_now(&self) -> RuntimeResult<()> {
        if self.producer.in_flight_count() == 0 {
            return Ok(());
        }
        let native = self.producer.client().native_ptr() as usize;
        let timeout_ms = i32::try_from(self.timeout.as_millis()).unwrap_or(i32::MAX);
        let deadline = std::time::Instant::now() + self.timeout;
        std::thread::scope(|scope| {
            scope.spawn(move || {
                // SAFETY: the producer outlives the scope, which joins this
                // thread before `send_now` returns; `rd_kafka_flush` is
                // thread-safe and, with delivery reports as events, only
                // waits for the count of outstanding records to reach zero.
                unsafe {
                    rdkafka::bindings::rd_kafka_flush(native as *mut _, timeout_ms);
                }
            });
            loop {
                self.producer.poll(Duration::from_millis(1));
                if self.producer.in_flight_count() == 0 {
                    return Ok(());
                }
                if std::time::Instant::now() >= deadline {
                    return Err(RuntimeError::client(
                        "flushing the producer",
                        KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                    ));
                }
            }
        })
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
        // rdkafka's commit flushes first too, but waits out `linger.ms`.
        self.send_now()?;
        #[cfg(feature = "fault-injection")]
        if super::faults::take_commit_failure(&self.application_id) {
            return Err(RuntimeError::TaskCorrupted(
                "committing the transaction: injected abortable error".into(),
            ));
        }
        if offsets.count() > 0 {
            self.producer
                .send_offsets_to_transaction(offsets, group, self.timeout)
                .map_err(classify_txn("sending offsets to the transaction"))?;
        }
        if let Err(e) = self.producer.commit_transaction(self.timeout) {
            // A failed send fails the commit too; the send's own error
            // decides (Kafka Streams' production-exception handling): a
            // record that cannot be written stops the thread, a timeout
            // corrupts the tasks.
            return Err(match self.take_error() {
                Some(send @ RuntimeError::Send { .. }) => send,
                _ => classify_txn("committing the transaction")(e),
            });
        }
        self.in_transaction = false;
        match self.take_error() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The failure kept by the last failed send, if the thread handles it
    /// itself (see [`RuntimeError::TaskCorrupted`] and
    /// [`RuntimeError::Fenced`]).
    pub(crate) fn take_send_failure(&mut self) -> Option<RuntimeError> {
        self.send_failure.take()
    }

    /// Aborts the open transaction, if any (exactly-once error path).
    pub(crate) fn abort_transaction(&mut self) {
        if self.in_transaction {
            // librdkafka's abort waits until no record is outstanding, and
            // with a polled producer only this thread can serve the
            // delivery reports that end them: drop what is still queued,
            // serve the reports (in-flight requests complete on their own;
            // purging them too leaves gaps in the idempotent sequence that
            // librdkafka reports as an error of its own), then abort.
            self.producer
                .purge(rdkafka::producer::PurgeConfig::default().queue());
            if let Err(e) = self.producer.flush(self.timeout) {
                log::warn!("serving the purged records before the abort failed: {e}");
            }
            if let Err(e) = self.producer.abort_transaction(self.timeout) {
                log::warn!("aborting the transaction failed: {e}");
            }
            self.in_transaction = false;
        }
        let _ = self.take_error();
        self.send_failure = None;
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
                    // In short slices: rdkafka's poll serves events until its
                    // timeout is over, however early the room comes.
                    record = back;
                    self.producer.poll(Duration::from_millis(1));
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
        // An abortable error (a send of the transaction failed, the
        // coordinator timed out) or a retriable one leaves the transaction
        // in doubt: abort it and recover the tasks.
        let corrupted = match &e {
            KafkaError::Transaction(t) => t.txn_requires_abort() || t.is_retriable(),
            _ => false,
        };
        if fenced {
            RuntimeError::Fenced(format!("{operation}: {e}"))
        } else if corrupted {
            RuntimeError::TaskCorrupted(format!("{operation}: {e}"))
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
        match self.send_raw(topic, key, value, headers, timestamp, partition) {
            Ok(()) => Ok(()),
            Err(e @ (RuntimeError::TaskCorrupted(_) | RuntimeError::Fenced(_))) => {
                let opaque = StreamsError::Kafka(e.to_string());
                self.send_failure = Some(e);
                Err(opaque)
            }
            Err(e) => Err(e.into()),
        }
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
