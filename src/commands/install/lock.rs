//! One install per disk and per state directory at a time, and the disk kept from udev while a
//! destructive step writes it.
//!
//! **Whole-run exclusion.** `blankroot install` holds, from before the gate to its end, an
//! exclusive BSD lock (`flock(LOCK_EX|LOCK_NB)`) on two files:
//! - `<state_dir>/lock`, taken first: the plan and the receipt are kept beside it, and two runs
//!   sharing a state directory would overwrite each other's;
//! - [`LOCK_DIR`]`/<kernel name>.lock` (`/run/blankroot/lock/vda.lock`), taken as soon as the
//!   plan names the disk. It is keyed by the kernel device the plan's `target.disk.device`
//!   resolves to, not by the name the user typed, so `/dev/vda` and
//!   `/dev/disk/by-id/virtio-disk01` meet the same lock. Two runs on one disk with separate
//!   state directories both passed the gate before this lock existed; one lost only because
//!   sfdisk happened to find the disk busy, and then reported the disk unchanged while the
//!   other had just partitioned it.
//!
//! A second run refuses at once (exit 3, the machine is not usable now), naming the holder
//! from the record the holder writes into the file once it holds the lock (truncating first):
//! its pid, start time, disk, state directory and argv (blankroot never puts a secret on its
//! argv). The pid is confirmed alive (`/proc/<pid>`); a record that cannot be read, or that
//! names a process that has ended, makes it "another process". Why flock and these files:
//! a flock lock belongs to the open file, so it vanishes with the process however it ends (a
//! crash, `kill -9`, a power cut: `/run` is a RAM file system anyway), and a stale lock can
//! never block a later run; the record is only for people. The files are opened `O_CLOEXEC`
//! (Rust's default), so the programs blankroot runs do not inherit the locks and cannot keep
//! them after blankroot has ended. Lock files are never removed: removing one while another
//! run waits to open it would give two runs two different files, both "locked".
//!
//! **The block device itself** (util-linux and systemd's "block device locking" protocol,
//! <https://systemd.io/BLOCK_DEVICE_LOCKING/>): while a destructive step's commands write the
//! disk (`partition`, `format-esp`, `luks-format`, `pool-create`), blankroot holds
//! `flock(LOCK_EX)` on the whole disk's device node (`/dev/vda`, also while a partition of it
//! is written: udevd locks the whole disk of any partition it probes), so udevd does not probe
//! a half-written table or file system, and other tools that follow the protocol (sfdisk
//! `--lock`, systemd-repart) wait. udevd holds `LOCK_SH` briefly while it probes, so the lock
//! is taken with a bounded retry ([`DEVICE_PATIENCE`]) and a failure names the problem. It is
//! released around every `udevadm` command and after the step, and it is not held for the
//! whole run, because udevd (systemd ≥ 251, "udev: requeue event when the corresponding block
//! device is locked by another process") requeues the events of a device locked `LOCK_EX`
//! until the lock goes: `udevadm settle` under the lock would wait for ever, and the
//! partitions' `/dev/disk/by-id` links the next steps use would never appear.

use crate::error::{Error, Result};
use crate::plan::TargetDisk;
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Where the disk locks live (made 0700 when missing; a RAM file system on every installer).
pub(crate) const LOCK_DIR: &str = "/run/blankroot/lock";

/// How long a destructive step waits for the whole disk's lock (udevd's probes take it for
/// well under a second).
pub(crate) const DEVICE_PATIENCE: Duration = Duration::from_secs(30);

/// How long a refused run waits for the holder's record to be readable: the holder writes it
/// right after it takes the lock, so a run that lost by a hair may find it empty at first.
const RECORD_PATIENCE: Duration = Duration::from_secs(1);

/// Who holds a lock: what the holder writes into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    pub pid: u32,
    pub started_unix: u64,
    /// The same time as UTC text, `2026-12-02 17:01:02 UTC`.
    pub started: String,
    /// The disk as the plan names it, once known.
    pub disk: Option<String>,
    /// Absolute.
    pub state_dir: PathBuf,
    pub argv: Vec<String>,
}

impl Holder {
    /// This process, with this state directory.
    pub(crate) fn this_process(state_dir: &Path) -> Holder {
        let t = crate::infra::clock::now();
        Holder {
            pid: std::process::id(),
            started_unix: t,
            started: crate::infra::clock::utc_seconds(t),
            disk: None,
            state_dir: std::path::absolute(state_dir).unwrap_or_else(|_| state_dir.to_path_buf()),
            argv: std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect(),
        }
    }

    fn describe(&self) -> String {
        let argv = crate::infra::shell::quote_argv(&self.argv);
        format!("held by pid {} since {}: {argv}", self.pid, self.started)
    }
}

/// One lock file, locked: released when this is dropped or the process ends in any way.
#[derive(Debug)]
pub struct Held {
    file: File,
}

impl Held {
    /// Writes `holder` as the file's record (replacing the previous one).
    pub fn record(&mut self, holder: &Holder) -> io::Result<()> {
        let json = serde_json::to_vec(holder).map_err(io::Error::other)?;
        self.file.set_len(0)?;
        self.file.rewind()?;
        self.file.write_all(&json)?;
        self.file.flush()
    }
}

impl Drop for Held {
    /// The record goes first (best effort), so it never names this process after it ended.
    fn drop(&mut self) {
        let _ = self.file.set_len(0);
    }
}

/// The locks of one `blankroot install` run.
#[derive(Debug)]
pub struct RunLocks {
    holder: Holder,
    state: Held,
    disk: Option<Held>,
}

impl RunLocks {
    /// Locks `<state_dir>/lock` (the directory made if missing), or refuses naming who holds it.
    pub fn state_dir(state_dir: &Path) -> Result<RunLocks> {
        let holder = Holder::this_process(state_dir);
        let shown = crate::error::excerpt(&state_dir.display().to_string());
        std::fs::create_dir_all(state_dir).map_err(|e| {
            Error::env(format!("cannot create the state directory {shown}"))
                .caused_by(e)
                .hint("choose a writable directory with --state-dir")
        })?;
        let path = state_dir.join("lock");
        let state = take(&path, &holder).map_err(|refusal| {
            refusal.into_error(
                format!("the state directory {shown} is in use by another blankroot install"),
                &path,
                "or choose another --state-dir; nothing was changed",
            )
        })?;
        Ok(RunLocks { holder, state, disk: None })
    }

    /// Locks the disk `disk` (by its kernel device) in `lock_dir` ([`LOCK_DIR`]; made 0700 if
    /// missing), or refuses naming who holds it; then names the disk in both records.
    pub fn disk(&mut self, lock_dir: &Path, disk: &TargetDisk) -> Result<()> {
        let mut dirs = std::fs::DirBuilder::new();
        dirs.recursive(true).mode(0o700);
        dirs.create(lock_dir)
            .map_err(|e| Error::env(format!("cannot create the lock directory {}", lock_dir.display())).caused_by(e))?;
        let path = disk_lock_path(lock_dir, &disk.device);
        self.holder.disk = Some(disk.path.clone());
        let shown =
            if disk.path == disk.device { disk.path.clone() } else { format!("{} ({})", disk.path, disk.device) };
        let held = take(&path, &self.holder).map_err(|refusal| {
            refusal.into_error(format!("another blankroot install is running on {shown}"), &path, "nothing was changed")
        })?;
        self.disk = Some(held);
        self.state.record(&self.holder).map_err(|e| record_failed(&self.holder.state_dir.join("lock"), e))
    }
}

/// `<lock_dir>/<kernel name>.lock` for the whole disk `device` (`/dev/vda`, or a link to it):
/// the name it resolves to, with anything but `[A-Za-z0-9._-]` made `_`.
pub(crate) fn disk_lock_path(lock_dir: &Path, device: &str) -> PathBuf {
    let resolved = std::fs::canonicalize(device).unwrap_or_else(|_| PathBuf::from(device));
    let name = resolved.file_name().map_or_else(|| device.to_string(), |n| n.to_string_lossy().into_owned());
    let name: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    lock_dir.join(format!("{name}.lock"))
}

/// Why a lock was not taken.
enum Refusal {
    /// Another process holds it; its record, when readable and alive.
    Held(Option<Holder>),
    Failed(Error),
}

impl Refusal {
    fn into_error(self, message: String, path: &Path, tail: &str) -> Error {
        match self {
            Refusal::Failed(e) => e,
            Refusal::Held(Some(h)) => {
                let dir = match &h.disk {
                    Some(d) => format!(" (disk {d}, state directory {})", h.state_dir.display()),
                    None => format!(" (state directory {})", h.state_dir.display()),
                };
                Error::env(message).caused_by(format!("{}{dir}", h.describe())).hint(format!(
                    "wait for it to end (its receipt: {}), or stop it; {tail}",
                    h.state_dir.join("receipt.json").display()
                ))
            }
            Refusal::Held(None) => Error::env(message)
                .caused_by(format!(
                    "held by another process (its record in {} cannot be read or names no running process)",
                    path.display()
                ))
                .hint(format!("wait for it to end, or stop it (`lslocks` names it); {tail}")),
        }
    }
}

/// Opens `path` (created 0600 if missing; a link or anything but a regular file refused),
/// takes `LOCK_EX|LOCK_NB` and writes `holder` into it.
fn take(path: &Path, holder: &Holder) -> Result<Held, Refusal> {
    let file = open_lock_file(path).map_err(|e| {
        Refusal::Failed(Error::env(format!("cannot open the lock file {}", path.display())).caused_by(e))
    })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(TryLockError::WouldBlock) => return Err(Refusal::Held(read_holder(path))),
        Err(TryLockError::Error(e)) => {
            return Err(Refusal::Failed(Error::env(format!("cannot lock {}", path.display())).caused_by(e)));
        }
    }
    let mut held = Held { file };
    held.record(holder).map_err(|e| Refusal::Failed(record_failed(path, e)))?;
    Ok(held)
}

fn record_failed(path: &Path, e: io::Error) -> Error {
    Error::env(format!("cannot write the lock record {}", path.display())).caused_by(e)
}

/// Opens a lock file for reading and writing without following a link at its name: refused
/// when it is a link or not a regular file before the open, or when what was opened is not
/// what the name holds after it (a link swapped in between).
fn open_lock_file(path: &Path) -> io::Result<File> {
    let not_regular = || io::Error::other("it is not a regular file (a link or something else was put there)");
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_file() => return Err(not_regular()),
        _ => {}
    }
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    let (opened, named) = (file.metadata()?, std::fs::symlink_metadata(path)?);
    if !named.file_type().is_file() || opened.dev() != named.dev() || opened.ino() != named.ino() {
        return Err(not_regular());
    }
    Ok(file)
}

/// The holder's record, when it can be read and names a running process; read again for up to
/// [`RECORD_PATIENCE`] while it cannot (the holder writes it right after taking the lock).
fn read_holder(path: &Path) -> Option<Holder> {
    let deadline = Instant::now() + RECORD_PATIENCE;
    loop {
        let found = crate::infra::fsutil::read_at_most(path, 64 << 10)
            .ok()
            .flatten()
            .and_then(|b| serde_json::from_slice::<Holder>(&b).ok())
            .filter(|h| Path::new(&format!("/proc/{}", h.pid)).exists());
        if found.is_some() || Instant::now() >= deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `flock(LOCK_EX)` on a whole disk's device node while a destructive step writes it (see the
/// module documentation). Taken with [`DeviceLock::acquire`], released with
/// [`DeviceLock::release`] or on drop. The node is opened read-only: closing it raises no udev
/// "change" event (udevd watches for a close after writing).
#[derive(Debug)]
pub struct DeviceLock {
    path: PathBuf,
    patience: Duration,
    file: Option<File>,
}

impl DeviceLock {
    pub fn new(device: &Path) -> DeviceLock {
        DeviceLock::with_patience(device, DEVICE_PATIENCE)
    }

    /// With another bound than [`DEVICE_PATIENCE`] (tests).
    pub(crate) fn with_patience(device: &Path, patience: Duration) -> DeviceLock {
        DeviceLock { path: device.to_path_buf(), patience, file: None }
    }

    /// Whether it is held now.
    pub fn held(&self) -> bool {
        self.file.is_some()
    }

    /// Takes the lock unless held, retrying while another process (udevd probing) holds one.
    pub(crate) fn acquire(&mut self) -> Result<()> {
        if self.file.is_some() {
            return Ok(());
        }
        let shown = self.path.display();
        let file = File::open(&self.path)
            .map_err(|e| Error::env(format!("cannot open {shown} to lock it while it is written")).caused_by(e))?;
        let start = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => {
                    self.file = Some(file);
                    return Ok(());
                }
                Err(TryLockError::WouldBlock) if start.elapsed() < self.patience => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(TryLockError::WouldBlock) => {
                    return Err(Error::env(format!("{shown} stayed locked by another process for {} s", self.patience.as_secs_f64()))
                        .caused_by(format!("blankroot locks the whole disk while it writes it (flock, as udev and util-linux do); udev holds such a lock only for a moment while it probes, so another program is using {shown}"))
                        .hint(format!("find it with `lslocks` or `fuser -v {shown}`, let it finish or stop it")));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(Error::env(format!("cannot lock {shown} while it is written")).caused_by(e));
                }
            }
        }
    }

    /// Releases the lock (closing the device) if held.
    pub fn release(&mut self) {
        self.file = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(path: &str, device: &str) -> TargetDisk {
        TargetDisk {
            path: path.into(),
            device: device.into(),
            size_bytes: 0,
            model: None,
            serial: None,
            by_id: vec![],
            contents: vec![],
            holders: vec![],
        }
    }

    /// Another open file description of `path`, locked (flock locks conflict between them even
    /// within one process).
    fn hold(path: &Path) -> File {
        let f = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).unwrap();
        f.try_lock().unwrap();
        f
    }

    #[test]
    fn a_second_run_on_a_state_directory_is_refused_naming_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state");
        let first = RunLocks::state_dir(&state).unwrap();
        let e = RunLocks::state_dir(&state).unwrap_err();
        assert_eq!(e.kind, crate::error::ErrorKind::Environment);
        assert!(e.message.contains("is in use by another blankroot install"), "{e}");
        let cause = &e.causes[0];
        assert!(cause.starts_with(&format!("held by pid {} since 20", std::process::id())), "{e}");
        assert!(cause.ends_with(&format!("(state directory {})", state.display())), "{e}");
        assert!(e.hint.as_deref().unwrap().contains(&format!("{}/receipt.json", state.display())), "{e}");
        assert!(e.hint.as_deref().unwrap().ends_with("nothing was changed"), "{e}");
        drop(first);
        RunLocks::state_dir(&state).unwrap();
    }

    #[test]
    fn two_names_of_one_disk_meet_one_lock() {
        let dir = tempfile::tempdir().unwrap();
        let node = dir.path().join("vdb");
        std::fs::write(&node, "").unwrap();
        let link = dir.path().join("virtio-disk01");
        std::os::unix::fs::symlink(&node, &link).unwrap();
        let locks = dir.path().join("run/blankroot/lock");
        let mut a = RunLocks::state_dir(&dir.path().join("a")).unwrap();
        a.disk(&locks, &disk("/dev/disk/by-id/virtio-disk01", &link.display().to_string())).unwrap();
        assert_eq!(std::fs::read_dir(&locks).unwrap().count(), 1);
        assert!(locks.join("vdb.lock").exists());
        let mode = std::fs::metadata(dir.path().join("run/blankroot")).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o700, "the lock directory is private");
        let mut b = RunLocks::state_dir(&dir.path().join("b")).unwrap();
        let e = b.disk(&locks, &disk(&node.display().to_string(), &node.display().to_string())).unwrap_err();
        assert_eq!(e.message, format!("another blankroot install is running on {}", node.display()));
        assert!(e.causes[0].starts_with(&format!("held by pid {} since ", std::process::id())), "{e}");
        assert!(e.causes[0].contains("(disk /dev/disk/by-id/virtio-disk01, state directory "), "{e}");
        // The record of the state directory now names the disk too.
        let rec: Holder = serde_json::from_slice(&std::fs::read(dir.path().join("a/lock")).unwrap()).unwrap();
        assert_eq!(rec.disk.as_deref(), Some("/dev/disk/by-id/virtio-disk01"));
        drop(a);
        assert_eq!(std::fs::read(locks.join("vdb.lock")).unwrap(), b"", "the record goes with the lock");
        b.disk(&locks, &disk(&node.display().to_string(), &node.display().to_string())).unwrap();
    }

    #[test]
    fn a_holder_without_a_live_record_is_another_process() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let _other = hold(&path);
        for record in
            ["", "not json", r#"{"pid":4194304,"started_unix":0,"started":"x","disk":null,"state_dir":"/x","argv":[]}"#]
        {
            std::fs::write(&path, record).unwrap();
            let e = RunLocks::state_dir(dir.path()).unwrap_err();
            assert!(e.causes[0].starts_with("held by another process"), "{record:?}: {e}");
            assert!(e.hint.as_deref().unwrap().contains("lslocks"), "{e}");
        }
    }

    #[test]
    fn children_do_not_inherit_the_lock() {
        let dir = tempfile::tempdir().unwrap();
        let locks = RunLocks::state_dir(dir.path()).unwrap();
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        drop(locks);
        // Another test thread forking at this moment shares the lock's open file description
        // until its child execs (O_CLOEXEC closes it there): allow that moment, not the sleep's
        // 30 s, which would hold it if children inherited the lock.
        let mut again = RunLocks::state_dir(dir.path());
        for _ in 0..50 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
            again = RunLocks::state_dir(dir.path());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        again.expect("the lock went with blankroot, not kept by the child it started");
    }

    #[test]
    fn a_link_at_the_lock_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "keep").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join("lock")).unwrap();
        let e = RunLocks::state_dir(dir.path()).unwrap_err();
        assert!(e.message.starts_with("cannot open the lock file"), "{e}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep");
    }

    #[test]
    fn the_device_lock_waits_for_a_holder_within_its_bound() {
        let dir = tempfile::tempdir().unwrap();
        let dev = dir.path().join("vda");
        std::fs::write(&dev, "").unwrap();
        let other = hold(&dev);
        let mut lock = DeviceLock::with_patience(&dev, Duration::from_millis(200));
        let e = lock.acquire().unwrap_err();
        assert!(e.message.contains("stayed locked by another process for 0.2 s"), "{e}");
        assert!(!lock.held());
        // A holder that lets go while it waits (as udevd after its probe): the lock is taken.
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(other);
        });
        let mut lock = DeviceLock::with_patience(&dev, Duration::from_secs(20));
        lock.acquire().unwrap();
        t.join().unwrap();
        assert!(lock.held());
        assert!(OpenOptions::new().read(true).open(&dev).unwrap().try_lock().is_err(), "held: others are refused");
        lock.release();
        assert!(OpenOptions::new().read(true).open(&dev).unwrap().try_lock().is_ok(), "released");
    }

    #[test]
    fn times_are_shown_in_utc_to_the_second() {
        assert_eq!(crate::infra::clock::utc_seconds(1_796_230_862), "2026-12-02 17:01:02 UTC");
    }
}
