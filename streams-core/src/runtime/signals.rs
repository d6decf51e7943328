//! [`ShutdownSignal`]: Ctrl-C (SIGINT) and SIGTERM as a flag, so that an
//! application closes its `KafkaStreams` cleanly when asked to stop.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::error::StreamsError;

/// Becomes triggered on Ctrl-C or SIGTERM (SIGTERM on Unix only).
///
/// ```no_run
/// use std::time::Duration;
/// use streams_core::runtime::ShutdownSignal;
/// let signal = ShutdownSignal::install().unwrap();
/// // ... start KafkaStreams ...
/// signal.wait(Duration::from_secs(3600));
/// // ... close it ...
/// ```
#[derive(Clone, Debug)]
pub struct ShutdownSignal {
    inner: Arc<(Mutex<bool>, Condvar)>,
}

impl ShutdownSignal {
    /// Installs the handlers. They are in place when this returns (a small
    /// background thread then waits for the signals), so a signal that
    /// arrives afterwards is never lost to the default action (killing the
    /// process).
    pub fn install() -> Result<Self, StreamsError> {
        let inner = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = inner.clone();
        let error = |e: std::io::Error| {
            StreamsError::Config(format!("cannot install signal handlers: {e}"))
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(error)?;
        // Creating the signal streams registers the handlers; it needs the
        // runtime's context but no running task.
        #[cfg(unix)]
        let signals = {
            use tokio::signal::unix::{SignalKind, signal};
            let _context = runtime.enter();
            (
                signal(SignalKind::interrupt()).map_err(error)?,
                signal(SignalKind::terminate()).map_err(error)?,
            )
        };
        std::thread::Builder::new()
            .name("shutdown-signal".into())
            .spawn(move || {
                runtime.block_on(async move {
                    #[cfg(unix)]
                    {
                        let (mut interrupt, mut terminate) = signals;
                        tokio::select! {
                            _ = interrupt.recv() => {}
                            _ = terminate.recv() => {}
                        }
                    }
                    #[cfg(not(unix))]
                    {
                        let _ = tokio::signal::ctrl_c().await;
                    }
                });
                let (lock, cond) = &*flag;
                if let Ok(mut triggered) = lock.lock() {
                    *triggered = true;
                }
                cond.notify_all();
            })
            .map_err(error)?;
        Ok(ShutdownSignal { inner })
    }

    /// Whether a signal arrived.
    pub fn triggered(&self) -> bool {
        self.inner.0.lock().map(|t| *t).unwrap_or(true)
    }

    /// Waits for a signal up to `timeout`; returns whether one arrived.
    pub fn wait(&self, timeout: Duration) -> bool {
        let (lock, cond) = &*self.inner;
        let Ok(guard) = lock.lock() else { return true };
        match cond.wait_timeout_while(guard, timeout, |t| !*t) {
            Ok((t, _)) => *t,
            Err(_) => true,
        }
    }
}
