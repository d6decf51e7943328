//! The record cache of one store: Kafka Streams' `NamedCache`.
//!
//! Entries live in a slab and are threaded on two intrusive doubly-linked
//! lists: the LRU list (head = most recently used, tail = next to evict) and
//! the dirty list (keys waiting to be written down, in the order of their
//! *latest* write: a re-written key moves to the back, as Kafka's
//! `LinkedHashSet` remove-then-add does). A hash index over the keys serves
//! point lookups, a sorted index range scans and seeks (a B-tree walk costs
//! a key comparison and a likely cache miss per level, and every read and
//! write of a cached store makes one lookup). The sorted index is brought
//! up to date only when a range scan or seek needs it: keys that entered
//! the cache since the last one wait in a list, so a cache read only by
//! point lookups (a windowed aggregation's, whose writes are mostly new
//! windows that are evicted later) never pays for the B-tree. A window
//! cache's sorted index groups its keys by record key instead, each with
//! its windows in a deque (see [`grouped`]). Keys are
//! shared between the indexes and the slot through an `Rc<[u8]>` when they
//! are long, so a new key costs one allocation and an update none (the
//! value buffer is reused when it is large enough); the indexes hold short
//! keys inline (see `LookupKey`).

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};
use std::rc::Rc;

use hashbrown::HashTable;
use rustc_hash::FxBuildHasher;

use super::CachePool;
use super::caching::EntryContext;

mod grouped;

use grouped::Groups;
pub(crate) use grouped::padded_word;

/// Marks the end of a list.
const NIL: usize = usize::MAX;

/// Marks a slot whose key is in the sorted index's B-tree, or a bucket
/// hint that points nowhere.
const NIL32: u32 = u32::MAX;

/// Marks a slot whose key is in one of the sorted index's groups: the
/// group is the rest of `Slot::unsorted_at` (see [`Sorted::Grouped`]).
/// Places in `Keys::unsorted` stay below it.
const IN_GROUP: u32 = 1 << 31;

/// Bytes charged per entry on top of its key and value, after Kafka Streams'
/// estimate: three references of the LRU node (24), the dirty flag (1), and
/// the record context's timestamp (8), offset (8) and partition (4). Kafka
/// also charges the topic name, which the task shares here and is not
/// charged. The headers an entry keeps are charged on top (see
/// `Slot::context_bytes`), as Kafka does, once per entry although the
/// entries one record writes share them: the budget must hold however
/// large the records' headers are.
pub(crate) const ENTRY_OVERHEAD: usize = 24 + 1 + 8 + 8 + 4;

#[derive(Debug)]
struct Slot {
    key: Rc<[u8]>,
    /// `None` is a cached delete (a tombstone hiding the store's value).
    value: Option<Vec<u8>>,
    timestamp: i64,
    dirty: bool,
    /// The bytes of the headers in the entry's kept record context
    /// (saturating; it sits in the padding after `dirty`).
    context_bytes: u32,
    /// The entry's place in `Keys::unsorted`; once it is in the sorted
    /// index, `NIL32` (in its B-tree) or `IN_GROUP` with the group.
    unsorted_at: u32,
    /// Where the hash index last put the entry (a bucket index of
    /// `Keys::lookup`), so that removing it needs neither its key's hash
    /// nor a probe, and the bucket can be prefetched ahead of an eviction
    /// (see [`NamedCache::prefetch_next_victim`]). Only a hint: a resize or
    /// rehash of the index moves entries, and a removal checks the bucket
    /// holds this slot before trusting it. (Both `u32`s share what was one
    /// `usize`, which keeps a slot at 96 bytes.)
    bucket: u32,
    lru_prev: usize,
    lru_next: usize,
    dirty_prev: usize,
    dirty_next: usize,
}

impl Slot {
    /// An entry not linked into the LRU and dirty lists yet.
    fn new(key: Rc<[u8]>, value: Option<Vec<u8>>, write: Write<'_>) -> Self {
        Slot {
            key,
            value,
            timestamp: write.timestamp,
            dirty: write.dirty,
            context_bytes: 0,
            unsorted_at: NIL32,
            bucket: NIL32,
            lru_prev: NIL,
            lru_next: NIL,
            dirty_prev: NIL,
            dirty_next: NIL,
        }
    }

    fn size(&self, uncharged: usize) -> usize {
        self.key.len().saturating_sub(uncharged)
            + self.value.as_ref().map_or(0, Vec::len)
            + self.context_bytes as usize
            + ENTRY_OVERHEAD
    }

    /// The entry's group, if it sits in a grouped index.
    fn group(&self) -> Option<u32> {
        (self.unsorted_at != NIL32 && self.unsorted_at & IN_GROUP != 0)
            .then_some(self.unsorted_at & !IN_GROUP)
    }
}

/// A dirty entry taken out of the cache to be written down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirtyEntry {
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
    pub context: EntryContext,
}

/// A dirty entry as [`NamedCache::drain_dirty`] shows it, borrowed from
/// the cache.
#[derive(Debug)]
pub(crate) struct DirtyRef<'a> {
    pub key: &'a [u8],
    pub value: Option<&'a [u8]>,
    pub timestamp: i64,
    pub context: EntryContext,
}

/// What a [`NamedCache::put`] stamps on its entry besides the value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Write<'a> {
    /// The timestamp of the record behind the write.
    pub timestamp: i64,
    /// That record's context (`None` for a read fill, or for a store whose
    /// owner forwards nothing from its cache).
    pub context: Option<&'a EntryContext>,
    /// Whether the entry must be written down (false for a read-through
    /// fill).
    pub dirty: bool,
}

/// A cached entry as seen by readers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CachedRef<'a> {
    pub value: Option<&'a [u8]>,
}

/// An entry removed from the LRU end. It keeps the slot's shared key:
/// most evictions are of clean entries, which are dropped, and only a
/// dirty one is copied out to be written down ([`into_entry`](Self::into_entry)).
#[derive(Debug)]
pub(crate) struct Evicted {
    pub key: Rc<[u8]>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
    pub context: EntryContext,
    pub dirty: bool,
}

impl Evicted {
    /// The entry as a write-down takes it.
    pub fn into_entry(self) -> DirtyEntry {
        DirtyEntry {
            key: self.key.to_vec(),
            value: self.value,
            timestamp: self.timestamp,
            context: self.context,
        }
    }
}

/// Buffers of evicted entries handed back by the cache's owner
/// ([`NamedCache::recycle`]) for the next new entries: a full cache evicts
/// an entry for each one it takes in, and its key and value allocations
/// (two `malloc`s and two `free`s a record) can be the last one's.
#[derive(Debug, Default)]
struct Spares {
    keys: Vec<Rc<[u8]>>,
    values: Vec<Vec<u8>>,
}

impl Spares {
    /// How many buffers of each kind are kept.
    const KEPT: usize = 8;

    fn key(&mut self, key: &[u8]) -> Rc<[u8]> {
        if let Some(mut spare) = self.keys.pop()
            && let Some(bytes) = Rc::get_mut(&mut spare)
            && bytes.len() == key.len()
        {
            bytes.copy_from_slice(key);
            return spare;
        }
        Rc::from(key)
    }

    fn value(&mut self, value: Option<&[u8]>) -> Option<Vec<u8>> {
        let value = value?;
        match self.values.pop() {
            // Not a buffer much larger than the value: the budget counts
            // the value's bytes, not the buffer's.
            Some(mut buf) if buf.capacity() <= 2 * value.len().max(32) => {
                buf.clear();
                buf.extend_from_slice(value);
                Some(buf)
            }
            _ => Some(value.to_vec()),
        }
    }
}

/// The cache's two indexes over its keys (see the module docs).
#[derive(Debug, Default)]
struct Keys {
    /// Hashed, every key (with its slot): for point lookups. A
    /// `HashTable` rather than a map for its bucket indices (see
    /// `Slot::bucket`). Hashed with [`hash_key`].
    lookup: HashTable<(LookupKey, usize)>,
    /// Set when a removal found an entry away from its bucket hint: the
    /// index has moved its entries, and the next removal re-reads every
    /// hint first.
    stale_hints: bool,
    /// Sorted, for range scans and seeks: every key but those of
    /// `unsorted`, which [`NamedCache::sort_keys`] moves in.
    sorted: Sorted,
    /// The suffix length of a cache made [`NamedCache::grouped`], which
    /// [`NamedCache::clear`] starts over with.
    group_suffix: Option<usize>,
    /// The slots whose keys are not in `index` yet. Until `sort_keys` runs,
    /// a key costs one hash insert to enter and one hash remove to leave,
    /// where a B-tree insert and remove were a third of a windowed count's
    /// time.
    unsorted: Vec<usize>,
    /// The context of the record that last wrote each entry, by slot,
    /// forwarded with the entry when it is written down (Kafka Streams
    /// keeps the record context in each `LRUCacheEntry`). Beside the slots
    /// rather than in them: only writes and write-downs read it, and the
    /// slots, which every read relinks, stay small. Empty in caches whose
    /// writes carry no context.
    contexts: Vec<EntryContext>,
}

/// The sorted index over a cache's keys.
#[derive(Debug)]
enum Sorted {
    /// One B-tree over whole keys. Keyed by [`LookupKey`]: with the bytes
    /// of a short key inside the B-tree's node, a comparison reads no
    /// other memory (behind an `Rc<[u8]>`, each comparison of a walk was a
    /// likely cache miss plus a `memcmp` call).
    Tree(BTreeMap<LookupKey, usize>),
    /// A window cache's keys, all of one length, as groups of a prefix's
    /// suffixes (see [`grouped`]). It turns into a `Tree` for good (until
    /// the cache is cleared) when a key does not fit.
    Grouped(Groups),
}

impl Default for Sorted {
    fn default() -> Self {
        Sorted::Tree(BTreeMap::new())
    }
}

impl Sorted {
    /// Keys in the index.
    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            Sorted::Tree(index) => index.len(),
            Sorted::Grouped(groups) => groups.len(),
        }
    }
}

/// The entries of `index` from `lower` to `upper`. Short bounds are made
/// inline keys first, so that the walk down to the range compares words,
/// as the index's own inserts and removes do, not byte slices through
/// `memcmp` (7 % of `streamprocesswithwindowstore`'s task, whose range
/// reads start with such a walk).
fn range_of<'a, V>(
    index: &'a BTreeMap<LookupKey, V>,
    lower: Bound<&[u8]>,
    upper: Bound<&[u8]>,
) -> std::collections::btree_map::Range<'a, LookupKey, V> {
    fn inline(bound: Bound<&[u8]>) -> Option<Bound<LookupKey>> {
        Some(match bound {
            Bound::Included(key) => Bound::Included(LookupKey::inline(key)?),
            Bound::Excluded(key) => Bound::Excluded(LookupKey::inline(key)?),
            Bound::Unbounded => Bound::Unbounded,
        })
    }
    match (inline(lower), inline(upper)) {
        (Some(from), Some(to)) => index.range::<LookupKey, _>((from.as_ref(), to.as_ref())),
        _ => index.range::<[u8], _>((lower, upper)),
    }
}

/// Moves every grouped key of `keys` into one B-tree, for good.
fn ungroup(keys: &mut Keys, slots: &mut [Option<Slot>]) {
    let Sorted::Grouped(groups) = &keys.sorted else {
        return;
    };
    let mut index = BTreeMap::new();
    for idx in groups.slots() {
        let slot = occupied(slots, idx);
        slot.unsorted_at = NIL32;
        index.insert(LookupKey::new(&slot.key), idx);
    }
    keys.sorted = Sorted::Tree(index);
}

/// A key of the hash index: short keys are copied into the table's own
/// entry, longer ones share the slot's allocation. Most keys are short
/// (an int, a long, a short string), and comparing a lookup with a key
/// behind a pointer costs a memory access that tends to miss the CPU
/// cache (half of a cache lookup's time in the table-table join). Hashed
/// and compared as the bytes they hold, so a `&[u8]` looks them up.
#[derive(Debug, Clone)]
pub(crate) enum LookupKey {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Shared(Rc<[u8]>),
}

/// The longest key [`LookupKey`] holds inline.
const INLINE_KEY: usize = 30;

impl LookupKey {
    /// `key` inline, if it is short enough.
    fn inline(key: &[u8]) -> Option<Self> {
        let len = u8::try_from(key.len())
            .ok()
            .filter(|_| key.len() <= INLINE_KEY)?;
        let mut bytes = [0; INLINE_KEY];
        bytes[..key.len()].copy_from_slice(key);
        Some(LookupKey::Inline { len, bytes })
    }

    /// `key` inline if it is short enough, else in an allocation of its
    /// own.
    pub(crate) fn copied(key: &[u8]) -> Self {
        LookupKey::inline(key).unwrap_or_else(|| LookupKey::Shared(Rc::from(key)))
    }

    fn new(key: &Rc<[u8]>) -> Self {
        match u8::try_from(key.len()) {
            Ok(len) if key.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..key.len()].copy_from_slice(key);
                LookupKey::Inline { len, bytes }
            }
            _ => LookupKey::Shared(Rc::clone(key)),
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            LookupKey::Inline { len, bytes } => &bytes[..usize::from(*len)],
            LookupKey::Shared(key) => key,
        }
    }
}

impl std::borrow::Borrow<[u8]> for LookupKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for LookupKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for LookupKey {}

impl std::hash::Hash for LookupKey {
    /// As the bytes hash, as `Borrow<[u8]>` requires.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Ord for LookupKey {
    /// As the bytes compare (which `Borrow<[u8]>` requires). Two inline
    /// keys compare as big-endian words of their zero-padded bytes,
    /// then by length: where the padded bytes tie, one key is a prefix of
    /// the other (padded with zeros), and the shorter sorts first; where
    /// they differ at or after the shorter key's end, the longer key has
    /// a non-zero byte there, and sorts after its prefix. Either way the
    /// order of the byte strings.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        match (self, other) {
            (LookupKey::Inline { len: a, bytes: x }, LookupKey::Inline { len: b, bytes: y }) => {
                inline_words(x).cmp(&inline_words(y)).then(a.cmp(b))
            }
            _ => self.as_bytes().cmp(other.as_bytes()),
        }
    }
}

impl PartialOrd for LookupKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// The upper bound of a forward walk, as an inline key.
enum WalkEnd {
    Included(LookupKey),
    Excluded(LookupKey),
}

impl WalkEnd {
    /// Whether `key` lies past this bound.
    fn is_before(&self, key: &LookupKey) -> bool {
        match self {
            WalkEnd::Included(end) => key > end,
            WalkEnd::Excluded(end) => key >= end,
        }
    }
}

/// `upper` as a [`WalkEnd`], if it is bounded and short enough to be
/// inline.
fn upper_inline(upper: Bound<&[u8]>) -> Option<WalkEnd> {
    match upper {
        Bound::Included(key) => Some(WalkEnd::Included(LookupKey::inline(key)?)),
        Bound::Excluded(key) => Some(WalkEnd::Excluded(LookupKey::inline(key)?)),
        Bound::Unbounded => None,
    }
}

/// The zero-padded bytes of an inline key as big-endian words, which
/// compare as the bytes do.
fn inline_words(bytes: &[u8; INLINE_KEY]) -> [u64; INLINE_KEY.div_ceil(8)] {
    std::array::from_fn(|i| {
        let from = i * 8;
        let to = (from + 8).min(INLINE_KEY);
        let mut w = [0u8; 8];
        w[..to - from].copy_from_slice(&bytes[from..to]);
        u64::from_be_bytes(w)
    })
}

/// The hash of a key in the hash index: of its bytes, so that a `&[u8]`
/// finds a [`LookupKey`].
fn hash_key(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    FxBuildHasher.hash_one(key)
}

/// `UNCHARGED` leading bytes of every key are left out of the entries'
/// sizes: a window cache prefixes its keys with a segment id to order them,
/// and its budget should still buy as many entries as before. (A type
/// parameter rather than a field, since stores embed the cache by value.)
#[derive(Debug, Default)]
pub(crate) struct NamedCache<const UNCHARGED: usize = 0> {
    /// Boxed: the stores embed the cache by value, and the two maps
    /// inline would make every store enum's cached variant large.
    keys: Box<Keys>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    lru: Lru,
    dirty_head: usize,
    dirty_tail: usize,
    /// Entries on the dirty list.
    dirty_len: usize,
    size_bytes: usize,
    /// The pool this cache's bytes count in, with its thread's other caches.
    pool: Option<CachePool>,
    spares: Spares,
}

impl<const UNCHARGED: usize> NamedCache<UNCHARGED> {
    pub fn new() -> Self {
        NamedCache {
            keys: Box::default(),
            slots: Vec::new(),
            free: Vec::new(),
            lru: Lru::default(),
            dirty_head: NIL,
            dirty_tail: NIL,
            dirty_len: 0,
            size_bytes: 0,
            pool: None,
            spares: Spares::default(),
        }
    }

    /// A cache whose sorted index groups its keys by all but their last
    /// `suffix_len` bytes (at most 12), as long as every key has one
    /// length: a window cache's, whose keys end with a window start and a
    /// seqnum (see [`grouped`] and [`visit_box`](Self::visit_box)).
    pub fn grouped(suffix_len: usize) -> Self {
        let mut cache = Self::new();
        cache.keys.group_suffix = Some(suffix_len.min(grouped::MAX_SUFFIX));
        cache.keys.sorted = Sorted::Grouped(Groups::new(suffix_len));
        cache
    }

    /// Counts this cache's bytes in `pool` from now on.
    pub fn join_pool(&mut self, pool: CachePool) {
        pool.resize(0, self.size_bytes);
        if let Some(old) = self.pool.replace(pool) {
            old.resize(self.size_bytes, 0);
        }
    }

    /// The bytes that count against the budget: the pool's, or this
    /// cache's own without one.
    pub fn budgeted_bytes(&self) -> usize {
        self.pool
            .as_ref()
            .map_or(self.size_bytes, CachePool::used_bytes)
    }

    fn set_size(&mut self, size: usize) {
        if let Some(pool) = &self.pool {
            pool.resize(self.size_bytes, size);
        }
        self.size_bytes = size;
    }

    /// Entries in the cache.
    pub fn len(&self) -> usize {
        self.keys.lookup.len()
    }

    /// Estimated bytes held (see [`ENTRY_OVERHEAD`]).
    pub fn size_bytes(&self) -> usize {
        self.size_bytes
    }

    /// Whether any entry waits to be written down.
    pub fn has_dirty(&self) -> bool {
        self.dirty_head != NIL
    }

    /// Entries waiting to be written down.
    pub fn dirty_len(&self) -> usize {
        self.dirty_len
    }

    fn slot(&self, idx: usize) -> &Slot {
        match self.slots.get(idx) {
            Some(Some(slot)) => slot,
            // The lists and the index only ever hold occupied slots.
            _ => unreachable!("record cache: dangling slot {idx}"),
        }
    }

    fn slot_mut(&mut self, idx: usize) -> &mut Slot {
        match self.slots.get_mut(idx) {
            Some(Some(slot)) => slot,
            _ => unreachable!("record cache: dangling slot {idx}"),
        }
    }

    /// The slot of `key`, if cached.
    fn find(&self, key: &[u8]) -> Option<usize> {
        self.keys
            .lookup
            .find(hash_key(key), |(k, _)| k.as_bytes() == key)
            .map(|&(_, idx)| idx)
    }

    /// Looks `key` up, marking it most recently used.
    pub fn get(&mut self, key: &[u8]) -> Option<CachedRef<'_>> {
        let idx = self.find(key)?;
        self.touch(idx);
        Some(CachedRef {
            value: self.slot(idx).value.as_deref(),
        })
    }

    /// Whether `key` is cached, without touching the LRU order.
    #[cfg(test)]
    pub fn contains(&self, key: &[u8]) -> bool {
        self.find(key).is_some()
    }

    /// Inserts or replaces `key`, marking it most recently used; a dirty
    /// write also moves it to the back of the dirty list.
    pub fn put(&mut self, key: &[u8], value: Option<&[u8]>, write: Write<'_>) {
        // A short key finds and inserts in one probe of the hash index
        // (most windowed writes open a new entry); a long one is looked up
        // first, so that an update allocates nothing.
        let hash = hash_key(key);
        let buckets = self.keys.lookup.num_buckets();
        let (vacant, bucket) = match LookupKey::inline(key) {
            Some(query) => match self.keys.lookup.entry(
                hash,
                |(k, _)| k.as_bytes() == key,
                |(k, _)| hash_key(k.as_bytes()),
            ) {
                hashbrown::hash_table::Entry::Occupied(e) => {
                    let idx = e.get().1;
                    self.update(idx, value, write);
                    return;
                }
                hashbrown::hash_table::Entry::Vacant(e) => {
                    let slot = Slot::new(self.spares.key(key), self.spares.value(value), write);
                    let idx = occupy(&mut self.slots, &mut self.free, slot);
                    (idx, e.insert((query, idx)).bucket_index())
                }
            },
            None => {
                if let Some(idx) = self.find(key) {
                    self.update(idx, value, write);
                    return;
                }
                let key: Rc<[u8]> = Rc::from(key);
                let slot = Slot::new(Rc::clone(&key), self.spares.value(value), write);
                let idx = occupy(&mut self.slots, &mut self.free, slot);
                let entry = self.keys.lookup.insert_unique(
                    hash,
                    (LookupKey::Shared(key), idx),
                    |(k, _)| hash_key(k.as_bytes()),
                );
                (idx, entry.bucket_index())
            }
        };
        if self.keys.lookup.num_buckets() != buckets {
            // The insert grew the index, which moved every entry.
            self.keys.stale_hints = true;
        }
        if self.keys.unsorted.len() >= IN_GROUP as usize {
            // Keeps every place in `unsorted` below `IN_GROUP`.
            self.sort_keys();
        }
        let unsorted_at = self.keys.unsorted.len() as u32;
        self.keys.unsorted.push(vacant);
        let slot = self.slot_mut(vacant);
        slot.unsorted_at = unsorted_at;
        slot.bucket = u32::try_from(bucket).unwrap_or(NIL32);
        let size = slot.size(UNCHARGED);
        self.set_size(self.size_bytes + size);
        self.set_context(vacant, write.context);
        self.lru.push_front(&mut self.slots, vacant);
        if write.dirty {
            self.dirty_push_back(vacant);
        }
    }

    /// Notes `context` as that of the entry in slot `idx`, and charges the
    /// entry for its headers.
    fn set_context(&mut self, idx: usize, context: Option<&EntryContext>) {
        let charge = context.and_then(|c| c.headers.as_deref()).map_or(0, |h| {
            u32::try_from(h.estimated_bytes()).unwrap_or(u32::MAX)
        });
        let slot = self.slot_mut(idx);
        let old = std::mem::replace(&mut slot.context_bytes, charge);
        self.set_size(self.size_bytes - old as usize + charge as usize);
        let Some(new) = context else {
            if let Some(kept) = self.keys.contexts.get_mut(idx) {
                *kept = EntryContext::default();
            }
            return;
        };
        if self.keys.contexts.len() <= idx {
            self.keys
                .contexts
                .resize_with(idx + 1, EntryContext::default);
        }
        self.keys.contexts[idx].copy_from(new);
    }

    /// Moves the keys that entered since the last call into the sorted
    /// index, which range scans and seeks read.
    fn sort_keys(&mut self) {
        if self.keys.unsorted.is_empty() {
            return;
        }
        // Taken while the keys move, then handed back empty: a cache read
        // by range sorts a key or two at a time, and the list keeps its
        // buffer.
        let mut unsorted = std::mem::take(&mut self.keys.unsorted);
        let NamedCache { keys, slots, .. } = self;
        for &idx in &unsorted {
            let slot = occupied(slots, idx);
            if let Sorted::Grouped(groups) = &mut keys.sorted {
                match groups.insert(&slot.key, idx) {
                    Ok(group) if group < IN_GROUP => {
                        slot.unsorted_at = IN_GROUP | group;
                        continue;
                    }
                    Ok(group) => {
                        // Past the tag's range (never in practice): back
                        // out, and into the B-tree with the rest.
                        let key = Rc::clone(&slot.key);
                        groups.remove(&key, idx, group);
                        ungroup(keys, slots);
                    }
                    Err(_) => ungroup(keys, slots),
                }
            }
            let slot = occupied(slots, idx);
            slot.unsorted_at = NIL32;
            if let Sorted::Tree(index) = &mut keys.sorted {
                index.insert(LookupKey::new(&slot.key), idx);
            }
        }
        unsorted.clear();
        self.keys.unsorted = unsorted;
    }

    /// Replaces the value of the cached entry `idx` (see [`put`](Self::put)).
    fn update(&mut self, idx: usize, value: Option<&[u8]>, write: Write<'_>) {
        let dirty = write.dirty;
        let slot = self.slot_mut(idx);
        let old_size = slot.size(UNCHARGED);
        match (&mut slot.value, value) {
            (Some(buf), Some(value)) => {
                buf.clear();
                buf.extend_from_slice(value);
            }
            (slot_value, value) => *slot_value = value.map(<[u8]>::to_vec),
        }
        slot.timestamp = write.timestamp;
        let was_dirty = slot.dirty;
        // A clean write (a read-through fill) never lands on a dirty key:
        // the caller only fills keys it did not find.
        slot.dirty = was_dirty || dirty;
        let new_size = slot.size(UNCHARGED);
        self.set_size(self.size_bytes - old_size + new_size);
        self.set_context(idx, write.context);
        self.touch(idx);
        if dirty {
            if was_dirty {
                self.dirty_unlink(idx);
            }
            self.dirty_push_back(idx);
        }
    }

    /// Removes the least recently used entry.
    pub fn evict(&mut self) -> Option<Evicted> {
        if self.lru.tail == NIL {
            return None;
        }
        let idx = self.lru.tail;
        let context = self
            .keys
            .contexts
            .get_mut(idx)
            .map(std::mem::take)
            .unwrap_or_default();
        let slot = self.remove_slot(idx);
        self.prefetch_next_victim();
        Some(Evicted {
            key: slot.key,
            value: slot.value,
            timestamp: slot.timestamp,
            context,
            dirty: slot.dirty,
        })
    }

    /// Starts loading what the next evictions read. A full cache evicts
    /// once per new entry, and the victim is its least recently used entry:
    /// its key (copied into the evicted entry), its value and context
    /// (freed) and its bucket of the hash index have long left the CPU
    /// cache, and each was a miss the eviction waited for. The next victim is known now,
    /// and its slot is in the CPU cache (the eviction just relinked it), so
    /// those lines load while the record is processed on.
    ///
    /// A grouped index (window caches) adds a chain of two more misses per
    /// victim: its group's deque header, whose buffer pointer then leads to
    /// the deque's front entry. Those are loaded over three evictions, each
    /// stage reading only lines an earlier one loaded: the slot of the
    /// victim after next now (its neighbour's slot was loaded last time),
    /// that slot's group header, and the next victim's front entry, its
    /// header loaded last time. A touch in between that moves one of
    /// these entries off the LRU tail costs a wasted hint, nothing else.
    fn prefetch_next_victim(&self) {
        let Some(Some(next)) = self.slots.get(self.lru.tail) else {
            return;
        };
        if let Some(bucket) = self.keys.lookup.get_bucket(next.bucket as usize) {
            crate::hint::prefetch(bucket);
        }
        crate::hint::prefetch(next.key.as_ptr());
        if let Some(value) = &next.value {
            crate::hint::prefetch(value.as_ptr());
        }
        if let Some(context) = self.keys.contexts.get(self.lru.tail) {
            crate::hint::prefetch(context);
        }
        let Some(after) = self.slots.get(next.lru_prev) else {
            return;
        };
        crate::hint::prefetch(after);
        let Sorted::Grouped(groups) = &self.keys.sorted else {
            return;
        };
        if let Some(group) = next.group() {
            groups.prefetch_front(group);
        }
        if let Some(after) = after {
            if let Some(group) = after.group() {
                groups.prefetch_header(group);
            }
            if let Some(third) = self.slots.get(after.lru_prev) {
                crate::hint::prefetch(third);
            }
        }
    }

    /// Takes back the key and value buffers of an evicted entry once its
    /// owner is done with them, for the next new entries.
    pub fn recycle(&mut self, key: Rc<[u8]>, value: Option<Vec<u8>>) {
        if self.spares.keys.len() < Spares::KEPT && Rc::strong_count(&key) == 1 {
            self.spares.keys.push(key);
        }
        if let Some(value) = value
            && self.spares.values.len() < Spares::KEPT
        {
            self.spares.values.push(value);
        }
    }

    /// Removes `key` if cached.
    pub fn remove(&mut self, key: &[u8]) {
        if let Some(idx) = self.find(key) {
            self.remove_slot(idx);
        }
    }

    /// Takes every dirty entry, oldest latest-write first, marking the
    /// entries clean; cached deletes are dropped from the cache since the
    /// store below will hold the delete.
    #[cfg(test)]
    pub fn take_dirty(&mut self) -> Vec<DirtyEntry> {
        self.take_dirty_after(None)
    }

    /// [`take_dirty`](Self::take_dirty) behind `first` (an evicted entry,
    /// written down ahead of the others), in one allocation.
    pub fn take_dirty_after(&mut self, first: Option<DirtyEntry>) -> Vec<DirtyEntry> {
        let mut out = Vec::with_capacity(self.dirty_len + usize::from(first.is_some()));
        out.extend(first);
        self.drain_dirty(|entry| {
            out.push(DirtyEntry {
                key: entry.key.to_vec(),
                value: entry.value.map(<[u8]>::to_vec),
                timestamp: entry.timestamp,
                context: entry.context,
            });
        });
        out
    }

    /// Shows every dirty entry to `visit`, oldest latest-write first, and
    /// marks it clean; cached deletes are dropped from the cache since the
    /// store below will hold the delete. For a caller that copies the
    /// entries where it wants them (a write-down batch's buffer) rather
    /// than into an allocation each.
    pub fn drain_dirty(&mut self, mut visit: impl FnMut(DirtyRef<'_>)) {
        let taken = self.dirty_len;
        let mut seen = 0;
        let mut idx = self.dirty_head;
        let mut tombstones = Vec::new();
        while idx != NIL {
            let context = self.keys.contexts.get(idx).cloned().unwrap_or_default();
            let slot = self.slot_mut(idx);
            let next = slot.dirty_next;
            slot.dirty = false;
            slot.dirty_prev = NIL;
            slot.dirty_next = NIL;
            visit(DirtyRef {
                key: &slot.key,
                value: slot.value.as_deref(),
                timestamp: slot.timestamp,
                context,
            });
            if slot.value.is_none() {
                tombstones.push(idx);
            }
            seen += 1;
            idx = next;
        }
        debug_assert_eq!(seen, taken, "record cache: dirty count");
        self.dirty_head = NIL;
        self.dirty_tail = NIL;
        self.dirty_len = 0;
        for idx in tombstones {
            self.remove_slot(idx);
        }
    }

    /// Cached entries with keys in `[from, to]` (open where `None`), in key
    /// order or reverse key order, touching each one as it is read (Kafka
    /// Streams' cache iterator reads through `get`, which updates the LRU
    /// order). Returned as owned pairs since callers merge them with the
    /// store's entries.
    pub fn range(
        &mut self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
    ) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
        let mut out = Vec::new();
        self.visit_range(lower, upper, forward, |key, value| {
            out.push((key.to_vec(), value.map(<[u8]>::to_vec)));
        });
        out
    }

    /// Calls `visit` with every cached entry whose key lies between `lower`
    /// and `upper`, in key order or reverse key order, touching each one as
    /// it is read (see [`range`](Self::range)); returns how many it visited.
    /// Costs a lookup plus the entries in the range, whatever the cache
    /// holds elsewhere.
    pub fn visit_range(
        &mut self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
        visit: impl FnMut(&[u8], Option<&[u8]>),
    ) -> usize {
        self.visit_range_where(lower, upper, forward, |_| true, visit)
    }

    /// [`visit_range`](Self::visit_range) restricted to the keys `wanted`
    /// accepts: the others are neither visited nor touched, and cost a
    /// comparison in the sorted index, which holds short keys inline, rather
    /// than two reads of their slot and a relink. Kafka Streams' cache
    /// iterators touch every key of the byte range, including those the
    /// window store then filters out; only a cache whose write-downs nobody
    /// forwards may skip them, since the LRU order decides which entry an
    /// eviction writes down, and with it what an owner forwards when.
    pub fn visit_range_where(
        &mut self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
        mut wanted: impl FnMut(&[u8]) -> bool,
        mut visit: impl FnMut(&[u8], Option<&[u8]>),
    ) -> usize {
        if bounds_are_empty(lower, upper) {
            return 0;
        }
        self.sort_keys();
        // The slots are touched (relinked) while the index is walked: the
        // index lives apart from the slots and the LRU list, so the walk
        // needs no copy of its range.
        let NamedCache {
            keys, slots, lru, ..
        } = self;
        let mut visited = 0;
        let mut read = |key: &[u8], idx: usize| {
            if !wanted(key) {
                return;
            }
            lru.touch(slots, idx);
            let slot = occupied(slots, idx);
            visit(&slot.key, slot.value.as_deref());
            visited += 1;
        };
        let index = match &keys.sorted {
            Sorted::Tree(index) => index,
            Sorted::Grouped(groups) => {
                groups.visit(lower, upper, forward, |key, idx| {
                    read(key, idx);
                    ControlFlow::Continue(())
                });
                return visited;
            }
        };
        if forward {
            // One descent, to the lower bound, then a walk that stops past
            // the upper one: `BTreeMap::range` descends to both ends first.
            if let Some(end) = upper_inline(upper) {
                for (key, &idx) in range_of(index, lower, Bound::Unbounded) {
                    if end.is_before(key) {
                        break;
                    }
                    read(key.as_bytes(), idx);
                }
                return visited;
            }
            range_of(index, lower, upper).for_each(|(key, &idx)| read(key.as_bytes(), idx));
        } else {
            let range = range_of(index, lower, upper);
            range
                .rev()
                .for_each(|(key, &idx)| read(key.as_bytes(), idx));
        }
        visited
    }

    /// In a [`grouped`](Self::grouped) cache, visits as
    /// [`visit_range_where`](Self::visit_range_where) does the entries
    /// whose keys are a prefix in `[prefix_lower, prefix_upper]` followed
    /// by a suffix in `[suffix_from, suffix_to]`, and returns how many it
    /// visited; `None` (having visited nothing) when the cache's keys are
    /// not grouped, or no longer. Each prefix costs a binary search of its
    /// suffixes rather than a step per entry in between.
    #[allow(clippy::too_many_arguments)]
    pub fn visit_box(
        &mut self,
        prefix_lower: Bound<&[u8]>,
        prefix_upper: Bound<&[u8]>,
        suffix_from: &[u8],
        suffix_to: &[u8],
        forward: bool,
        mut wanted: impl FnMut(&[u8]) -> bool,
        mut visit: impl FnMut(&[u8], Option<&[u8]>),
    ) -> Option<usize> {
        self.sort_keys();
        let NamedCache {
            keys, slots, lru, ..
        } = self;
        let Sorted::Grouped(groups) = &keys.sorted else {
            return None;
        };
        if suffix_from.len() != groups.suffix_len() || suffix_to.len() != groups.suffix_len() {
            return None;
        }
        let mut visited = 0;
        groups.visit_box(
            prefix_lower,
            prefix_upper,
            suffix_from,
            suffix_to,
            forward,
            |key, idx| {
                if wanted(key) {
                    lru.touch(slots, idx);
                    let slot = occupied(slots, idx);
                    visit(&slot.key, slot.value.as_deref());
                    visited += 1;
                }
                ControlFlow::Continue(())
            },
        );
        Some(visited)
    }

    /// The smallest cached key at or after `lower` (`forward`), or the
    /// largest one at or before `upper` (backward), without touching it.
    pub fn seek(&mut self, bound: Bound<&[u8]>, forward: bool) -> Option<&[u8]> {
        self.sort_keys();
        let index = match &self.keys.sorted {
            Sorted::Tree(index) => index,
            Sorted::Grouped(groups) => {
                let (lower, upper) = if forward {
                    (bound, Bound::Unbounded)
                } else {
                    (Bound::Unbounded, bound)
                };
                let mut found = None;
                groups.visit(lower, upper, forward, |_, idx| {
                    found = Some(idx);
                    ControlFlow::Break(())
                });
                return found.map(|idx| &*self.slot(idx).key);
            }
        };
        let entry = if forward {
            range_of(index, bound, Bound::Unbounded).next()
        } else {
            range_of(index, Bound::Unbounded, bound).next_back()
        };
        entry.map(|(key, _)| key.as_bytes())
    }

    /// Empties the cache.
    pub fn clear(&mut self) {
        // The old cache leaves the pool as it drops; the new one joins it.
        let pool = self.pool.clone();
        *self = match self.keys.group_suffix {
            Some(suffix_len) => NamedCache::grouped(suffix_len),
            None => NamedCache::new(),
        };
        self.pool = pool;
    }

    fn remove_slot(&mut self, idx: usize) -> Slot {
        self.unhash(idx);
        self.lru.unlink(&mut self.slots, idx);
        if self.slot(idx).dirty {
            self.dirty_unlink(idx);
        }
        let slot = match self.slots.get_mut(idx).and_then(Option::take) {
            Some(slot) => slot,
            None => unreachable!("record cache: dangling slot {idx}"),
        };
        match (slot.unsorted_at, slot.group(), &mut self.keys.sorted) {
            (NIL32, _, Sorted::Tree(index)) => {
                match LookupKey::inline(&slot.key) {
                    Some(query) => index.remove(&query),
                    None => index.remove(&*slot.key),
                };
            }
            (_, Some(group), Sorted::Grouped(groups)) => {
                groups.remove(&slot.key, idx, group);
            }
            (at, _, _) => {
                debug_assert!(at < IN_GROUP, "record cache: slot {idx} sorted elsewhere");
                self.keys.unsorted.swap_remove(at as usize);
                if let Some(&moved) = self.keys.unsorted.get(at as usize) {
                    self.slot_mut(moved).unsorted_at = at;
                }
            }
        }
        if let Some(context) = self.keys.contexts.get_mut(idx) {
            *context = EntryContext::default();
        }
        self.free.push(idx);
        self.set_size(self.size_bytes - slot.size(UNCHARGED));
        slot
    }

    /// Takes the entry of slot `idx` out of the hash index: at its bucket
    /// hint when the hint holds, by its key's hash otherwise.
    fn unhash(&mut self, idx: usize) {
        if self.keys.stale_hints {
            self.refresh_hints();
        }
        let hint = self.slot(idx).bucket;
        if let Ok(entry) = self.keys.lookup.get_bucket_entry(hint as usize)
            && entry.get().1 == idx
        {
            entry.remove();
            return;
        }
        if hint != NIL32 {
            // The index has moved its entries (a rehash in place, which
            // keeps its size): every hint may be off.
            self.keys.stale_hints = true;
        }
        let slot = match self.slots.get(idx) {
            Some(Some(slot)) => slot,
            _ => unreachable!("record cache: dangling slot {idx}"),
        };
        if let Ok(entry) = self
            .keys
            .lookup
            .find_entry(hash_key(&slot.key), |&(_, i)| i == idx)
        {
            entry.remove();
        }
    }

    /// Re-reads every slot's bucket hint from the hash index, after the
    /// index moved its entries (a cost per entry, paid once per resize or
    /// rehash rather than by every removal after it).
    fn refresh_hints(&mut self) {
        self.keys.stale_hints = false;
        for bucket in self.keys.lookup.iter_buckets() {
            let Some(&(_, idx)) = self.keys.lookup.get_bucket(bucket) else {
                continue;
            };
            if let Some(Some(slot)) = self.slots.get_mut(idx) {
                slot.bucket = u32::try_from(bucket).unwrap_or(NIL32);
            }
        }
    }

    fn touch(&mut self, idx: usize) {
        self.lru.touch(&mut self.slots, idx);
    }

    fn dirty_push_back(&mut self, idx: usize) {
        self.dirty_len += 1;
        let tail = self.dirty_tail;
        {
            let slot = self.slot_mut(idx);
            slot.dirty_prev = tail;
            slot.dirty_next = NIL;
        }
        if tail != NIL {
            self.slot_mut(tail).dirty_next = idx;
        } else {
            self.dirty_head = idx;
        }
        self.dirty_tail = idx;
    }

    fn dirty_unlink(&mut self, idx: usize) {
        self.dirty_len -= 1;
        let (prev, next) = {
            let slot = self.slot(idx);
            (slot.dirty_prev, slot.dirty_next)
        };
        if prev != NIL {
            self.slot_mut(prev).dirty_next = next;
        } else {
            self.dirty_head = next;
        }
        if next != NIL {
            self.slot_mut(next).dirty_prev = prev;
        } else {
            self.dirty_tail = prev;
        }
        let slot = self.slot_mut(idx);
        slot.dirty_prev = NIL;
        slot.dirty_next = NIL;
    }
}

/// The ends of the LRU list (head = most recently used), apart from the
/// cache so that a range read can relink slots while it walks the sorted
/// index, which the cache holds beside them.
#[derive(Debug)]
struct Lru {
    head: usize,
    tail: usize,
}

impl Default for Lru {
    fn default() -> Self {
        Lru {
            head: NIL,
            tail: NIL,
        }
    }
}

/// The occupied slot `idx` (the lists and the indexes only ever hold
/// occupied slots).
fn occupied(slots: &mut [Option<Slot>], idx: usize) -> &mut Slot {
    match slots.get_mut(idx) {
        Some(Some(slot)) => slot,
        _ => unreachable!("record cache: dangling slot {idx}"),
    }
}

impl Lru {
    /// Marks `idx` most recently used.
    fn touch(&mut self, slots: &mut [Option<Slot>], idx: usize) {
        if self.head != idx {
            self.unlink(slots, idx);
            self.push_front(slots, idx);
        }
    }

    fn push_front(&mut self, slots: &mut [Option<Slot>], idx: usize) {
        let head = self.head;
        let slot = occupied(slots, idx);
        slot.lru_prev = NIL;
        slot.lru_next = head;
        if head != NIL {
            occupied(slots, head).lru_prev = idx;
        } else {
            self.tail = idx;
        }
        self.head = idx;
    }

    fn unlink(&mut self, slots: &mut [Option<Slot>], idx: usize) {
        let slot = occupied(slots, idx);
        let (prev, next) = (slot.lru_prev, slot.lru_next);
        slot.lru_prev = NIL;
        slot.lru_next = NIL;
        if prev != NIL {
            occupied(slots, prev).lru_next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            occupied(slots, next).lru_prev = prev;
        } else {
            self.tail = prev;
        }
    }
}

impl<const UNCHARGED: usize> Drop for NamedCache<UNCHARGED> {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.resize(self.size_bytes, 0);
        }
    }
}

/// Puts `slot` in a free place of `slots` (a field-level borrow, usable
/// while the index is borrowed); returns its index.
fn occupy(slots: &mut Vec<Option<Slot>>, free: &mut Vec<usize>, slot: Slot) -> usize {
    match free.pop() {
        Some(idx) => {
            slots[idx] = Some(slot);
            idx
        }
        None => {
            slots.push(Some(slot));
            slots.len() - 1
        }
    }
}

/// Whether no key can lie between `lower` and `upper` (`BTreeMap::range`
/// panics on such bounds).
fn bounds_are_empty<T: Ord + ?Sized>(lower: Bound<&T>, upper: Bound<&T>) -> bool {
    match (lower, upper) {
        (Bound::Included(l), Bound::Included(u)) => l > u,
        (Bound::Included(l) | Bound::Excluded(l), Bound::Excluded(u))
        | (Bound::Excluded(l), Bound::Included(u)) => l >= u,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A write with no record context.
    fn w(timestamp: i64, dirty: bool) -> Write<'static> {
        Write {
            timestamp,
            context: None,
            dirty,
        }
    }

    fn keys_of(entries: &[DirtyEntry]) -> Vec<&[u8]> {
        entries.iter().map(|e| e.key.as_slice()).collect()
    }

    /// The index orders its keys (inline or not) exactly as their bytes
    /// order, which the B-tree's lookups by `&[u8]` rely on: checked on
    /// every pair of keys with lengths on both sides of the inline limit,
    /// made of bytes where zero (the padding) is common.
    #[test]
    fn lookup_keys_order_as_their_bytes() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            x >> 33
        };
        let mut keys: Vec<Vec<u8>> = (0..400)
            .map(|_| {
                let len = (next() % (INLINE_KEY as u64 + 6)) as usize;
                (0..len)
                    .map(|_| [0u8, 0, 1, 7, 255][(next() % 5) as usize])
                    .collect()
            })
            .collect();
        keys.extend([
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![1, 0],
            vec![0; INLINE_KEY],
            vec![0; INLINE_KEY + 1],
        ]);
        let looked: Vec<LookupKey> = keys
            .iter()
            .map(|k| LookupKey::new(&Rc::from(&k[..])))
            .collect();
        for (a, ka) in keys.iter().zip(&looked) {
            for (b, kb) in keys.iter().zip(&looked) {
                assert_eq!(ka.cmp(kb), a.cmp(b), "{a:?} vs {b:?}");
            }
        }
    }

    /// Keys on both sides of the inline limit, and keys that differ only
    /// past it or in length, are each found, replaced and removed as
    /// themselves.
    #[test]
    fn short_and_long_keys_are_looked_up_by_their_bytes() {
        let mut cache: NamedCache = NamedCache::new();
        let keys: Vec<Vec<u8>> = [0, 1, 4, INLINE_KEY - 1, INLINE_KEY, INLINE_KEY + 1, 64]
            .iter()
            .flat_map(|&n| [vec![7u8; n], [vec![7u8; n], vec![8]].concat()])
            .collect();
        for (i, k) in keys.iter().enumerate() {
            cache.put(k, Some(&[i as u8]), w(i as i64, false));
        }
        for (i, k) in keys.iter().enumerate() {
            let got = cache.get(k).and_then(|c| c.value.map(<[u8]>::to_vec));
            assert_eq!(got, Some(vec![i as u8]), "key of {} bytes", k.len());
        }
        cache.put(&keys[9], Some(b"new"), w(99, true));
        assert_eq!(cache.get(&keys[9]).unwrap().value, Some(&b"new"[..]));
        assert_eq!(cache.len(), keys.len());
        for k in &keys {
            cache.remove(k);
            assert!(cache.get(k).is_none());
        }
        assert_eq!(cache.len(), 0);
        assert!(cache.keys.lookup.is_empty());
    }

    /// Every cached slot's bucket hint names the bucket that holds it.
    fn assert_hints_hold(cache: &NamedCache) {
        for (idx, slot) in cache.slots.iter().enumerate() {
            if let Some(slot) = slot {
                let at = cache.keys.lookup.get_bucket(slot.bucket as usize);
                assert_eq!(at.map(|&(_, i)| i), Some(idx), "slot {idx}");
            }
        }
    }

    /// Entries come and go (evicted, removed, taken as tombstones, put
    /// again) while the hash index grows under them, which moves its
    /// entries and leaves the bucket hints behind; each removal still
    /// takes its own entry and no other, and once a removal has re-read
    /// the hints they all hold again.
    #[test]
    fn removals_take_their_own_entry_while_the_index_moves() {
        let mut cache: NamedCache = NamedCache::new();
        let mut model = std::collections::BTreeMap::new();
        let key = |i: u32| {
            // Short keys and a few long (shared) ones.
            let mut k = i.to_be_bytes().to_vec();
            if i.is_multiple_of(7) {
                k.resize(INLINE_KEY + 3, 1);
            }
            k
        };
        for round in 0..6u32 {
            for i in 0..3_000u32 {
                let k = key(round * 1_000 + i);
                let v = (round * 10 + i % 10).to_be_bytes();
                cache.put(&k, Some(&v), w(i64::from(i), i.is_multiple_of(3)));
                model.insert(k, v.to_vec());
            }
            // The oldest fifth leaves by eviction, every 11th key by
            // removal, the dirty ones' tombstones when taken.
            for _ in 0..600 {
                let gone = cache.evict().map(|e| e.key.to_vec());
                assert!(model.remove(&gone.unwrap()).is_some());
            }
            for i in (0..3_000u32).step_by(11) {
                let k = key(round * 1_000 + i);
                cache.remove(&k);
                model.remove(&k);
            }
            for i in (1..3_000u32).step_by(13) {
                let k = key(round * 1_000 + i);
                if model.remove(&k).is_some() {
                    cache.put(&k, None, w(0, true));
                }
            }
            cache.take_dirty();
            assert_eq!(cache.len(), model.len(), "round {round}");
            for (k, v) in &model {
                assert_eq!(cache.get(k).and_then(|c| c.value), Some(&v[..]));
            }
            assert!(!cache.keys.stale_hints, "a removal re-read the hints");
            assert_hints_hold(&cache);
        }
    }

    /// A hint left pointing at another entry's bucket (as a rehash in place
    /// leaves it) does not remove that entry: the removal finds its own by
    /// its key, and the next one re-reads every hint.
    #[test]
    fn a_wrong_hint_is_caught() {
        let mut cache: NamedCache = NamedCache::new();
        for i in 0..100u32 {
            cache.put(&i.to_be_bytes(), Some(b"v"), w(0, false));
        }
        // The index grew while filling: the first removal re-reads the
        // hints.
        assert!(cache.keys.stale_hints);
        cache.remove(&99u32.to_be_bytes());
        assert!(!cache.keys.stale_hints);
        let a = cache.find(&5u32.to_be_bytes()).unwrap();
        let b = cache.find(&6u32.to_be_bytes()).unwrap();
        let wrong = cache.slot(b).bucket;
        cache.slot_mut(a).bucket = wrong;
        cache.remove(&5u32.to_be_bytes());
        assert!(cache.find(&5u32.to_be_bytes()).is_none());
        assert_eq!(cache.find(&6u32.to_be_bytes()), Some(b));
        assert_eq!(cache.len(), 98);
        assert!(cache.keys.stale_hints);
        cache.slot_mut(b).bucket = NIL32;
        cache.remove(&7u32.to_be_bytes());
        assert!(!cache.keys.stale_hints);
        assert_hints_hold(&cache);
        assert_eq!(cache.len(), 97);
    }

    #[test]
    fn dirty_order_is_latest_write_order() {
        let mut cache: NamedCache = NamedCache::new();
        cache.put(b"a", Some(b"1"), w(1, true));
        cache.put(b"b", Some(b"2"), w(2, true));
        cache.put(b"c", Some(b"3"), w(3, true));
        cache.put(b"a", Some(b"4"), w(4, true));
        let dirty = cache.take_dirty();
        assert_eq!(keys_of(&dirty), vec![&b"b"[..], b"c", b"a"]);
        assert_eq!(dirty[2].value.as_deref(), Some(&b"4"[..]));
        assert_eq!(dirty[2].timestamp, 4);
        assert!(!cache.has_dirty());
        assert_eq!(cache.len(), 3);
    }

    #[test]
    fn tombstones_leave_the_cache_when_taken() {
        let mut cache: NamedCache = NamedCache::new();
        cache.put(b"a", Some(b"1"), w(1, true));
        cache.put(b"b", None, w(2, true));
        let dirty = cache.take_dirty();
        assert_eq!(dirty.len(), 2);
        assert_eq!(cache.len(), 1);
        assert!(cache.contains(b"a"));
        assert!(!cache.contains(b"b"));
        assert_eq!(cache.size_bytes(), 1 + 1 + ENTRY_OVERHEAD);
    }

    #[test]
    fn eviction_takes_least_recently_used() {
        let mut cache: NamedCache = NamedCache::new();
        cache.put(b"a", Some(b"1"), w(1, false));
        cache.put(b"b", Some(b"2"), w(2, true));
        cache.put(b"c", Some(b"3"), w(3, false));
        // Reading `a` makes `b` the least recently used.
        assert!(cache.get(b"a").is_some());
        let evicted = cache.evict().map(|e| (e.key.to_vec(), e.dirty));
        assert_eq!(evicted, Some((b"b".to_vec(), true)));
        assert!(!cache.has_dirty());
        let evicted = cache.evict().map(|e| e.key.to_vec());
        assert_eq!(evicted, Some(b"c".to_vec()));
        let evicted = cache.evict().map(|e| e.key.to_vec());
        assert_eq!(evicted, Some(b"a".to_vec()));
        assert!(cache.evict().is_none());
        assert_eq!(cache.size_bytes(), 0);
    }

    #[test]
    fn sizes_track_updates() {
        let mut cache: NamedCache = NamedCache::new();
        cache.put(b"key", Some(b"v"), w(1, true));
        assert_eq!(cache.size_bytes(), 3 + 1 + ENTRY_OVERHEAD);
        cache.put(b"key", Some(b"value"), w(2, true));
        assert_eq!(cache.size_bytes(), 3 + 5 + ENTRY_OVERHEAD);
        cache.put(b"key", None, w(3, true));
        assert_eq!(cache.size_bytes(), 3 + ENTRY_OVERHEAD);
        cache.remove(b"key");
        assert_eq!(cache.size_bytes(), 0);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn kept_headers_are_charged_per_entry_until_the_entry_drops_them() {
        use crate::processor::Headers;
        let mut headers = Headers::new();
        headers.add("trace", Some(vec![7; 20])).add("empty", None);
        // "trace" + 20 bytes + "empty": 30.
        let with_headers = EntryContext {
            metadata: None,
            headers: Some(Rc::new(headers)),
        };
        let stamped = |timestamp| Write {
            timestamp,
            context: Some(&with_headers),
            dirty: true,
        };
        let entry = 1 + 1 + ENTRY_OVERHEAD;
        let mut cache: NamedCache = NamedCache::new();
        cache.put(b"a", Some(b"1"), stamped(1));
        cache.put(b"b", Some(b"2"), stamped(1));
        assert_eq!(cache.size_bytes(), 2 * (entry + 30));
        // Rewritten by a record without headers: the charge goes.
        cache.put(b"a", Some(b"3"), w(2, true));
        assert_eq!(cache.size_bytes(), 2 * entry + 30);
        // And comes back with headers.
        cache.put(b"a", Some(b"4"), stamped(3));
        assert_eq!(cache.size_bytes(), 2 * (entry + 30));
        // A flush keeps the contexts, so the charge stays.
        assert_eq!(cache.take_dirty().len(), 2);
        assert_eq!(cache.size_bytes(), 2 * (entry + 30));
        // Eviction and removal give it back.
        let evicted = cache.evict().unwrap();
        assert_eq!(evicted.key.to_vec(), b"b".to_vec());
        assert_eq!(cache.size_bytes(), entry + 30);
        cache.remove(b"a");
        assert_eq!(cache.size_bytes(), 0);
        // A reused slot starts uncharged.
        cache.put(b"c", Some(b"5"), w(4, true));
        assert_eq!(cache.size_bytes(), entry);
    }

    #[test]
    fn slots_are_reused() {
        let mut cache: NamedCache = NamedCache::new();
        for round in 0..10u8 {
            cache.put(&[round], Some(b"v"), w(0, true));
            cache.remove(&[round]);
        }
        assert_eq!(cache.slots.len(), 1);
    }

    /// A range read restricted to some keys visits and touches only those:
    /// the others keep their place in the LRU order.
    #[test]
    fn a_filtered_range_touches_only_the_entries_it_visits() {
        let mut cache = NamedCache::<0>::new();
        for key in [b"a", b"b", b"c"] {
            cache.put(key, Some(b"v"), w(0, false));
        }
        let mut seen = Vec::new();
        let visited = cache.visit_range_where(
            Bound::Unbounded,
            Bound::Unbounded,
            true,
            |key| key != b"b",
            |key, _| seen.push(key.to_vec()),
        );
        assert_eq!(visited, 2);
        assert_eq!(seen, [b"a".to_vec(), b"c".to_vec()]);
        let evicted: Vec<Vec<u8>> = std::iter::from_fn(|| cache.evict())
            .map(|e| e.key.to_vec())
            .collect();
        assert_eq!(evicted, [b"b".to_vec(), b"a".to_vec(), b"c".to_vec()]);
    }

    #[test]
    fn range_in_both_directions() {
        let mut cache: NamedCache = NamedCache::new();
        for k in [b"a", b"b", b"c", b"d"] {
            cache.put(k, Some(k), w(0, false));
        }
        let fwd: Vec<_> = cache
            .range(Bound::Included(b"b"), Bound::Included(b"c"), true)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(fwd, vec![b"b".to_vec(), b"c".to_vec()]);
        let rev: Vec<_> = cache
            .range(Bound::Unbounded, Bound::Unbounded, false)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(
            rev,
            vec![b"d".to_vec(), b"c".to_vec(), b"b".to_vec(), b"a".to_vec()]
        );
        // The reverse scan touched `a` last, so `d` is now the eldest.
        assert_eq!(cache.evict().map(|e| e.key.to_vec()), Some(b"d".to_vec()));
    }

    /// An evicted entry's buffers, handed back, hold the next new entry
    /// when they fit it: the key's when it has the same length and no one
    /// else holds it, the value's when it is not much larger.
    #[test]
    fn recycled_buffers_hold_the_next_new_entries_they_fit() {
        let mut cache = NamedCache::<0>::new();
        cache.put(b"k1", Some(&[1; 100]), w(0, false));
        let e = cache.evict().unwrap();
        let (key_at, value_at) = (e.key.as_ptr(), e.value.as_ref().unwrap().as_ptr());
        cache.recycle(e.key, e.value);
        cache.put(b"k2", Some(&[2; 90]), w(1, false));
        let e = cache.evict().unwrap();
        assert_eq!(
            (&e.key[..], e.value.as_deref()),
            (&b"k2"[..], Some(&[2u8; 90][..]))
        );
        assert_eq!(e.key.as_ptr(), key_at);
        assert_eq!(e.value.as_ref().unwrap().as_ptr(), value_at);
        cache.recycle(e.key, e.value);
        // Another key length, a value far smaller than the spare buffer.
        cache.put(b"key3", Some(&[3; 4]), w(2, false));
        let e = cache.evict().unwrap();
        assert!(e.value.as_ref().unwrap().capacity() < 90);
        assert_eq!(
            (&e.key[..], e.value.as_deref()),
            (&b"key3"[..], Some(&[3u8; 4][..]))
        );
        // A key someone else still holds is not taken back.
        let held = e.key.clone();
        cache.recycle(e.key, None);
        cache.put(b"key4", None, w(3, false));
        assert_ne!(cache.evict().unwrap().key.as_ptr(), held.as_ptr());
        assert_eq!(&held[..], b"key3");
    }

    type Model = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

    /// Evicts an entry, which must be one the model holds, from both.
    fn evict_into(cache: &mut NamedCache, model: &mut Model) {
        if let Some(e) = cache.evict() {
            assert!(model.remove(&e.key[..]).is_some());
        }
    }

    /// Takes the dirty entries, dropping the deletes from the model as the
    /// cache drops them.
    fn take_dirty_into(cache: &mut NamedCache, model: &mut Model) {
        for e in cache.take_dirty() {
            if e.value.is_none() {
                model.remove(&e.key);
            }
        }
    }

    /// The lazily sorted index against a model: random puts, removes,
    /// evictions, write-downs, range scans and seeks over short and long
    /// keys, interleaved so that keys enter and leave both while waiting
    /// to be sorted and after. Every scan and seek must see exactly the
    /// model's keys, in order, and the two indexes must hold every cached
    /// key once.
    #[test]
    fn the_sorted_index_catches_up_with_every_key_before_a_scan() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % n
        };
        let key = |n: u64| {
            // Keys 0..40, a quarter of them longer than the inline limit.
            let mut k = vec![(n % 40) as u8];
            if n.is_multiple_of(4) {
                k.extend([9u8; INLINE_KEY + 3]);
            }
            k
        };
        let mut cache: NamedCache = NamedCache::new();
        let mut model = Model::new();
        for step in 0..20_000u64 {
            match next(10) {
                0..=3 => {
                    let k = key(next(40));
                    let v = (next(5) != 0).then(|| step.to_be_bytes().to_vec());
                    cache.put(&k, v.as_deref(), w(step as i64, next(2) == 0));
                    model.insert(k, v);
                }
                4 => {
                    let k = key(next(40));
                    cache.remove(&k);
                    model.remove(&k);
                }
                5 => evict_into(&mut cache, &mut model),
                6 => take_dirty_into(&mut cache, &mut model),
                7 => {
                    let (a, b) = (key(next(40)), key(next(40)));
                    let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                    let forward = next(2) == 0;
                    let got: Vec<Vec<u8>> = cache
                        .range(Bound::Included(&lo), Bound::Excluded(&hi), forward)
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    let mut want: Vec<Vec<u8>> = model
                        .range::<Vec<u8>, _>((Bound::Included(&lo), Bound::Excluded(&hi)))
                        .map(|(k, _)| k.clone())
                        .collect();
                    if !forward {
                        want.reverse();
                    }
                    assert_eq!(got, want, "step {step}");
                }
                8 => {
                    let k = key(next(40));
                    let forward = next(2) == 0;
                    let got = cache.seek(Bound::Included(&k), forward).map(<[u8]>::to_vec);
                    let want = if forward {
                        model.range::<Vec<u8>, _>(&k..).next()
                    } else {
                        model.range::<Vec<u8>, _>(..=&k).next_back()
                    }
                    .map(|(k, _)| k.clone());
                    assert_eq!(got, want, "step {step}");
                }
                _ => {
                    let k = key(next(40));
                    let got = cache.get(&k).map(|c| c.value.map(<[u8]>::to_vec));
                    assert_eq!(got, model.get(&k).cloned(), "step {step}");
                }
            }
            assert_eq!(cache.len(), model.len(), "step {step}");
            assert_eq!(
                cache.keys.sorted.len() + cache.keys.unsorted.len(),
                model.len(),
                "step {step}"
            );
        }
    }

    /// A grouped cache against a model, as above, with box reads besides:
    /// keys of a 2-byte prefix and a 3-byte suffix; in the second run a
    /// prefix gathers more windows than a group holds, in the third a key
    /// of another length comes midway. The first must stay grouped, the
    /// other two must go over to the B-tree, and all three must read as
    /// the model does throughout.
    #[test]
    fn grouped_keys_read_as_their_bytes_order_them_before_and_after_ungrouping() {
        for (run, prefixes, suffixes) in [(0u64, 6u64, 40u64), (1, 2, 3000), (2, 6, 40)] {
            let mut x = 0x9e37_79b9_7f4a_7c15u64 ^ run;
            let mut next = move |n: u64| {
                x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                (x >> 33) % n
            };
            let key = |p: u64, s: u64| {
                let mut k = vec![0x80, p as u8];
                k.extend_from_slice(&(s as u32).to_be_bytes()[1..]);
                k
            };
            let mut cache: NamedCache = NamedCache::grouped(3);
            let mut model = Model::new();
            let steps: u64 = if run == 1 { 12_000 } else { 6_000 };
            let mut ungrouped = false;
            for step in 0..steps {
                let odd = run == 2 && step == steps / 2;
                let k = if odd {
                    b"odd length".to_vec()
                } else {
                    key(next(prefixes), next(suffixes))
                };
                match if odd { 0 } else { next(12) } {
                    0..=4 => {
                        let v = (next(5) != 0).then(|| step.to_be_bytes().to_vec());
                        cache.put(&k, v.as_deref(), w(step as i64, next(2) == 0));
                        model.insert(k, v);
                    }
                    5 => {
                        cache.remove(&k);
                        model.remove(&k);
                    }
                    // Run 1 never evicts: its hot key must overflow a group.
                    6 if run != 1 => evict_into(&mut cache, &mut model),
                    6 => {}
                    7 => take_dirty_into(&mut cache, &mut model),
                    8 => {
                        // Byte bounds of any length, prefixes of keys too.
                        let cut = |k: Vec<u8>, n: u64| k[..(n as usize).min(k.len())].to_vec();
                        let (a, b) = (
                            cut(k.clone(), next(6)),
                            cut(key(next(prefixes), next(suffixes)), next(6)),
                        );
                        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
                        let forward = next(2) == 0;
                        let (lower, upper) = match next(3) {
                            0 => (Bound::Included(&lo[..]), Bound::Excluded(&hi[..])),
                            1 => (Bound::Excluded(&lo[..]), Bound::Included(&hi[..])),
                            _ => (Bound::Unbounded, Bound::Included(&hi[..])),
                        };
                        let got: Vec<Vec<u8>> = cache
                            .range(lower, upper, forward)
                            .into_iter()
                            .map(|(k, _)| k)
                            .collect();
                        let mut want: Vec<Vec<u8>> = model
                            .range::<[u8], _>((lower, upper))
                            .map(|(k, _)| k.clone())
                            .collect();
                        if !forward {
                            want.reverse();
                        }
                        assert_eq!(got, want, "run {run} step {step}: {lower:?}..{upper:?}");
                    }
                    9 => {
                        let forward = next(2) == 0;
                        let bound = if next(2) == 0 {
                            Bound::Included(&k[..])
                        } else {
                            Bound::Excluded(&k[..3])
                        };
                        let got = cache.seek(bound, forward).map(<[u8]>::to_vec);
                        let want = if forward {
                            model.range::<[u8], _>((bound, Bound::Unbounded)).next()
                        } else {
                            model
                                .range::<[u8], _>((Bound::Unbounded, bound))
                                .next_back()
                        }
                        .map(|(k, _)| k.clone());
                        assert_eq!(got, want, "run {run} step {step}");
                    }
                    10 => {
                        let (p1, p2) = (next(prefixes), next(prefixes));
                        let (s1, s2) = (next(suffixes), next(suffixes));
                        let (p_lo, p_hi) = (key(p1.min(p2), 0), key(p1.max(p2), 0));
                        let (s_lo, s_hi) = (key(0, s1.min(s2)), key(0, s1.max(s2)));
                        let (p_lo, p_hi, s_lo, s_hi) =
                            (&p_lo[..2], &p_hi[..2], &s_lo[2..], &s_hi[2..]);
                        let forward = next(2) == 0;
                        let mut got = Vec::new();
                        let visited = cache.visit_box(
                            Bound::Included(p_lo),
                            Bound::Included(p_hi),
                            s_lo,
                            s_hi,
                            forward,
                            |k| k[4] % 2 == 0,
                            |k, _| got.push(k.to_vec()),
                        );
                        let mut want: Vec<Vec<u8>> = model
                            .keys()
                            .filter(|k| {
                                k.len() == 5
                                    && (p_lo..=p_hi).contains(&&k[..2])
                                    && (s_lo..=s_hi).contains(&&k[2..])
                                    && k[4] % 2 == 0
                            })
                            .cloned()
                            .collect();
                        if !forward {
                            want.reverse();
                        }
                        match visited {
                            Some(n) => {
                                // Never grouped again once ungrouped.
                                assert!(!ungrouped, "run {run} step {step}");
                                assert!(run != 2 || step < steps / 2, "run {run} step {step}");
                                assert_eq!(n, got.len());
                                assert_eq!(got, want, "run {run} step {step}");
                            }
                            None => {
                                assert!(run != 0, "run {run} step {step}: ungrouped");
                                assert!(got.is_empty());
                                ungrouped = true;
                            }
                        }
                    }
                    _ => {
                        let got = cache.get(&k).map(|c| c.value.map(<[u8]>::to_vec));
                        assert_eq!(got, model.get(&k).cloned(), "run {run} step {step}");
                    }
                }
                assert_eq!(cache.len(), model.len(), "run {run} step {step}");
                assert_eq!(
                    cache.keys.sorted.len() + cache.keys.unsorted.len(),
                    model.len(),
                    "run {run} step {step}"
                );
            }
            let grouped = matches!(cache.keys.sorted, Sorted::Grouped(_));
            assert_eq!(grouped, run == 0, "run {run}");
            // Cleared, a cache groups its keys again.
            cache.clear();
            assert!(matches!(cache.keys.sorted, Sorted::Grouped(_)));
        }
    }
}
