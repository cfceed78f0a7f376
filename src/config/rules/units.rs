//! Names that end up in systemd unit names (`crate::systemd`): the pool's in
//! `zfs-import-<pool>.service` (nixpkgs `zfs.nix` writes it as it is), the LUKS name in
//! `systemd-cryptsetup@<name>.service` (escaped by systemd's cryptsetup generator), mount
//! points and persisted directories in mount units (`systemd-escape --path`; in systemd stage 1
//! under `/sysroot`). nixpkgs names the mount units of a pool's file systems itself, with
//! `escapeSystemdPath` (`lib/utils.nix`), which escapes only the characters of
//! [`NIXOS_ESCAPED`] (each as systemd does): a path with any other character outside
//! `[A-Za-z0-9:_./]` gets a unit name from NixOS that systemd's own is not.

use super::{Checked, problem};
use crate::systemd;

/// What nixpkgs' `escapeSystemdPath` escapes, `\` left out (refused: see [`unit_path`]).
const NIXOS_ESCAPED: &str = " !\"#$%&'()*;<=>?@[]^`{|}~-";

/// Mount points NixOS mounts in stage 1 (`pathsNeededForBoot` in `lib/utils.nix`, and
/// `/persist`, which blankroot marks `neededForBoot`); the binds of persisted directories are
/// needed for boot too.
const IN_STAGE_1: &[&str] =
    &["/", "/nix", "/nix/store", "/var", "/var/log", "/var/lib", "/var/lib/nixos", "/etc", "/usr", "/persist"];

/// The start of a long unit name, for messages.
fn head(unit: &str) -> String {
    unit.chars().take(40).collect()
}

fn too_long(unit: &str) -> String {
    format!("{} characters long; systemd allows {}", unit.len(), systemd::UNIT_NAME_MAX - 1)
}

/// `zfs-import-<pool>.service` must be a valid unit name as written.
pub(super) fn pool_unit(name: &str) -> Checked {
    let unit = systemd::zfs_import_unit(name);
    if systemd::unit_name_valid(&unit) {
        return Ok(());
    }
    Err(problem(
        format!("pool.name {name:?} makes NixOS's import unit zfs-import-<pool>.service {}", too_long(&unit)),
        format!(
            "use a pool name of at most {} characters, like `rpool`",
            systemd::UNIT_NAME_MAX - 1 - systemd::zfs_import_unit("").len()
        ),
    ))
}

/// `systemd-cryptsetup@<escaped name>.service` must be a valid unit name.
pub(super) fn luks_unit(name: &str) -> Checked {
    let unit = systemd::cryptsetup_unit(name);
    if systemd::unit_name_valid(&unit) {
        return Ok(());
    }
    Err(problem(
        format!("luks.name {name:?} makes the unit {}… that opens it {}", head(&unit), too_long(&unit)),
        "use a shorter name, like `cryptroot` (systemd writes each `-` in it as the four characters `\\x2d`)",
    ))
}

/// A mount point (`field` = `datasets[N].mount`) or persisted directory
/// (`persist.directories[N]`): its mount unit must be named the same by NixOS and systemd,
/// and be a valid unit name; `/etc/fstab` cannot carry a `\` or a control character.
pub fn unit_path(field: &str, path: &str, persisted: bool) -> Checked {
    let hint = "use letters, digits and `-`, `_`, `.`, `:` or space in the path, e.g. `/srv/data`";
    if let Some(c) = path.chars().find(|&c| c == '\\' || c.is_control()) {
        return Err(problem(
            format!(
                "{field} {path:?} contains {c:?}: NixOS writes it into /etc/fstab escaping only spaces and tabs, where {} and systemd names its mount unit after it",
                if c == '\\' { "`\\` starts an escape" } else { "a control character cannot be written" }
            ),
            hint,
        ));
    }
    let odd = |c: char| !(c.is_ascii_alphanumeric() || ":_./".contains(c) || NIXOS_ESCAPED.contains(c));
    if let Some(c) = path.chars().find(|&c| odd(c)) {
        return Err(problem(
            format!(
                "{field} {path:?} contains {c:?}, which NixOS leaves as it is in the mount unit names it refers to (escapeSystemdPath) while systemd escapes it: the units would not match"
            ),
            hint,
        ));
    }
    let mut paths = vec![path.to_string()];
    if persisted || IN_STAGE_1.contains(&path) {
        paths.push(format!("/sysroot{path}"));
    }
    for p in paths {
        match systemd::mount_unit(&p) {
            Some(unit) if systemd::unit_name_valid(&unit) => {}
            Some(unit) => {
                return Err(problem(
                    format!("{field} {path:?} makes its mount unit {}… {}", head(&unit), too_long(&unit)),
                    "use a shorter path (systemd writes each `-` and special character in it as four characters)",
                ));
            }
            None => return Err(problem(format!("{field} {path:?} has a `..` part"), hint)),
        }
    }
    Ok(())
}
