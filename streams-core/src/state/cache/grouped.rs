//! The sorted index of a window cache, as groups: every key split into a
//! prefix (segment id and record key) and a suffix of fixed length (window
//! start and seqnum).
//!
//! A window cache holds a few windows of each of many keys. In one B-tree
//! over whole keys, every new window is an insert and every eviction a
//! removal in a tree of all cached windows, and a range read of a few keys
//! over the last second walks every cached window of those keys (the
//! B-tree was about 40 % of `streamprocesswithwindowstore`'s task). Here
//! the B-tree holds one entry per prefix, which changes only when a key's
//! first window enters or its last one leaves; the windows of a prefix are
//! a sorted deque, which new windows (later starts) join at the back and
//! evictions (the least recently used: mostly the earliest) leave at the
//! front; and a read of windows in a time range binary-searches each
//! key's deque for it ([`Groups::visit_box`]).
//!
//! Walks must keep the order of the keys' bytes, which the order of
//! (prefix, suffix) pairs is only when every prefix has the same length (a
//! prefix that is a proper prefix of another would sort its windows
//! between the other's). So the groups take keys of one length only; the
//! cache goes back to one B-tree over whole keys (see
//! [`NamedCache`](super::NamedCache)) when a key of another length comes,
//! or when one prefix gathers more windows than a deque should shift
//! ([`MAX_GROUP`]).

use std::cmp::Ordering;
use std::collections::{BTreeMap, VecDeque};
use std::ops::{Bound, ControlFlow};

use super::INLINE_KEY;

/// The longest suffix the groups split off.
pub(super) const MAX_SUFFIX: usize = 12;

/// The most entries one group holds. An insert or removal in the middle of
/// a deque shifts up to half of it; past this the cache's one B-tree is
/// the better index (a single hot key's windows, say).
pub(super) const MAX_GROUP: usize = 1024;

/// Slots a deque keeps however few entries it holds (see
/// [`Groups::remove`]).
const KEPT_SLOTS: usize = 8;

/// A suffix as two big-endian words of its zero-padded bytes, which
/// compare as the bytes do (all suffixes have the same length). Packed
/// to twelve bytes, so that an [`Entry`] is sixteen (four to a cache
/// line) and a B-tree [`Head`] sixteen too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(C, packed(4))]
struct Suffix {
    hi: u64,
    lo: u32,
}

impl Suffix {
    /// `bytes`, at most [`MAX_SUFFIX`] long.
    fn of(bytes: &[u8]) -> Self {
        let word = padded_word(&bytes[..bytes.len().min(MAX_SUFFIX)]);
        Suffix {
            hi: (word >> 64) as u64,
            lo: (word >> 32) as u32,
        }
    }

    fn write(self, out: &mut [u8]) {
        let mut padded = [0u8; MAX_SUFFIX];
        padded[..8].copy_from_slice(&self.hi.to_be_bytes());
        padded[8..].copy_from_slice(&self.lo.to_be_bytes());
        out.copy_from_slice(&padded[..out.len()]);
    }
}

/// The bytes a [`Prefix`] holds: enough for any grouped prefix (at most
/// [`INLINE_KEY`] bytes).
const PREFIX_BYTES: usize = 31;
const _: () = assert!(INLINE_KEY < PREFIX_BYTES);

/// A prefix as two big-endian words: its bytes zero-padded to
/// [`PREFIX_BYTES`], then its length in the last byte. The B-tree of
/// prefixes compares these at every level of every descent (a lookup per
/// insert, two per range read): two word comparisons here, where a
/// byte-slice comparison was a call to `memcmp` behind a match on the
/// key's form, and the comparisons with the descents around them were a
/// sixth of `streamprocesswithwindowstore`'s stream thread. Thirty-two
/// bytes, so that a B-tree node of them spans few cache lines.
///
/// The order is the bytes' order, for prefixes of any lengths: where two
/// padded forms first differ inside both strings, the bytes differ there
/// too; where it is past the end of the shorter one, the longer has a
/// non-zero byte there and the shorter is its proper prefix, less in both
/// orders; and equal padded forms are one string and that string with
/// zeros appended, which the length puts first, as the bytes do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Prefix {
    hi: u128,
    /// The last 15 bytes, then the length.
    lo: u128,
}

impl Prefix {
    /// `bytes` as a prefix, cut to [`PREFIX_BYTES`]. A bound of more
    /// bytes than that keeps its meaning cut: every grouped prefix is
    /// shorter than the cut, so it can equal neither, and it compares with
    /// both as it compares with their common first bytes.
    fn of(bytes: &[u8]) -> Self {
        let bytes = &bytes[..bytes.len().min(PREFIX_BYTES)];
        let (hi, lo) = bytes.split_at(bytes.len().min(16));
        // `lo` holds at most 15 bytes: its word's last byte is free for the
        // length (at most `PREFIX_BYTES`).
        Prefix {
            hi: padded_word(hi),
            lo: padded_word(lo) | bytes.len() as u128,
        }
    }

    /// Writes the prefix's bytes to `out`, which is as long as they are.
    fn write(self, out: &mut [u8]) {
        let mut padded = [0u8; PREFIX_BYTES + 1];
        padded[..16].copy_from_slice(&self.hi.to_be_bytes());
        padded[16..].copy_from_slice(&self.lo.to_be_bytes());
        out.copy_from_slice(&padded[..out.len()]);
    }

    fn bound(bound: Bound<&[u8]>) -> Bound<Self> {
        match bound {
            Bound::Included(b) => Bound::Included(Prefix::of(b)),
            Bound::Excluded(b) => Bound::Excluded(Prefix::of(b)),
            Bound::Unbounded => Bound::Unbounded,
        }
    }
}

/// `bytes` (at most 16) zero-padded to sixteen, as a big-endian word.
///
/// Built from word loads of the bytes themselves: the plain way, a copy
/// into a zeroed buffer and a load of the buffer, is a `memcpy` call whose
/// narrow stores the wide load must wait out (the store cannot be
/// forwarded), and every B-tree lookup and range read of the groups
/// begins with it.
pub(crate) fn padded_word(bytes: &[u8]) -> u128 {
    let n = bytes.len();
    // The first `w` and the last `w` bytes, overlapping where `n < 2w`:
    // the second word's last `n - w` bytes are the ones past the first,
    // and the shift moves them up to follow it.
    if n >= 8 {
        let first = u64::from_be_bytes(word(&bytes[..8]));
        let last = u64::from_be_bytes(word(&bytes[n - 8..]));
        let rest = last.checked_shl(8 * (16 - n) as u32).unwrap_or(0);
        (u128::from(first) << 64) | u128::from(rest)
    } else if n >= 4 {
        let first = u32::from_be_bytes(word(&bytes[..4]));
        let last = u32::from_be_bytes(word(&bytes[n - 4..]));
        let rest = last.checked_shl(8 * (8 - n) as u32).unwrap_or(0);
        u128::from((u64::from(first) << 32) | u64::from(rest)) << 64
    } else {
        bytes
            .iter()
            .enumerate()
            .fold(0, |w, (i, &b)| w | u128::from(b) << (8 * (15 - i)))
    }
}

/// `bytes` as an array (callers pass exactly `N` bytes).
fn word<const N: usize>(bytes: &[u8]) -> [u8; N] {
    bytes.try_into().unwrap_or([0; N])
}

/// One cached window of a group: its suffix and its slot in the cache
/// (slots past `u32::MAX` are refused, see [`Groups::insert`]).
#[derive(Debug, Clone, Copy)]
struct Entry {
    suffix: Suffix,
    slot: u32,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 16);

/// A prefix's entry in the B-tree: its group, and the greatest suffix it
/// ever held since the group was made, or a greater one (only an insert
/// raises it, a removal leaves it), so that a read of later windows passes
/// most keys by without loading their groups.
#[derive(Debug, Clone, Copy)]
struct Head {
    group: u32,
    newest: Suffix,
}

/// Why a key cannot join the groups.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refused {
    /// The key's length differs from that of the keys already grouped (or
    /// it is too short or its prefix too long to split).
    Length,
    /// Its prefix's group is full ([`MAX_GROUP`]), or the groups or
    /// the cache's slots outgrew `u32` indexes.
    Full,
}

/// The grouped sorted index (see the module docs).
#[derive(Debug)]
pub(super) struct Groups {
    suffix_len: usize,
    /// The length of every grouped key, once there is one.
    key_len: Option<usize>,
    /// Each prefix with its group's place in `groups`.
    prefixes: BTreeMap<Prefix, Head>,
    groups: Vec<VecDeque<Entry>>,
    /// Places of `groups` free for reuse (their deques keep their buffers).
    free: Vec<u32>,
}

impl Groups {
    /// Groups keys by all but their last `suffix_len` bytes (at most
    /// [`MAX_SUFFIX`]).
    pub(super) fn new(suffix_len: usize) -> Self {
        Groups {
            suffix_len: suffix_len.min(MAX_SUFFIX),
            key_len: None,
            prefixes: BTreeMap::new(),
            groups: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The configured suffix length.
    pub(super) fn suffix_len(&self) -> usize {
        self.suffix_len
    }

    /// Entries grouped.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.prefixes
            .values()
            .map(|h| self.groups[h.group as usize].len())
            .sum()
    }

    /// Every grouped slot, in key order.
    pub(super) fn slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.prefixes.values().flat_map(|h| {
            self.groups[h.group as usize]
                .iter()
                .map(|e| e.slot as usize)
        })
    }

    fn split<'k>(&self, key: &'k [u8]) -> Option<(&'k [u8], Suffix)> {
        let prefix_len = key.len().checked_sub(self.suffix_len)?;
        if prefix_len == 0
            || prefix_len > INLINE_KEY
            || self.key_len.is_some_and(|l| l != key.len())
        {
            return None;
        }
        let (prefix, suffix) = key.split_at(prefix_len);
        Some((prefix, Suffix::of(suffix)))
    }

    /// Adds `key` of cache slot `slot`; returns the group it joined, which
    /// [`remove`](Self::remove) takes back.
    pub(super) fn insert(&mut self, key: &[u8], slot: usize) -> Result<u32, Refused> {
        let (prefix, suffix) = self.split(key).ok_or(Refused::Length)?;
        let slot = u32::try_from(slot).map_err(|_| Refused::Full)?;
        let query = Prefix::of(prefix);
        // Whether the key is past every suffix its group holds, known from
        // the B-tree's entry alone: then it goes to the back without a
        // look at the deque's last entry (a cache miss more often than
        // not, and most inserts are such keys).
        let mut past_all = true;
        let group = match self.prefixes.get_mut(&query) {
            Some(head) => {
                if self.groups[head.group as usize].len() >= MAX_GROUP {
                    return Err(Refused::Full);
                }
                past_all = suffix > head.newest;
                head.newest = head.newest.max(suffix);
                head.group
            }
            None => {
                let group = match self.free.pop() {
                    Some(group) => group,
                    None => {
                        let group = u32::try_from(self.groups.len()).map_err(|_| Refused::Full)?;
                        self.groups.push(VecDeque::new());
                        group
                    }
                };
                self.prefixes.insert(
                    query,
                    Head {
                        group,
                        newest: suffix,
                    },
                );
                group
            }
        };
        let entries = &mut self.groups[group as usize];
        self.key_len = Some(key.len());
        let entry = Entry { suffix, slot };
        // Windows mostly arrive in start order: the back first.
        match entries.back() {
            _ if past_all => entries.push_back(entry),
            Some(last) if last.suffix > suffix => {
                let at = entries.partition_point(|e| e.suffix < suffix);
                entries.insert(at, entry);
            }
            _ => entries.push_back(entry),
        }
        Ok(group)
    }

    /// Starts loading the header of `group`'s deque (see
    /// `NamedCache::prefetch_next_victim`).
    pub(super) fn prefetch_header(&self, group: u32) {
        if let Some(entries) = self.groups.get(group as usize) {
            crate::hint::prefetch(entries);
        }
    }

    /// Starts loading the front entry of `group`, the one an eviction
    /// removes first (see [`remove`](Self::remove)); reads the group's
    /// header, which should be loaded by then.
    pub(super) fn prefetch_front(&self, group: u32) {
        if let Some(first) = self.groups.get(group as usize).and_then(VecDeque::front) {
            crate::hint::prefetch(first);
        }
    }

    /// Removes `key` of cache slot `slot` from `group`.
    pub(super) fn remove(&mut self, key: &[u8], slot: usize, group: u32) {
        let Some((prefix, suffix)) = self.split(key) else {
            return;
        };
        let Some(entries) = self.groups.get_mut(group as usize) else {
            return;
        };
        // Evictions take the least recently used window, mostly a key's
        // earliest: the front first.
        let at = match entries.front() {
            Some(first) if first.slot as usize == slot => 0,
            _ => {
                let at = entries.partition_point(|e| e.suffix < suffix);
                if entries.get(at).is_none_or(|e| e.slot as usize != slot) {
                    return;
                }
                at
            }
        };
        entries.remove(at);
        // Deques keep their buffers as they shrink, and a freed group's is
        // reused by whichever key comes next: without a trim, keys that
        // were hot in turn would each leave a buffer the size of their
        // peak, memory the cache's budget does not see. Trimmed, a deque
        // holds at most four times its entries (plus a few slots).
        if entries.capacity() > KEPT_SLOTS && entries.len() * 4 < entries.capacity() {
            entries.shrink_to((entries.len() * 2).max(KEPT_SLOTS));
        }
        if entries.is_empty() {
            self.prefixes.remove(&Prefix::of(prefix));
            self.free.push(group);
            if self.prefixes.is_empty() {
                self.key_len = None;
            }
        }
    }

    /// The groups of the prefixes in `[lower, upper]` (bounds on whole
    /// prefixes), in order or reverse order, until `f` breaks.
    fn walk_prefixes(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
        mut f: impl FnMut(Prefix, &Head) -> ControlFlow<()>,
    ) {
        let (lower, upper) = (Prefix::bound(lower), Prefix::bound(upper));
        // Open at the far end and closed by a compare: `BTreeMap::range`
        // with two bounds descends to both ends before it yields anything,
        // a second descent that was about a third of a short read's walk.
        // (Nor can a one-sided range panic: bounds cut to one prefix, or
        // crossed, just end the walk at its first step.)
        if forward {
            for (prefix, head) in self.prefixes.range((lower, Bound::Unbounded)) {
                if past(prefix, upper, Ordering::Greater) || f(*prefix, head).is_break() {
                    return;
                }
            }
        } else {
            for (prefix, head) in self.prefixes.range((Bound::Unbounded, upper)).rev() {
                if past(prefix, lower, Ordering::Less) || f(*prefix, head).is_break() {
                    return;
                }
            }
        }
    }

    /// Calls `f` with every grouped key in `[lower, upper]` (byte bounds on
    /// whole keys) and its slot, in key order (`forward`) or reverse, until
    /// it breaks. The key is built in a buffer from its prefix and suffix,
    /// so the slots are not read.
    pub(super) fn visit(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        forward: bool,
        mut f: impl FnMut(&[u8], usize) -> ControlFlow<()>,
    ) {
        let Some(key_len) = self.key_len else {
            return;
        };
        let prefix_len = key_len - self.suffix_len;
        // The prefixes whose keys can lie within the bounds: a key is at
        // least `lower` only if its prefix is at least `lower`'s first
        // `prefix_len` bytes, and at most `upper` only if its prefix's
        // first bytes are at most `upper`'s.
        let outer_lower = match lower {
            Bound::Included(b) | Bound::Excluded(b) => {
                Bound::Included(&b[..b.len().min(prefix_len)])
            }
            Bound::Unbounded => Bound::Unbounded,
        };
        let upper_successor;
        let outer_upper = match upper {
            Bound::Included(b) | Bound::Excluded(b) if b.len() >= prefix_len => {
                Bound::Included(&b[..prefix_len])
            }
            Bound::Included(b) | Bound::Excluded(b) => match successor(b) {
                Some(s) => {
                    upper_successor = s;
                    Bound::Excluded(upper_successor.as_slice())
                }
                None => Bound::Unbounded,
            },
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut buf = [0u8; INLINE_KEY + MAX_SUFFIX];
        let buf = &mut buf[..key_len];
        self.walk_prefixes(outer_lower, outer_upper, forward, |prefix, head| {
            let entries = &self.groups[head.group as usize];
            prefix.write(&mut buf[..prefix_len]);
            let mut key_of = |e: &Entry| {
                e.suffix.write(&mut buf[prefix_len..]);
                cmp_key_bounds(buf, lower, upper)
            };
            let from = entries.partition_point(|e| key_of(e) == Position::Below);
            let to = entries.partition_point(|e| key_of(e) != Position::Above);
            visit_entries(entries, from..to, forward, buf, prefix_len, &mut f)
        });
    }

    /// Calls `f` with every grouped key whose prefix lies in
    /// `[prefix_lower, prefix_upper]` and whose suffix lies in
    /// `[suffix_from, suffix_to]` (both inclusive, as long as a suffix),
    /// with its slot, in key order (`forward`) or reverse, until it breaks.
    /// Each group costs a binary search for its suffixes, not a step per
    /// entry: a window store's read of a key range over its last second
    /// skips the keys' earlier windows.
    pub(super) fn visit_box(
        &self,
        prefix_lower: Bound<&[u8]>,
        prefix_upper: Bound<&[u8]>,
        suffix_from: &[u8],
        suffix_to: &[u8],
        forward: bool,
        mut f: impl FnMut(&[u8], usize) -> ControlFlow<()>,
    ) {
        let Some(key_len) = self.key_len else {
            return;
        };
        if suffix_from.len() != self.suffix_len || suffix_to.len() != self.suffix_len {
            return;
        }
        let (lo, hi) = (Suffix::of(suffix_from), Suffix::of(suffix_to));
        if lo > hi {
            return;
        }
        let prefix_len = key_len - self.suffix_len;
        let mut buf = [0u8; INLINE_KEY + MAX_SUFFIX];
        let buf = &mut buf[..key_len];
        self.walk_prefixes(prefix_lower, prefix_upper, forward, |prefix, head| {
            // Most keys have no window in a short time range: their
            // newest window ends the check, before their group is read.
            if head.newest < lo {
                return ControlFlow::Continue(());
            }
            let entries = &self.groups[head.group as usize];
            let from = entries.partition_point(|e| e.suffix < lo);
            let to = entries.partition_point(|e| e.suffix <= hi);
            if from == to {
                return ControlFlow::Continue(());
            }
            prefix.write(&mut buf[..prefix_len]);
            visit_entries(entries, from..to, forward, buf, prefix_len, &mut f)
        });
    }
}

/// Whether `prefix` lies beyond `bound` on the side `beyond` names
/// (`Greater`: past an upper bound; `Less`: before a lower one).
fn past(prefix: &Prefix, bound: Bound<Prefix>, beyond: Ordering) -> bool {
    match bound {
        Bound::Included(b) => prefix.cmp(&b) == beyond,
        Bound::Excluded(b) => prefix.cmp(&b) != beyond.reverse(),
        Bound::Unbounded => false,
    }
}

/// Calls `f` with the keys (`buf` holds their prefix) and slots of
/// `entries[range]`, in order or reverse order, until it breaks.
fn visit_entries(
    entries: &VecDeque<Entry>,
    range: std::ops::Range<usize>,
    forward: bool,
    buf: &mut [u8],
    prefix_len: usize,
    f: &mut impl FnMut(&[u8], usize) -> ControlFlow<()>,
) -> ControlFlow<()> {
    let mut step = |e: &Entry| {
        e.suffix.write(&mut buf[prefix_len..]);
        f(buf, e.slot as usize)
    };
    if forward {
        entries.range(range).try_for_each(&mut step)
    } else {
        entries.range(range).rev().try_for_each(&mut step)
    }
}

/// Where a key lies against a pair of bounds.
#[derive(Debug, PartialEq, Eq)]
enum Position {
    Below,
    Within,
    Above,
}

fn cmp_key_bounds(key: &[u8], lower: Bound<&[u8]>, upper: Bound<&[u8]>) -> Position {
    let below = match lower {
        Bound::Included(b) => key < b,
        Bound::Excluded(b) => key <= b,
        Bound::Unbounded => false,
    };
    if below {
        return Position::Below;
    }
    let above = match upper {
        Bound::Included(b) => key > b,
        Bound::Excluded(b) => key >= b,
        Bound::Unbounded => false,
    };
    if above {
        Position::Above
    } else {
        Position::Within
    }
}

/// The least byte string greater than every string that starts with
/// `bytes` (`None`: there is none, `bytes` being all `0xFF`).
fn successor(bytes: &[u8]) -> Option<Vec<u8>> {
    let last = bytes.iter().rposition(|&b| b != 0xFF)?;
    let mut out = bytes[..=last].to_vec();
    out[last] += 1;
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn successor_is_the_first_string_past_a_prefix() {
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(&[1, 0xFF, 0xFF]), Some(vec![2]));
        assert_eq!(successor(&[0xFF, 0xFF]), None);
        assert_eq!(successor(&[]), None);
    }

    /// Every length up to sixteen bytes pads as a copy into a zeroed
    /// buffer does, and suffixes keep their bytes.
    #[test]
    fn padded_words_are_the_bytes_zero_padded() {
        let bytes: Vec<u8> = (1..=16u8).map(|i| i.wrapping_mul(0x37) ^ 0xA5).collect();
        for n in 0..=16 {
            let mut padded = [0u8; 16];
            padded[..n].copy_from_slice(&bytes[..n]);
            assert_eq!(padded_word(&bytes[..n]), u128::from_be_bytes(padded), "{n}");
        }
        for n in 0..=MAX_SUFFIX {
            let mut back = vec![0; n];
            Suffix::of(&bytes[..n]).write(&mut back);
            assert_eq!(back, bytes[..n], "{n}");
        }
    }

    /// Prefixes order as their bytes, zeros and lengths included, and so
    /// do bounds longer than a prefix can be once cut.
    #[test]
    fn prefixes_order_as_their_bytes() {
        let mut next = crate::state::tests::xorshift(0x2545_f491_4f6c_dd1d_u64);
        // Few distinct bytes, zeros among them, so that most pairs share
        // a long common start and differ in padding or length.
        let mut string = |max: u64| -> Vec<u8> {
            let len = (next() % (max + 1)) as usize;
            (0..len)
                .map(|_| [0u8, 1, 0xFF][(next() % 3) as usize])
                .collect()
        };
        for _ in 0..20_000 {
            let prefix = string(INLINE_KEY as u64);
            let other = string(40);
            assert_eq!(
                Prefix::of(&prefix).cmp(&Prefix::of(&other)),
                prefix.as_slice().cmp(other.as_slice()),
                "{prefix:?} against {other:?}"
            );
            let mut back = vec![0; prefix.len()];
            Prefix::of(&prefix).write(&mut back);
            assert_eq!(back, prefix);
        }
        assert!(Prefix::of(b"a") < Prefix::of(b"a\0"));
        assert!(Prefix::of(b"a\0") < Prefix::of(b"a\x01"));

        // Two long bounds that cut to the same prefix hold nothing
        // between them, read either way (and as equal excluded bounds
        // they must not reach `BTreeMap::range`, which panics on them).
        let mut groups = Groups::new(1);
        groups.insert(b"ab", 0).unwrap();
        let lower = [b'a'; 40];
        let mut upper = lower;
        upper[39] = b'b';
        for forward in [true, false] {
            groups.visit_box(
                Bound::Excluded(&lower),
                Bound::Excluded(&upper),
                &[0],
                &[0xFF],
                forward,
                |key, _| panic!("{key:?} lies between two bounds that hold nothing"),
            );
        }
    }

    #[test]
    fn keys_of_another_length_or_past_the_group_limit_are_refused() {
        let mut groups = Groups::new(2);
        assert_eq!(groups.insert(b"abxy", 0), Ok(0));
        assert_eq!(groups.insert(b"abcxy", 1), Err(Refused::Length));
        assert_eq!(groups.insert(b"xy", 1), Err(Refused::Length));
        for i in 0..MAX_GROUP {
            let key = [b'c', b'd', (i >> 8) as u8, i as u8];
            assert_eq!(groups.insert(&key, i + 1), Ok(1));
        }
        assert_eq!(
            groups.insert(&[b'c', b'd', 0xFF, 0xFF], 0),
            Err(Refused::Full)
        );
        // Once the last key leaves, another length is welcome.
        groups.remove(b"abxy", 0, 0);
        for i in 0..MAX_GROUP {
            groups.remove(&[b'c', b'd', (i >> 8) as u8, i as u8], i + 1, 1);
        }
        assert_eq!(groups.len(), 0);
        assert!(groups.insert(b"abcxy", 7).is_ok());
    }

    /// A group that held many windows gives its buffer back as they leave,
    /// whether it empties or not.
    #[test]
    fn draining_groups_trim_their_buffers() {
        let mut groups = Groups::new(2);
        for prefix in [b'a', b'b'] {
            for i in 0..1000usize {
                let key = [prefix, (i >> 8) as u8, i as u8];
                groups.insert(&key, i).unwrap();
            }
        }
        for i in 0..990usize {
            groups.remove(&[b'a', (i >> 8) as u8, i as u8], i, 0);
        }
        for i in 0..1000usize {
            groups.remove(&[b'b', (i >> 8) as u8, i as u8], i, 1);
        }
        assert_eq!(groups.len(), 10);
        assert!(
            groups.groups[0].capacity() <= 40,
            "{}",
            groups.groups[0].capacity()
        );
        assert!(
            groups.groups[1].capacity() <= KEPT_SLOTS,
            "{}",
            groups.groups[1].capacity()
        );
    }

    #[test]
    fn a_box_takes_the_suffix_range_of_each_prefix_in_range() {
        let mut groups = Groups::new(1);
        let mut slot = 0;
        for prefix in [b"a", b"b", b"c", b"d"] {
            for suffix in [1u8, 5, 9] {
                groups.insert(&[prefix[0], suffix], slot).unwrap();
                slot += 1;
            }
        }
        let mut seen = Vec::new();
        groups.visit_box(
            Bound::Included(b"b"),
            Bound::Excluded(b"d"),
            &[2],
            &[9],
            true,
            |key, slot| {
                seen.push((key.to_vec(), slot));
                ControlFlow::Continue(())
            },
        );
        assert_eq!(
            seen,
            [
                (b"b\x05".to_vec(), 4),
                (b"b\x09".to_vec(), 5),
                (b"c\x05".to_vec(), 7),
                (b"c\x09".to_vec(), 8)
            ]
        );
        seen.clear();
        groups.visit_box(
            Bound::Unbounded,
            Bound::Unbounded,
            &[5],
            &[5],
            false,
            |key, _| {
                seen.push((key.to_vec(), 0));
                if key[0] == b'b' {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        let keys: Vec<_> = seen.into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            [b"d\x05".to_vec(), b"c\x05".to_vec(), b"b\x05".to_vec()]
        );
    }
}
