//! Sliding window aggregation (KIP-450; Kafka Streams'
//! `KStreamSlidingWindowAggregate`).
//!
//! Windows have a fixed length `td` (the time difference) and include both
//! ends. They exist only where records are: a record at `t` owns a left
//! window `[t - td, t]`, and gets a right window `[t + 1, t + 1 + td]` only
//! if a later record falls in it; processing a record may also create the
//! previous record's right window. Records with `t < td` aggregate into the
//! combined window `[0, td]`. The processor keeps its observed stream time;
//! `close time = observed - grace`. A whole record is dropped when
//! `t + td < close time`; a single window update happens iff its
//! `end >= close time`. Null keys and null values are dropped. Each step
//! below follows Kafka Streams' reverse-iteration algorithm, so updates are
//! forwarded in the same order.

use std::collections::HashSet;

use super::aggregate::not_initialized;
use super::window_aggregate::{
    Aggregator, EmitFinal, Initializer, WindowForwarder, emit_final_windows, log_expired,
    log_null_key,
};
use super::{Headers, Processor, ProcessorContext, Record};
use crate::error::StreamsError;
use crate::serde::Change;
use crate::state::{TimestampedWindowStore, ValueAndTimestamp};
use crate::window::{SlidingWindows, Window, Windowed};

/// A window's aggregate as the algorithm carries it: Kafka's
/// `ValueAndTimestamp`, whose value may be the initializer's null.
#[derive(Clone)]
struct Agg<VA> {
    value: Option<VA>,
    timestamp: i64,
}

impl<VA> From<ValueAndTimestamp<VA>> for Agg<VA> {
    fn from(v: ValueAndTimestamp<VA>) -> Self {
        Agg {
            value: Some(v.value),
            timestamp: v.timestamp,
        }
    }
}

/// `KStreamSlidingWindowAggregate`.
pub(crate) struct SlidingWindowAggregate<K, V, VA> {
    pub(crate) store_name: String,
    pub(crate) windows: SlidingWindows,
    pub(crate) initializer: Initializer<VA>,
    pub(crate) aggregator: Aggregator<K, V, VA>,
    pub(crate) emit_on_close: bool,
    pub(crate) send_old_values: bool,
    pub(crate) forwarder: Option<WindowForwarder<K, VA>>,
    pub(crate) observed_stream_time: i64,
    pub(crate) emit: EmitFinal,
}

impl<K, V, VA> SlidingWindowAggregate<K, V, VA> {
    pub(crate) fn new(
        store_name: String,
        windows: SlidingWindows,
        initializer: Initializer<VA>,
        aggregator: Aggregator<K, V, VA>,
        emit_on_close: bool,
        send_old_values: bool,
    ) -> Self {
        SlidingWindowAggregate {
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

/// What one record is processed with.
struct Input<'r, K, V> {
    key: &'r K,
    value: &'r V,
    timestamp: i64,
    headers: &'r Headers,
    close_time: i64,
}

impl<K, V, VA> SlidingWindowAggregate<K, V, VA>
where
    K: Clone + 'static,
    V: 'static,
    VA: Clone + 'static,
{
    fn td(&self) -> i64 {
        self.windows.time_difference_ms()
    }

    fn window(&self, start: i64) -> Window {
        Window::from_valid_bounds(start, start.saturating_add(self.td()))
    }

    fn forwarder(
        &self,
        ctx: &ProcessorContext<'_, Windowed<K>, Change<VA>>,
    ) -> Result<&WindowForwarder<K, VA>, StreamsError> {
        self.forwarder
            .as_ref()
            .ok_or_else(|| not_initialized(ctx.node_name()))
    }

    fn forward_update(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
        window: Window,
        old: Option<VA>,
        new: Option<VA>,
        timestamp: i64,
    ) -> Result<(), StreamsError> {
        if self.emit_on_close {
            return Ok(());
        }
        let old = if self.send_old_values { old } else { None };
        self.forwarder(ctx)?.maybe_forward(ctx, || Record {
            key: Some(Windowed::new(input.key.clone(), window)),
            value: Some(Change::new(new, old)),
            timestamp,
            headers: input.headers.clone(),
        })
    }

    fn put(
        &self,
        ctx: &ProcessorContext<'_, Windowed<K>, Change<VA>>,
        key: &K,
        agg: &Option<VA>,
        timestamp: i64,
        start: i64,
    ) -> Result<(), StreamsError> {
        let store = &self.forwarder(ctx)?.store;
        match agg {
            Some(v) => store.put_value(key, v, timestamp, start)?,
            None => store.put(key, None, start)?,
        }
        Ok(())
    }

    fn update_window_and_forward(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
        window: Window,
        current: Agg<VA>,
    ) -> Result<(), StreamsError> {
        if window.end() >= input.close_time {
            let old_agg = current.value;
            let new_timestamp = if old_agg.is_none() {
                input.timestamp
            } else {
                input.timestamp.max(current.timestamp)
            };
            let old_for_change = if self.send_old_values {
                old_agg.clone()
            } else {
                None
            };
            let new_agg = (self.aggregator)(input.key, Some(input.value), old_agg);
            self.put(ctx, input.key, &new_agg, new_timestamp, window.start())?;
            self.forward_update(ctx, input, window, old_for_change, new_agg, new_timestamp)
        } else {
            log_expired(
                ctx,
                input.timestamp,
                format_args!("[{},{}]", window.start(), window.end()),
                input.close_time,
                self.observed_stream_time,
            );
            Ok(())
        }
    }

    fn create_current_record_right_window(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
        right: Agg<VA>,
    ) -> Result<(), StreamsError> {
        let window = self.window(input.timestamp + 1);
        self.put(
            ctx,
            input.key,
            &right.value,
            right.timestamp,
            window.start(),
        )?;
        self.forward_update(ctx, input, window, None, right.value, right.timestamp)
    }

    fn create_previous_record_right_window(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
        start: i64,
    ) -> Result<(), StreamsError> {
        let agg = Agg {
            value: (self.initializer)(),
            timestamp: input.timestamp,
        };
        self.update_window_and_forward(ctx, input, self.window(start), agg)
    }

    fn process_reverse(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
    ) -> Result<(), StreamsError> {
        let ts = input.timestamp;
        let td = self.td();
        let mut window_start_times = HashSet::new();
        let mut left_win_agg: Option<Agg<VA>> = None;
        let mut right_win_agg: Option<Agg<VA>> = None;
        let mut left_win_already_created = false;
        let mut right_win_already_created = false;
        let mut previous_record_timestamp: Option<i64> = None;

        let existing = self.forwarder(ctx)?.store.backward_fetch_key_range(
            Some(input.key),
            Some(input.key),
            ts.saturating_sub(2 * td).max(0),
            ts + 1,
        )?;
        for (windowed, value) in existing {
            let start_time = windowed.window.start();
            window_start_times.insert(start_time);
            let end_time = start_time + td;
            let window_max_record_timestamp = value.timestamp;
            if start_time == ts + 1 {
                right_win_already_created = true;
            } else if end_time > ts {
                if right_win_agg.is_none() {
                    right_win_agg = Some(value.clone().into());
                }
                self.update_window_and_forward(ctx, input, windowed.window, value.into())?;
            } else if end_time == ts {
                left_win_already_created = true;
                self.update_window_and_forward(ctx, input, windowed.window, value.into())?;
                if window_max_record_timestamp < ts {
                    previous_record_timestamp = Some(window_max_record_timestamp);
                } else {
                    return Ok(());
                }
            } else {
                // end_time < ts: the latest window before this record.
                left_win_agg = Some(value.into());
                previous_record_timestamp = Some(window_max_record_timestamp);
                break;
            }
        }
        self.create_windows(
            ctx,
            input,
            &window_start_times,
            right_win_agg,
            left_win_agg,
            left_win_already_created,
            right_win_already_created,
            previous_record_timestamp,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn create_windows(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
        window_start_times: &HashSet<i64>,
        right_win_agg: Option<Agg<VA>>,
        left_win_agg: Option<Agg<VA>>,
        left_win_already_created: bool,
        right_win_already_created: bool,
        previous_record_timestamp: Option<i64>,
    ) -> Result<(), StreamsError> {
        let ts = input.timestamp;
        let td = self.td();
        if let Some(previous) = previous_record_timestamp {
            let previous_right_start = previous + 1;
            if !window_start_times.contains(&previous_right_start)
                && previous_right_start + td >= ts
            {
                self.create_previous_record_right_window(ctx, input, previous_right_start)?;
            }
        }
        if !left_win_already_created {
            let left_not_empty = previous_record_timestamp.is_some_and(|p| ts - td <= p);
            let value = match (left_not_empty, left_win_agg) {
                (true, Some(left)) => left.value,
                _ => (self.initializer)(),
            };
            let agg = Agg {
                value,
                timestamp: ts,
            };
            self.update_window_and_forward(
                ctx,
                input,
                Window::from_valid_bounds(ts - td, ts),
                agg,
            )?;
        }
        if !right_win_already_created
            && let Some(right) = right_win_agg.filter(|r| r.timestamp > ts)
        {
            self.create_current_record_right_window(ctx, input, right)?;
        }
        Ok(())
    }

    /// A record with `t < td`: its left window would start before 0, so it
    /// aggregates into the combined window `[0, td]`.
    fn process_early(
        &self,
        ctx: &mut ProcessorContext<'_, Windowed<K>, Change<VA>>,
        input: &Input<'_, K, V>,
    ) -> Result<(), StreamsError> {
        let ts = input.timestamp;
        let mut combined: Option<(Window, Agg<VA>)> = None;
        let mut right_win_agg: Option<Agg<VA>> = None;
        let mut right_win_already_created = false;
        let mut window_start_times = HashSet::new();
        let mut previous_record_timestamp: Option<i64> = None;

        let existing = self.forwarder(ctx)?.store.fetch_key_range(
            Some(input.key),
            Some(input.key),
            0,
            ts + 1,
        )?;
        for (windowed, value) in existing {
            let start_time = windowed.window.start();
            window_start_times.insert(start_time);
            let window_max_record_timestamp = value.timestamp;
            if start_time == 0 {
                if window_max_record_timestamp < ts {
                    previous_record_timestamp = Some(window_max_record_timestamp);
                }
                combined = Some((windowed.window, value.into()));
            } else if start_time <= ts {
                right_win_agg = Some(value.clone().into());
                self.update_window_and_forward(ctx, input, windowed.window, value.into())?;
            } else {
                // start_time == ts + 1
                right_win_already_created = true;
            }
        }

        if right_win_agg.is_none()
            && let Some((_, c)) = &combined
            && c.timestamp > ts
        {
            right_win_agg = Some(c.clone());
        }
        if !right_win_already_created
            && let Some(right) = right_win_agg.filter(|r| r.timestamp > ts)
        {
            self.create_current_record_right_window(ctx, input, right)?;
        }
        if let Some(previous) = previous_record_timestamp
            && !window_start_times.contains(&(previous + 1))
        {
            self.create_previous_record_right_window(ctx, input, previous + 1)?;
        }
        match combined {
            None => {
                let agg = Agg {
                    value: (self.initializer)(),
                    timestamp: ts,
                };
                self.update_window_and_forward(ctx, input, self.window(0), agg)
            }
            Some((window, agg)) => self.update_window_and_forward(ctx, input, window, agg),
        }
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
        let td = self.td();
        let upper = close_time.saturating_sub(td).saturating_sub(1);
        if upper < 0 {
            return Ok(());
        }
        let last = self.emit.last_emit_close_time;
        let lower = if last == -1 {
            0
        } else {
            last.saturating_sub(td).max(0)
        };
        let entries = self.forwarder(ctx)?.store.fetch_all(lower, upper)?;
        emit_final_windows(ctx, entries, headers)?;
        self.emit.last_emit_close_time = close_time;
        Ok(())
    }
}

impl<K, V, VA> Processor<K, V, Windowed<K>, Change<VA>> for SlidingWindowAggregate<K, V, VA>
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
        let (Some(key), Some(value)) = (record.key.as_ref(), record.value.as_ref()) else {
            if record.key.is_none() {
                log_null_key(ctx);
            } else {
                log::warn!("Skipping record due to null value.");
            }
            ctx.metrics().dropped_records += 1;
            return Ok(());
        };
        let timestamp = record.timestamp;
        self.observed_stream_time = self.observed_stream_time.max(timestamp);
        let close_time = self
            .observed_stream_time
            .saturating_sub(self.windows.grace_ms());
        let td = self.td();
        let window_end = timestamp.saturating_add(td);
        if window_end < close_time {
            log_expired(
                ctx,
                timestamp,
                format_args!("[{timestamp},{window_end}]"),
                close_time,
                self.observed_stream_time,
            );
            return Ok(());
        }
        let input = Input {
            key,
            value,
            timestamp,
            headers: &record.headers,
            close_time,
        };
        self.forwarder(ctx)?.begin_record(ctx, &record.headers)?;
        if timestamp < td {
            // As Kafka Streams, an early record does not trigger emit-final.
            return self.process_early(ctx, &input);
        }
        self.process_reverse(ctx, &input)?;
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
