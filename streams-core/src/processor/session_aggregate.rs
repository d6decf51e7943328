//! Session window aggregation (Kafka Streams' `KStreamSessionWindowAggregate`).
//!
//! A record at `t` merges with every session of its key that ends at or
//! after `t - gap` and starts at or before `t + gap` (the gap is
//! inclusive). The merged session spans all of them and the record; its
//! aggregate is `merger(initializer, each old aggregate...)` followed by the
//! aggregator on the record's value (which may be null: `count` counts it).
//! Each replaced session is removed and a tombstone is forwarded for it
//! (timestamp = its end); then the merged session is stored and forwarded
//! with timestamp = its end. `close time = observed stream time - grace -
//! gap`; a record whose merged session ends before it is dropped. A null key
//! is dropped. With emit on window close, sessions ending at or before
//! `close time - 1` are forwarded once instead.

use std::sync::Arc;

use super::aggregate::{forward_with_context, not_initialized};
use super::window_aggregate::{Aggregator, EmitFinal, Initializer, log_expired, log_null_key};
use super::{Headers, Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::SessionStore;
use crate::state::session::SessionTypedFlush;
use crate::window::{SessionWindows, Window, Windowed};

/// Merges two session aggregates: `(key, aggregate so far (None: the
/// initializer's null), aggregate of a session being merged)`.
pub(crate) type Merger<K, VA> = Arc<dyn Fn(&K, Option<VA>, VA) -> Option<VA> + Send + Sync>;

/// `KStreamSessionWindowAggregate`.
pub(crate) struct SessionWindowAggregate<K, V, VA> {
    pub(crate) store_name: String,
    pub(crate) windows: SessionWindows,
    pub(crate) initializer: Initializer<VA>,
    pub(crate) aggregator: Aggregator<K, V, VA>,
    pub(crate) merger: Merger<K, VA>,
    pub(crate) emit_on_close: bool,
    pub(crate) send_old_values: bool,
    pub(crate) store: Option<SessionStore<K, VA>>,
    pub(crate) via_cache: bool,
    pub(crate) observed_stream_time: i64,
    pub(crate) emit: EmitFinal,
}

impl<K, V, VA> SessionWindowAggregate<K, V, VA> {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        store_name: String,
        windows: SessionWindows,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
        merger: Merger<K, VA>,
        emit_on_close: bool,
        send_old_values: bool,
    ) -> Self {
        SessionWindowAggregate {
            store_name,
            windows,
            initializer,
            aggregator,
            merger,
            emit_on_close,
            send_old_values,
            store: None,
            via_cache: false,
            observed_stream_time: -1,
            emit: EmitFinal::default(),
        }
    }
}

impl<K, V, VA> SessionWindowAggregate<K, V, VA>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
{
    fn store(
        &self,
        ctx: &ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<&SessionStore<K, VA>, StreamsError> {
        self.store
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))
    }

    /// Forwards a session update (at once, with the headers of the record
    /// behind it, without a cache; else what the cache evicted); the
    /// timestamp is the session end.
    fn maybe_forward_update(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        key: Windowed<K>,
        old: Option<VA>,
        new: Option<VA>,
        headers: &Headers,
    ) -> Result<(), StreamsError> {
        if self.emit_on_close {
            return Ok(());
        }
        if self.via_cache {
            let evicted = self.store(ctx)?.take_evicted()?;
            return self.forward_flushed(ctx, evicted);
        }
        let timestamp = key.window.end();
        let old = if self.send_old_values { old } else { None };
        ctx.forward(
            Record::new(Some(key), Some(Change::new(new, old)), timestamp)
                .with_headers(headers.clone()),
        )
    }

    fn forward_flushed(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        entries: Vec<SessionTypedFlush<K, VA>>,
    ) -> Result<(), StreamsError> {
        for entry in entries {
            if entry.new.is_none() && entry.old.is_none() {
                continue;
            }
            // Kafka's SessionCacheFlushListener stamps the session end.
            let timestamp = entry.key.window.end();
            let old = if self.send_old_values {
                entry.old
            } else {
                None
            };
            let record = Record::new(
                Some(entry.key),
                Some(Change::new(entry.new, old)),
                timestamp,
            );
            forward_with_context(ctx, entry.context, record)?;
        }
        Ok(())
    }

    fn maybe_forward_final_result(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        headers: &Headers,
        close_time: i64,
    ) -> Result<(), StreamsError> {
        if !self.emit_on_close || !self.emit.should_emit(ctx, close_time) {
            return Ok(());
        }
        let upper = close_time.saturating_sub(1);
        if upper < 0 {
            return Ok(());
        }
        let lower = self.emit.last_emit_close_time.max(0);
        if upper >= lower {
            let sessions = self.store(ctx)?.find_sessions_by_end(lower, upper)?;
            for (key, value) in sessions {
                let timestamp = key.window.end();
                let record = Record {
                    key: Some(key),
                    value: Some(Change::new(Some(value), None)),
                    timestamp,
                    headers: headers.clone(),
                };
                ctx.forward(record)?;
            }
            self.emit.last_emit_close_time = close_time;
        }
        Ok(())
    }
}

impl<K, V, VA> Processor<K, V, Windowed<K>, Change<VA>> for SessionWindowAggregate<K, V, VA>
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
        let store = ctx.get_state_store::<SessionStore<K, VA>>(&self.store_name)?;
        // With nothing downstream, updates "go on" at once to no one, and
        // the cache keeps no reports (the task's store flush writes it
        // down); it keeps them exactly when they are forwarded from it.
        self.via_cache = !self.emit_on_close && store.is_cached() && ctx.has_children();
        store.set_retained_reports(self.via_cache)?;
        self.store = Some(store);
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
        let gap = self.windows.inactivity_gap_ms();
        self.observed_stream_time = self.observed_stream_time.max(timestamp);
        let close_time = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms())
            .saturating_sub(gap);

        if self.via_cache {
            // The cache stamps the entries this record writes with its
            // context, which their write-down forwards.
            self.store(ctx)?
                .set_record_context(ctx.record_metadata(), &record.headers)?;
        }
        let merged = self.store(ctx)?.find_sessions(
            key,
            timestamp.saturating_sub(gap),
            timestamp.saturating_add(gap),
        )?;
        let new_session = (timestamp, timestamp);
        let mut merged_window = new_session;
        let mut agg = (self.initializer)();
        for (session, value) in &merged {
            agg = (self.merger)(key, agg, value.clone());
            merged_window = (
                merged_window.0.min(session.window.start()),
                merged_window.1.max(session.window.end()),
            );
        }

        if merged_window.1 < close_time {
            log_expired(
                ctx,
                timestamp,
                format_args!("[{},{}]", merged_window.0, merged_window.1),
                close_time,
                self.observed_stream_time,
            );
        } else {
            if merged_window != new_session {
                for (session, value) in merged {
                    self.store(ctx)?.remove(&session)?;
                    self.maybe_forward_update(ctx, session, Some(value), None, &record.headers)?;
                }
            }
            let agg = (self.aggregator)(key, record.value.as_ref(), agg);
            let session_key = Windowed::new(
                key.clone(),
                Window::from_valid_bounds(merged_window.0, merged_window.1),
            );
            self.store(ctx)?.put(&session_key, agg.as_ref())?;
            self.maybe_forward_update(ctx, session_key, None, agg, &record.headers)?;
        }
        self.maybe_forward_final_result(ctx, &record.headers, close_time)
    }

    fn flush(
        &mut self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<(), StreamsError> {
        if self.via_cache {
            let flushed = self.store(ctx)?.flush_cache()?;
            self.forward_flushed(ctx, flushed)?;
        }
        Ok(())
    }
}
