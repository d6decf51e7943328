//! Task state directories, their locks and `.checkpoint` files.
//!
//! Each task keeps its stores under `<state.dir>/<application.id>/<task>/`
//! (`0_1` ...). A task directory is locked while a task uses it, so two
//! instances (in this process or in another one on the same machine) never
//! open the same stores: the lock is a `.lock` file holding the owner's
//! process id, plus a registry of the directories this process holds. A
//! lock file left by a process that no longer runs is taken over.
//!
//! The `.checkpoint` file has Kafka Streams' `OffsetCheckpoint` layout:
//!
//! ```text
//! 0                         <- version
//! 2                         <- number of entries
//! app-counts-changelog 1 41 <- topic, partition, offset of the last record in the store
//! ...
//! ```

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use super::errors::{RuntimeError, RuntimeResult};
use crate::processor::TaskId;

/// The lock file's name (Kafka Streams' `.lock`).
pub(crate) const LOCK_FILE: &str = ".lock";
/// The checkpoint file's name (Kafka Streams' `.checkpoint`).
pub(crate) const CHECKPOINT_FILE: &str = ".checkpoint";

/// Changelog offsets: `(topic, partition) -> offset of the last record the
/// stores hold`.
pub(crate) type Checkpoint = BTreeMap<(String, i32), i64>;

fn held() -> &'static Mutex<HashSet<PathBuf>> {
    static HELD: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    HELD.get_or_init(|| Mutex::new(HashSet::new()))
}

fn dir_error(path: &Path, reason: impl std::fmt::Display) -> RuntimeError {
    RuntimeError::StateDir {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// `<state.dir>/<application.id>`.
#[derive(Debug, Clone)]
pub(crate) struct StateDirectory {
    root: PathBuf,
}

impl StateDirectory {
    /// Creates the application's state directory if needed.
    pub(crate) fn new(root: PathBuf) -> RuntimeResult<Self> {
        fs::create_dir_all(&root).map_err(|e| {
            dir_error(
                &root,
                format!("cannot create it ({e}): set state.dir to a writable directory"),
            )
        })?;
        Ok(StateDirectory { root })
    }

    pub(crate) fn task_dir(&self, id: TaskId) -> PathBuf {
        self.root.join(id.to_string())
    }

    /// Locks the directory of task `id`, creating it; `Ok(None)` when
    /// another owner holds it (the caller retries later).
    pub(crate) fn lock(&self, id: TaskId) -> RuntimeResult<Option<TaskDirLock>> {
        let dir = self.task_dir(id);
        fs::create_dir_all(&dir).map_err(|e| dir_error(&dir, format!("cannot create it: {e}")))?;
        let mut registry = held()
            .lock()
            .map_err(|_| dir_error(&dir, "lock registry poisoned"))?;
        if registry.contains(&dir) {
            return Ok(None);
        }
        let lock_path = dir.join(LOCK_FILE);
        let me = std::process::id();
        match fs::read_to_string(&lock_path) {
            Ok(content) => {
                let owner: Option<u32> = content.trim().parse().ok();
                match owner {
                    Some(pid) if pid != me && process_alive(pid) => return Ok(None),
                    _ => log::info!("taking over the stale lock of {}", dir.display()),
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(dir_error(&lock_path, format!("cannot read it: {e}"))),
        }
        let mut f = fs::File::create(&lock_path)
            .map_err(|e| dir_error(&lock_path, format!("cannot write it: {e}")))?;
        write!(f, "{me}").map_err(|e| dir_error(&lock_path, format!("cannot write it: {e}")))?;
        registry.insert(dir.clone());
        Ok(Some(TaskDirLock { dir }))
    }

    /// Deletes the directories of tasks nobody holds that were last used
    /// more than `delay` ago (Kafka Streams' state cleaner).
    pub(crate) fn clean_unowned(&self, delay: Duration) {
        let Ok(entries) = fs::read_dir(&self.root) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if !is_task_dir_name(name) || !path.is_dir() {
                continue;
            }
            let Some(id) = parse_task_id(name) else {
                continue;
            };
            let age = last_modified(&path).and_then(|t| SystemTime::now().duration_since(t).ok());
            if age.is_none_or(|a| a < delay) {
                continue;
            }
            if let Ok(Some(lock)) = self.lock(id) {
                log::info!(
                    "deleting the state directory {} of task {id}, which this instance no longer owns",
                    path.display()
                );
                lock.wipe_and_remove();
            }
        }
    }
}

fn last_modified(dir: &Path) -> Option<SystemTime> {
    let mut newest = fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    if let Ok(m) = fs::metadata(dir.join(CHECKPOINT_FILE)).and_then(|m| m.modified()) {
        newest = newest.max(m);
    }
    if let Ok(m) = fs::metadata(dir.join(LOCK_FILE)).and_then(|m| m.modified()) {
        newest = newest.max(m);
    }
    Some(newest)
}

fn is_task_dir_name(name: &str) -> bool {
    parse_task_id(name).is_some()
}

fn parse_task_id(name: &str) -> Option<TaskId> {
    let (sub, part) = name.split_once('_')?;
    Some(TaskId {
        subtopology: sub.parse().ok()?,
        partition: part.parse().ok()?,
    })
}

/// Whether a process with this id runs (Linux: `/proc/<pid>` exists; where
/// `/proc` is missing every other process counts as alive).
fn process_alive(pid: u32) -> bool {
    let proc_root = Path::new("/proc");
    if !proc_root.join("self").exists() {
        return true;
    }
    proc_root.join(pid.to_string()).exists()
}

/// A held task directory; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct TaskDirLock {
    dir: PathBuf,
}

impl TaskDirLock {
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The checkpoint, empty when there is none (or it cannot be read, which
    /// is logged: the stores are then restored from the start).
    pub(crate) fn read_checkpoint(&self) -> Checkpoint {
        let path = self.dir.join(CHECKPOINT_FILE);
        match fs::read_to_string(&path) {
            Ok(text) => match parse_checkpoint(&text) {
                Some(c) => c,
                None => {
                    log::warn!("ignoring the unreadable checkpoint {}", path.display());
                    Checkpoint::new()
                }
            },
            Err(_) => Checkpoint::new(),
        }
    }

    /// Writes the checkpoint atomically (temporary file, then rename).
    pub(crate) fn write_checkpoint(&self, checkpoint: &Checkpoint) -> RuntimeResult<()> {
        let path = self.dir.join(CHECKPOINT_FILE);
        let tmp = self.dir.join(format!("{CHECKPOINT_FILE}.tmp"));
        let mut text = format!("0\n{}\n", checkpoint.len());
        for ((topic, partition), offset) in checkpoint {
            text.push_str(&format!("{topic} {partition} {offset}\n"));
        }
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        };
        write().map_err(|e| dir_error(&path, format!("cannot write the checkpoint: {e}")))
    }

    pub(crate) fn delete_checkpoint(&self) {
        let _ = fs::remove_file(self.dir.join(CHECKPOINT_FILE));
    }

    /// Deletes everything in the directory but the lock: the stores are
    /// rebuilt from their changelogs (after a dirty close under
    /// exactly-once, their content may include uncommitted writes).
    pub(crate) fn wipe(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == LOCK_FILE) {
                continue;
            }
            let result = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            if let Err(e) = result {
                log::warn!("cannot delete {}: {e}", path.display());
            }
        }
    }

    fn wipe_and_remove(self) {
        self.wipe();
        let _ = fs::remove_file(self.dir.join(LOCK_FILE));
        let _ = fs::remove_dir(&self.dir);
    }
}

impl Drop for TaskDirLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join(LOCK_FILE));
        if let Ok(mut registry) = held().lock() {
            registry.remove(&self.dir);
        }
    }
}

pub(crate) fn parse_checkpoint(text: &str) -> Option<Checkpoint> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    let mut out = Checkpoint::new();
    for line in lines.take(count) {
        let mut parts = line.split_whitespace();
        let topic = parts.next()?.to_string();
        let partition: i32 = parts.next()?.parse().ok()?;
        let offset: i64 = parts.next()?.parse().ok()?;
        out.insert((topic, partition), offset);
    }
    (out.len() == count).then_some(out)
}

/// The file under `<state.dir>/<application.id>` that keeps the instance's
/// process id across restarts (Kafka Streams' name and JSON layout).
pub(crate) const PROCESS_FILE: &str = "kafka-streams-process-metadata";

/// The process id kept in `app_state_dir`, or `fresh` (then written there)
/// when there is none, as Kafka Streams does for applications with
/// persistent stores.
///
/// The id names the instance's transactional producers, so a restarted
/// instance fences its predecessor and aborts the transaction the
/// predecessor left open: otherwise that transaction would hold back
/// `read_committed` readers, restoring changelogs included, until it timed
/// out.
pub(crate) fn persistent_process_id(app_state_dir: &Path, fresh: &str) -> String {
    let file = app_state_dir.join(PROCESS_FILE);
    if let Ok(text) = fs::read_to_string(&file)
        && let Ok(json) = serde_json::from_str::<serde_json::Value>(&text)
        && let Some(id) = json.get("processId").and_then(|v| v.as_str())
        && !id.is_empty()
    {
        return id.to_string();
    }
    let written = fs::create_dir_all(app_state_dir)
        .and_then(|()| fs::write(&file, serde_json::json!({ "processId": fresh }).to_string()));
    if let Err(e) = written {
        log::warn!(
            "cannot keep the process id in {}: {e}; a restart will not fence this instance's transactions",
            file.display()
        );
    }
    fresh.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The process id survives a restart, in Kafka Streams' file and JSON
    /// layout; a file without one is replaced.
    #[test]
    fn the_process_id_is_kept_in_the_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let app = dir.path().join("app");
        assert_eq!(persistent_process_id(&app, "first"), "first");
        assert_eq!(
            std::fs::read_to_string(app.join(PROCESS_FILE)).unwrap(),
            r#"{"processId":"first"}"#
        );
        assert_eq!(persistent_process_id(&app, "second"), "first");
        std::fs::write(app.join(PROCESS_FILE), "{}").unwrap();
        assert_eq!(persistent_process_id(&app, "third"), "third");
        assert_eq!(persistent_process_id(&app, "fourth"), "third");
    }

    #[test]
    fn checkpoint_round_trips_in_kafka_layout() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(dir.path().join("app")).unwrap();
        let id = TaskId {
            subtopology: 1,
            partition: 2,
        };
        let lock = sd.lock(id).unwrap().unwrap();
        assert!(
            sd.lock(id).unwrap().is_none(),
            "a held directory cannot be locked twice"
        );
        let mut c = Checkpoint::new();
        c.insert(("app-s-changelog".into(), 2), 41);
        lock.write_checkpoint(&c).unwrap();
        let text = fs::read_to_string(lock.dir().join(CHECKPOINT_FILE)).unwrap();
        assert_eq!(text, "0\n1\napp-s-changelog 2 41\n");
        assert_eq!(lock.read_checkpoint(), c);
        drop(lock);
        let again = sd.lock(id).unwrap().unwrap();
        assert_eq!(again.read_checkpoint(), c);
    }

    #[test]
    fn stale_lock_of_dead_process_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let sd = StateDirectory::new(dir.path().join("app")).unwrap();
        let id = TaskId {
            subtopology: 0,
            partition: 0,
        };
        let tdir = sd.task_dir(id);
        fs::create_dir_all(&tdir).unwrap();
        fs::write(tdir.join(LOCK_FILE), "999999999").unwrap();
        assert!(sd.lock(id).unwrap().is_some());
    }
}
