//! A thread for the slow parts of a segmented store's life that nothing
//! waits for: closing and deleting an expired segment, opening the next one.
//!
//! A window or session store keeps one RocksDB database per time segment.
//! Every segment interval (per store and partition) one segment expires and
//! one is created, and both block for milliseconds: closing a database
//! writes its memtables to a table file first (the write-ahead log is off,
//! so RocksDB will not drop unpersisted data), deleting it removes its
//! files, and opening one writes and syncs its manifest and options files.
//! On the stream thread that was a third of an in-process hopping count's
//! time and of a stream-stream join's (`e2e inprocess`, timed around the
//! calls). None of it changes what the store returns: an expired segment
//! has already left the store's map, and a segment opened ahead is not part
//! of the store until a write needs it. So the store hands that work to one
//! shared thread and carries on; it waits only when it closes, so that
//! whoever opens the same directories next never meets a database still
//! being closed or deleted.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Condvar, Mutex, OnceLock, PoisonError};

type Job = Box<dyn FnOnce() + Send>;

/// The shared thread's queue, started on first use; `None` if the thread
/// could not be started (jobs then run on the caller's thread).
fn queue() -> Option<Sender<Job>> {
    static QUEUE: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("kstreams-segments".into())
            .spawn(move || {
                for job in rx {
                    // A job that panics must not take the thread (and every
                    // later job) with it; its owner's count still drops.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    queue
        .as_ref()
        .map(|tx| tx.lock().unwrap_or_else(PoisonError::into_inner).clone())
}

/// The jobs one owner handed to the shared thread and has not seen finish.
#[derive(Debug, Default)]
pub(crate) struct Pending(Arc<(Mutex<usize>, Condvar)>);

/// Counts a job finished when dropped, panic or not.
struct Done(Arc<(Mutex<usize>, Condvar)>);

impl Drop for Done {
    fn drop(&mut self) {
        let (count, changed) = &*self.0;
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        *count -= 1;
        changed.notify_all();
    }
}

impl Pending {
    /// Runs `job` on the shared thread (on this one if that thread is
    /// gone), counted until it finishes.
    pub(crate) fn run(&self, job: impl FnOnce() + Send + 'static) {
        *self.0.0.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        let done = Done(Arc::clone(&self.0));
        let job: Job = Box::new(move || {
            let _done = done;
            job();
        });
        if let Some(tx) = queue()
            && let Err(mpsc::SendError(job)) = tx.send(job)
        {
            job();
        }
    }

    /// Blocks until every job handed over so far has finished.
    pub(crate) fn wait(&self) {
        let (count, changed) = &*self.0;
        let mut count = count.lock().unwrap_or_else(PoisonError::into_inner);
        while *count > 0 {
            count = changed.wait(count).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn wait_returns_once_every_job_ran() {
        let pending = Pending::default();
        let ran = Arc::new(AtomicUsize::new(0));
        for _ in 0..20 {
            let ran = Arc::clone(&ran);
            pending.run(move || {
                std::thread::sleep(std::time::Duration::from_millis(2));
                ran.fetch_add(1, Ordering::SeqCst);
            });
        }
        pending.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 20);
    }

    #[test]
    fn a_panicking_job_is_counted_and_the_thread_goes_on() {
        let pending = Pending::default();
        pending.run(|| panic!("job failed"));
        pending.wait();
        let ran = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&ran);
        pending.run(move || {
            seen.fetch_add(1, Ordering::SeqCst);
        });
        pending.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    }
}
