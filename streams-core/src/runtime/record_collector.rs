//! The [`RecordCollector`] of the runtime: sinks and changelogs send through
//! one producer per stream thread, transactional under exactly-once.
//!
//! Sends are asynchronous; the producer reports each delivery to
//! [`CollectorContext`], which keeps the first failure (raised at the next
//! flush or commit: nothing is lost silently) and, for changelog topics, the
//! offset of the last record written to each partition (what `.checkpoint`
//! files record).
//!
//! Under exactly-once, the periodic commit runs in the background
//! ([`KafkaCollector::commit_transaction_in_background`]): waiting for the
//! transaction's records to be acknowledged is most of a commit, and
//! librdkafka allows no new transaction before the commit returns, so the
//! thread goes on processing meanwhile and the collector holds what it
//! sends, in one reused buffer, until the commit is over; then a new
//! transaction begins with those records.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rdkafka::ClientContext;
use rdkafka::Message;
use rdkafka::TopicPartitionList;
use rdkafka::bindings::rd_kafka_vtype_t as RDKafkaVType;
use rdkafka::consumer::ConsumerGroupMetadata;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};

use super::errors::{RuntimeError, RuntimeResult};
use crate::error::StreamsError;
use crate::processor::{Headers, RecordCollector};

#[derive(Default)]
struct DeliveryState {
    first_error: Option<RuntimeError>,
    /// Per topic whose offsets are tracked (changelogs, see
    /// [`KafkaCollector::track_offsets`]), indexed by its delivery opaque
    /// less one: the offset of the last record acknowledged per partition
    /// (-1: none yet).
    tracked: Vec<(String, Vec<i64>)>,
}

impl DeliveryState {
    fn written(&mut self, slot: usize, partition: i32, offset: i64) {
        let (Some((_, offsets)), Ok(p)) = (self.tracked.get_mut(slot), usize::try_from(partition))
        else {
            return;
        };
        if offsets.len() <= p {
            offsets.resize(p + 1, -1);
        }
        offsets[p] = offsets[p].max(offset);
    }
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
    /// 0 for a record whose offset nobody asks for (sinks), else the slot of
    /// its topic in `DeliveryState::tracked` plus one. Most records are
    /// sink records: their acknowledgement costs no lock and no look-up.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, slot: usize) {
        if result.is_ok() && slot == 0 {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        match result {
            Ok(m) => state.written(slot - 1, m.partition(), m.offset()),
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

/// Most bytes of records held back while a commit runs in the background;
/// beyond, a send waits for the commit to end. What the thread processes
/// in a typical commit's wait (tens of milliseconds at several hundred
/// thousand records per second) fits, and the memory stays bounded.
const MAX_HELD_BYTES: usize = 16 << 20;

/// Records sent while a commit runs in the background, in order. Keys and
/// values live in one byte buffer that is reused from commit to commit, so
/// holding a record allocates nothing in the steady state (headers aside).
#[derive(Default)]
struct HeldRecords {
    bytes: Vec<u8>,
    records: Vec<HeldRecord>,
    /// Topic names, each once (a thread writes to a handful of topics).
    topics: Vec<String>,
}

struct HeldRecord {
    topic: usize,
    key: Option<(usize, usize)>,
    value: Option<(usize, usize)>,
    headers: Option<Headers>,
    timestamp: i64,
    partition: Option<i32>,
}

impl HeldRecords {
    fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn push(
        &mut self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &Headers,
        timestamp: i64,
        partition: Option<i32>,
    ) {
        let topic = match self.topics.iter().position(|t| t == topic) {
            Some(i) => i,
            None => {
                self.topics.push(topic.to_string());
                self.topics.len() - 1
            }
        };
        let mut range = |b: Option<&[u8]>| {
            b.map(|b| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(b);
                (start, self.bytes.len())
            })
        };
        let key = range(key);
        let value = range(value);
        self.records.push(HeldRecord {
            topic,
            key,
            value,
            headers: (!headers.is_empty()).then(|| headers.clone()),
            timestamp,
            partition,
        });
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

/// A transaction commit running on its own thread.
struct PendingCommit {
    handle: JoinHandle<RuntimeResult<()>>,
    started: Instant,
}

/// Sends what a thread's tasks produce.
pub(crate) struct KafkaCollector {
    /// Declared before `producer`: dropped (the handles destroyed) first.
    topics: RefCell<TopicHandles>,
    /// Shared with the thread of a commit running in the background.
    producer: Arc<BaseProducer<CollectorContext>>,
    /// The commit running in the background, if any (exactly-once).
    pending: Option<PendingCommit>,
    /// What was sent while `pending` runs, for the next transaction.
    held: HeldRecords,
    metrics: Arc<super::kafka_streams::SharedMetrics>,
    /// For faults armed by tests (`runtime::faults`).
    #[cfg_attr(not(feature = "fault-injection"), allow(dead_code))]
    application_id: std::sync::Arc<str>,
    exactly_once: bool,
    /// Whether the producer's transactions are initialized (or not used).
    transactions_ready: bool,
    in_transaction: bool,
    /// A send that failed in a way the thread handles itself (fenced,
    /// corrupted), kept for [`take_send_failure`](Self::take_send_failure):
    /// processors see only an opaque error.
    send_failure: Option<RuntimeError>,
    partitions: RefCell<HashMap<String, i32>>,
    timeout: Duration,
}

impl KafkaCollector {
    /// A collector over `producer`; under exactly-once, its transactions
    /// are initialized by [`init_transactions`](Self::init_transactions).
    pub(crate) fn new(
        producer: BaseProducer<CollectorContext>,
        application_id: std::sync::Arc<str>,
        exactly_once: bool,
        timeout: Duration,
        metrics: Arc<super::kafka_streams::SharedMetrics>,
    ) -> RuntimeResult<Self> {
        Ok(KafkaCollector {
            topics: RefCell::new(TopicHandles::default()),
            producer: Arc::new(producer),
            pending: None,
            held: HeldRecords::default(),
            metrics,
            application_id,
            exactly_once,
            transactions_ready: !exactly_once,
            in_transaction: false,
            send_failure: None,
            partitions: RefCell::new(HashMap::new()),
            timeout,
        })
    }

    /// Initializes the producer's transactions (exactly-once; once),
    /// fencing older producers with the same transactional id and ending
    /// the transaction such a producer left open. The thread calls it once
    /// it has subscribed, so that this round trip to the transaction
    /// coordinator overlaps with joining the group.
    pub(crate) fn init_transactions(&mut self) -> RuntimeResult<()> {
        if self.transactions_ready {
            return Ok(());
        }
        let started = Instant::now();
        self.producer
            .init_transactions(self.timeout)
            .map_err(|e| RuntimeError::client("initializing the transactional producer", e))?;
        log::debug!("transactions initialized in {:?}", started.elapsed());
        self.transactions_ready = true;
        Ok(())
    }

    /// Whether a transaction is open, committing, or has records waiting
    /// for the next one (exactly-once).
    pub(crate) fn in_transaction(&self) -> bool {
        self.in_transaction || self.pending.is_some() || !self.held.is_empty()
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
    /// waits for their acknowledgements, serving the delivery reports
    /// (see [`drain`]).
    fn send_now(&self) -> RuntimeResult<()> {
        drain(&self.producer, self.timeout)
    }

    /// Offset of the last record acknowledged on `topic`-`partition`, for a
    /// topic registered with [`track_offsets`](Self::track_offsets).
    pub(crate) fn written_offset(&self, topic: &str, partition: i32) -> Option<i64> {
        let state = self.producer.context().state.lock().ok()?;
        let (_, offsets) = state.tracked.iter().find(|(t, _)| t == topic)?;
        let offset = *offsets.get(usize::try_from(partition).ok()?)?;
        (offset >= 0).then_some(offset)
    }

    /// Keeps the offset of the last record acknowledged per partition of
    /// `topic` (for [`written_offset`](Self::written_offset)): changelogs,
    /// whose offsets go into the checkpoints. Call it before sending to
    /// the topic.
    pub(crate) fn track_offsets(&self, topic: &str) -> RuntimeResult<()> {
        let index = self.topic_index(topic)?;
        let mut handles = self.topics.borrow_mut();
        if handles.list[index].opaque != 0 {
            return Ok(());
        }
        let mut state = self
            .producer
            .context()
            .state
            .lock()
            .map_err(|_| RuntimeError::IllegalState("the delivery state is poisoned".into()))?;
        state.tracked.push((topic.to_string(), Vec::new()));
        handles.list[index].opaque = state.tracked.len();
        Ok(())
    }

    /// The index in `topics` of `topic`'s handle, created on first use.
    fn topic_index(&self, topic: &str) -> RuntimeResult<usize> {
        let mut handles = self.topics.borrow_mut();
        // Records come in runs to one topic: the last one is checked first.
        let last = handles.last;
        if handles.list.get(last).is_some_and(|h| &*h.name == topic) {
            return Ok(last);
        }
        let index = match handles.list.iter().position(|h| &*h.name == topic) {
            Some(i) => i,
            None => {
                let name = std::ffi::CString::new(topic).map_err(|_| RuntimeError::Send {
                    topic: topic.to_string(),
                    reason: "the topic name contains a NUL byte".into(),
                })?;
                // SAFETY: the client is alive (`producer` outlives
                // `topics`, see the field order); a null configuration
                // takes the producer's default topic configuration, as
                // naming the topic in each `rd_kafka_producev` did.
                let rkt = unsafe {
                    rdkafka::bindings::rd_kafka_topic_new(
                        self.producer.client().native_ptr(),
                        name.as_ptr(),
                        std::ptr::null_mut(),
                    )
                };
                if rkt.is_null() {
                    return Err(RuntimeError::Send {
                        topic: topic.to_string(),
                        reason: "librdkafka refused the topic handle".into(),
                    });
                }
                handles.list.push(TopicHandle {
                    name: topic.into(),
                    rkt,
                    opaque: 0,
                });
                handles.list.len() - 1
            }
        };
        handles.last = index;
        Ok(index)
    }

    /// Commits the open transaction with the input `offsets` (exactly-once),
    /// beginning one first if needed so that the offsets commit even when
    /// nothing was produced. A commit running in the background ends
    /// first.
    pub(crate) fn commit_transaction(
        &mut self,
        offsets: &TopicPartitionList,
        group: &ConsumerGroupMetadata,
    ) -> RuntimeResult<()> {
        self.finish_pending(true)?;
        self.ensure_transaction()?;
        #[cfg(feature = "fault-injection")]
        if super::faults::take_commit_failure(&self.application_id) {
            return Err(RuntimeError::TaskCorrupted(
                "committing the transaction: injected abortable error".into(),
            ));
        }
        let result = commit_now(&self.producer, offsets, group, self.timeout);
        self.in_transaction = result.is_err();
        result
    }

    /// Starts committing the open transaction with the input `offsets` on
    /// another thread and returns: until the commit ends, what is sent is
    /// held back, and goes out in the next transaction once it does
    /// ([`poll_commit`](Self::poll_commit), or any send, checks). Its
    /// failure, if any, is returned by whichever of those finds it.
    pub(crate) fn commit_transaction_in_background(
        &mut self,
        offsets: TopicPartitionList,
        group: ConsumerGroupMetadata,
    ) -> RuntimeResult<()> {
        self.finish_pending(true)?;
        self.ensure_transaction()?;
        #[cfg(feature = "fault-injection")]
        if super::faults::take_commit_failure(&self.application_id) {
            return Err(RuntimeError::TaskCorrupted(
                "committing the transaction: injected abortable error".into(),
            ));
        }
        let producer = self.producer.clone();
        let timeout = self.timeout;
        let handle = std::thread::Builder::new()
            .name("kstreams-commit".into())
            .spawn(move || commit_now(&producer, &offsets, &group, timeout))
            .map_err(|e| {
                RuntimeError::IllegalState(format!("cannot start the commit thread: {e}"))
            })?;
        self.in_transaction = false;
        self.pending = Some(PendingCommit {
            handle,
            started: Instant::now(),
        });
        Ok(())
    }

    /// Whether a commit runs in the background and is not over yet.
    pub(crate) fn commit_in_progress(&self) -> bool {
        self.pending
            .as_ref()
            .is_some_and(|p| !p.handle.is_finished())
    }

    /// Ends the background commit if it is over, without waiting: the held
    /// records then go out in a new transaction.
    pub(crate) fn poll_commit(&mut self) -> RuntimeResult<()> {
        self.finish_pending(false)
    }

    /// Ends the background commit, if any: waits for it when `wait` (else
    /// returns at once if it still runs), reports its failure, or begins
    /// the next transaction with the records held meanwhile.
    fn finish_pending(&mut self, wait: bool) -> RuntimeResult<()> {
        let Some(pending) = self.pending.take_if(|p| wait || p.handle.is_finished()) else {
            return Ok(());
        };
        let result = pending.handle.join().unwrap_or_else(|_| {
            Err(RuntimeError::IllegalState(
                "the commit thread panicked".into(),
            ))
        });
        log::debug!(
            "commit in the background took {:?} ({} records held meanwhile)",
            pending.started.elapsed(),
            self.held.records.len()
        );
        if let Err(e) = result {
            // The transaction is still open, to be aborted; the held
            // records belong to tasks that recover or close.
            self.in_transaction = true;
            self.held.clear();
            return Err(e);
        }
        if self.held.is_empty() {
            return Ok(());
        }
        self.metrics.add_held(self.held.records.len() as u64);
        self.ensure_transaction()?;
        let held = std::mem::take(&mut self.held);
        let mut result = Ok(());
        for r in &held.records {
            let range = |r: Option<(usize, usize)>| r.map(|(a, b)| &held.bytes[a..b]);
            result = self.produce(
                &held.topics[r.topic],
                range(r.key),
                range(r.value),
                r.headers.as_ref(),
                r.timestamp,
                r.partition,
            );
            if result.is_err() {
                break;
            }
        }
        // The buffers go back for the next commit, empty.
        self.held = held;
        self.held.clear();
        result
    }

    /// The failure kept by the last failed send, if the thread handles it
    /// itself (see [`RuntimeError::TaskCorrupted`] and
    /// [`RuntimeError::Fenced`]).
    pub(crate) fn take_send_failure(&mut self) -> Option<RuntimeError> {
        self.send_failure.take()
    }

    /// Aborts the open transaction, if any (exactly-once error path),
    /// after the background commit, if any, has ended; the records held
    /// for the next transaction are dropped.
    pub(crate) fn abort_transaction(&mut self) {
        if let Err(e) = self.finish_pending(true) {
            log::debug!("the background commit failed before the abort: {e}");
        }
        self.held.clear();
        if self.in_transaction {
            // librdkafka's abort waits until no record is outstanding, and
            // with a polled producer only this thread can serve the
            // delivery reports that end them: serve them first, then
            // abort. What is still queued is sent into the transaction
            // being aborted, and aborted with it. It is not purged:
            // librdkafka only skips purged records' sequence numbers when
            // its own abort (or its own abortable error) purges them, so
            // records purged through the public API leave a gap in the
            // idempotent sequence, and the next transaction fails with
            // OUT_OF_ORDER_SEQUENCE_NUMBER.
            if let Err(e) = self.producer.flush(self.timeout) {
                log::warn!("serving the outstanding records before the abort failed: {e}");
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
        if self.pending.is_some() {
            self.finish_pending(self.held.bytes.len() >= MAX_HELD_BYTES)?;
            if self.pending.is_some() {
                self.held
                    .push(topic, key, value, headers, timestamp, partition);
                return Ok(());
            }
        }
        self.ensure_transaction()?;
        let headers = (!headers.is_empty()).then_some(headers);
        self.produce(topic, key, value, headers, timestamp, partition)
    }

    /// Hands one record to the producer, waiting while its queue is full.
    fn produce(
        &self,
        topic: &str,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: Option<&Headers>,
        timestamp: i64,
        partition: Option<i32>,
    ) -> RuntimeResult<()> {
        let index = self.topic_index(topic)?;
        let (rkt, opaque) = {
            let handles = self.topics.borrow();
            let h = &handles.list[index];
            (h.rkt, h.opaque)
        };
        let owned = headers.map(NativeHeaders::of);
        let bytes = |b: Option<&[u8]>| {
            b.map_or((std::ptr::null_mut(), 0), |b| {
                (b.as_ptr() as *mut std::ffi::c_void, b.len())
            })
        };
        let ((key_ptr, key_len), (value_ptr, value_len)) = (bytes(key), bytes(value));
        let native = self.producer.client().native_ptr();
        loop {
            // SAFETY: rdkafka's `BaseProducer::send`, with the topic given
            // by a handle this collector holds (the name was turned into a
            // C string and looked up under the client's lock for every
            // record) and the slot of its tracked offsets as the opaque.
            // Key and value are copied (`MSG_F_COPY`); the headers belong
            // to librdkafka once the call succeeds.
            let err = unsafe {
                rdkafka::bindings::rd_kafka_producev(
                    native,
                    RDKafkaVType::RD_KAFKA_VTYPE_RKT,
                    rkt,
                    RDKafkaVType::RD_KAFKA_VTYPE_PARTITION,
                    partition.unwrap_or(-1),
                    RDKafkaVType::RD_KAFKA_VTYPE_MSGFLAGS,
                    rdkafka::bindings::RD_KAFKA_MSG_F_COPY,
                    RDKafkaVType::RD_KAFKA_VTYPE_VALUE,
                    value_ptr,
                    value_len,
                    RDKafkaVType::RD_KAFKA_VTYPE_KEY,
                    key_ptr,
                    key_len,
                    RDKafkaVType::RD_KAFKA_VTYPE_OPAQUE,
                    opaque as *mut std::ffi::c_void,
                    RDKafkaVType::RD_KAFKA_VTYPE_TIMESTAMP,
                    timestamp,
                    RDKafkaVType::RD_KAFKA_VTYPE_HEADERS,
                    owned.as_ref().map_or(std::ptr::null_mut(), |h| h.0),
                    RDKafkaVType::RD_KAFKA_VTYPE_END,
                )
            };
            match RDKafkaErrorCode::from(err) {
                RDKafkaErrorCode::NoError => {
                    std::mem::forget(owned);
                    return Ok(());
                }
                // The local queue is full: serve deliveries, then retry.
                RDKafkaErrorCode::QueueFull => serve_reports(&self.producer),
                code => {
                    return Err(RuntimeError::Send {
                        topic: topic.to_string(),
                        reason: KafkaError::MessageProduction(code).to_string(),
                    });
                }
            }
        }
    }
}

/// A librdkafka header list, destroyed on drop unless a send took it.
struct NativeHeaders(*mut rdkafka::bindings::rd_kafka_headers_t);

impl NativeHeaders {
    fn of(headers: &Headers) -> Self {
        // SAFETY: a new list, filled with copies of the names and values
        // (`rd_kafka_header_add` copies both).
        unsafe {
            let list = rdkafka::bindings::rd_kafka_headers_new(headers.len());
            for h in headers.iter() {
                let (value, len) = h.value.as_deref().map_or((std::ptr::null(), 0), |v| {
                    (v.as_ptr() as *const std::ffi::c_void, v.len() as isize)
                });
                rdkafka::bindings::rd_kafka_header_add(
                    list,
                    h.key.as_ptr() as *const std::ffi::c_char,
                    h.key.len() as isize,
                    value,
                    len,
                );
            }
            NativeHeaders(list)
        }
    }
}

impl Drop for NativeHeaders {
    fn drop(&mut self) {
        // SAFETY: still owned here (a successful send forgets it).
        unsafe { rdkafka::bindings::rd_kafka_headers_destroy(self.0) };
    }
}

/// librdkafka topic handles, one per topic a collector sends to: sending
/// by handle spares each record a C string of the topic's name and a
/// look-up of the topic under the client's lock.
#[derive(Default)]
struct TopicHandles {
    list: Vec<TopicHandle>,
    /// The last handle used.
    last: usize,
}

struct TopicHandle {
    name: Box<str>,
    rkt: *mut rdkafka::bindings::rd_kafka_topic_t,
    /// The delivery opaque of its records (see `CollectorContext`).
    opaque: usize,
}

impl Drop for TopicHandles {
    fn drop(&mut self) {
        for h in &self.list {
            // SAFETY: created by `rd_kafka_topic_new` and destroyed once,
            // before the client (records still queued hold their own
            // reference to the topic).
            unsafe { rdkafka::bindings::rd_kafka_topic_destroy(h.rkt) };
        }
    }
}

/// Sends every queued record of `producer` at once, `linger.ms`
/// notwithstanding, and waits for their acknowledgements, serving the
/// delivery reports.
///
/// Not rdkafka's `BaseProducer::flush`, for two reasons that made every
/// commit last 100 ms or more:
/// * it polls in slices of up to 100 ms, and a poll serves events until
///   its slice is over, however early the last report arrives;
/// * librdkafka skips the linger only while a call to `rd_kafka_flush` is
///   in progress, and rdkafka calls it with a zero timeout between its
///   polls, too briefly for the broker threads to notice, so the records
///   waited out `linger.ms` (100 ms by default, as in Kafka Streams, whose
///   flush does skip it). The delivery reports are events that only a
///   poll serves, so a blocking `rd_kafka_flush` on the polling thread
///   would wait for itself: a helper thread holds one open instead, while
///   this one serves the reports.
fn drain(producer: &BaseProducer<CollectorContext>, timeout: Duration) -> RuntimeResult<()> {
    if producer.in_flight_count() == 0 {
        return Ok(());
    }
    let native = producer.client().native_ptr() as usize;
    let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
    let deadline = Instant::now() + timeout;
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // SAFETY: the producer outlives the scope, which joins this
            // thread before `drain` returns; `rd_kafka_flush` is
            // thread-safe and, with delivery reports as events, only
            // waits for the count of outstanding records to reach zero.
            unsafe {
                rdkafka::bindings::rd_kafka_flush(native as *mut _, timeout_ms);
            }
        });
        loop {
            serve_reports(producer);
            if producer.in_flight_count() == 0 {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(RuntimeError::client(
                    "flushing the producer",
                    KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut),
                ));
            }
        }
    })
}

/// How long [`serve_reports`] sleeps when no report was waiting.
const REPORT_WAIT: Duration = Duration::from_micros(100);

/// Serves the delivery reports that are waiting, or, if there are none,
/// sleeps [`REPORT_WAIT`] and serves those that came meanwhile.
///
/// Not `BaseProducer::poll` with a timeout: rdkafka polls until the
/// timeout is over and hands librdkafka what remains of it in whole
/// milliseconds, so the last (sub-)millisecond is a loop of non-blocking
/// polls. A 1 ms poll in a loop was a busy loop: waiting for a commit's
/// acknowledgements burnt a core (a fifth of the exactly-once sink's
/// profile), taken from the stream thread and the producer's own network
/// thread. A zero-timeout poll serves one event, which carries a batch of
/// reports.
fn serve_reports(producer: &BaseProducer<CollectorContext>) {
    let before = producer.in_flight_count();
    producer.poll(Duration::ZERO);
    if producer.in_flight_count() == before {
        std::thread::sleep(REPORT_WAIT);
        producer.poll(Duration::ZERO);
    }
}

/// The steps of an exactly-once commit, on whichever thread runs it: wait
/// for the transaction's records to be acknowledged, add the input
/// `offsets`, commit.
fn commit_now(
    producer: &BaseProducer<CollectorContext>,
    offsets: &TopicPartitionList,
    group: &ConsumerGroupMetadata,
    timeout: Duration,
) -> RuntimeResult<()> {
    // rdkafka's commit flushes first too, but waits out `linger.ms`.
    drain(producer, timeout)?;
    if offsets.count() > 0 {
        producer
            .send_offsets_to_transaction(offsets, group, timeout)
            .map_err(classify_txn("sending offsets to the transaction"))?;
    }
    let take_error = || producer.context().state.lock().ok()?.first_error.take();
    if let Err(e) = producer.commit_transaction(timeout) {
        // A failed send fails the commit too; the send's own error
        // decides (Kafka Streams' production-exception handling): a
        // record that cannot be written stops the thread, a timeout
        // corrupts the tasks.
        return Err(match take_error() {
            Some(send @ RuntimeError::Send { .. }) => send,
            _ => classify_txn("committing the transaction")(e),
        });
    }
    match take_error() {
        Some(e) => Err(e),
        None => Ok(()),
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

impl Drop for KafkaCollector {
    fn drop(&mut self) {
        // A commit still running ends before the producer goes.
        if let Some(p) = self.pending.take() {
            let _ = p.handle.join();
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
