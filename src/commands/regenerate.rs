//! `blankroot regenerate`: rewrites an installed system's `/etc/nixos/blankroot.nix` from its
//! `blankroot.toml` with this blankroot's generator, with the LUKS and ESP UUIDs blankroot.toml
//! records (an install by blankroot 0.1 recorded them only in blankroot.nix: they are taken
//! from there and recorded in blankroot.toml, so that `persist` and later runs read them from
//! the layout). This is how an existing install gets what a newer blankroot generates (the
//! pool import after LUKS, `tries=0`, the rollback unit's shape, …), which `doctor` asks for.
//!
//! Nothing is lost: the new text is evaluated by `nix-instantiate` (where it exists) before it
//! is written, the previous file is kept beside it as `blankroot.nix.old`, both are written
//! atomically through `fsutil` (owner and mode kept; a symbolic link followed only to a file
//! inside the root; a hard-linked or special file refused before either is written), and
//! `--check` only reports. blankroot.nix is blankroot's own file, written exactly as generated
//! (LF line endings): edits made to it by hand are not carried over (they belong in
//! configuration.nix); the diff shows them.

use crate::config::Config;
use crate::error::{Error, Result};
use crate::infra::host::Host;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What `regenerate` found and did.
#[derive(Debug, Serialize)]
pub struct Report {
    pub path: String,
    /// The file differed from what this blankroot generates.
    pub changed: bool,
    /// It was rewritten (not with `--check`).
    pub written: bool,
    /// Where the previous text was kept.
    pub backup: Option<String>,
    /// Unified diff, old to new (empty when unchanged).
    pub diff: String,
    /// Only compared (`--check`): a changed file is the command's failure.
    #[serde(skip)]
    pub check: bool,
}

impl crate::output::Render for Report {
    fn human(&self, _: crate::output::Detail) -> String {
        if !self.changed {
            return format!("{} is what this blankroot generates; nothing to do.\n", self.path);
        }
        if self.written {
            return format!(
                "{}Rewrote {} (the previous one is {}); activate it: `sudo nixos-rebuild boot`, then reboot.\n",
                self.diff,
                self.path,
                self.backup.as_deref().unwrap_or_default()
            );
        }
        self.diff.clone()
    }
    fn failure(&self) -> Option<Error> {
        (self.check && self.changed).then(|| {
            Error::env(format!("{} is not what this blankroot generates", self.path))
                .hint("`blankroot regenerate` rewrites it (keeping the old one as blankroot.nix.old)")
        })
    }
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::env(format!("cannot read {}", path.display()))
            .caused_by(e)
            .hint("run it on a system blankroot installed (or point --root at one mounted elsewhere)")
    })
}

/// blankroot.toml with the LUKS and ESP UUIDs recorded (`[luks] uuid`, `[esp] uuid`), its
/// formatting and comments kept.
fn record_uuids(text: &str, luks: &str, esp: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().map_err(|e: toml_edit::TomlError| {
        Error::input("cannot read /etc/nixos/blankroot.toml").caused_by(e.message().to_string())
    })?;
    for (table, value) in [("luks", luks), ("esp", esp)] {
        let t = doc.entry(table).or_insert_with(toml_edit::table);
        let t = t
            .as_table_like_mut()
            .ok_or_else(|| Error::input(format!("[{table}] in /etc/nixos/blankroot.toml is not a table")))?;
        t.insert("uuid", toml_edit::value(value));
    }
    Ok(doc.to_string())
}

/// Regenerates the examined system's `/etc/nixos/blankroot.nix` from its blankroot.toml (the
/// LUKS and ESP UUIDs as it records them; an install by blankroot 0.1 did not: they are taken
/// from the old blankroot.nix and recorded in blankroot.toml too); with `check`, only compares.
pub fn run(host: &dyn Host, check: bool) -> Result<Report> {
    let root = host.local_root().map(Path::to_path_buf).ok_or_else(|| {
        Error::input("blankroot regenerate changes the examined system's files").hint("run it on that system")
    })?;
    let root = root.as_path();
    let dir: PathBuf = root.join("etc/nixos");
    let toml_path = dir.join("blankroot.toml");
    let nix_path = dir.join("blankroot.nix");
    let toml = read(&toml_path)?;
    let config: Config = crate::config::parse_str("/etc/nixos/blankroot.toml", &toml, &Default::default())?;
    let old = read(&nix_path)?;
    let host_id = config.host_id.clone().ok_or_else(|| {
        Error::input("/etc/nixos/blankroot.toml has no host_id")
            .hint("set host_id to the pool's host id (`zdb -l` on its device shows it), then run again")
    })?;
    let (luks, esp, new_toml) = match config.recorded_uuids() {
        Some((l, e)) => (l.to_string(), e.to_string(), None),
        None => {
            let Some((l, e)) = crate::nixgen::uuids_in(&old, &config) else {
                return Err(Error::input(format!("cannot find the LUKS and ESP UUIDs in {}", nix_path.display())).hint(
                    "restore blankroot.nix from a backup (blankroot.nix.old), or record them in blankroot.toml (`[luks] uuid` from `cryptsetup luksUUID`, `[esp] uuid` from `blkid`), then run again",
                ));
            };
            let text = crate::infra::fsutil::keep_line_endings(&toml, &record_uuids(&toml, &l, &e)?);
            // What is written must read back as the same layout with the UUIDs.
            crate::config::parse_str("/etc/nixos/blankroot.toml (with the UUIDs)", &text, &Default::default())?;
            (l, e, Some(text))
        }
    };
    let ids = crate::nixgen::Ids { host_id: &host_id, luks_uuid: &luks, esp_uuid: &esp };
    let new = crate::nixgen::module(&config, ids);
    let shown = nix_path.display().to_string();
    let unified = |old: &str, new: &str, path: &Path| {
        let shown = path.display().to_string();
        similar::TextDiff::from_lines(old, new)
            .unified_diff()
            .context_radius(3)
            .header(&format!("{shown} (now)"), &format!("{shown} (regenerated)"))
            .to_string()
    };
    let mut diff = new_toml.as_deref().map(|t| unified(&toml, t, &toml_path)).unwrap_or_default();
    if new != old {
        diff += &unified(&old, &new, &nix_path);
    }
    let report =
        |changed, written, backup| Report { path: shown.clone(), changed, written, backup, diff: diff.clone(), check };
    if new == old && new_toml.is_none() {
        return Ok(report(false, false, None));
    }
    if check {
        return Ok(report(true, false, None));
    }
    crate::nixgen::verify::check_text(host, "/etc/nixos/blankroot.nix", &new)?;
    let backup = dir.join("blankroot.nix.old");
    // Every file checked before any is written: a refusal leaves them all as they were.
    let opts = crate::infra::fsutil::Opts::new(
        crate::infra::fsutil::Links::FollowWithin(root.to_path_buf()),
        "run it as root, with /etc/nixos writable (on a booted install it is /persist/etc/nixos)",
    );
    crate::infra::fsutil::check(&backup, &opts)?;
    crate::infra::fsutil::check(&nix_path, &opts)?;
    crate::infra::fsutil::check(&toml_path, &opts)?;
    crate::infra::fsutil::write(&backup, old.as_bytes(), &opts)?;
    crate::infra::fsutil::write(&nix_path, new.as_bytes(), &opts)?;
    if let Some(t) = &new_toml {
        crate::infra::fsutil::write(&toml_path, t.as_bytes(), &opts)?;
    }
    Ok(report(true, true, Some(backup.display().to_string())))
}
