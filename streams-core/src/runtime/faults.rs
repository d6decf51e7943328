//! Fault injection for tests (cargo feature `fault-injection`, off by
//! default): makes the runtime meet failures that a healthy single-node
//! broker never produces, so that the recovery paths run against real
//! brokers in tests.
//!
//! Faults are armed per `application.id`, because the tests of one binary
//! run side by side in one process.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

fn abortable_commits() -> &'static Mutex<HashMap<String, u32>> {
    static FAULTS: OnceLock<Mutex<HashMap<String, u32>>> = OnceLock::new();
    FAULTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Makes the next `n` exactly-once commits of the application
/// `application_id` fail as if the broker had answered the transaction
/// commit with an abortable error: the transaction is left open, and the
/// thread must abort it and recover its tasks (Kafka Streams'
/// `TaskCorruptedException` path).
///
/// ```
/// streams_core::runtime::faults::fail_next_commits("my-app", 2);
/// ```
pub fn fail_next_commits(application_id: &str, n: u32) {
    if let Ok(mut f) = abortable_commits().lock() {
        f.insert(application_id.to_string(), n);
    }
}

/// Consumes one armed commit failure of `application_id`, if any.
pub(crate) fn take_commit_failure(application_id: &str) -> bool {
    let Ok(mut f) = abortable_commits().lock() else {
        return false;
    };
    match f.get_mut(application_id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

fn changelog_creation_failures() -> &'static Mutex<HashMap<String, String>> {
    static FAULTS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    FAULTS.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Makes the next creation of changelog topics by the application
/// `application_id` fail with `reason`, as a broker refusing them would
/// (an authorization error, a replication factor larger than the
/// cluster): `start` must stop the threads it started and return the
/// error.
///
/// ```
/// streams_core::runtime::faults::fail_next_changelog_creation("my-app", "TOPIC_AUTHORIZATION_FAILED");
/// ```
pub fn fail_next_changelog_creation(application_id: &str, reason: &str) {
    if let Ok(mut f) = changelog_creation_failures().lock() {
        f.insert(application_id.to_string(), reason.to_string());
    }
}

/// Consumes the armed changelog-creation failure of `application_id`, if
/// any: its reason.
pub(crate) fn take_changelog_creation_failure(application_id: &str) -> Option<String> {
    changelog_creation_failures()
        .lock()
        .ok()?
        .remove(application_id)
}
