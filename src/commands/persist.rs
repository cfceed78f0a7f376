//! `blankroot persist PATH…`: keeps paths across the rollback. Each path is copied into
//! /persist with its owner, mode, timestamps, ACLs and xattrs (`cp -a --preserve=all`, checked
//! afterwards entry by entry), added to `[persist]` in blankroot.toml (its formatting and
//! comments kept) and blankroot.nix is regenerated; `nixos-rebuild switch` then activates it.
//!
//! Nothing is half done: every check (the paths, the new config, the files being writable,
//! blankroot.nix being blankroot's own) comes before any change; a copy goes to a temporary
//! name and takes its place only when complete; the original is never touched; a failure
//! removes what this run copied and leaves the config as it was. The config files are
//! rewritten through `fsutil` (owner, mode and blankroot.toml's line endings kept; a symbolic
//! link followed only to a file inside the root).

use crate::config::{Config, rules};
use crate::error::{Error, Result};
use crate::infra::fsutil;
use crate::infra::host::Host;
use crate::infra::paths::under;
use crate::infra::runner::Cmd;
use serde::Serialize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What was kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    pub path: String,
    pub directory: bool,
    /// Entries copied (the path itself included) and their bytes.
    pub entries: u64,
    pub bytes: u64,
    /// It did not exist and was created empty (`--create`).
    pub created: bool,
}

/// The request: paths as the installed system sees them.
#[derive(Debug, Clone)]
pub struct Request {
    pub paths: Vec<String>,
    /// A path that does not exist yet is kept as a new, empty directory.
    pub create: bool,
}

/// What `persist` did, and how it takes effect.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub kept: Vec<Kept>,
    /// How the change takes effect.
    pub activate: String,
}

impl crate::output::Render for Report {
    fn human(&self, _: crate::output::Detail) -> String {
        let mut s = String::new();
        for k in &self.kept {
            let what = if k.created {
                "a new, empty directory".to_string()
            } else {
                format!("{} entries, {}", k.entries, crate::infra::size::human(k.bytes))
            };
            let list = if k.directory { "directories" } else { "files" };
            s += &format!("Kept {} in /persist{} ({what}); added to [persist] {list}.\n", k.path, k.path);
        }
        s + &format!("blankroot.toml updated and blankroot.nix regenerated; {}.\n", self.activate)
    }
}

/// The regenerated blankroot.nix for `new`, refusing a module that is not exactly what
/// blankroot made from `old` (regenerating would lose edits made by hand).
fn regenerate(module: &str, old: &Config, new: &Config) -> Result<String> {
    let host_id = old.host_id.clone().unwrap_or_default();
    let Some((luks, esp)) = old.recorded_uuids() else {
        return Err(Error::input(
            "/etc/nixos/blankroot.toml does not record the LUKS and ESP UUIDs ([luks] uuid, [esp] uuid)",
        )
        .caused_by("an install by blankroot 0.1 did not record them")
        .hint("`blankroot regenerate` records them (from blankroot.nix), then run this again"));
    };
    let ids = crate::nixgen::Ids { host_id: &host_id, luks_uuid: luks, esp_uuid: esp };
    if crate::nixgen::module(old, ids) != module {
        return Err(Error::input(
            "/etc/nixos/blankroot.nix was edited by hand: regenerating it would lose those edits",
        )
        .hint("move your changes into configuration.nix (blankroot.nix is regenerated); if it was written by an older blankroot, `blankroot regenerate` rewrites it (keeping the old one as blankroot.nix.old); then run again"));
    }
    Ok(crate::nixgen::module(new, ids))
}

/// blankroot.toml with `path` added to `[persist]` (directories or files), formatting kept.
fn add_to_toml(text: &str, path: &str, directory: bool) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::input("cannot read /etc/nixos/blankroot.toml").caused_by(e.message().to_string())
    })?;
    let table = doc.entry("persist").or_insert_with(toml_edit::table);
    let table = table.as_table_like_mut().ok_or_else(|| Error::input("[persist] in blankroot.toml is not a table"))?;
    let key = if directory { "directories" } else { "files" };
    let item = table.entry(key).or_insert(toml_edit::value(toml_edit::Array::new()));
    let array =
        item.as_array_mut().ok_or_else(|| Error::input(format!("[persist] {key} in blankroot.toml is not a list")))?;
    array.push(path);
    Ok(doc.to_string())
}

/// Refuses what cannot be persisted, with the reason; returns whether it is a directory.
fn check_path(config: &Config, root: &Path, path: &str, create: bool) -> Result<(bool, bool)> {
    let mounts: Vec<&str> = config.datasets.iter().filter_map(|d| d.mount.as_deref()).collect();
    rules::persisted_path(path, &mounts).map_err(|p| Error::input(p.message).hint(p.hint))?;
    let kept = config.persist.directories.iter().chain(&config.persist.files);
    if let Some(k) = kept.clone().find(|k| *k == path) {
        return Err(Error::input(format!("{k} is persisted already")).hint("nothing to do"));
    }
    if let Some(d) = config.persist.directories.iter().find(|d| rules::is_within(path, d)) {
        return Err(Error::input(format!("{path} is inside the persisted directory {d}, which keeps it already"))
            .hint("nothing to do"));
    }
    if let Some(inner) = kept.clone().find(|k| rules::is_within(k, path)) {
        return Err(Error::input(format!("{path} contains the persisted path {inner}"))
            .hint("persist the paths beside it one by one, or remove the inner one from [persist] first"));
    }
    let persisted = under(root, &crate::nixgen::persisted_source(path));
    if std::fs::symlink_metadata(&persisted).is_ok() {
        return Err(Error::input(format!("{} exists already", persisted.display()))
            .hint("move it away (or remove it if it is stale), then run again: blankroot does not overwrite what is in /persist"));
    }
    match std::fs::symlink_metadata(under(root, path)) {
        Ok(m) => Ok((m.is_dir(), false)),
        Err(_) if create => Ok((true, true)),
        Err(e) => Err(Error::input(format!("{path} does not exist"))
            .caused_by(e)
            .hint("check the path, or pass --create to keep a new, empty directory there")),
    }
}

/// How blankroot.toml and blankroot.nix are rewritten (`fsutil::write`): owner, mode and
/// (for blankroot.toml) line endings kept; a symbolic link followed only to a file inside the
/// root being changed (with `--root`, an absolute link names a file of the running system).
fn config_opts(root: &Path) -> fsutil::Opts {
    fsutil::Opts::new(
        fsutil::Links::FollowWithin(root.to_path_buf()),
        "run blankroot persist as root, with /etc/nixos writable (it is /persist/etc/nixos)",
    )
}

/// Makes the missing directories above `dst` inside /persist, each like its counterpart above
/// `src` (owner, mode); returns what it made, deepest last.
fn make_parents(src_root: &Path, persist_root: &Path, path: &str) -> Result<Vec<PathBuf>> {
    let mut made = Vec::new();
    let mut prefix = String::new();
    let components: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    for c in &components[..components.len() - 1] {
        prefix.push('/');
        prefix.push_str(c);
        let dst = under(persist_root, &prefix);
        if dst.exists() {
            continue;
        }
        let meta = std::fs::metadata(under(src_root, &prefix)).ok();
        std::fs::create_dir(&dst).map_err(|e| Error::env(format!("cannot create {}", dst.display())).caused_by(e))?;
        if let Some(m) = meta {
            let _ = std::os::unix::fs::chown(&dst, Some(m.uid()), Some(m.gid()));
            let _ = std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777));
        }
        made.push(dst);
    }
    Ok(made)
}

/// Compares the copy with the original entry by entry: type, size, mode, owner, mtime, link
/// target. Returns (entries, bytes) or the first difference.
fn compare(a: &Path, b: &Path) -> std::result::Result<(u64, u64), String> {
    let (ma, mb) = (
        std::fs::symlink_metadata(a).map_err(|e| format!("{}: {e}", a.display()))?,
        std::fs::symlink_metadata(b).map_err(|e| format!("{}: {e}", b.display()))?,
    );
    let same = ma.file_type() == mb.file_type()
        && ma.mode() == mb.mode()
        && ma.uid() == mb.uid()
        && ma.gid() == mb.gid()
        && (ma.is_dir() || ma.len() == mb.len())
        && (ma.is_dir() || (ma.mtime(), ma.mtime_nsec()) == (mb.mtime(), mb.mtime_nsec()));
    if !same {
        return Err(format!("{} differs from the original", b.display()));
    }
    if ma.file_type().is_symlink() && std::fs::read_link(a).ok() != std::fs::read_link(b).ok() {
        return Err(format!("the link {} points elsewhere", b.display()));
    }
    let (mut entries, mut bytes) = (1, if ma.is_file() { ma.len() } else { 0 });
    if ma.is_dir() {
        let names = |p: &Path| -> std::result::Result<Vec<_>, String> {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| format!("{}: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.file_name()))
                .collect();
            v.sort();
            Ok(v)
        };
        let (na, nb) = (names(a)?, names(b)?);
        if na != nb {
            return Err(format!("{} does not hold the same entries as the original", b.display()));
        }
        for n in na {
            let (e, s) = compare(&a.join(&n), &b.join(&n))?;
            entries += e;
            bytes += s;
        }
    }
    Ok((entries, bytes))
}

/// Runs `blankroot persist` on `host` (a system this process can write: the booted one, or one
/// mounted with `--root`). Copies go through the host's `cp`.
pub fn run(host: &dyn Host, req: &Request) -> Result<Report> {
    let root = &host.local_root().map(Path::to_path_buf).ok_or_else(|| {
        Error::input("blankroot persist changes the examined system's files").hint("run it on that system")
    })?;
    let toml_path = under(root, "/etc/nixos/blankroot.toml");
    let nix_path = under(root, "/etc/nixos/blankroot.nix");
    let text = std::fs::read_to_string(&toml_path).map_err(|e| {
        Error::input(format!("cannot read {}", toml_path.display()))
            .caused_by(e)
            .hint("run this on a system blankroot installed (or pass --root for one mounted elsewhere)")
    })?;
    let old = crate::config::parse_str(&toml_path.display().to_string(), &text, &Default::default())?;
    let module = std::fs::read_to_string(&nix_path)
        .map_err(|e| Error::input(format!("cannot read {}", nix_path.display())).caused_by(e))?;
    // Every check first.
    let mut new_text = text.clone();
    let mut plan: Vec<(String, bool, bool)> = Vec::new();
    let mut config = old.clone();
    for raw in &req.paths {
        let path = raw.trim_end_matches('/').to_string();
        let (directory, created) = check_path(&config, root, &path, req.create)?;
        new_text = add_to_toml(&new_text, &path, directory)?;
        config = crate::config::parse_str("blankroot.toml (with the new paths)", &new_text, &Default::default())?;
        plan.push((path, directory, created));
    }
    let new_module = regenerate(&module, &old, &config)?;
    let opts = config_opts(root);
    fsutil::check(&toml_path, &opts)?;
    fsutil::check(&nix_path, &opts)?;
    let new_text = fsutil::keep_line_endings(&text, &new_text);
    // Then the copies, each complete before it takes its name; undone together on failure.
    let mut done: Vec<PathBuf> = Vec::new();
    let mut kept = Vec::new();
    let undo = |done: &[PathBuf]| {
        for p in done.iter().rev() {
            let _ = if p.is_dir() && !p.is_symlink() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
        }
    };
    for (path, directory, created) in &plan {
        match copy_one(host, root, path, *created) {
            Ok((made, k)) => {
                done.extend(made);
                kept.push(Kept { path: path.clone(), directory: *directory, created: *created, ..k });
            }
            Err((made, e)) => {
                done.extend(made);
                undo(&done);
                return Err(
                    e.caused_by("nothing was changed: the originals are as they were, the copies made were removed")
                );
            }
        }
    }
    // Finally the config: blankroot.toml, then blankroot.nix (the old toml put back if that fails).
    fsutil::write(&toml_path, new_text.as_bytes(), &opts).inspect_err(|_| undo(&done))?;
    if let Err(e) = fsutil::write(&nix_path, new_module.as_bytes(), &opts) {
        let _ = fsutil::write(&toml_path, text.as_bytes(), &opts);
        undo(&done);
        return Err(e);
    }
    let activate = if host.root() != "/" {
        format!(
            "it takes effect when the system at {} is built (nixos-install, or nixos-rebuild there) and booted",
            host.root()
        )
    } else {
        "activate it now: `sudo nixos-rebuild switch`".to_string()
    };
    Ok(Report { kept, activate })
}

type Made = Vec<PathBuf>;

/// Copies one path into /persist: parents made like the original's, `cp -a` into a new
/// temporary directory beside it, compared, renamed into place. Returns what it made (for
/// undo) either way.
fn copy_one(
    host: &dyn Host,
    root: &Path,
    path: &str,
    create: bool,
) -> std::result::Result<(Made, Kept), (Made, Error)> {
    let dst = under(root, &crate::nixgen::persisted_source(path));
    let src = under(root, path);
    let persist_root = under(root, "/persist");
    let mut made = match make_parents(root, &persist_root, path) {
        Ok(m) => m,
        Err(e) => return Err((Vec::new(), e)),
    };
    let kept = Kept { path: path.into(), directory: true, entries: 0, bytes: 0, created: create };
    if create {
        if let Err(e) = std::fs::create_dir(&dst) {
            return Err((made, Error::env(format!("cannot create {}", dst.display())).caused_by(e)));
        }
        made.push(dst);
        return Ok((made, Kept { entries: 1, ..kept }));
    }
    // The copy is made inside a new directory of ours (mode 0700, created exclusively), so
    // nothing planted at a guessable name beside `dst` is followed by `cp`.
    let name = dst.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let work = match fsutil::temp_dir(dst.parent().unwrap_or(Path::new("/")), &name) {
        Ok(w) => w,
        Err(e) => return Err((made, Error::env(format!("cannot create {}", dst.display())).caused_by(e))),
    };
    made.push(work.clone());
    let tmp = work.join("copy");
    let cp = Cmd::new([
        "cp".to_string(),
        "-a".into(),
        "--preserve=all".into(),
        "--no-target-directory".into(),
        src.display().to_string(),
        tmp.display().to_string(),
    ]);
    if let Err(e) = host.run(&cp) {
        return Err((
            made,
            e.context(format!("copying {path} into /persist failed")).kind(crate::error::ErrorKind::Environment),
        ));
    }
    let (entries, bytes) = match compare(&src, &tmp) {
        Ok(v) => v,
        Err(why) => return Err((made, Error::env(format!("the copy of {path} is not complete")).caused_by(why))),
    };
    if let Err(e) = std::fs::rename(&tmp, &dst) {
        return Err((made, Error::env(format!("cannot move the copy to {}", dst.display())).caused_by(e)));
    }
    made.pop();
    made.push(dst);
    let _ = std::fs::remove_dir(&work);
    let directory = std::fs::symlink_metadata(&src).is_ok_and(|m| m.is_dir());
    Ok((made, Kept { directory, entries, bytes, ..kept }))
}
