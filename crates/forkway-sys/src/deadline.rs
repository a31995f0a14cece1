//! Deadlines: every timed wait in forkway counts down to one.

use std::time::{Duration, Instant};

/// How long a timed operation waits at least for an internal lock that other processes hold
/// only for a few instructions or one copy (a queue's, a barrier's), even when its own timeout
/// is zero: a `_nowait` call must not fail merely because another process was inside such a
/// section. Waiting longer than this means the holder is stopped or stuck, and the timeout wins.
pub const LOCK_GRACE: Duration = Duration::from_millis(100);

/// A point in time to wait until, or "never". Every timed wait in forkway goes through one.
///
/// Construction saturates: a timeout too large to add to the clock (`Duration::MAX`, or just
/// centuries) is a deadline that never passes, never an overflow panic. So a huge timeout means
/// "wait for ever", as in Python.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Deadline(Option<Instant>);

impl Deadline {
    /// A deadline that has already passed: "do not wait" (the `_nowait` and `try_` forms).
    #[inline]
    pub fn now() -> Deadline {
        Deadline(Some(Instant::now()))
    }

    /// A deadline that never passes: wait as long as it takes.
    #[inline]
    pub fn never() -> Deadline {
        Deadline(None)
    }

    /// `timeout` from now; a timeout the clock cannot represent is [`Deadline::never`].
    #[inline]
    pub fn after(timeout: Duration) -> Deadline {
        Deadline(Instant::now().checked_add(timeout))
    }

    /// [`Deadline::after`] for `Some(timeout)`, [`Deadline::never`] for `None` (the
    /// `timeout: Option<Duration>` parameters of Python-style APIs).
    pub fn from_timeout(timeout: Option<Duration>) -> Deadline {
        timeout.map_or(Deadline::never(), Deadline::after)
    }

    /// The later of `self` and `grace` from now: what a wait for a lock that other processes
    /// hold only briefly gets, so that a zero timeout does not fail merely because another
    /// process was in the middle of a short critical section.
    #[inline]
    pub fn at_least(self, grace: Duration) -> Deadline {
        match self.0 {
            None => self,
            Some(at) => {
                let floor = Deadline::after(grace);
                match floor.0 {
                    Some(floor_at) if floor_at <= at => self,
                    _ => floor,
                }
            }
        }
    }

    /// Time left: `None` for no limit, `Some(ZERO)` once passed.
    #[inline]
    pub fn left(&self) -> Option<Duration> {
        self.0.map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Whether the deadline is behind us.
    #[inline]
    pub fn passed(&self) -> bool {
        self.left() == Some(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_the_clock_cannot_hold_is_never() {
        assert_eq!(Deadline::after(Duration::MAX), Deadline::never());
        assert_eq!(Deadline::from_timeout(None), Deadline::never());
        assert_eq!(Deadline::never().left(), None);
        assert!(!Deadline::never().passed());
    }

    #[test]
    fn now_has_passed_and_grace_extends_it() {
        assert!(Deadline::now().passed());
        let graced = Deadline::now().at_least(Duration::from_secs(60));
        assert!(!graced.passed());
        assert!(graced.left().is_some_and(|left| left > Duration::from_secs(30)));
        assert_eq!(Deadline::never().at_least(LOCK_GRACE), Deadline::never());
    }

    #[test]
    fn grace_does_not_shorten_a_later_deadline() {
        let later = Deadline::after(Duration::from_secs(3600));
        assert_eq!(later.at_least(LOCK_GRACE), later);
    }
}
