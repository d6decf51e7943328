//! The in-memory window byte store (Kafka Streams' `InMemoryWindowStore`).
//!
//! Entries sit in a map from window start to a map from key bytes to value,
//! so every multi-key read lists windows by start time first. When the store
//! retains duplicates, each stored key carries a 4-byte seqnum suffix so
//! that repeated puts of one key and window are all kept.

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{
    WINDOW_SEQNUM_SIZE, WindowBytesStore, WindowEntry, WindowOrder, key_in_range,
    split_window_store_key,
};
use crate::state::{StateStore, StoreError, StoreResult, TimestampedBytesWrite};

/// A window byte store held in memory; restored in full from its changelog.
#[derive(Debug)]
pub struct InMemoryWindowStore {
    name: String,
    retention_ms: i64,
    window_size_ms: i64,
    retain_duplicates: bool,
    segments: BTreeMap<i64, BTreeMap<Vec<u8>, Vec<u8>>>,
    seqnum: u32,
    observed_stream_time: i64,
    open: bool,
}

impl InMemoryWindowStore {
    /// An empty, open store.
    pub fn new(
        name: impl Into<String>,
        retention_ms: i64,
        window_size_ms: i64,
        retain_duplicates: bool,
    ) -> Self {
        InMemoryWindowStore {
            name: name.into(),
            retention_ms,
            window_size_ms,
            retain_duplicates,
            segments: BTreeMap::new(),
            seqnum: 0,
            observed_stream_time: -1,
            open: true,
        }
    }

    fn check_open(&self) -> StoreResult<()> {
        if self.open {
            Ok(())
        } else {
            Err(StoreError::Closed(self.name.clone()))
        }
    }

    /// The first window start that is still live.
    fn min_live_time(&self) -> i64 {
        self.observed_stream_time
            .saturating_sub(self.retention_ms)
            .saturating_add(1)
    }

    fn remove_expired_segments(&mut self) {
        let min_live = self.min_live_time().max(0);
        self.segments = self.segments.split_off(&min_live);
    }

    fn wrap_for_dups(key: &[u8], seqnum: u32) -> Vec<u8> {
        let mut out = Vec::with_capacity(key.len() + WINDOW_SEQNUM_SIZE);
        out.extend_from_slice(key);
        out.extend_from_slice(&seqnum.to_be_bytes());
        out
    }

    /// Splits a stored key into the record key and its seqnum.
    fn unwrap_key<'a>(&self, stored: &'a [u8]) -> (&'a [u8], u32) {
        if self.retain_duplicates && stored.len() >= WINDOW_SEQNUM_SIZE {
            let (key, seq) = stored.split_at(stored.len() - WINDOW_SEQNUM_SIZE);
            (key, u32::from_be_bytes(seq.try_into().unwrap_or([0; 4])))
        } else {
            (stored, 0)
        }
    }

    fn collect(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> Vec<WindowEntry> {
        let mut out = Vec::new();
        if time_to < time_from {
            return out;
        }
        let lower = key_from.map(|k| {
            if self.retain_duplicates {
                Self::wrap_for_dups(k, 0)
            } else {
                k.to_vec()
            }
        });
        let upper = key_to.map(|k| {
            if self.retain_duplicates {
                Self::wrap_for_dups(k, u32::MAX)
            } else {
                k.to_vec()
            }
        });
        let lower_bound = lower.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let upper_bound = upper.as_deref().map_or(Bound::Unbounded, Bound::Included);
        let mut push_segment = |start: i64, map: &BTreeMap<Vec<u8>, Vec<u8>>| {
            let range = map.range::<[u8], _>((lower_bound, upper_bound));
            let mut emit = |stored: &Vec<u8>, value: &Vec<u8>| {
                let (key, seqnum) = self.unwrap_key(stored);
                if self.retain_duplicates && !key_in_range(key, key_from, key_to) {
                    return;
                }
                out.push(WindowEntry {
                    key: key.to_vec(),
                    start,
                    seqnum,
                    value: value.clone(),
                });
            };
            if forward {
                range.for_each(|(k, v)| emit(k, v));
            } else {
                range.rev().for_each(|(k, v)| emit(k, v));
            }
        };
        let segments = self.segments.range(time_from..=time_to);
        if forward {
            segments.for_each(|(start, map)| push_segment(*start, map));
        } else {
            segments
                .rev()
                .for_each(|(start, map)| push_segment(*start, map));
        }
        out
    }
}

impl StateStore for InMemoryWindowStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn persistent(&self) -> bool {
        false
    }

    fn flush(&mut self) -> StoreResult<()> {
        Ok(())
    }

    fn close(&mut self) -> StoreResult<()> {
        self.segments.clear();
        self.open = false;
        Ok(())
    }
}

impl WindowBytesStore for InMemoryWindowStore {
    fn retention_ms(&self) -> i64 {
        self.retention_ms
    }

    fn window_size_ms(&self) -> i64 {
        self.window_size_ms
    }

    fn retain_duplicates(&self) -> bool {
        self.retain_duplicates
    }

    fn order(&self) -> WindowOrder {
        WindowOrder::TimeFirst
    }

    fn stored_upper(&self) -> i64 {
        // The newest start with a map (maybe an emptied one): still a bound.
        self.segments
            .last_key_value()
            .map_or(i64::MIN, |(&start, _)| start)
    }

    fn put(&mut self, key: &[u8], value: Option<&[u8]>, window_start: i64) -> StoreResult<()> {
        self.check_open()?;
        self.remove_expired_segments();
        self.observed_stream_time = self.observed_stream_time.max(window_start);
        if window_start <= self.observed_stream_time.saturating_sub(self.retention_ms) {
            log::warn!(
                "Skipping record for expired segment. store=[{}] windowStart=[{window_start}]",
                self.name
            );
            return Ok(());
        }
        match value {
            Some(value) => {
                let stored = if self.retain_duplicates {
                    self.seqnum = (self.seqnum + 1) & 0x7FFF_FFFF;
                    Self::wrap_for_dups(key, self.seqnum)
                } else {
                    key.to_vec()
                };
                let segment = self.segments.entry(window_start).or_default();
                match segment.get_mut(&stored) {
                    Some(existing) => {
                        existing.clear();
                        existing.extend_from_slice(value);
                    }
                    None => {
                        segment.insert(stored, value.to_vec());
                    }
                }
            }
            None if !self.retain_duplicates => {
                if let Some(segment) = self.segments.get_mut(&window_start) {
                    segment.remove(key);
                    if segment.is_empty() {
                        self.segments.remove(&window_start);
                    }
                }
            }
            None => {}
        }
        Ok(())
    }

    fn fetch(&self, key: &[u8], window_start: i64) -> StoreResult<Option<Vec<u8>>> {
        self.check_open()?;
        if window_start < self.min_live_time() {
            return Ok(None);
        }
        Ok(self
            .segments
            .get(&window_start)
            .and_then(|segment| segment.get(key))
            .cloned())
    }

    fn fetch_range(
        &self,
        key_from: Option<&[u8]>,
        key_to: Option<&[u8]>,
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> StoreResult<Vec<WindowEntry>> {
        self.check_open()?;
        if let (Some(f), Some(t)) = (key_from, key_to)
            && f > t
        {
            return Ok(Vec::new());
        }
        let min_time = time_from.max(self.min_live_time());
        Ok(self.collect(key_from, key_to, min_time, time_to, forward))
    }

    fn all(&self, forward: bool) -> StoreResult<Vec<WindowEntry>> {
        self.check_open()?;
        Ok(self.collect(None, None, self.min_live_time(), i64::MAX, forward))
    }

    fn restore_all(&mut self, records: &[TimestampedBytesWrite]) -> StoreResult<()> {
        for (store_key, value, _) in records {
            let (key, start, _) = split_window_store_key(store_key).ok_or_else(|| {
                super::bad_key(&self.name, "window changelog key", store_key.len())
            })?;
            let key = key.to_vec();
            self.put(&key, value.as_deref(), start)?;
        }
        Ok(())
    }
}
