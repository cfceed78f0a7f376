//! The `[persist]` and `[diff]` sections: what is kept in /persist across the rollback, and
//! what `blankroot diff` leaves out of its report of what the next boot erases.

use super::super::rules;
use super::{Source, problem};
use crate::config::Config;
use crate::error::Result;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPersist {
    #[serde(default)]
    directories: Vec<Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
    ssh_host_keys: Option<bool>,
    blankroot: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDiff {
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
}

pub(super) fn persist(src: &Source, p: RawPersist, c: &mut Config) -> Result<()> {
    let mounts: Vec<String> = c.datasets.iter().filter_map(|d| d.mount.clone()).collect();
    let mounts: Vec<&str> = mounts.iter().map(String::as_str).collect();
    let default = crate::config::default_persist();
    let mut listed: Vec<(String, Range<usize>)> = Vec::new();
    for (list, is_dir) in [(p.directories, true), (p.files, false)] {
        for (i, path) in list.into_iter().enumerate() {
            let value = path.get_ref();
            rules::persisted_path(value, &mounts).map_err(|e| src.at(&path, e))?;
            if is_dir {
                // A bind mount: its mount unit is named after it.
                rules::unit_path(&format!("persist.directories[{i}]"), value, true).map_err(|e| src.at(&path, e))?;
            }
            if let Some((_, first)) = listed.iter().find(|(o, _)| o == value) {
                return Err(src.at(
                    &path,
                    problem(
                        format!("{value:?} is listed twice under [persist] (first on line {})", src.line(first.start)),
                        "list each path once",
                    ),
                ));
            }
            listed.push((value.clone(), path.span()));
            let same_kind_default =
                if is_dir { default.directories.contains(value) } else { default.files.contains(value) };
            if same_kind_default && (c.persist.directories.contains(value) || c.persist.files.contains(value)) {
                continue; // re-listing a default is harmless
            }
            if c.persist.directories.contains(value) || c.persist.files.contains(value) {
                let (was, now) = if is_dir { ("file", "directories") } else { ("directory", "files") };
                return Err(src.at(
                    &path,
                    problem(
                        format!("{value:?} is persisted as a {was} by default, but listed under {now}"),
                        format!("remove it from {now}"),
                    ),
                ));
            }
            if let Some(dir) = c.persist.directories.iter().find(|d| rules::is_within(value, d)) {
                return Err(src.at(
                    &path,
                    problem(
                        format!("{value:?} is inside the persisted directory {dir:?}, which keeps it already"),
                        "remove the inner path",
                    ),
                ));
            }
            if let Some(inner) =
                c.persist.directories.iter().chain(&c.persist.files).find(|o| rules::is_within(o, value))
            {
                return Err(src.at(
                    &path,
                    problem(
                        format!("{value:?} contains the persisted path {inner:?}"),
                        "persist either the directory or the paths inside it, not both",
                    ),
                ));
            }
            if is_dir {
                c.persist.directories.push(path.into_inner());
            } else {
                c.persist.files.push(path.into_inner());
            }
        }
    }
    if let Some(b) = p.blankroot {
        c.persist.blankroot = b;
    }
    if let Some(k) = p.ssh_host_keys {
        c.persist.ssh_host_keys = k;
    }
    Ok(())
}

/// `[diff] ignore`: more paths (files, or directories with all below) that `blankroot diff`
/// does not report, added to its built-in noise list.
pub(super) fn diff(src: &Source, d: RawDiff, c: &mut Config) -> Result<()> {
    for path in d.ignore {
        rules::absolute_path("ignored path", path.get_ref()).map_err(|e| src.at(&path, e))?;
        if !c.diff.ignore.contains(path.get_ref()) {
            c.diff.ignore.push(path.into_inner());
        }
    }
    Ok(())
}
