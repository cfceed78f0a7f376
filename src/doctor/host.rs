//! What `doctor` reads of a machine: files under a root (`/`, or a mounted installation, or a
//! fixture folder in tests), and commands through the runner. Everything doctor looks at goes
//! through [`Host`], so its checks are tested on fixture roots with a fake runner.

use crate::error::Result;
use crate::runner::{Cmd, Output, Runner};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a file is, as `lstat` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub is_dir: bool,
    pub is_link: bool,
}

/// The machine doctor examines.
pub trait Host {
    /// A file's bytes (`path` is absolute on the machine).
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    fn read_link(&self, path: &str) -> Option<String>;
    /// `lstat`: a symbolic link is reported as one.
    fn meta(&self, path: &str) -> Option<Meta>;
    /// The names in a directory, sorted.
    fn list(&self, dir: &str) -> Option<Vec<String>>;
    /// Runs a program on the machine (never with the root prefix: commands see the real system).
    fn run(&self, cmd: &Cmd) -> Result<Output>;
    /// Where the machine's `/` lies on the machine itself (`/` unless a mounted installation is
    /// examined): mount points in `/proc/self/mountinfo` are under it.
    fn root(&self) -> &str;
    /// Whether the examined root is a booted system (its activation made /etc/hostid, the
    /// /etc/machine-id link, /etc/fstab; its journal is this boot's), not a mounted tree.
    fn booted(&self) -> bool;
    fn exists(&self, path: &str) -> bool {
        self.meta(path).is_some()
    }
    fn read_string(&self, path: &str) -> Option<String> {
        self.read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// Where `path` of the examined root lies as the machine sees it (`/persist` → `/mnt/persist`
    /// for a root mounted at `/mnt`): how mount points in mountinfo are named.
    fn machine_path(&self, path: &str) -> String {
        match self.root().trim_end_matches('/') {
            "" => path.to_string(),
            r => format!("{r}{path}"),
        }
    }
    /// The machine's mount table (`/proc/self/mountinfo`); empty when it cannot be read.
    fn mounts(&self) -> Vec<crate::mounts::Mount> {
        self.read_string("/proc/self/mountinfo").map(|t| crate::mounts::parse(&t)).unwrap_or_default()
    }
}

/// Where `path` of a root at `root` on this machine lies (`/etc/x` under `/mnt` → `/mnt/etc/x`).
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// This machine: files under `files` (the fixture folder or `/`; for `--root DIR`, DIR, its
/// `/run` included: what the examined system's boot left there, such as the rollback's failure
/// marker, is its own, not the running system's), the kernel's view (`/proc`, `/sys`, `/dev`)
/// from `system` (`/`, or the fixture folder), and commands through `runner`.
pub struct LocalHost<'r, R: Runner> {
    pub files: PathBuf,
    pub system: PathBuf,
    /// The examined root as the machine sees it (`/`, `/mnt`).
    pub root: String,
    pub booted: bool,
    pub runner: &'r R,
}

impl<'r, R: Runner> LocalHost<'r, R> {
    /// The running system.
    pub fn live(runner: &'r R) -> Self {
        LocalHost { files: "/".into(), system: "/".into(), root: "/".into(), booted: true, runner }
    }
    /// An installation mounted at `root` (its files), seen from the running system.
    pub fn mounted(root: &Path, runner: &'r R) -> Self {
        LocalHost { files: root.into(), system: "/".into(), root: root.display().to_string(), booted: false, runner }
    }
    /// A fixture folder standing for a whole booted machine (its /proc, /sys, /dev and /etc).
    pub fn fixture(dir: &Path, runner: &'r R) -> Self {
        LocalHost { files: dir.into(), system: dir.into(), root: "/".into(), booted: true, runner }
    }

    fn path(&self, p: &str) -> PathBuf {
        let rel = p.trim_start_matches('/');
        let kernel = ["proc/", "sys/", "dev/"].iter().any(|k| rel.starts_with(k));
        if kernel { self.system.join(rel) } else { self.files.join(rel) }
    }
}

impl<R: Runner> Host for LocalHost<'_, R> {
    fn read(&self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(path)).ok()
    }
    fn read_link(&self, path: &str) -> Option<String> {
        std::fs::read_link(self.path(path)).ok().map(|p| p.display().to_string())
    }
    fn meta(&self, path: &str) -> Option<Meta> {
        let m = std::fs::symlink_metadata(self.path(path)).ok()?;
        Some(Meta {
            mode: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            is_dir: m.is_dir(),
            is_link: m.file_type().is_symlink(),
        })
    }
    fn list(&self, dir: &str) -> Option<Vec<String>> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(dir))
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        v.sort();
        Some(v)
    }
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        self.runner.output(cmd)
    }
    fn root(&self) -> &str {
        &self.root
    }
    fn booted(&self) -> bool {
        self.booted
    }
}
