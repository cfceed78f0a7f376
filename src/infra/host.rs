//! The machine blankroot acts on, one seam for all of it: its files and its commands. Every
//! probe, check and command goes through [`Host`]: [`LocalHost`] is this machine (its `/`, an
//! installation mounted under it with `--root`, or a fixture folder standing for a whole
//! machine in tests), with its commands run by a [`Runner`] (the real [`crate::infra::runner::Local`]
//! or the recording fake); the fake [`crate::infra::runner::Recording`] is itself a host with
//! no files. A remote machine (SSH) is another implementation of the same trait.

use crate::error::Result;
use crate::infra::runner::{Cmd, Output, Runner};
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

/// A machine: its files (paths are absolute on the machine) and its commands. `Sync`, so
/// independent questions (the probe's) can be asked at the same time.
pub trait Host: Sync {
    /// Runs a program on the machine and returns its output whatever the exit status; errors
    /// only when the program could not be started. Commands see the real system, never a root
    /// prefix.
    fn output(&self, cmd: &Cmd) -> Result<Output>;
    /// Runs the program and hands each line of its stdout (without the newline) to `line` as
    /// it comes; the returned output has the status and stderr, and no stdout.
    fn stream_lines(&self, cmd: &Cmd, line: &mut dyn FnMut(&[u8])) -> Result<Output>;
    /// A file's bytes.
    fn read(&self, path: &str) -> Option<Vec<u8>>;
    fn read_link(&self, path: &str) -> Option<String>;
    /// `lstat`: a symbolic link is reported as one.
    fn meta(&self, path: &str) -> Option<Meta>;
    /// The names in a directory, sorted.
    fn list(&self, dir: &str) -> Option<Vec<String>>;
    /// Where the machine's `/` lies on the machine itself (`/` unless a mounted installation is
    /// examined): mount points in `/proc/self/mountinfo` are under it.
    fn root(&self) -> &str;
    /// Whether the examined root is a booted system (its activation made /etc/hostid, the
    /// /etc/machine-id link, /etc/fstab; its journal is this boot's), not a mounted tree.
    fn booted(&self) -> bool;
    /// The folder of this process's own machine where the examined root's files are, for the
    /// commands that change files in place (persist, verify-rollback arm, regenerate): `None`
    /// for a machine whose files this process cannot write directly.
    fn local_root(&self) -> Option<&Path>;

    /// Runs the command and fails, with the stderr tail, unless it exits 0.
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        crate::infra::runner::checked(cmd, self.output(cmd)?)
    }
    fn exists(&self, path: &str) -> bool {
        self.meta(path).is_some()
    }
    fn read_string(&self, path: &str) -> Option<String> {
        self.read(path).map(|b| String::from_utf8_lossy(&b).into_owned())
    }
    /// Where `path` of the examined root lies as the machine sees it (`/persist` → `/mnt/persist`
    /// for a root mounted at `/mnt`): how mount points in mountinfo are named.
    fn machine_path(&self, path: &str) -> String {
        super::paths::machine_path(self.root(), path)
    }
    /// The machine's mount table (`/proc/self/mountinfo`); empty when it cannot be read.
    fn mounts(&self) -> Vec<crate::infra::mounts::Mount> {
        self.read_string("/proc/self/mountinfo").map(|t| crate::infra::mounts::parse(&t)).unwrap_or_default()
    }
    /// The path `path` leads to with every symbolic link on the way followed (up to 32), as the
    /// machine would resolve it (absolute links from the examined root).
    fn resolve(&self, path: &str) -> String {
        let mut todo: Vec<String> = path.split('/').filter(|c| !c.is_empty()).rev().map(String::from).collect();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_str() {
                "." => continue,
                ".." => {
                    done.pop();
                    continue;
                }
                _ => {}
            }
            let candidate = format!("/{}", done.iter().chain([&c]).cloned().collect::<Vec<_>>().join("/"));
            match self.read_link(&candidate) {
                Some(target) if hops < 32 => {
                    hops += 1;
                    if target.starts_with('/') {
                        done.clear();
                    }
                    todo.extend(target.split('/').filter(|c| !c.is_empty()).rev().map(String::from));
                }
                _ => done.push(c),
            }
        }
        format!("/{}", done.join("/"))
    }
}

/// This machine: files under `files` (`/`, or for `--root DIR`, DIR, its `/run` included: what
/// the examined system's boot left there, such as the rollback's failure marker, is its own,
/// not the running system's; a fixture folder in tests), the kernel's view (`/proc`, `/sys`,
/// `/dev`) from `system` (`/`, or the fixture folder), and commands through `runner`.
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
    /// The running system, or with `root` the installation mounted there.
    pub fn at(root: Option<&Path>, runner: &'r R) -> Self {
        root.map_or_else(|| Self::live(runner), |r| Self::mounted(r, runner))
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
    fn output(&self, cmd: &Cmd) -> Result<Output> {
        self.runner.output(cmd)
    }
    fn stream_lines(&self, cmd: &Cmd, line: &mut dyn FnMut(&[u8])) -> Result<Output> {
        self.runner.stream_lines(cmd, line)
    }
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
    fn root(&self) -> &str {
        &self.root
    }
    fn booted(&self) -> bool {
        self.booted
    }
    fn local_root(&self) -> Option<&Path> {
        Some(&self.files)
    }
}
