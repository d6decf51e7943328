//! An in-memory index of the newest entries of a RocksDB window store that
//! retains duplicates (a stream-stream join's), by record key.
//!
//! A join probes the other side's store once per record: one record key's
//! windows around the record's timestamp, which are almost always the
//! newest ones the store has. Answered by RocksDB, that probe is an
//! iterator refresh and a seek per segment, and it was 40 % of a
//! stream-stream join task's time (`e2e inprocess --workload
//! streamstreamjoin`, `perf record --call-graph dwarf`). This index keeps
//! every entry written through the store since it opened, for as long as
//! the store's retention can still return it, so such a probe becomes a
//! hash lookup and a walk over a handful of entries.
//!
//! It is a read path only: every write still goes to RocksDB first (the
//! changelog, restoration and every other read see what they saw before).
//! It answers a fetch only when it holds every entry the fetch can return:
//! all entries with a start above [`RecentIndex::floor`]. At open the floor
//! is the newest start the databases may already hold, and entries written
//! behind the index's back (restoration) raise it, so an older range is
//! read from RocksDB as before. Its memory is bounded: past its byte budget
//! it drops everything and stops indexing for the life of the store
//! handle, and every probe goes to RocksDB again.

use std::collections::VecDeque;

use rustc_hash::FxHashMap;

use super::WindowEntry;
use crate::state::StoreResult;
use crate::state::cache::LookupKey;

/// Bytes an indexed entry costs beyond its value (start, seqnum, the boxed
/// slice's pointer and length, the deque slot).
const ENTRY_OVERHEAD: usize = 32;
/// Bytes a record key's run costs beyond its key (the map slot and the
/// deque header).
const RUN_OVERHEAD: usize = 64;
/// Entries a new run has room for.
const RUN_SLOTS: usize = 8;
/// Entries inserted between two sweeps, at least: a sweep walks every run,
/// so it waits for as many inserts as the index held after the previous
/// one (amortised constant work per insert).
const MIN_SWEEP_INTERVAL: usize = 1024;
/// Value buffers of swept entries kept for the next inserts, at most, and
/// the longest one kept (together at most 2 MiB beside the budget).
const MAX_SPARES: usize = 4096;
const MAX_SPARE_LEN: usize = 512;

/// One indexed window entry.
struct Indexed {
    start: i64,
    seqnum: u32,
    value: Box<[u8]>,
}

/// The newest entries of a duplicates-retaining window store, by record
/// key (see the module docs).
pub(crate) struct RecentIndex {
    /// Every entry of the store with a start above this is indexed;
    /// `i64::MAX` once the index is off.
    floor: i64,
    /// Keyed inline (most record keys are a few bytes): a lookup compares
    /// the key in the map's own slot instead of behind a pointer, a likely
    /// cache miss and a `memcmp` that were a third of an insert's time.
    runs: FxHashMap<LookupKey, VecDeque<Indexed>>,
    /// Bytes held, as counted by [`ENTRY_OVERHEAD`] and [`RUN_OVERHEAD`].
    bytes: usize,
    budget: usize,
    entries: usize,
    inserts_until_sweep: usize,
    /// Value buffers of swept entries: an insert of a value of the same
    /// length copies into one instead of allocating. A sweep freed
    /// thousands of small buffers at once and the inserts after it
    /// allocated as many again, a fifth of the index's time in the
    /// allocator.
    spares: Vec<Box<[u8]>>,
}

impl std::fmt::Debug for RecentIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentIndex")
            .field("floor", &self.floor)
            .field("keys", &self.runs.len())
            .field("entries", &self.entries)
            .field("bytes", &self.bytes)
            .finish()
    }
}

impl RecentIndex {
    /// An empty index of a store whose databases may hold entries with a
    /// start up to `floor`, holding at most `budget` bytes.
    pub(crate) fn new(floor: i64, budget: usize) -> Self {
        RecentIndex {
            floor,
            runs: FxHashMap::default(),
            bytes: 0,
            budget,
            entries: 0,
            inserts_until_sweep: MIN_SWEEP_INTERVAL,
            spares: Vec::new(),
        }
    }

    /// Entries with a start above this are all indexed (`i64::MAX`: the
    /// index is off).
    #[cfg(test)]
    pub(crate) fn floor(&self) -> i64 {
        self.floor
    }

    /// Whether the index is on (it has not gone over its budget).
    pub(crate) fn is_on(&self) -> bool {
        self.floor != i64::MAX
    }

    /// Whether the index holds every entry with a start at or above
    /// `time_from`.
    pub(crate) fn covers(&self, time_from: i64) -> bool {
        time_from > self.floor
    }

    /// Entries with a start up to `floor` may now be in the databases
    /// without being indexed (they were written around the index): forget
    /// them, and answer only newer ranges from here.
    pub(crate) fn raise_floor(&mut self, floor: i64) {
        if floor <= self.floor {
            return;
        }
        self.floor = floor;
        self.retain(|start| start > floor);
    }

    /// Indexes an entry the store has just written. `live_from` is the
    /// oldest start the store can still return (its stream time minus its
    /// retention, plus one): older entries are dropped by the next sweep.
    pub(crate) fn insert(
        &mut self,
        key: &[u8],
        start: i64,
        seqnum: u32,
        value: &[u8],
        live_from: i64,
    ) {
        if self.floor == i64::MAX {
            return;
        }
        self.bytes += value.len() + ENTRY_OVERHEAD;
        let value = match self.spares.pop() {
            Some(mut spare) if spare.len() == value.len() => {
                spare.copy_from_slice(value);
                spare
            }
            _ => value.into(),
        };
        let entry = Indexed {
            start,
            seqnum,
            value,
        };
        self.entries += 1;
        match self.runs.get_mut(key) {
            Some(run) => run.push_back(entry),
            None => {
                self.bytes += key.len() + RUN_OVERHEAD;
                // Room for several from the start: a key comes back a few
                // times within the index's span, and a run made for one
                // entry reallocated as it grew (1.7 % of the join's task
                // in process). The slack is of the order a doubling deque
                // leaves anyway.
                let mut run = VecDeque::with_capacity(RUN_SLOTS);
                run.push_back(entry);
                self.runs.insert(LookupKey::copied(key), run);
            }
        }
        self.inserts_until_sweep = self.inserts_until_sweep.saturating_sub(1);
        if self.inserts_until_sweep == 0 || self.bytes > self.budget {
            self.retain(|start| start >= live_from);
            self.inserts_until_sweep = self.entries.max(MIN_SWEEP_INTERVAL);
            if self.bytes > self.budget {
                // More live entries than the budget allows: RocksDB
                // answers every probe from now on.
                log::debug!(
                    "window store index over its budget ({} bytes for {} entries): off",
                    self.bytes,
                    self.entries
                );
                self.floor = i64::MAX;
                self.runs = FxHashMap::default();
                self.spares = Vec::new();
                self.bytes = 0;
                self.entries = 0;
            }
        }
    }

    /// Keeps the entries whose start passes `keep`, and the runs that still
    /// have one.
    fn retain(&mut self, keep: impl Fn(i64) -> bool) {
        let (mut bytes, mut entries) = (0, 0);
        let spares = &mut self.spares;
        self.runs.retain(|key, run| {
            run.retain_mut(|e| {
                if keep(e.start) {
                    return true;
                }
                if spares.len() < MAX_SPARES && e.value.len() <= MAX_SPARE_LEN {
                    spares.push(std::mem::take(&mut e.value));
                }
                false
            });
            if run.is_empty() {
                return false;
            }
            bytes += key.as_bytes().len() + RUN_OVERHEAD;
            for e in run.iter() {
                bytes += e.value.len() + ENTRY_OVERHEAD;
            }
            entries += run.len();
            true
        });
        self.bytes = bytes;
        self.entries = entries;
    }

    /// `key`'s entries with a start in `[time_from, time_to]`, in the
    /// order RocksDB lists them (start, then seqnum; newest first when
    /// `!forward`). Only meaningful when [`covers`](Self::covers)
    /// `time_from`.
    pub(crate) fn fetch(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        forward: bool,
    ) -> Vec<WindowEntry> {
        let Some(run) = self.runs.get(key) else {
            return Vec::new();
        };
        let mut out: Vec<WindowEntry> = run
            .iter()
            .filter(|e| e.start >= time_from && e.start <= time_to)
            .map(|e| WindowEntry {
                key: key.to_vec(),
                start: e.start,
                seqnum: e.seqnum,
                value: e.value.to_vec(),
            })
            .collect();
        // Insertion order is already (start, seqnum) order for records that
        // arrive in time order; out-of-order records need the sort. An
        // entry whose (start, seqnum) repeats (the seqnum wrapped) replaced
        // the older one in RocksDB: the later insert wins here too.
        if !out.is_sorted_by_key(|e| (e.start, e.seqnum)) {
            out.sort_by_key(|e| (e.start, e.seqnum));
        }
        if out
            .windows(2)
            .any(|w| (w[0].start, w[0].seqnum) == (w[1].start, w[1].seqnum))
        {
            out.reverse();
            out.dedup_by_key(|e| (e.start, e.seqnum));
            out.reverse();
        }
        if !forward {
            out.reverse();
        }
        out
    }

    /// Hands `key`'s entries with a start in `[time_from, time_to]` to
    /// `visit`, in [`fetch`](Self::fetch)'s order, lending the indexed
    /// values instead of copying them. Only meaningful when
    /// [`covers`](Self::covers) `time_from`.
    pub(crate) fn visit(
        &self,
        key: &[u8],
        time_from: i64,
        time_to: i64,
        forward: bool,
        visit: &mut dyn FnMut(i64, &[u8]) -> StoreResult<()>,
    ) -> StoreResult<()> {
        let Some(run) = self.runs.get(key) else {
            return Ok(());
        };
        let in_range = |e: &&Indexed| e.start >= time_from && e.start <= time_to;
        // Records that arrived in time order (nearly all) left the run in
        // strictly increasing (start, seqnum) order: it is listed as it
        // stands. Anything else takes `fetch`'s sort and deduplication.
        let mut last = None;
        let ordered = run.iter().filter(in_range).all(|e| {
            let at = (e.start, e.seqnum);
            let after = last.is_none_or(|l| l < at);
            last = Some(at);
            after
        });
        if !ordered {
            for e in self.fetch(key, time_from, time_to, forward) {
                visit(e.start, &e.value)?;
            }
        } else if forward {
            for e in run.iter().filter(in_range) {
                visit(e.start, &e.value)?;
            }
        } else {
            for e in run.iter().rev().filter(in_range) {
                visit(e.start, &e.value)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn starts(entries: &[WindowEntry]) -> Vec<(i64, u32, Vec<u8>)> {
        entries
            .iter()
            .map(|e| (e.start, e.seqnum, e.value.clone()))
            .collect()
    }

    #[test]
    fn fetches_one_keys_entries_in_rocksdb_order() {
        let mut index = RecentIndex::new(i64::MIN, 1 << 20);
        index.insert(b"k", 20, 1, b"a", 0);
        index.insert(b"k", 10, 2, b"b", 0);
        index.insert(b"x", 15, 3, b"c", 0);
        index.insert(b"k", 20, 4, b"d", 0);
        index.insert(b"k", 30, 5, b"e", 0);
        assert_eq!(
            starts(&index.fetch(b"k", 10, 20, true)),
            vec![
                (10, 2, b"b".to_vec()),
                (20, 1, b"a".to_vec()),
                (20, 4, b"d".to_vec())
            ]
        );
        assert_eq!(
            starts(&index.fetch(b"k", 11, 30, false)),
            vec![
                (30, 5, b"e".to_vec()),
                (20, 4, b"d".to_vec()),
                (20, 1, b"a".to_vec())
            ]
        );
        assert!(index.fetch(b"y", 0, 100, true).is_empty());
        assert!(index.fetch(b"k", 21, 29, true).is_empty());
    }

    #[test]
    fn a_repeated_seqnum_keeps_the_later_value() {
        let mut index = RecentIndex::new(i64::MIN, 1 << 20);
        index.insert(b"k", 5, 7, b"old", 0);
        index.insert(b"k", 6, 1, b"other", 0);
        index.insert(b"k", 5, 7, b"new", 0);
        assert_eq!(
            starts(&index.fetch(b"k", 0, 10, true)),
            vec![(5, 7, b"new".to_vec()), (6, 1, b"other".to_vec())]
        );
    }

    #[test]
    fn covers_only_starts_above_the_floor_and_raising_it_forgets_older_entries() {
        let mut index = RecentIndex::new(100, 1 << 20);
        assert!(!index.covers(100));
        assert!(index.covers(101));
        index.insert(b"k", 150, 0, b"a", 0);
        index.insert(b"k", 250, 1, b"b", 0);
        index.raise_floor(200);
        assert!(!index.covers(200));
        assert_eq!(
            starts(&index.fetch(b"k", 0, 1000, true)),
            vec![(250, 1, b"b".to_vec())]
        );
        // A lower floor changes nothing.
        index.raise_floor(50);
        assert!(index.covers(201));
    }

    #[test]
    fn sweeps_drop_entries_the_store_can_no_longer_return() {
        let mut index = RecentIndex::new(i64::MIN, 1 << 30);
        for i in 0..MIN_SWEEP_INTERVAL as i64 {
            index.insert(&(i % 7).to_be_bytes(), i, i as u32, b"v", i - 100);
        }
        // The sweep ran at the last insert, with everything before
        // `MIN_SWEEP_INTERVAL - 1 - 100` expired.
        assert_eq!(index.entries, 101);
        assert_eq!(index.runs.len(), 7);
        let kept: usize = (0..7i64)
            .map(|k| index.fetch(&k.to_be_bytes(), 0, i64::MAX, true).len())
            .sum();
        assert_eq!(kept, 101);
    }

    #[test]
    fn over_its_budget_it_turns_itself_off() {
        let mut index = RecentIndex::new(i64::MIN, 1000);
        for i in 0..20 {
            index.insert(b"k", i, i as u32, &[0; 40], 0);
            assert!(index.covers(0), "on while under budget, at {i}");
            if index.bytes > 600 {
                break;
            }
        }
        for i in 20..40 {
            index.insert(b"k", i, i as u32, &[0; 40], 0);
        }
        assert!(!index.covers(i64::MAX - 1));
        assert!(index.runs.is_empty());
        // Later inserts are ignored.
        index.insert(b"k", 99, 99, b"v", 0);
        assert!(index.runs.is_empty());
    }
}
