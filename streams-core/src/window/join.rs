//! Join windows for stream-stream joins.

use std::time::Duration;

use super::{WindowError, duration_to_ms};

/// Kafka Streams' grace period for the deprecated `JoinWindows.of()`: one day,
/// minus the window size.
const LEGACY_DEFAULT_GRACE_MS: i64 = 24 * 60 * 60 * 1000;

/// How far apart in time two records of a stream-stream join may be.
///
/// A record at `t` on the left joins right records with timestamps in
/// `[t - before, t + after]` (both bounds inclusive); the right side sees the
/// mirrored interval. `before` and `after` start equal to the time difference
/// and can be changed separately with [`JoinWindows::before`] and
/// [`JoinWindows::after`].
///
/// The grace period says how long out-of-order records are still joined.
/// With the spurious-result fix on (always, for the
/// `of_time_difference_*` constructors), left and outer joins hold back a
/// record that found no partner until its window has closed, instead of
/// emitting an early `(value, None)` result that a later match would
/// contradict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct JoinWindows {
    before_ms: i64,
    after_ms: i64,
    grace_ms: i64,
    spurious_result_fix: bool,
}

impl JoinWindows {
    /// Joins records at most `time_difference` apart, with no grace period:
    /// out-of-order records arriving after the window has closed are not
    /// joined.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(1)).unwrap();
    /// assert_eq!((windows.before_ms(), windows.after_ms()), (1_000, 1_000));
    /// assert_eq!(windows.size_ms(), 2_000);
    /// assert_eq!(windows.grace_ms(), 0);
    /// assert!(windows.spurious_result_fix_enabled());
    /// ```
    pub fn of_time_difference_with_no_grace(
        time_difference: Duration,
    ) -> Result<JoinWindows, WindowError> {
        JoinWindows::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }

    /// Joins records at most `time_difference` apart, still accepting
    /// out-of-order records up to `after_window_end` after the window has
    /// closed.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_and_grace(
    ///     Duration::from_millis(100),
    ///     Duration::from_millis(50),
    /// )
    /// .unwrap();
    /// assert_eq!(windows.size_ms(), 200);
    /// assert_eq!(windows.grace_ms(), 50);
    /// assert!(windows.spurious_result_fix_enabled());
    /// ```
    pub fn of_time_difference_and_grace(
        time_difference: Duration,
        after_window_end: Duration,
    ) -> Result<JoinWindows, WindowError> {
        let difference_ms = duration_to_ms(time_difference, "timeDifference")?;
        let grace_ms = duration_to_ms(after_window_end, "afterWindowEnd")?;
        JoinWindows::from_ms(difference_ms, difference_ms, grace_ms, true)
    }

    /// Join windows as Kafka Streams' deprecated `JoinWindows.of()` built
    /// them: a grace period of one day minus twice the time difference (at
    /// least zero), and the spurious-result fix **off**, so left and outer
    /// joins emit unmatched records eagerly.
    ///
    /// Prefer the `of_time_difference_*` constructors; this one exists so
    /// that topologies ported from older Kafka Streams code keep their exact
    /// output.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_legacy(Duration::from_secs(60)).unwrap();
    /// assert_eq!(windows.grace_ms(), 86_400_000 - 120_000);
    /// assert!(!windows.spurious_result_fix_enabled());
    /// ```
    pub fn of_legacy(time_difference: Duration) -> Result<JoinWindows, WindowError> {
        let difference_ms = duration_to_ms(time_difference, "timeDifference")?;
        let grace_ms = LEGACY_DEFAULT_GRACE_MS
            .saturating_sub(difference_ms.saturating_mul(2))
            .max(0);
        JoinWindows::from_ms(difference_ms, difference_ms, grace_ms, false)
    }

    /// Changes how far *before* a record's timestamp partners may lie,
    /// keeping the other bound.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10))
    ///     .unwrap()
    ///     .before(Duration::ZERO)
    ///     .unwrap();
    /// assert_eq!((windows.before_ms(), windows.after_ms()), (0, 10));
    /// ```
    pub fn before(self, time_difference: Duration) -> Result<JoinWindows, WindowError> {
        let before_ms = duration_to_ms(time_difference, "timeDifference")?;
        self.with_before_ms(before_ms)
    }

    /// Changes how far *after* a record's timestamp partners may lie,
    /// keeping the other bound.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10))
    ///     .unwrap()
    ///     .after(Duration::from_millis(30))
    ///     .unwrap();
    /// assert_eq!((windows.before_ms(), windows.after_ms()), (10, 30));
    /// assert_eq!(windows.size_ms(), 40);
    /// ```
    pub fn after(self, time_difference: Duration) -> Result<JoinWindows, WindowError> {
        let after_ms = duration_to_ms(time_difference, "timeDifference")?;
        self.with_after_ms(after_ms)
    }

    /// Sets the *before* bound in signed milliseconds.
    ///
    /// Kafka Streams accepts a negative bound, which moves the start of the
    /// window after the record's timestamp, as long as `before + after` stays
    /// non-negative. A [`Duration`] cannot be negative, hence this method.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10))
    ///     .unwrap()
    ///     .with_before_ms(-5)
    ///     .unwrap();
    /// assert_eq!(windows.size_ms(), 5);
    /// assert!(windows.with_before_ms(-11).is_err());
    /// ```
    pub fn with_before_ms(self, before_ms: i64) -> Result<JoinWindows, WindowError> {
        JoinWindows::from_ms(
            before_ms,
            self.after_ms,
            self.grace_ms,
            self.spurious_result_fix,
        )
    }

    /// Sets the *after* bound in signed milliseconds; see
    /// [`JoinWindows::with_before_ms`] for why it may be negative.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::JoinWindows;
    ///
    /// let windows = JoinWindows::of_time_difference_with_no_grace(Duration::from_millis(10))
    ///     .unwrap()
    ///     .with_after_ms(-10)
    ///     .unwrap();
    /// assert_eq!((windows.before_ms(), windows.after_ms(), windows.size_ms()), (10, -10, 0));
    /// ```
    pub fn with_after_ms(self, after_ms: i64) -> Result<JoinWindows, WindowError> {
        JoinWindows::from_ms(
            self.before_ms,
            after_ms,
            self.grace_ms,
            self.spurious_result_fix,
        )
    }

    fn from_ms(
        before_ms: i64,
        after_ms: i64,
        grace_ms: i64,
        spurious_result_fix: bool,
    ) -> Result<JoinWindows, WindowError> {
        match before_ms.checked_add(after_ms) {
            Some(size) if size >= 0 => Ok(JoinWindows {
                before_ms,
                after_ms,
                grace_ms,
                spurious_result_fix,
            }),
            _ => Err(WindowError::InvalidJoinWindowSize {
                before_ms,
                after_ms,
            }),
        }
    }

    /// How far before a record's timestamp partners may lie, in
    /// milliseconds (negative if the window starts after the record).
    pub fn before_ms(&self) -> i64 {
        self.before_ms
    }

    /// How far after a record's timestamp partners may lie, in milliseconds
    /// (negative if the window ends before the record).
    pub fn after_ms(&self) -> i64 {
        self.after_ms
    }

    /// The length of the join window, `before + after`, in milliseconds; the
    /// window size of the join's window stores.
    pub fn size_ms(&self) -> i64 {
        // Checked on construction: the sum neither overflows nor is negative.
        self.before_ms + self.after_ms
    }

    /// How long out-of-order records are still joined after the window has
    /// closed, in milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Whether left and outer joins hold back unmatched records until their
    /// window closes (true for the `of_time_difference_*` constructors,
    /// false for [`JoinWindows::of_legacy`]).
    pub fn spurious_result_fix_enabled(&self) -> bool {
        self.spurious_result_fix
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn symmetric_constructors() {
        let w = JoinWindows::of_time_difference_with_no_grace(ms(10)).unwrap();
        assert_eq!(
            (w.before_ms(), w.after_ms(), w.size_ms(), w.grace_ms()),
            (10, 10, 20, 0)
        );
        assert!(w.spurious_result_fix_enabled());
        let w = JoinWindows::of_time_difference_and_grace(ms(10), ms(7)).unwrap();
        assert_eq!(w.grace_ms(), 7);
        assert!(w.spurious_result_fix_enabled());
        let zero = JoinWindows::of_time_difference_with_no_grace(Duration::ZERO).unwrap();
        assert_eq!(zero.size_ms(), 0);
    }

    #[test]
    fn before_and_after_keep_grace_and_flag() {
        let w = JoinWindows::of_time_difference_and_grace(ms(10), ms(3))
            .unwrap()
            .before(ms(2))
            .unwrap()
            .after(ms(5))
            .unwrap();
        assert_eq!(
            (w.before_ms(), w.after_ms(), w.size_ms(), w.grace_ms()),
            (2, 5, 7, 3)
        );
        assert!(w.spurious_result_fix_enabled());
        let legacy = JoinWindows::of_legacy(ms(10))
            .unwrap()
            .after(ms(1))
            .unwrap();
        assert!(!legacy.spurious_result_fix_enabled());
    }

    #[test]
    fn negative_bounds_follow_kafka_rule() {
        let w = JoinWindows::of_time_difference_with_no_grace(ms(10)).unwrap();
        let shifted = w.with_before_ms(-3).unwrap();
        assert_eq!((shifted.before_ms(), shifted.size_ms()), (-3, 7));
        assert_eq!(
            w.with_before_ms(-11),
            Err(WindowError::InvalidJoinWindowSize {
                before_ms: -11,
                after_ms: 10
            })
        );
        assert_eq!(
            w.with_after_ms(-11),
            Err(WindowError::InvalidJoinWindowSize {
                before_ms: 10,
                after_ms: -11
            })
        );
        assert!(w.with_after_ms(-10).is_ok());
    }

    #[test]
    fn size_overflow_is_an_error() {
        let max = ms(i64::MAX as u64);
        assert_eq!(
            JoinWindows::of_time_difference_with_no_grace(max),
            Err(WindowError::InvalidJoinWindowSize {
                before_ms: i64::MAX,
                after_ms: i64::MAX
            })
        );
        let w = JoinWindows::of_time_difference_with_no_grace(Duration::ZERO)
            .unwrap()
            .after(max)
            .unwrap();
        assert_eq!(w.size_ms(), i64::MAX);
        assert!(w.with_before_ms(1).is_err());
        assert_eq!(
            JoinWindows::of_time_difference_with_no_grace(Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "timeDifference"
            })
        );
        assert_eq!(
            JoinWindows::of_time_difference_and_grace(ms(1), Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "afterWindowEnd"
            })
        );
    }

    #[test]
    fn legacy_grace() {
        assert_eq!(
            JoinWindows::of_legacy(ms(1_000)).unwrap().grace_ms(),
            86_400_000 - 2_000
        );
        assert_eq!(
            JoinWindows::of_legacy(ms(43_200_000)).unwrap().grace_ms(),
            0
        );
        assert_eq!(
            JoinWindows::of_legacy(ms(50_000_000)).unwrap().grace_ms(),
            0
        );
    }

    #[test]
    fn equality_includes_the_fix_flag() {
        let a = JoinWindows::of_time_difference_with_no_grace(ms(10)).unwrap();
        let b = JoinWindows::of_time_difference_and_grace(ms(10), Duration::ZERO).unwrap();
        assert_eq!(a, b);
        let c = JoinWindows::of_legacy(ms(10)).unwrap();
        assert_ne!(a, c);
    }
}
