//! Session windows.

use std::time::Duration;

use super::{WindowError, duration_to_ms};

/// Windows that grow with activity and close after a period of inactivity.
///
/// Records of one key that are at most `inactivity_gap` apart (inclusive) end
/// up in the same session; a record that bridges two sessions merges them.
/// Sessions therefore have no fixed size and are found per key from the data.
///
/// The grace period says how long after a session's end out-of-order records
/// are still admitted; later records are dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionWindows {
    gap_ms: i64,
    grace_ms: i64,
}

impl SessionWindows {
    /// Sessions separated by `inactivity_gap`, with no grace period: a record
    /// arriving after its session has closed (in stream time) is dropped.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::SessionWindows;
    ///
    /// let sessions = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_secs(30)).unwrap();
    /// assert_eq!(sessions.inactivity_gap_ms(), 30_000);
    /// assert_eq!(sessions.grace_ms(), 0);
    /// assert!(SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO).is_err());
    /// ```
    pub fn of_inactivity_gap_with_no_grace(
        inactivity_gap: Duration,
    ) -> Result<SessionWindows, WindowError> {
        SessionWindows::of_inactivity_gap_and_grace(inactivity_gap, Duration::ZERO)
    }

    /// Sessions separated by `inactivity_gap` that still accept out-of-order
    /// records up to `after_window_end` after a session has ended.
    ///
    /// ```rust
    /// use std::time::Duration;
    /// use streams_core::window::SessionWindows;
    ///
    /// let sessions = SessionWindows::of_inactivity_gap_and_grace(
    ///     Duration::from_millis(5),
    ///     Duration::from_millis(20),
    /// )
    /// .unwrap();
    /// assert_eq!((sessions.inactivity_gap_ms(), sessions.grace_ms()), (5, 20));
    /// ```
    pub fn of_inactivity_gap_and_grace(
        inactivity_gap: Duration,
        after_window_end: Duration,
    ) -> Result<SessionWindows, WindowError> {
        let gap_ms = duration_to_ms(inactivity_gap, "inactivityGap")?;
        let grace_ms = duration_to_ms(after_window_end, "afterWindowEnd")?;
        if gap_ms <= 0 {
            return Err(WindowError::NonPositiveInactivityGap);
        }
        Ok(SessionWindows { gap_ms, grace_ms })
    }

    /// The longest silence, in milliseconds, that still keeps a session
    /// open.
    pub fn inactivity_gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// How long after a session's end late records are still admitted, in
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
        let s = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(5)).unwrap();
        assert_eq!((s.inactivity_gap_ms(), s.grace_ms()), (5, 0));
        let s = SessionWindows::of_inactivity_gap_and_grace(
            Duration::from_millis(5),
            Duration::from_millis(9),
        )
        .unwrap();
        assert_eq!((s.inactivity_gap_ms(), s.grace_ms()), (5, 9));
    }

    #[test]
    fn validation() {
        assert_eq!(
            SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO),
            Err(WindowError::NonPositiveInactivityGap)
        );
        assert_eq!(
            SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_nanos(999_999)),
            Err(WindowError::NonPositiveInactivityGap)
        );
        assert_eq!(
            SessionWindows::of_inactivity_gap_with_no_grace(Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "inactivityGap"
            })
        );
        assert_eq!(
            SessionWindows::of_inactivity_gap_and_grace(Duration::from_millis(1), Duration::MAX),
            Err(WindowError::DurationTooLarge {
                parameter: "afterWindowEnd"
            })
        );
        assert!(
            WindowError::NonPositiveInactivityGap
                .to_string()
                .contains("at least 1 ms")
        );
    }

    #[test]
    fn equality() {
        let a = SessionWindows::of_inactivity_gap_with_no_grace(Duration::from_millis(5)).unwrap();
        let b =
            SessionWindows::of_inactivity_gap_and_grace(Duration::from_millis(5), Duration::ZERO)
                .unwrap();
        assert_eq!(a, b);
    }
}
