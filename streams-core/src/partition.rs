//! Kafka's partitioning: murmur2 and the default stream partitioner.
//!
//! A keyed record must land on the partition a Java producer would pick for
//! the same key bytes, or co-partitioned joins and interactive queries break
//! as soon as Java and Rust applications share a topic. So the hash here is
//! bit for bit Kafka's `Utils.murmur2`, and the partition is chosen the way
//! Kafka's `BuiltInPartitioner.partitionForKey` chooses it.

/// Kafka's murmur2 seed.
const SEED: u32 = 0x9747_b28c;
/// Murmur2 mixing constant.
const M: u32 = 0x5bd1_e995;
/// Murmur2 shift.
const R: u32 = 24;

/// The 32-bit murmur2 hash of `data`, exactly as Kafka's Java
/// `Utils.murmur2` computes it (same seed, little-endian 4-byte blocks, and
/// Java's wrapping `int` arithmetic with logical shifts).
///
/// ```rust
/// use streams_core::partition::murmur2;
///
/// assert_eq!(murmur2(b"21"), -973_932_308);
/// ```
pub fn murmur2(data: &[u8]) -> i32 {
    // Java's int arithmetic is two's-complement with wraparound, and `>>>`
    // is a logical shift: both are plain u32 operations.
    let mut h = SEED ^ (data.len() as u32);

    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }

    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&first) = tail.first() {
        h ^= u32::from(first);
        h = h.wrapping_mul(M);
    }

    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Clears the sign bit, as Kafka's `Utils.toPositive`. Unlike `abs`, this
/// maps `i32::MIN` to 0 instead of overflowing.
///
/// ```rust
/// use streams_core::partition::to_positive;
///
/// assert_eq!(to_positive(-1), i32::MAX);
/// assert_eq!(to_positive(i32::MIN), 0);
/// ```
pub fn to_positive(number: i32) -> i32 {
    number & 0x7fff_ffff
}

/// The partition, in `0..num_partitions`, that Kafka's default partitioner
/// gives to a record with the (non-null) key bytes `key_bytes`:
/// `to_positive(murmur2(key)) % num_partitions`.
///
/// Kafka Streams' default stream partitioner serializes the key with the
/// sink's key serde and applies this. For windowed keys it hashes only the
/// inner key bytes (see [`crate::serde::time_windowed_base_key`]), so every
/// window of a key lands on the partition of the bare key.
///
/// A topic always has at least one partition. A `num_partitions` below 1 is
/// treated as 1 (everything goes to partition 0) instead of dividing by
/// zero.
///
/// ```rust
/// use streams_core::partition::partition_for_key;
///
/// assert_eq!(partition_for_key(b"foobar", 7), 0);
/// assert_eq!(partition_for_key(b"abc", 7), 4);
/// ```
pub fn partition_for_key(key_bytes: &[u8], num_partitions: i32) -> i32 {
    to_positive(murmur2(key_bytes)) % num_partitions.max(1)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::serde::{Serde, StringSerde, TimeWindowedSerde, time_windowed_base_key};
    use crate::window::{Window, Windowed};

    /// The vectors of Kafka's own `UtilsTest.testMurmur2`.
    #[test]
    fn kafka_utils_test_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for &(input, expected) in cases {
            assert_eq!(
                murmur2(input),
                expected,
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    /// Every tail length and some non-ASCII bytes, with expected values from
    /// the Java algorithm run on a JVM.
    #[test]
    fn tail_lengths_and_high_bytes() {
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 31 + 7) as u8).collect();
        let cases: &[(&[u8], i32)] = &[
            (b"", 275_646_681),
            (&[0x00], 375_494_588),
            (&[0xff], -311_467_685),
            (b"a", -1_563_381_124),
            (b"ab", 316_155_434),
            (&[0xff, 0xff], -1_642_832_928),
            (&[0x80, 0x81, 0x82], -1_975_640_061),
            (b"abcd", -1_323_649_548),
            (&[0xff, 0xff, 0xff, 0xff], 644_171_429),
            (b"abcde", 461_995_741),
            (&[0, 0, 0, 42], 1_606_757_304),
            (b"key-0", 29_210_041),
            (b"hello world", 1_221_641_059),
            ("héllo 世界".as_bytes(), -64_778_787),
            (&long, -974_371_678),
        ];
        for &(input, expected) in cases {
            assert_eq!(murmur2(input), expected, "{input:?}");
        }
    }

    #[test]
    fn to_positive_masks_the_sign_bit() {
        assert_eq!(to_positive(0), 0);
        assert_eq!(to_positive(5), 5);
        assert_eq!(to_positive(-1), i32::MAX);
        assert_eq!(to_positive(i32::MIN), 0);
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
    }

    #[test]
    fn partitions_match_java() {
        // (key, partition of 3, partition of 7), from the JVM.
        let cases: &[(&[u8], i32, i32)] = &[
            (b"21", 0, 3),
            (b"foobar", 0, 0),
            (b"abc", 0, 4),
            (b"", 0, 2),
            (b"a", 1, 5),
            (&[0xff], 0, 5),
            (b"abcde", 1, 4),
            (b"key-0", 1, 0),
            ("héllo 世界".as_bytes(), 2, 6),
        ];
        for &(key, p3, p7) in cases {
            assert_eq!(partition_for_key(key, 3), p3, "{key:?}");
            assert_eq!(partition_for_key(key, 7), p7, "{key:?}");
            assert_eq!(partition_for_key(key, 1), 0);
        }
    }

    #[test]
    fn partitions_stay_in_range() {
        for i in 0..500u32 {
            let key = i.to_be_bytes();
            for n in [1, 2, 5, 12, 100] {
                let p = partition_for_key(&key, n);
                assert!((0..n).contains(&p), "{p} of {n}");
            }
        }
    }

    #[test]
    fn non_positive_partition_count_does_not_panic() {
        assert_eq!(partition_for_key(b"abc", 0), 0);
        assert_eq!(partition_for_key(b"abc", -4), 0);
    }

    #[test]
    fn time_windowed_key_partitions_like_its_inner_key() {
        let serde = TimeWindowedSerde::new(Arc::new(StringSerde), 10);
        for (key, start) in [("alice", 0), ("bob", 10), ("carol", 1_700_000_000_000)] {
            let windowed = Windowed::new(key.to_string(), Window::new(start, start + 10).unwrap());
            let bytes = serde.serialize("t", &windowed).unwrap();
            let base = time_windowed_base_key(&bytes).unwrap();
            assert_eq!(base, key.as_bytes());
            let mut base_key = Vec::new();
            serde
                .serialize_base_key_into("t", &windowed, &mut base_key)
                .unwrap();
            for n in [3, 7, 16] {
                let bare = partition_for_key(key.as_bytes(), n);
                assert_eq!(partition_for_key(base, n), bare);
                assert_eq!(partition_for_key(&base_key, n), bare);
            }
        }
        // Hashing the whole windowed key would generally pick another
        // partition, which is why only the base key is hashed.
        let whole = serde
            .serialize(
                "t",
                &Windowed::new("alice".to_string(), Window::new(0, 10).unwrap()),
            )
            .unwrap();
        assert_ne!(murmur2(&whole), murmur2(b"alice"));
    }
}
