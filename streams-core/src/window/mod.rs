//! Windows: time, sliding, session and join windows, and windowed keys.
//!
//! This module is pure data. It describes *which* windows exist (the window
//! specifications [`TimeWindows`], [`SlidingWindows`], [`SessionWindows`] and
//! [`JoinWindows`]) and *what* a window is ([`Window`], and [`Windowed`] for a
//! key tagged with the window it was aggregated in). The processors that
//! aggregate and join over windows live elsewhere and read these values.
//!
//! The public API takes [`std::time::Duration`] so that units cannot be mixed
//! up, and stores whole milliseconds as `i64`, which is how Kafka Streams
//! reasons about time and what record timestamps are. Everything that Kafka
//! Streams rejects with an `IllegalArgumentException` is reported here as a
//! [`WindowError`] instead.

mod join;
mod session;
mod sliding;
mod time;

use std::fmt;
use std::time::Duration;

pub use join::JoinWindows;
pub use session::SessionWindows;
pub use sliding::SlidingWindows;
pub use time::{TimeWindows, TimeWindowsFor};

/// Why a window or window specification could not be built.
///
/// Every message says what to change, because these errors surface while a
/// topology is being written, when the fix is one edit away.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum WindowError {
    /// A duration has more whole milliseconds than an `i64` holds.
    #[error(
        "{parameter} is too large: it must fit in i64 milliseconds \
         (at most {max} ms); pass a shorter duration",
        max = i64::MAX
    )]
    DurationTooLarge {
        /// The name of the offending parameter, as in Kafka Streams' API.
        parameter: &'static str,
    },
    /// A time window size of zero.
    #[error("window size must be larger than zero; pass a size of at least 1 ms")]
    NonPositiveSize,
    /// A hopping window advance outside `(0, size]`.
    #[error(
        "window advance must be more than zero and at most the window size ({size_ms} ms), \
         but was {advance_ms} ms; pass an advance between 1 ms and {size_ms} ms"
    )]
    InvalidAdvance {
        /// The window size the advance was checked against.
        size_ms: i64,
        /// The rejected advance.
        advance_ms: i64,
    },
    /// A session inactivity gap of zero.
    #[error("session inactivity gap must be larger than zero; pass a gap of at least 1 ms")]
    NonPositiveInactivityGap,
    /// Join window bounds whose sum (the window size) is negative or overflows.
    #[error(
        "join window size (before + after = {before_ms} ms + {after_ms} ms) must be \
         between 0 and {max} ms; make before and after add up to a value in that range",
        max = i64::MAX
    )]
    InvalidJoinWindowSize {
        /// The lower bound, in milliseconds before the record's timestamp.
        before_ms: i64,
        /// The upper bound, in milliseconds after the record's timestamp.
        after_ms: i64,
    },
    /// A window that starts before the epoch.
    #[error(
        "window start must not be negative, but was {start_ms} ms; windows begin at or after 0"
    )]
    NegativeStart {
        /// The rejected start.
        start_ms: i64,
    },
    /// A window whose end lies before its start.
    #[error(
        "window end ({end_ms} ms) must not be smaller than its start ({start_ms} ms); \
         swap the bounds or widen the window"
    )]
    EndBeforeStart {
        /// The start of the rejected window.
        start_ms: i64,
        /// The end of the rejected window.
        end_ms: i64,
    },
}

/// Converts a duration to whole milliseconds, dropping any sub-millisecond
/// part as Java's `Duration.toMillis()` does, and refusing durations too long
/// for an `i64`.
pub(crate) fn duration_to_ms(
    duration: Duration,
    parameter: &'static str,
) -> Result<i64, WindowError> {
    i64::try_from(duration.as_millis()).map_err(|_| WindowError::DurationTooLarge { parameter })
}

/// A time interval, in milliseconds since the epoch.
///
/// Whether `end` belongs to the window depends on the kind of window: time
/// (tumbling and hopping) windows are half-open `[start, end)`, while session
/// and sliding windows include both bounds. That is why two overlap tests are
/// offered: [`Window::overlap`] and [`Window::overlap_inclusive`].
///
/// The bounds are checked once, on construction, so code holding a `Window`
/// can rely on `0 <= start <= end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Window {
    start_ms: i64,
    end_ms: i64,
}

impl Window {
    /// Creates a window, checking that it starts at or after the epoch and
    /// does not end before it starts (the rules of Kafka Streams' `Window`).
    ///
    /// ```rust
    /// use streams_core::window::Window;
    ///
    /// let window = Window::new(0, 10).unwrap();
    /// assert_eq!((window.start(), window.end()), (0, 10));
    /// assert!(Window::new(-1, 10).is_err());
    /// assert!(Window::new(10, 5).is_err());
    /// ```
    pub fn new(start_ms: i64, end_ms: i64) -> Result<Window, WindowError> {
        if start_ms < 0 {
            return Err(WindowError::NegativeStart { start_ms });
        }
        if end_ms < start_ms {
            return Err(WindowError::EndBeforeStart { start_ms, end_ms });
        }
        Ok(Window { start_ms, end_ms })
    }

    /// Builds a window whose bounds the caller has already validated.
    pub(crate) const fn from_valid_bounds(start_ms: i64, end_ms: i64) -> Window {
        Window { start_ms, end_ms }
    }

    /// The start of the window, in milliseconds since the epoch (inclusive).
    pub fn start(&self) -> i64 {
        self.start_ms
    }

    /// The end of the window, in milliseconds since the epoch (exclusive for
    /// time windows, inclusive for session and sliding windows).
    pub fn end(&self) -> i64 {
        self.end_ms
    }

    /// Whether two half-open windows `[start, end)` share at least one
    /// millisecond: the overlap rule of time (tumbling and hopping) windows.
    ///
    /// Adjacent windows such as `[0, 10)` and `[10, 20)` do not overlap.
    pub fn overlap(&self, other: &Window) -> bool {
        self.start_ms < other.end_ms && other.start_ms < self.end_ms
    }

    /// Whether two closed windows `[start, end]` share at least one
    /// millisecond: the overlap rule of session and sliding windows.
    ///
    /// Windows that touch, such as `[0, 10]` and `[10, 20]`, overlap.
    pub fn overlap_inclusive(&self, other: &Window) -> bool {
        self.start_ms <= other.end_ms && other.start_ms <= self.end_ms
    }
}

impl fmt::Display for Window {
    /// Formats as Kafka Streams' `Window.toString()`:
    /// `Window{startMs=0, endMs=10}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Window{{startMs={}, endMs={}}}",
            self.start_ms, self.end_ms
        )
    }
}

/// A key together with the window it belongs to: the key type of windowed
/// aggregation results (`KTable<Windowed<K>, V>`).
///
/// The same key in two windows is two different `Windowed` keys, which is why
/// equality, ordering and hashing look at both the key and the window.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Windowed<K> {
    /// The key that was grouped on.
    pub key: K,
    /// The window the key's aggregate covers.
    pub window: Window,
}

impl<K> Windowed<K> {
    /// Tags `key` with `window`.
    ///
    /// ```rust
    /// use streams_core::window::{Window, Windowed};
    ///
    /// let windowed = Windowed::new("alice".to_string(), Window::new(0, 10).unwrap());
    /// assert_eq!(windowed.key(), "alice");
    /// assert_eq!(windowed.window().end(), 10);
    /// assert_eq!(windowed.to_string(), "[alice@0/10]");
    /// ```
    pub fn new(key: K, window: Window) -> Windowed<K> {
        Windowed { key, window }
    }

    /// The key.
    pub fn key(&self) -> &K {
        &self.key
    }

    /// The window.
    pub fn window(&self) -> &Window {
        &self.window
    }

    /// Gives up the window and returns the bare key.
    pub fn into_key(self) -> K {
        self.key
    }
}

impl<K: fmt::Display> fmt::Display for Windowed<K> {
    /// Formats as Kafka Streams' `Windowed.toString()`: `[key@start/end]`,
    /// so logs and test expectations read the same in both.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}@{}/{}]",
            self.key, self.window.start_ms, self.window.end_ms
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_new_validates_bounds() {
        assert_eq!(Window::new(3, 3).unwrap().start(), 3);
        assert_eq!(
            Window::new(-5, 3),
            Err(WindowError::NegativeStart { start_ms: -5 })
        );
        assert_eq!(
            Window::new(7, 6),
            Err(WindowError::EndBeforeStart {
                start_ms: 7,
                end_ms: 6
            })
        );
    }

    #[test]
    fn half_open_overlap() {
        let a = Window::new(0, 10).unwrap();
        let b = Window::new(10, 20).unwrap();
        let c = Window::new(5, 15).unwrap();
        assert!(!a.overlap(&b));
        assert!(!b.overlap(&a));
        assert!(a.overlap(&c));
        assert!(c.overlap(&b));
        assert!(a.overlap(&a));
    }

    #[test]
    fn inclusive_overlap() {
        let a = Window::new(0, 10).unwrap();
        let b = Window::new(10, 20).unwrap();
        let d = Window::new(11, 20).unwrap();
        assert!(a.overlap_inclusive(&b));
        assert!(b.overlap_inclusive(&a));
        assert!(!a.overlap_inclusive(&d));
        let point = Window::new(5, 5).unwrap();
        assert!(point.overlap_inclusive(&a));
    }

    #[test]
    fn windowed_display_matches_kafka() {
        let w = Windowed::new(42, Window::new(100, 200).unwrap());
        assert_eq!(w.to_string(), "[42@100/200]");
        let w = Windowed::new("k", Window::new(0, i64::MAX).unwrap());
        assert_eq!(w.to_string(), "[k@0/9223372036854775807]");
    }

    #[test]
    fn window_display_matches_kafka() {
        assert_eq!(
            Window::new(0, 10).unwrap().to_string(),
            "Window{startMs=0, endMs=10}"
        );
    }

    #[test]
    fn windowed_equality_and_accessors() {
        let w1 = Windowed::new("a", Window::new(0, 10).unwrap());
        let w2 = Windowed::new("a", Window::new(10, 20).unwrap());
        assert_ne!(w1, w2);
        assert!(w1 < w2);
        assert_eq!(*w1.key(), "a");
        assert_eq!(w1.window().start(), 0);
        assert_eq!(w1.clone().into_key(), "a");
    }

    #[test]
    fn duration_conversion_truncates_and_bounds() {
        assert_eq!(duration_to_ms(Duration::from_micros(1999), "x"), Ok(1));
        assert_eq!(
            duration_to_ms(Duration::from_millis(i64::MAX as u64), "x"),
            Ok(i64::MAX)
        );
        assert_eq!(
            duration_to_ms(Duration::from_millis(i64::MAX as u64 + 1), "size"),
            Err(WindowError::DurationTooLarge { parameter: "size" })
        );
        assert_eq!(
            duration_to_ms(Duration::MAX, "size"),
            Err(WindowError::DurationTooLarge { parameter: "size" })
        );
    }

    #[test]
    fn error_messages_name_the_fix() {
        let msg = WindowError::InvalidAdvance {
            size_ms: 10,
            advance_ms: 20,
        }
        .to_string();
        assert!(msg.contains("between 1 ms and 10 ms"), "{msg}");
        let msg = WindowError::DurationTooLarge { parameter: "size" }.to_string();
        assert!(msg.starts_with("size is too large"), "{msg}");
    }
}
