//! `blankroot regenerate`: rewrites an installed system's `/etc/nixos/blankroot.nix` from its
//! `blankroot.toml` with this blankroot's generator, keeping the LUKS and ESP UUIDs the file
//! already names. This is how an existing install gets what a newer blankroot generates (the
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

/// Regenerates the examined system's `/etc/nixos/blankroot.nix`; with `check`, only compares.
pub fn run(host: &dyn Host, check: bool) -> Result<Report> {
    let root = host.local_root().map(Path::to_path_buf).ok_or_else(|| {
        Error::input("blankroot regenerate changes the examined system's files").hint("run it on that system")
    })?;
    let root = root.as_path();
    let dir: PathBuf = root.join("etc/nixos");
    let toml_path = dir.join("blankroot.toml");
    let nix_path = dir.join("blankroot.nix");
    let config: Config =
        crate::config::parse_str("/etc/nixos/blankroot.toml", &read(&toml_path)?, &Default::default())?;
    let old = read(&nix_path)?;
    let host_id = config.host_id.clone().ok_or_else(|| {
        Error::input("/etc/nixos/blankroot.toml has no host_id")
            .hint("set host_id to the pool's host id (`zdb -l` on its device shows it), then run again")
    })?;
    let Some((luks, esp)) = crate::nixgen::uuids_in(&old, &config) else {
        return Err(Error::input(format!("cannot find the LUKS and ESP UUIDs in {}", nix_path.display())).hint(
            "restore blankroot.nix from a backup (blankroot.nix.old) or take the UUIDs from `blkid`, then run again",
        ));
    };
    let ids = crate::nixgen::Ids { host_id: &host_id, luks_uuid: &luks, esp_uuid: &esp };
    let new = crate::nixgen::module(&config, ids);
    let shown = nix_path.display().to_string();
    if new == old {
        return Ok(Report { path: shown, changed: false, written: false, backup: None, diff: String::new(), check });
    }
    let diff = similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("{shown} (now)"), &format!("{shown} (regenerated)"))
        .to_string();
    if check {
        return Ok(Report { path: shown, changed: true, written: false, backup: None, diff, check });
    }
    crate::nixgen::verify::check_text(host, "/etc/nixos/blankroot.nix", &new)?;
    let backup = dir.join("blankroot.nix.old");
    // Both checked before either is written: a refusal leaves both as they were.
    let opts = crate::infra::fsutil::Opts::new(
        crate::infra::fsutil::Links::FollowWithin(root.to_path_buf()),
        "run it as root, with /etc/nixos writable (on a booted install it is /persist/etc/nixos)",
    );
    crate::infra::fsutil::check(&backup, &opts)?;
    crate::infra::fsutil::check(&nix_path, &opts)?;
    crate::infra::fsutil::write(&backup, old.as_bytes(), &opts)?;
    crate::infra::fsutil::write(&nix_path, new.as_bytes(), &opts)?;
    Ok(Report { path: shown, changed: true, written: true, backup: Some(backup.display().to_string()), diff, check })
}
