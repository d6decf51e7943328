//! Tumbling and hopping time windows.

use std::time::Duration;

use super::{Window, WindowError, duration_to_ms};

/// Fixed-size windows aligned to the epoch, for windowed aggregations.
///
/// A window covers `[start, start + size)`. Windows start every `advance`
/// milliseconds from 0: with `advance == size` they tile time without gaps or
/// overlap (*tumbling* windows), with `advance < size` they overlap and a
/// record falls into several of them (*hopping* windows). Because windows are
/// aligned to the epoch rather than to the first record, every instance of an
/// application agrees on the window boundaries.
///
/// The grace period says how long after a window's end out-of-order records
/// are still admitted; later records are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimeWindows {
    size_ms: i64,
    advance_ms: i64,
    grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` with no grace period: a record arriving
    /// after its window has ended (in stream time) is dropped.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::TimeWindows;
    ///
    /// let windows = TimeWindows::of_size_with_no_grace(Duration::from_secs(60)).unwrap();
    /// assert_eq!(windows.size_ms(), 60_000);
    /// assert_eq!(windows.advance_ms(), 60_000);
    /// assert_eq!(windows.grace_ms(), 0);
    /// ```
    pub fn of_size_with_no_grace(size: Duration) -> Result<TimeWindows, WindowError> {
        TimeWindows::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` that still accept out-of-order records up
    /// to `after_window_end` after a window has ended.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::TimeWindows;
    ///
    /// let windows =
    ///     TimeWindows::of_size_and_grace(Duration::from_millis(10), Duration::from_millis(5))
    ///         .unwrap();
    /// assert_eq!(windows.grace_ms(), 5);
    /// assert!(TimeWindows::of_size_and_grace(Duration::ZERO, Duration::ZERO).is_err());
    /// ```
    pub fn of_size_and_grace(
        size: Duration,
        after_window_end: Duration,
    ) -> Result<TimeWindows, WindowError> {
        let size_ms = duration_to_ms(size, "size")?;
        let grace_ms = duration_to_ms(after_window_end, "afterWindowEnd")?;
        TimeWindows::from_ms(size_ms, size_ms, grace_ms)
    }

    /// Turns these windows into hopping windows that start every `advance`
    /// instead of every `size`. The advance must lie in `(0, size]`.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::TimeWindows;
    ///
    /// let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
    ///     .unwrap()
    ///     .advance_by(Duration::from_millis(5))
    ///     .unwrap();
    /// assert_eq!(hopping.advance_ms(), 5);
    /// let starts: Vec<i64> = hopping.windows_for(12).map(|w| w.start()).collect();
    /// assert_eq!(starts, vec![5, 10]);
    /// ```
    pub fn advance_by(self, advance: Duration) -> Result<TimeWindows, WindowError> {
        let advance_ms = duration_to_ms(advance, "advance")?;
        TimeWindows::from_ms(self.size_ms, advance_ms, self.grace_ms)
    }

    fn from_ms(size_ms: i64, advance_ms: i64, grace_ms: i64) -> Result<TimeWindows, WindowError> {
        if size_ms <= 0 {
            return Err(WindowError::NonPositiveSize);
        }
        if advance_ms <= 0 || advance_ms > size_ms {
            return Err(WindowError::InvalidAdvance {
                size_ms,
                advance_ms,
            });
        }
        Ok(TimeWindows {
            size_ms,
            advance_ms,
            grace_ms,
        })
    }

    /// The length of each window, in milliseconds.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// The distance between the starts of consecutive windows, in
    /// milliseconds (equal to the size for tumbling windows).
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// How long after a window's end late records are still admitted, in
    /// milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// The windows a record with timestamp `timestamp_ms` belongs to, oldest
    /// first.
    ///
    /// The first start is `(max(0, ts - size + advance) / advance) * advance`
    /// and starts then step by `advance` while they are `<= ts`, as in Kafka
    /// Streams. No window starts before 0, so a negative timestamp belongs to
    /// no window. Where `start + size` would pass `i64::MAX` the end is
    /// clamped to `i64::MAX`, as Kafka Streams does when it rebuilds windows
    /// from stored keys.
    pub fn windows_for(&self, timestamp_ms: i64) -> TimeWindowsFor {
        // Computed in i128 so that timestamps near either end of the i64
        // range cannot overflow; the result lies in [0, max(ts, 0)].
        let lowest = (i128::from(timestamp_ms) - i128::from(self.size_ms)
            + i128::from(self.advance_ms))
        .max(0);
        let advance = i128::from(self.advance_ms);
        let first_start = (lowest / advance) * advance;
        TimeWindowsFor {
            // first_start <= max(ts, 0) <= i64::MAX, so this cannot fail;
            // i64::MAX is a start that is never reached (> any ts) otherwise.
            next_start: i64::try_from(first_start).ok(),
            timestamp_ms,
            size_ms: self.size_ms,
            advance_ms: self.advance_ms,
        }
    }
}

/// The windows a timestamp belongs to, as returned by
/// [`TimeWindows::windows_for`].
///
/// An iterator rather than a collection, so that the aggregation hot path
/// does not allocate per record.
#[derive(Debug, Clone)]
pub struct TimeWindowsFor {
    next_start: Option<i64>,
    timestamp_ms: i64,
    size_ms: i64,
    advance_ms: i64,
}

impl Iterator for TimeWindowsFor {
    type Item = Window;

    fn next(&mut self) -> Option<Window> {
        let start = self.next_start?;
        if start > self.timestamp_ms {
            self.next_start = None;
            return None;
        }
        self.next_start = start.checked_add(self.advance_ms);
        let end = start.saturating_add(self.size_ms);
        Some(Window::from_valid_bounds(start, end))
    }
}

impl std::iter::FusedIterator for TimeWindowsFor {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn bounds(windows: &TimeWindows, ts: i64) -> Vec<(i64, i64)> {
        windows
            .windows_for(ts)
            .map(|w| (w.start(), w.end()))
            .collect()
    }

    #[test]
    fn tumbling_windows_for() {
        let w = TimeWindows::of_size_with_no_grace(ms(10)).unwrap();
        assert_eq!(bounds(&w, 0), vec![(0, 10)]);
        assert_eq!(bounds(&w, 9), vec![(0, 10)]);
        assert_eq!(bounds(&w, 10), vec![(10, 20)]);
        assert_eq!(bounds(&w, 25), vec![(20, 30)]);
    }

    #[test]
    fn hopping_windows_for() {
        // Kafka's TimeWindowsTest example: size 5000, advance 3000.
        let w = TimeWindows::of_size_with_no_grace(ms(5000))
            .unwrap()
            .advance_by(ms(3000))
            .unwrap();
        assert_eq!(bounds(&w, 0), vec![(0, 5000)]);
        assert_eq!(bounds(&w, 3000), vec![(0, 5000), (3000, 8000)]);
        assert_eq!(bounds(&w, 4999), vec![(0, 5000), (3000, 8000)]);
        assert_eq!(bounds(&w, 5000), vec![(3000, 8000)]);
        assert_eq!(bounds(&w, 6000), vec![(3000, 8000), (6000, 11000)]);

        let w = TimeWindows::of_size_with_no_grace(ms(10))
            .unwrap()
            .advance_by(ms(5))
            .unwrap();
        // Near 0, no negative starts are produced.
        assert_eq!(bounds(&w, 3), vec![(0, 10)]);
        assert_eq!(bounds(&w, 5), vec![(0, 10), (5, 15)]);
        assert_eq!(bounds(&w, 12), vec![(5, 15), (10, 20)]);
    }

    #[test]
    fn hopping_with_advance_one() {
        let w = TimeWindows::of_size_with_no_grace(ms(3))
            .unwrap()
            .advance_by(ms(1))
            .unwrap();
        assert_eq!(bounds(&w, 5), vec![(3, 6), (4, 7), (5, 8)]);
        assert_eq!(bounds(&w, 1), vec![(0, 3), (1, 4)]);
    }

    #[test]
    fn negative_timestamp_has_no_windows() {
        let w = TimeWindows::of_size_with_no_grace(ms(10)).unwrap();
        assert!(bounds(&w, -1).is_empty());
        assert!(bounds(&w, i64::MIN).is_empty());
    }

    #[test]
    fn overflow_safe_near_max() {
        let w = TimeWindows::of_size_with_no_grace(ms(10))
            .unwrap()
            .advance_by(ms(5))
            .unwrap();
        let ts = i64::MAX;
        let got = bounds(&w, ts);
        // (MAX - 5) / 5 * 5 = 9223372036854775800 (MAX = ...807).
        assert_eq!(
            got,
            vec![
                (9_223_372_036_854_775_800, i64::MAX),
                (9_223_372_036_854_775_805, i64::MAX)
            ]
        );

        let huge = TimeWindows::of_size_with_no_grace(ms(i64::MAX as u64)).unwrap();
        assert_eq!(bounds(&huge, 7), vec![(0, i64::MAX)]);
        assert_eq!(bounds(&huge, i64::MAX - 1), vec![(0, i64::MAX)]);
        // The window holding i64::MAX itself starts there; its end is clamped.
        assert_eq!(bounds(&huge, i64::MAX), vec![(i64::MAX, i64::MAX)]);
    }

    #[test]
    fn validation() {
        assert_eq!(
            TimeWindows::of_size_with_no_grace(Duration::ZERO),
            Err(WindowError::NonPositiveSize)
        );
        // Sub-millisecond sizes truncate to 0, as Duration.toMillis does.
        assert_eq!(
            TimeWindows::of_size_with_no_grace(Duration::from_micros(999)),
            Err(WindowError::NonPositiveSize)
        );
        let w = TimeWindows::of_size_with_no_grace(ms(10)).unwrap();
        assert_eq!(
            w.advance_by(Duration::ZERO),
            Err(WindowError::InvalidAdvance {
                size_ms: 10,
                advance_ms: 0
            })
        );
        assert_eq!(
            w.advance_by(ms(11)),
            Err(WindowError::InvalidAdvance {
                size_ms: 10,
                advance_ms: 11
            })
        );
        assert!(w.advance_by(ms(10)).is_ok());
        assert_eq!(
            TimeWindows::of_size_with_no_grace(Duration::MAX),
            Err(WindowError::DurationTooLarge { parameter: "size" })
        );
        assert_eq!(
            TimeWindows::of_size_and_grace(ms(1), Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "afterWindowEnd"
            })
        );
        assert_eq!(
            w.advance_by(Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "advance"
            })
        );
    }

    #[test]
    fn advance_keeps_grace_and_equality() {
        let a = TimeWindows::of_size_and_grace(ms(10), ms(3))
            .unwrap()
            .advance_by(ms(2))
            .unwrap();
        assert_eq!(a.size_ms(), 10);
        assert_eq!(a.advance_ms(), 2);
        assert_eq!(a.grace_ms(), 3);
        let b = TimeWindows::of_size_and_grace(ms(10), ms(3))
            .unwrap()
            .advance_by(ms(2))
            .unwrap();
        assert_eq!(a, b);
        assert_ne!(a, TimeWindows::of_size_and_grace(ms(10), ms(3)).unwrap());
    }
}
