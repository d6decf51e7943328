//! Seeded random inputs for the canonical topologies of `tests/java-ref`.
//!
//! One generator per input shape (several topologies share one: every
//! windowed count reads the same kind of stream). Each run is [`RECORDS`]
//! records with a small, repeated key set, some null keys, some null values,
//! and timestamps that mostly increase but include out-of-order records and
//! records late beyond every grace period the topologies use. Two-input
//! shapes interleave their topics at random.
//!
//! The PRNG is self-written (splitmix64) so a seed means the same input on
//! every machine and every version of every crate.

use serde_json::{Value, json};

/// Records per generated run.
pub const RECORDS: usize = 1000;

/// One input line of the Java runner's protocol.
#[derive(Debug, Clone, PartialEq)]
pub struct InRecord {
    /// The input topic.
    pub topic: &'static str,
    /// The key (`None` is a null key).
    pub key: Option<String>,
    /// The value (`None` is null: a tombstone for tables).
    pub value: Option<String>,
    /// Epoch millis, never negative (Kafka rejects negative timestamps).
    pub ts: i64,
}

impl InRecord {
    /// The line as the Java runner reads it.
    pub fn to_json(&self) -> Value {
        json!({"topic": self.topic, "key": self.key, "value": self.value, "ts": self.ts})
    }
}

/// splitmix64: tiny, fast, and good enough to spread test inputs.
pub struct Rng(u64);

impl Rng {
    /// A generator for one (shape, seed) pair: the shape's name is mixed in
    /// so two shapes never share a stream of numbers.
    pub fn for_case(shape: &str, seed: u64) -> Rng {
        // FNV-1a of the name.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in shape.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
        Rng(h ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (the modulo bias is irrelevant for test inputs).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }

    /// True with probability `p` percent.
    pub fn percent(&mut self, p: u64) -> bool {
        self.below(100) < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Timestamps that mostly move forward, with a few out-of-order records
/// (a little behind stream time), a few late ones (far behind: beyond the
/// largest grace + window of the windowed topologies) and a few jumps ahead
/// (which close windows and expire join buffers).
struct Clock {
    /// The largest timestamp handed out so far: the stream time.
    now: i64,
    /// Forward step of an ordinary record: `0..=step_max` (0 gives equal timestamps).
    step_max: i64,
    /// How far behind `now` an out-of-order record may be.
    ooo_max: i64,
    /// How far behind `now` a late record is.
    late: (i64, i64),
}

impl Clock {
    fn new(rng: &mut Rng, step_max: i64, ooo_max: i64, late: (i64, i64)) -> Clock {
        Clock {
            now: rng.range(0, 50),
            step_max,
            ooo_max,
            late,
        }
    }

    fn next(&mut self, rng: &mut Rng) -> i64 {
        match rng.below(100) {
            0..=4 => (self.now - rng.range(self.late.0, self.late.1)).max(0),
            5..=14 => (self.now - rng.range(1, self.ooo_max)).max(0),
            15..=16 => {
                self.now += rng.range(100, 400);
                self.now
            }
            _ => {
                self.now += rng.range(0, self.step_max);
                self.now
            }
        }
    }
}

/// A key from `prefix0..prefix{n-1}`, or null with probability `null_pct`.
fn key(rng: &mut Rng, prefix: &str, n: u64, null_pct: u64) -> Option<String> {
    if rng.percent(null_pct) {
        None
    } else {
        Some(format!("{prefix}{}", rng.below(n)))
    }
}

/// With 4% probability, the latest record of a recently used (topic, key)
/// again at the next timestamp: identical table updates, repeated deletes
/// and duplicate join inputs, which independent draws make too rare.
fn repeat(rng: &mut Rng, out: &[InRecord], clock: &mut Clock) -> Option<InRecord> {
    if out.is_empty() || !rng.percent(4) {
        return None;
    }
    let back = rng.below(out.len().min(20) as u64) as usize;
    let picked = &out[out.len() - 1 - back];
    let prev = out
        .iter()
        .rev()
        .find(|r| r.topic == picked.topic && r.key == picked.key)
        .unwrap_or(picked);
    Some(InRecord {
        ts: clock.next(rng),
        ..prev.clone()
    })
}

/// Java's `\s` (no flags): ASCII space, \t, \n, \x0B, \f, \r.
const JAVA_SPACES: [char; 6] = [' ', '\t', '\n', '\x0B', '\x0C', '\r'];

/// `word-count`: lines of words from a small vocabulary in mixed case,
/// separated by runs of every ASCII whitespace character Java's `\s` knows.
/// Some lines are null, empty or all whitespace; keys are irrelevant to the
/// topology but include nulls.
///
/// Non-ASCII words are limited to ones whose lowercase is the same in Java
/// (`toLowerCase(Locale.ROOT)`) and Rust (`to_lowercase`); `a\u{a0}b` holds a
/// no-break space, which neither side treats as a separator.
pub fn word_count(seed: u64) -> Vec<InRecord> {
    const WORDS: [&str; 16] = [
        "kafka", "Kafka", "KAFKA", "streams", "Streams", "table", "join", "window", "a", "the",
        "to", "of", "Straße", "ÉTÉ", "x1", "a\u{a0}b",
    ];
    let mut rng = Rng::for_case("word-count", seed);
    let mut clock = Clock::new(&mut rng, 20, 80, (200, 500));
    let mut out = Vec::with_capacity(RECORDS);
    for _ in 0..RECORDS {
        let k = key(&mut rng, "k", 5, 10);
        let v = match rng.below(100) {
            0..=4 => None,
            5..=6 => Some(String::new()),
            7..=9 => Some(spaces(&mut rng)),
            _ => {
                let mut line = String::new();
                if rng.percent(20) {
                    line.push_str(&spaces(&mut rng));
                }
                let n = rng.range(1, 6);
                for i in 0..n {
                    if i > 0 {
                        line.push_str(&spaces(&mut rng));
                    }
                    let word: &&str = rng.pick(&WORDS);
                    line.push_str(word);
                }
                if rng.percent(20) {
                    line.push_str(&spaces(&mut rng));
                }
                Some(line)
            }
        };
        out.push(InRecord {
            topic: "input",
            key: k,
            value: v,
            ts: clock.next(&mut rng),
        });
    }
    out
}

/// A run of 1 to 3 whitespace characters, mostly spaces.
fn spaces(rng: &mut Rng) -> String {
    let n = rng.range(1, 3);
    (0..n)
        .map(|_| {
            if rng.percent(60) {
                ' '
            } else {
                *rng.pick(&JAVA_SPACES)
            }
        })
        .collect()
}

/// `table-agg`: table updates `"<group>:<number>"` over a small key set, so
/// keys move between groups, stay in their group (KIP-904's one-record
/// update) and are deleted (tombstones, also for keys never seen). Numbers
/// are small and signed, sometimes with a `+` sign or leading zeros (both
/// `Long.parseLong` and `i64::from_str` take them), and rarely near the
/// `long` limits so the sums wrap as Java's do. The empty group `""` occurs.
pub fn table_agg(seed: u64) -> Vec<InRecord> {
    const GROUPS: [&str; 6] = ["a", "b", "c", "d", "e", ""];
    let mut rng = Rng::for_case("table-agg", seed);
    let mut clock = Clock::new(&mut rng, 20, 80, (200, 500));
    let mut out = Vec::with_capacity(RECORDS);
    for _ in 0..RECORDS {
        if let Some(r) = repeat(&mut rng, &out, &mut clock) {
            out.push(r);
            continue;
        }
        let k = key(&mut rng, "k", 15, 3);
        let v = if rng.percent(15) {
            None
        } else {
            // The empty group is rare: index 5 only via a separate draw.
            let g = if rng.percent(3) {
                GROUPS[5]
            } else {
                GROUPS[rng.below(5) as usize]
            };
            let n = match rng.below(100) {
                0 => format!("{}", i64::MAX - rng.range(0, 100)),
                1 => format!("{}", i64::MIN + rng.range(0, 100)),
                2..=4 => format!("+{}", rng.range(0, 100)),
                5..=6 => format!("00{}", rng.range(0, 100)),
                _ => format!("{}", rng.range(-100, 100)),
            };
            Some(format!("{g}:{n}"))
        };
        out.push(InRecord {
            topic: "input",
            key: k,
            value: v,
            ts: clock.next(&mut rng),
        });
    }
    out
}

/// Every windowed count (`tumbling-*`, `hopping-*`, `sliding-*`,
/// `session-*`, plain and suppressed): one stream, five keys, 5% null keys,
/// 5% null values. Steps of 0..=25 ms against windows of 100 ms (session
/// gap 30 ms), so windows fill and sessions both merge and split; late
/// records are 200..=600 ms behind stream time, beyond every grace period
/// (50, 30, 20 ms) plus window size (100 ms).
pub fn windowed(seed: u64) -> Vec<InRecord> {
    let mut rng = Rng::for_case("windowed", seed);
    let mut clock = Clock::new(&mut rng, 25, 60, (200, 600));
    let mut out = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        let k = key(&mut rng, "k", 5, 5);
        let v = if rng.percent(5) {
            None
        } else {
            Some(format!("v{i}"))
        };
        out.push(InRecord {
            topic: "input",
            key: k,
            value: v,
            ts: clock.next(&mut rng),
        });
    }
    out
}

/// Two interleaved inputs `left` and `right` with values `L<i>` / `R<i>`
/// (`i` = line number, so every join result names its inputs).
fn two_inputs(
    shape: &str,
    seed: u64,
    keys: u64,
    null_key_pct: (u64, u64),
    null_value_pct: (u64, u64),
    step_max: i64,
) -> Vec<InRecord> {
    let mut rng = Rng::for_case(shape, seed);
    let mut clock = Clock::new(&mut rng, step_max, 60, (200, 600));
    let mut out = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        if let Some(r) = repeat(&mut rng, &out, &mut clock) {
            out.push(r);
            continue;
        }
        let left = rng.percent(55);
        let (topic, prefix, nk, nv) = if left {
            ("left", "L", null_key_pct.0, null_value_pct.0)
        } else {
            ("right", "R", null_key_pct.1, null_value_pct.1)
        };
        let k = key(&mut rng, "k", keys, nk);
        let v = if rng.percent(nv) {
            None
        } else {
            Some(format!("{prefix}{i}"))
        };
        out.push(InRecord {
            topic,
            key: k,
            value: v,
            ts: clock.next(&mut rng),
        });
    }
    out
}

/// `stream-stream-*`: both sides are streams; 3% null keys and 3% null
/// values on each side (KIP-962's null-key records included); steps of
/// 0..=15 ms against a join window of [-50, +20] with 10 ms grace, and late
/// records far beyond it.
pub fn stream_stream(seed: u64) -> Vec<InRecord> {
    two_inputs("stream-stream", seed, 5, (3, 3), (3, 3), 15)
}

/// `stream-table-*`: `left` is the stream (3% null keys, 3% null values),
/// `right` the table (2% null keys, 12% tombstones).
pub fn stream_table(seed: u64) -> Vec<InRecord> {
    two_inputs("stream-table", seed, 6, (3, 2), (3, 12), 15)
}

/// `table-table-*`: both sides are tables with 2% null keys and 12%
/// tombstones, over eight keys.
pub fn table_table(seed: u64) -> Vec<InRecord> {
    two_inputs("table-table", seed, 8, (2, 2), (12, 12), 15)
}

/// `fk-*`: `left` values are `"<fk>:<payload>"` (sometimes just `"<fk>"`,
/// `"<fk>:"` or `"<fk>:p:q"`, which Java's `split(":")[0]` and ours both
/// read as `<fk>`), fks never empty; `right` is keyed by fk, including fks
/// no left row uses. Both sides have 2% null keys and 10-12% tombstones.
pub fn fk(seed: u64) -> Vec<InRecord> {
    let mut rng = Rng::for_case("fk", seed);
    let mut clock = Clock::new(&mut rng, 15, 60, (200, 600));
    let mut out = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS {
        if let Some(r) = repeat(&mut rng, &out, &mut clock) {
            out.push(r);
            continue;
        }
        let rec = if rng.percent(60) {
            let k = key(&mut rng, "k", 12, 2);
            let v = if rng.percent(10) {
                None
            } else {
                let f = format!("F{}", rng.below(6));
                Some(match rng.below(100) {
                    0..=2 => f,
                    3..=4 => format!("{f}:"),
                    5..=6 => format!("{f}:p{i}:q"),
                    _ => format!("{f}:p{i}"),
                })
            };
            InRecord {
                topic: "left",
                key: k,
                value: v,
                ts: 0,
            }
        } else {
            let k = key(&mut rng, "F", 8, 2);
            let v = if rng.percent(12) {
                None
            } else {
                Some(format!("r{i}"))
            };
            InRecord {
                topic: "right",
                key: k,
                value: v,
                ts: 0,
            }
        };
        out.push(InRecord {
            ts: clock.next(&mut rng),
            ..rec
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    type Generator = fn(u64) -> Vec<InRecord>;

    /// (shape, generator, input topics).
    const SHAPES: [(&str, Generator, &[&str]); 7] = [
        ("word-count", word_count, &["input"]),
        ("table-agg", table_agg, &["input"]),
        ("windowed", windowed, &["input"]),
        ("stream-stream", stream_stream, &["left", "right"]),
        ("stream-table", stream_table, &["left", "right"]),
        ("table-table", table_table, &["left", "right"]),
        ("fk", fk, &["left", "right"]),
    ];

    /// The generators are the test's coverage: check that every run really
    /// has what the module doc promises, for the seeds the harness uses.
    #[test]
    fn generated_inputs_cover_the_edge_cases() {
        for (name, generator, topics) in SHAPES {
            for seed in 0..20 {
                let recs = generator(seed);
                let ctx = format!("{name} seed {seed}");
                assert!(recs.len() >= 1000, "{ctx}: {} records", recs.len());
                assert_eq!(recs, generator(seed), "{ctx}: not deterministic");
                assert_ne!(recs, generator(seed + 1000), "{ctx}: seed ignored");
                assert!(recs.iter().any(|r| r.key.is_none()), "{ctx}: no null key");
                assert!(
                    recs.iter().any(|r| r.value.is_none()),
                    "{ctx}: no null value"
                );
                let keys: HashSet<_> = recs.iter().filter_map(|r| r.key.as_ref()).collect();
                assert!(
                    keys.len() <= 20,
                    "{ctx}: keys are not repeated enough ({})",
                    keys.len()
                );
                let mut max = 0;
                let (mut out_of_order, mut late) = (0, 0);
                for r in &recs {
                    assert!(r.ts >= 0, "{ctx}: negative ts");
                    if r.ts < max {
                        out_of_order += 1;
                    }
                    if r.ts < max - 150 {
                        late += 1;
                    }
                    max = max.max(r.ts);
                }
                assert!(
                    out_of_order >= 50,
                    "{ctx}: {out_of_order} out-of-order records"
                );
                assert!(
                    late >= 10,
                    "{ctx}: {late} records later than every grace period"
                );
                for t in topics {
                    assert!(
                        recs.iter().filter(|r| r.topic == *t).count() >= 300,
                        "{ctx}: too few on {t}"
                    );
                }
                let switches = recs.windows(2).filter(|w| w[0].topic != w[1].topic).count();
                if topics.len() > 1 {
                    assert!(
                        switches >= 200,
                        "{ctx}: topics barely interleave ({switches})"
                    );
                }
                for r in &recs {
                    check_value_shape(name, r, &ctx);
                }
            }
        }
    }

    /// The values each topology's Java lambda accepts (see the Java README).
    fn check_value_shape(name: &str, r: &InRecord, ctx: &str) {
        let Some(v) = &r.value else { return };
        match name {
            "table-agg" => {
                let (_, n) = v
                    .split_once(':')
                    .unwrap_or_else(|| panic!("{ctx}: {v:?} has no ':'"));
                n.parse::<i64>()
                    .unwrap_or_else(|e| panic!("{ctx}: {v:?}: {e}"));
            }
            "fk" if r.topic == "left" => {
                let fk = v.split(':').next().unwrap_or_default();
                assert!(!fk.is_empty(), "{ctx}: empty fk in {v:?}");
            }
            "word-count" => {
                assert!(
                    !v.chars()
                        .any(|c| c.is_whitespace() && !JAVA_SPACES.contains(&c) && c != '\u{a0}')
                );
            }
            _ => {}
        }
    }

    #[test]
    fn word_count_lines_use_every_java_whitespace_character() {
        let all: String = (0..20)
            .flat_map(word_count)
            .filter_map(|r| r.value)
            .collect();
        for c in JAVA_SPACES {
            assert!(all.contains(c), "{c:?} never generated");
        }
    }
}
