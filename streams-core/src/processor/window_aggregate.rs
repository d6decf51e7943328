//! Tumbling and hopping window aggregation (Kafka Streams'
//! `KStreamWindowAggregate`), and what the windowed aggregations share: the
//! cache-aware forwarding of window updates and the emit-on-window-close
//! throttle.
//!
//! Semantics, as Kafka Streams:
//! * the processor keeps its own observed stream time (the largest record
//!   timestamp it has seen); `close time = observed stream time - grace`;
//! * each window of the record (`TimeWindows::windows_for`) is updated only
//!   if `window end > close time`, so one late record can update some of its
//!   windows and be dropped (and counted in `dropped_records`) for others;
//! * the aggregate's timestamp is `max(record ts, previous aggregate ts)`;
//! * a null key is dropped; a null value is *not*: the aggregator sees it
//!   (as `None`), so `count` counts it, as in Kafka Streams;
//! * on window update (the default), each update is forwarded, through the
//!   store's cache when it has one; on window close, a window is forwarded
//!   once, with its final aggregate and timestamp, when stream time passes
//!   its end plus grace (throttled by the task's emit interval, 0 in the
//!   test driver).

use std::sync::Arc;

use super::aggregate::{forward_with_context, not_initialized, with_old_value_if};
use super::{Headers, Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::{TimestampedWindowStore, ValueAndTimestamp};
use crate::window::{TimeWindows, Window, Windowed};

/// The initial aggregate of a new window (`None`: Kafka's `null`, which
/// `reduce` uses).
pub(crate) type Initializer<VA> = Arc<dyn Fn() -> Option<VA> + Send + Sync>;

/// Folds a record value (`None` for a null value) into an aggregate (`None`
/// when there is none yet); returns the new aggregate (`None` deletes the
/// window, as Kafka Streams stores a null aggregate).
pub(crate) type Aggregator<K, V, VA> =
    Arc<dyn Fn(&K, Option<&V>, Option<VA>) -> Option<VA> + Send + Sync>;

/// Forwards the updates of a timestamped window store as `Change`s: at once
/// without a cache, else what the cache writes down (Kafka Streams'
/// `TimestampedTupleForwarder` with `TimestampedCacheFlushListener`).
pub(crate) struct WindowForwarder<K, VA> {
    pub(crate) store: TimestampedWindowStore<K, VA>,
    pub(crate) send_old_values: bool,
    /// Whether updates go through the cache (false for emit-on-close,
    /// which forwards directly whatever the store is).
    pub(crate) via_cache: bool,
    /// Whether anything is downstream: without, a cached store keeps no
    /// reports and the task's store flush writes the cache down.
    has_children: bool,
}

impl<K: Clone + 'static, VA: Clone + 'static> WindowForwarder<K, VA> {
    pub(crate) fn new(
        store: TimestampedWindowStore<K, VA>,
        send_old_values: bool,
        emit_on_close: bool,
        has_children: bool,
    ) -> Self {
        let via_cache = !emit_on_close && store.is_cached();
        if via_cache {
            // As for key-value stores (`ChangeForwarder::new`): read what a
            // write-down replaces only when it is sent on, and keep reports
            // only for a downstream. At init nothing else holds the store,
            // so this cannot meet a busy borrow.
            let _ = store.set_read_old_values(send_old_values && has_children);
            let _ = store.set_retained_reports(has_children);
        }
        WindowForwarder {
            store,
            send_old_values,
            via_cache,
            has_children,
        }
    }

    /// Whether cache write-downs are forwarded.
    fn reports(&self) -> bool {
        self.via_cache && self.has_children
    }

    /// Before a record's writes: the cache stamps the entries they write
    /// with the record's context (`headers` are the record's), which their
    /// write-down forwards.
    pub(crate) fn begin_record(
        &self,
        ctx: &ProcessorContext<'_, Windowed<K>, Change<VA>>,
        headers: &Headers,
    ) -> Result<(), StreamsError> {
        if self.reports() {
            self.store
                .set_record_context(ctx.record_metadata(), headers)?;
        }
        Ok(())
    }

    /// Forwards an update: with a cache, what the cache evicted (the
    /// update itself goes on when its entry is written down; `record` is
    /// not built), else `record()` at once.
    pub(crate) fn maybe_forward(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        record: impl FnOnce() -> Record<Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        if self.via_cache {
            if !self.has_children {
                return Ok(());
            }
            let evicted = self.store.take_evicted()?;
            return self.forward_flushed(ctx, evicted);
        }
        ctx.forward(with_old_value_if(record(), self.send_old_values))
    }

    pub(crate) fn flush(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        if self.reports() {
            let flushed = self.store.flush_cache()?;
            self.forward_flushed(ctx, flushed)?;
        }
        Ok(())
    }

    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        entries: Vec<crate::state::window::WindowTypedFlush<K, VA>>,
    ) -> Result<(), StreamsError> {
        for entry in entries {
            if entry.new.is_none() && entry.old.is_none() {
                continue;
            }
            let timestamp = entry.new.as_ref().map_or(entry.timestamp, |n| n.timestamp);
            let old = if self.send_old_values {
                entry.old.map(|o| o.value)
            } else {
                None
            };
            let change = Change::new(entry.new.map(|n| n.value), old);
            let record = Record::new(Some(entry.key), Some(change), timestamp);
            forward_with_context(ctx, entry.context, record)?;
        }
        Ok(())
    }
}

/// The emit-on-window-close state of a windowed aggregation: the close time
/// of the last emission and the wall-clock throttle (Kafka Streams'
/// `lastEmitWindowCloseTime` and `TimeTracker`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct EmitFinal {
    pub(crate) last_emit_close_time: i64,
    next_time_to_emit: i64,
}

impl Default for EmitFinal {
    fn default() -> Self {
        EmitFinal {
            last_emit_close_time: -1,
            next_time_to_emit: 0,
        }
    }
}

impl EmitFinal {
    /// Whether to look for closed windows now: not before the throttle
    /// allows (the next allowed time moves one emit interval past now), and
    /// only once the close time has moved on.
    pub(crate) fn should_emit<K, V>(
        &mut self,
        ctx: &ProcessorContext<'_, K, V>,
        close_time: i64,
    ) -> bool {
        let now = ctx.current_system_time_ms();
        if now < self.next_time_to_emit {
            return false;
        }
        self.next_time_to_emit = now.saturating_add(ctx.emit_interval_ms());
        self.last_emit_close_time == -1 || self.last_emit_close_time < close_time
    }
}

/// Forwards final results `entries` (emit on window close): each window's
/// aggregate with its own timestamp and the triggering record's headers.
pub(crate) fn emit_final_windows<K: Clone + 'static, VA: Clone + 'static>(
    ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    entries: Vec<(Windowed<K>, ValueAndTimestamp<VA>)>,
    headers: &Headers,
) -> Result<(), StreamsError> {
    for (key, vat) in entries {
        let record = Record {
            key: Some(key),
            value: Some(Change::new(Some(vat.value), None)),
            timestamp: vat.timestamp,
            headers: headers.clone(),
        };
        ctx.forward(record)?;
    }
    Ok(())
}

/// `KStreamWindowAggregate`.
pub(crate) struct TimeWindowAggregate<K, V, VA> {
    pub(crate) store_name: String,
    pub(crate) windows: TimeWindows,
    pub(crate) initializer: Initializer<VA>,
    pub(crate) aggregator: Aggregator<K, V, VA>,
    pub(crate) emit_on_close: bool,
    pub(crate) send_old_values: bool,
    pub(crate) forwarder: Option<WindowForwarder<K, VA>>,
    pub(crate) observed_stream_time: i64,
    pub(crate) emit: EmitFinal,
}

impl<K, V, VA> TimeWindowAggregate<K, V, VA> {
    pub(crate) fn new(
        store_name: String,
        windows: TimeWindows,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
        emit_on_close: bool,
        send_old_values: bool,
    ) -> Self {
        TimeWindowAggregate {
            store_name,
            windows,
            initializer,
            aggregator,
            emit_on_close,
            send_old_values,
            forwarder: None,
            observed_stream_time: -1,
            emit: EmitFinal::default(),
        }
    }
}

impl<K, V, VA> TimeWindowAggregate<K, V, VA>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
{
    fn maybe_forward_final_result(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        headers: &Headers,
        close_time: i64,
    ) -> Result<(), StreamsError> {
        if !self.emit_on_close || !self.emit.should_emit(ctx, close_time) {
            return Ok(());
        }
        let size = self.windows.size_ms();
        let upper = close_time.saturating_sub(size);
        if upper < 0 {
            return Ok(());
        }
        let last = self.emit.last_emit_close_time;
        // Window ends are exclusive: a window ending exactly at the last
        // close time was emitted then, hence the + 1.
        let lower = if last == -1 {
            0
        } else {
            last.saturating_sub(size).max(0) + 1
        };
        if last != -1 {
            let closing: Vec<Window> = self.windows.windows_for(upper).collect();
            let emitted: Vec<Window> = self.windows.windows_for(lower - 1).collect();
            if closing == emitted {
                return Ok(());
            }
        }
        let forwarder = self
            .forwarder
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))?;
        let entries = forwarder.store.fetch_all(lower, upper)?;
        emit_final_windows(ctx, entries, headers)?;
        self.emit.last_emit_close_time = close_time;
        Ok(())
    }
}

impl<K, V, VA> Processor<K, V, Windowed<K>, Change<VA>> for TimeWindowAggregate<K, V, VA>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
{
    // Passes headers on without looking at them.
    fn uses_headers(&self) -> bool {
        false
    }
    fn init(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        let store = ctx.get_state_store::<TimestampedWindowStore<K, VA>>(&self.store_name)?;
        self.forwarder = Some(WindowForwarder::new(
            store,
            self.send_old_values,
            self.emit_on_close,
            ctx.has_children(),
        ));
        Ok(())
    }

    fn process(
        &mut self,
        record: Record<K, V>,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        let Some(key) = record.key.as_ref() else {
            log_null_key(ctx);
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let timestamp = record.timestamp;
        self.observed_stream_time = self.observed_stream_time.max(timestamp);
        let close_time = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms());
        let forwarder = self
            .forwarder
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))?;
        forwarder.begin_record(ctx, &record.headers)?;
        for window in self.windows.windows_for(timestamp) {
            if window.end() > close_time {
                let (old_agg, new_timestamp) = match forwarder.store.fetch(key, window.start())? {
                    Some(old) => (Some(old.value), timestamp.max(old.timestamp)),
                    None => ((self.initializer)(), timestamp),
                };
                let old_for_change = if self.send_old_values {
                    old_agg.clone()
                } else {
                    None
                };
                let new_agg = (self.aggregator)(key, record.value.as_ref(), old_agg);
                match &new_agg {
                    Some(agg) => {
                        forwarder
                            .store
                            .put_value(key, agg, new_timestamp, window.start())?
                    }
                    None => forwarder.store.put(key, None, window.start())?,
                }
                if !self.emit_on_close {
                    forwarder.maybe_forward(ctx, || Record {
                        key: Some(Windowed::new(key.clone(), window)),
                        value: Some(Change::new(new_agg, old_for_change)),
                        timestamp: new_timestamp,
                        headers: record.headers.clone(),
                    })?;
                }
            } else {
                log_expired(
                    ctx,
                    timestamp,
                    format_args!("[{},{})", window.start(), window.end()),
                    close_time,
                    self.observed_stream_time,
                );
            }
        }
        self.maybe_forward_final_result(ctx, &record.headers, close_time)
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        match &self.forwarder {
            Some(f) => f.flush(ctx),
            None => Ok(()),
        }
    }
}

pub(crate) fn log_null_key<K, V>(ctx: &ProcessorContext<'_, K, V>) {
    match ctx.record_metadata() {
        Some(m) => log::warn!(
            "Skipping record due to null key. topic=[{}] partition=[{}] offset=[{}]",
            m.topic,
            m.partition,
            m.offset
        ),
        None => {
            log::warn!("Skipping record due to null key. Topic, partition, and offset not known.")
        }
    }
}

/// Logs a record skipped for an expired window and counts it as dropped.
///
/// `window` is formatted only when the warning is logged: skipped records
/// can be a large share of a stream (yahoo's, for one), and building the
/// text for a filtered-out log line was 2 % of its stream thread.
pub(crate) fn log_expired<K, V>(
    ctx: &mut ProcessorContext<'_, K, V>,
    timestamp: i64,
    window: std::fmt::Arguments<'_>,
    expiration: i64,
    stream_time: i64,
) {
    match ctx.record_metadata() {
        Some(m) => log::warn!(
            "Skipping record for expired window. topic=[{}] partition=[{}] offset=[{}] timestamp=[{timestamp}] \
             window={window} expiration=[{expiration}] streamTime=[{stream_time}]",
            m.topic,
            m.partition,
            m.offset
        ),
        None => log::warn!(
            "Skipping record for expired window. Topic, partition, and offset not known. \
             timestamp=[{timestamp}] window={window} expiration=[{expiration}] streamTime=[{stream_time}]"
        ),
    }
    ctx.metrics().dropped_records += 1;
}
