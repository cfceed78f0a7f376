//! `build`: config + target facts + chosen ids → Plan. Pure: no I/O, same inputs give the same
//! plan. The steps are the procedure of the guide blankroot automates, made checkable and
//! revertible; each step's commands, files, check, undo and resume are made in one place, in
//! `steps`.

use super::steps::{self, Layout};
use super::*;
use crate::config::{Config, DEFAULT_STATE_VERSION};
use crate::error::{Error, Result};
use crate::infra::size::gib;

/// The smallest LUKS partition blankroot plans: room for the pool, /nix and a first system.
pub const MIN_LUKS_BYTES: u64 = 4 << 30;

/// `/dev/vda` + 2 → `/dev/vda2`; `/dev/nvme0n1` + 2 → `/dev/nvme0n1p2`;
/// `/dev/disk/by-id/X` + 2 → `/dev/disk/by-id/X-part2` (udev's naming).
pub fn partition_path(disk: &str, n: u32) -> String {
    if disk.starts_with("/dev/disk/by-id/") || disk.starts_with("/dev/disk/by-path/") {
        format!("{disk}-part{n}")
    } else if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

/// The config with `system.stateVersion` resolved: the config's (or the flag's), else the
/// release of the NixOS the installer runs, else [`DEFAULT_STATE_VERSION`] and a warning.
fn resolve_state_version(config: &Config, target: &Target) -> (Config, Option<String>) {
    let mut c = config.clone();
    if c.state_version.is_some() {
        return (c, None);
    }
    if let Some(release) = &target.nixos_release {
        c.state_version = Some(release.clone());
        return (c, None);
    }
    c.state_version = Some(DEFAULT_STATE_VERSION.to_string());
    let warning = format!(
        "system.stateVersion is {DEFAULT_STATE_VERSION}, blankroot's default: this machine has no `nixos-version` (it is not a NixOS installer), so the release being installed is unknown; if it is another one, set state_version = \"YY.MM\" in blankroot.toml or pass --state-version YY.MM"
    );
    (c, Some(warning))
}

/// Builds the plan. Fails when the target cannot hold the layout.
pub fn build(config: &Config, target: &Target, ids: &Identities) -> Result<Plan> {
    let (resolved, state_version_warning) = resolve_state_version(config, target);
    let config = &resolved;
    let disk = &target.disk;
    let size = crate::checks::live::disk_size(disk, config);
    if size.severity == crate::checks::Severity::Error {
        return Err(Error::env(size.what).hint(size.fix.unwrap_or_default()));
    }
    let l = Layout::new(config, ids, &disk.path);
    let mut steps = vec![
        steps::partition(&l)?,
        steps::format_esp(&l),
        steps::luks_format(&l),
        steps::luks_open(&l),
        steps::hostid(&l),
        steps::pool_create(&l),
    ];
    steps.extend(steps::datasets(&l));
    steps.extend(steps::mounts(&l));
    steps.extend(steps::binds(&l));
    steps.push(steps::write_config(&l));
    steps.push(steps::persist_state(&l));
    let (hashes, mut secrets) = steps::password_hashes(&l);
    secrets.insert(
        0,
        SecretSpec {
            name: SecretName::LuksPassphrase,
            description: format!("the LUKS passphrase for {}, typed at every boot", l.luks),
        },
    );
    steps.push(hashes);
    let mut notes = Vec::new();
    if config.persist.blankroot {
        if target.static_blankroot {
            steps.push(steps::keep_blankroot());
        } else {
            notes.push(format!(
                "this blankroot needs a dynamic loader, so the installed system cannot keep it: `blankroot` is not on its PATH until a static one is put at {} (`scripts/build-static`, or the flake's packages.static); or set [persist] blankroot = false and use the flake's nixosModules.default",
                crate::nixgen::KEPT_BLANKROOT
            ));
        }
    }
    steps.extend([steps::hardware_config(), steps::nixos_install()]);
    steps.extend([steps::unmount(), steps::pool_export(&l), steps::luks_close(&l), steps::forget_resume(&l)]);

    let mut destroys = vec![format!(
        "everything on {} ({}): a new partition table replaces the old one",
        disk.path,
        gib(disk.size_bytes)
    )];
    destroys.extend(disk.contents.iter().map(|c| format!("on it now: {c}")));
    let mut warnings: Vec<String> =
        crate::checks::live::plan_findings(target).iter().map(crate::checks::Finding::as_warning).collect();
    warnings.extend(state_version_warning);
    warnings.extend(notes);

    Ok(Plan {
        schema: SCHEMA_VERSION,
        blankroot_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        ids: ids.clone(),
        target: target.clone(),
        destroys,
        warnings,
        secrets,
        steps,
    })
}
