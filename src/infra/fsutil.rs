//! Writing files safely: the one place blankroot creates or rewrites a file (its state files,
//! the plan it saves, a domain XML, blankroot.toml and blankroot.nix, the rollback canary), and
//! reads one of them back with a bound ([`read_at_most`]).
//!
//! A write goes to a new temporary file in the directory of the file it replaces, opened with
//! `O_CREAT|O_EXCL` (`create_new`) under a random name, so nothing planted there is opened or
//! followed (open(3p): "If O_CREAT and O_EXCL are set, and path names a symbolic link, open()
//! shall fail with [EEXIST], regardless of the contents of the symbolic link"). It is mode 0600
//! while it is filled, then `sync_all`ed, given the owner, group and mode of the file it
//! replaces (fchown, then fchmod: chown clears set-id bits), renamed over it, and the directory
//! synced. Readers see the old or the new content, never a part; on any failure the temporary
//! file is removed and the file is as it was.
//!
//! What the file may be:
//! - missing: created with [`Opts::new_mode`], less the umask, like any new file;
//! - a regular file with one link: replaced, keeping owner, group and mode (or taking
//!   [`Opts::mode`]). Not kept: extended attributes, and so POSIX ACLs and SELinux labels, and
//!   the timestamps (it is a new file);
//! - a regular file with more than one link: refused (replacing it would split the links, and
//!   writing in place is not atomic);
//! - a directory, fifo, socket or device: refused;
//! - a symbolic link: per [`Links`], refused, or followed hop by hop and the regular file it
//!   ends at replaced, the link left a link. Never is a link turned into a regular file.

use crate::error::{Error, Result, excerpt};
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Reads at most `max` bytes of the file at `path`: `None` when it holds more (an endless
/// source such as a device is never read whole). For the files blankroot reads back: its saved
/// plan and receipt, a domain XML.
pub(crate) fn read_at_most(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let mut bytes = Vec::new();
    File::open(path)?.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    Ok((bytes.len() as u64 <= max).then_some(bytes))
}

/// How every temporary file's name ends (`.<name>.<16 hex digits>.blankroot-tmp`).
pub const TEMP_SUFFIX: &str = ".blankroot-tmp";
/// Links followed at most, Linux's own limit (path_resolution(7): "a maximum of 40 links").
const MAX_HOPS: usize = 40;

/// What to do when the file to write is a symbolic link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Links {
    /// Refuse: the file is blankroot's own, and a link there was put there by someone else.
    Refuse,
    /// Replace the file the link ends at, leaving the link as it is. A link in a sticky,
    /// world-writable directory (/tmp) is followed only when the kernel would follow it.
    Follow,
    /// Like `Follow`, but only to a file inside this directory: the root of an installation
    /// mounted elsewhere, whose absolute links name files of the running system, not its own.
    FollowWithin(PathBuf),
}

/// How to write.
#[derive(Debug, Clone)]
pub struct Opts {
    pub links: Links,
    /// The mode of a new file (less the umask).
    pub new_mode: u32,
    /// The mode the file gets whether new or replaced (a record that must stay private).
    pub mode: Option<u32>,
    /// The hint when the write itself fails (a full disk, a read-only directory).
    pub hint: &'static str,
    /// A fifo or character device (a pipe, `/dev/stdout`, `/dev/null`; also reached through
    /// a link such as `/dev/fd/63`) is written to directly, as a shell's `>` would: it holds
    /// no file to replace. Otherwise it is refused like any file that is not regular.
    pub streams: bool,
}

impl Opts {
    /// Links handled per `links`, a new file 0666 less the umask, an old one keeps its mode.
    pub fn new(links: Links, hint: &'static str) -> Opts {
        Opts { links, new_mode: 0o666, mode: None, hint, streams: false }
    }
}

/// Writes `data` to `path`: created, or replaced as the module says.
pub fn write(path: &Path, data: &[u8], opts: &Opts) -> Result<()> {
    if opts.streams && is_stream(path) {
        return OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| f.write_all(data))
            .map_err(|e| Error::env(format!("cannot write {}", shown(path))).caused_by(e).hint(opts.hint));
    }
    let (target, old) = prepare(path, opts)?;
    let dir = dir_of(&target);
    let first_mode = if old.is_some() || opts.mode.is_some() { 0o600 } else { opts.new_mode };
    let (tmp, mut file) = temp_file(dir, &target, first_mode).map_err(|e| failed(path, e, opts))?;
    let done = fill(&mut file, data, old.as_ref(), opts).and_then(|()| std::fs::rename(&tmp, &target));
    drop(file);
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(path, e, opts));
    }
    // The rename is durable once the directory is; a file system that cannot sync a directory
    // has nothing more to do.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// The file `write(path, …, opts)` would replace (where links lead), or the refusal `write`
/// would make; a first look before reading a file that is to be rewritten (a fifo would block
/// the reader). Changes nothing.
pub fn target(path: &Path, opts: &Opts) -> Result<PathBuf> {
    prepare(path, opts).map(|(target, _)| target)
}

/// Fails unless `write(path, …, opts)` could go ahead: every refusal `write` makes, and a
/// temporary file created (and removed) beside the file. Changes nothing.
pub fn check(path: &Path, opts: &Opts) -> Result<()> {
    let (target, _) = prepare(path, opts)?;
    let (tmp, file) = temp_file(dir_of(&target), &target, 0o600).map_err(|e| failed(path, e, opts))?;
    drop(file);
    std::fs::remove_file(&tmp).map_err(|e| failed(path, e, opts))
}

/// Makes a new, empty directory `.<name>.<random>.blankroot-tmp` in `dir`, mode 0700 (mkdir
/// never follows a link at its name: it fails with EEXIST), for work that takes its final
/// name by a rename once complete.
pub fn temp_dir(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let name: String = name.chars().take(48).collect();
    let mut builder = std::fs::DirBuilder::new();
    builder.mode(0o700);
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{}{TEMP_SUFFIX}", random_hex()?));
        match builder.create(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => return other.map(|()| tmp),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
}

/// `new` with the line endings of `original`: when every line of `original` ends with CRLF,
/// each bare LF of `new` becomes CRLF; otherwise `new` as it is (LF, or a mix kept as given).
pub(crate) fn keep_line_endings(original: &str, new: &str) -> String {
    let crlf = original.matches("\r\n").count();
    if crlf == 0 || crlf != original.matches('\n').count() {
        return new.to_string();
    }
    let mut out = String::with_capacity(new.len() + new.len() / 16);
    let mut prev = '\0';
    for c in new.chars() {
        if c == '\n' && prev != '\r' {
            out.push('\r');
        }
        out.push(c);
        prev = c;
    }
    out
}

/// Whether `path` (links followed by the kernel, magic ones of /proc included) is a fifo or a
/// character device.
fn is_stream(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_fifo() || m.file_type().is_char_device())
}

/// The file to replace (where links lead, when followed) and its metadata if it exists, or
/// the refusal.
fn prepare(path: &Path, opts: &Opts) -> Result<(PathBuf, Option<Metadata>)> {
    let target = resolve(path, &opts.links)?;
    match std::fs::symlink_metadata(&target) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((target, None)),
        Err(e) => Err(failed(path, e, opts)),
        Ok(m) if !m.file_type().is_file() => {
            Err(refuse(path, &target, &format!("is {}, not a regular file", kind(&m)))
                .hint("give the path of a regular file (or of one that does not exist yet)"))
        }
        Ok(m) if m.nlink() > 1 => Err(refuse(path, &target, &format!("has {} hard links", m.nlink()))
            .caused_by("replacing it would leave the other names with the old content")
            .hint("make it a file of its own (`cp -p FILE FILE.new && mv FILE.new FILE`), then run again")),
        Ok(m) => Ok((target, Some(m))),
    }
}

/// `path`, or where its links lead (followed per `links`), refusing what may not be followed.
fn resolve(path: &Path, links: &Links) -> Result<PathBuf> {
    let mut at = path.to_path_buf();
    for _ in 0..=MAX_HOPS {
        let meta = match std::fs::symlink_metadata(&at) {
            Ok(m) => m,
            // Missing (a new file) or unreadable: `prepare` says which.
            Err(_) if at == path => return Ok(at),
            Err(e) => {
                return Err(refuse(path, path, &format!("is a symbolic link to {}, which does not exist", shown(&at)))
                    .caused_by(e)
                    .hint("point the link at an existing file, or give the real path"));
            }
        };
        if !meta.file_type().is_symlink() {
            return within(path, at, links);
        }
        if *links == Links::Refuse {
            return Err(refuse(path, &at, "is a symbolic link, and blankroot does not write through one here").hint(
                "this is a file blankroot writes itself: remove the link (or put the real file in its place), then run again",
            ));
        }
        if !may_follow(&at, &meta) {
            return Err(refuse(
                path,
                &at,
                "is a symbolic link in a sticky, world-writable directory, owned by someone else",
            )
            .hint("give the path of the file itself"));
        }
        let to =
            std::fs::read_link(&at).map_err(|e| refuse(path, &at, "is a link that cannot be read").caused_by(e))?;
        at = dir_of(&at).join(to);
    }
    Err(refuse(path, path, &format!("is a chain of more than {MAX_HOPS} symbolic links")).hint("give the real path"))
}

/// `at` (reached from `path`) when `links` allows it.
fn within(path: &Path, at: PathBuf, links: &Links) -> Result<PathBuf> {
    let Links::FollowWithin(root) = links else { return Ok(at) };
    if at == path {
        return Ok(at);
    }
    if super::paths::resolves_inside(dir_of(&at), root) {
        return Ok(at);
    }
    let what = format!("is a symbolic link that leads outside {}, to {}", shown(root), shown(&at));
    Err(refuse(path, path, &what).hint("make it a regular file (or a link within that root), then run again"))
}

/// Whether the kernel would let this process follow the link `link` with fs.protected_symlinks
/// on (Documentation/admin-guide/sysctl/fs.rst: "symlinks are permitted to be followed only when
/// outside a sticky world-writable directory, or when the uid of the symlink and follower match,
/// or when the directory owner matches the symlink's owner"; fs/namei.c `may_follow_link`).
fn may_follow(link: &Path, meta: &Metadata) -> bool {
    let Ok(dir) = std::fs::metadata(dir_of(link)) else { return false };
    dir.mode() & 0o1002 != 0o1002 || meta.uid() == dir.uid() || euid() == Some(meta.uid())
}

/// This process's effective uid, from /proc/self/status (`Uid:` real, effective, saved, fs).
fn euid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Writes, syncs, and gives the owner and mode.
fn fill(file: &mut File, data: &[u8], old: Option<&Metadata>, opts: &Opts) -> io::Result<()> {
    file.write_all(data)?;
    if let Some(m) = old {
        let now = file.metadata()?;
        if (now.uid(), now.gid()) != (m.uid(), m.gid()) {
            std::os::unix::fs::fchown(&*file, Some(m.uid()), Some(m.gid()))?;
        }
    }
    if let Some(mode) = opts.mode.or(old.map(|m| m.mode() & 0o7777)) {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.sync_all()
}

/// A new temporary file beside `target`, created exclusively.
fn temp_file(dir: &Path, target: &Path, mode: u32) -> io::Result<(PathBuf, File)> {
    let name: String = target.file_name().map(|n| n.to_string_lossy().chars().take(48).collect()).unwrap_or_default();
    for _ in 0..8 {
        let tmp = dir.join(format!(".{name}.{}{TEMP_SUFFIX}", random_hex()?));
        match OpenOptions::new().write(true).create_new(true).mode(mode).open(&tmp) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            other => return other.map(|f| (tmp, f)),
        }
    }
    Err(io::Error::new(io::ErrorKind::AlreadyExists, "no free temporary name"))
}

fn random_hex() -> io::Result<String> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(e.to_string()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
}

fn dir_of(p: &Path) -> &Path {
    match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn kind(m: &Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a fifo"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "a device"
    } else {
        "an unknown kind of file"
    }
}

fn shown(p: &Path) -> String {
    excerpt(&p.display().to_string())
}

/// A refusal about `path` (where its links led: `at`); nothing was written.
fn refuse(path: &Path, at: &Path, what: &str) -> Error {
    let lead = if at == path { String::new() } else { format!(" (where {} leads)", shown(path)) };
    Error::input(format!("will not write {}{lead}: it {what}", shown(at)))
}

fn failed(path: &Path, e: io::Error, opts: &Opts) -> Error {
    Error::env(format!("cannot write {}", shown(path)))
        .caused_by(e)
        .caused_by("nothing was changed: the file is as it was")
        .hint(opts.hint)
}

#[cfg(test)]
#[path = "fsutil_tests.rs"]
mod tests;
