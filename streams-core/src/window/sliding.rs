//! Sliding windows (KIP-450).

use std::time::Duration;

use super::{WindowError, duration_to_ms};

/// Windows of a fixed length that follow the records instead of a grid.
///
/// Two records fall into a common window when their timestamps are at most
/// `time_difference` apart (both bounds inclusive). A window exists only
/// where records are: each record opens the window that ends at its
/// timestamp, and a later record can open the window that starts just after
/// it. This gives the same answers as hopping windows with a 1 ms advance,
/// without computing the many windows that hold nothing new.
///
/// The grace period says how long after a window's end out-of-order records
/// are still admitted; later records are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SlidingWindows {
    time_difference_ms: i64,
    grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows for records at most `time_difference` apart, with no
    /// grace period: a record arriving after its window has ended (in stream
    /// time) is dropped.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::SlidingWindows;
    ///
    /// let windows = SlidingWindows::of_time_difference_with_no_grace(Duration::from_secs(5)).unwrap();
    /// assert_eq!(windows.time_difference_ms(), 5_000);
    /// assert_eq!(windows.grace_ms(), 0);
    /// ```
    pub fn of_time_difference_with_no_grace(
        time_difference: Duration,
    ) -> Result<SlidingWindows, WindowError> {
        SlidingWindows::of_time_difference_and_grace(time_difference, Duration::ZERO)
    }

    /// Sliding windows for records at most `time_difference` apart that still
    /// accept out-of-order records up to `after_window_end` after a window has
    /// ended.
    ///
    /// A time difference of zero is allowed: each window then holds only the
    /// records that share one timestamp.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::SlidingWindows;
    ///
    /// let windows = SlidingWindows::of_time_difference_and_grace(
    ///     Duration::from_millis(10),
    ///     Duration::from_millis(30),
    /// )
    /// .unwrap();
    /// assert_eq!(windows.time_difference_ms(), 10);
    /// assert_eq!(windows.grace_ms(), 30);
    /// ```
    pub fn of_time_difference_and_grace(
        time_difference: Duration,
        after_window_end: Duration,
    ) -> Result<SlidingWindows, WindowError> {
        let time_difference_ms = duration_to_ms(time_difference, "timeDifference")?;
        let grace_ms = duration_to_ms(after_window_end, "afterWindowEnd")?;
        Ok(SlidingWindows {
            time_difference_ms,
            grace_ms,
        })
    }

    /// The largest distance between two records of one window, in
    /// milliseconds; also the length of every window.
    pub fn time_difference_ms(&self) -> i64 {
        self.time_difference_ms
    }

    /// How long after a window's end late records are still admitted, in
    /// milliseconds.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constructors_and_accessors() {
        let w = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(7)).unwrap();
        assert_eq!((w.time_difference_ms(), w.grace_ms()), (7, 0));
        let w = SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(7),
            Duration::from_millis(2),
        )
        .unwrap();
        assert_eq!((w.time_difference_ms(), w.grace_ms()), (7, 2));
        let zero = SlidingWindows::of_time_difference_with_no_grace(Duration::ZERO).unwrap();
        assert_eq!(zero.time_difference_ms(), 0);
    }

    #[test]
    fn too_large_durations_are_rejected() {
        assert_eq!(
            SlidingWindows::of_time_difference_with_no_grace(Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "timeDifference"
            })
        );
        assert_eq!(
            SlidingWindows::of_time_difference_and_grace(Duration::from_millis(1), Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "afterWindowEnd"
            })
        );
    }

    #[test]
    fn equality() {
        let a = SlidingWindows::of_time_difference_with_no_grace(Duration::from_millis(7)).unwrap();
        let b =
            SlidingWindows::of_time_difference_and_grace(Duration::from_millis(7), Duration::ZERO)
                .unwrap();
        assert_eq!(a, b);
        let c = SlidingWindows::of_time_difference_and_grace(
            Duration::from_millis(7),
            Duration::from_millis(1),
        )
        .unwrap();
        assert_ne!(a, c);
    }
}
