//! The one place that reads the wall clock. Everything else is handed `now`.

use jiff::Timestamp;

/// A source of the current time; injected so the engine can be driven by tests and the demo.
pub trait Clock: Send + Sync + 'static {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
