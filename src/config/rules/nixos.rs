//! Values that pass their own syntax but that NixOS, or the machine, would break on: the
//! NixOS release, where stage 1 looks for the pool, the disk's kind, accounts NixOS declares
//! itself, and persisted paths NixOS generates or reads specially.
//!
//! Sources:
//! - Releases: nixpkgs `nixos/doc/manual/release-notes/rl-YYMM.section.md` (13.10, 14.04,
//!   14.12, 15.09, 16.03, 16.09, 17.03, 17.09, 18.03, 18.09, 19.03, 19.09, 20.03, 20.09, then
//!   YY.05 and YY.11). 26.05 is the newest release; 26.11 is the one in development (nixpkgs
//!   master already compares `system.stateVersion` with "26.11", e.g. `boot.zfs.forceImportRoot`
//!   in `nixos/modules/tasks/filesystems/zfs.nix`) and is accepted, so that an installer built
//!   from nixpkgs-unstable (`nixos-version` 26.11pre…) can install. Later numbers are refused.
//! - `boot.zfs.devNodes`: `zfs.nix` imports the root pool with `zpool import -d <devNodes> -N`,
//!   scanning that directory only (no cache file). The pool's device is the LUKS mapping, which
//!   udev links only in `/dev/disk/by-id` (`dm-name-…`, `dm-uuid-…`), `/dev/disk/by-uuid` and
//!   `/dev/disk/by-label` (lvm2 `udev/13-dm-disk.rules.in`): never in by-partuuid,
//!   by-partlabel or by-path, so those would leave stage 1 without the pool.
//! - System accounts every NixOS that blankroot generates declares: `root` and `nobody`
//!   (`nixos/modules/config/users-groups.nix`), `nixbld1`… (`nix-daemon.nix`), `messagebus`
//!   (`dbus.nix`), `sshd` (`sshd.nix`), `nscd` (`nscd.nix`), `polkituser` (`polkit.nix`),
//!   `dhcpcd` (`dhcpcd.nix`), and `systemd-*` (the systemd modules: `systemd-oom`,
//!   `systemd-timesync`, `systemd-network`, `systemd-resolve`, `systemd-coredump`, …; systemd
//!   keeps the prefix for itself); their uids are in `nixos/modules/misc/ids.nix`.
//! - Files NixOS writes in /etc on every activation (a link from /persist would be replaced, or
//!   would replace NixOS's): `/etc/hostid` (`networking.hostId`, `network-interfaces.nix`),
//!   `/etc/hostname` (`networking.hostName`), `/etc/passwd`, `/etc/group`, `/etc/shadow`,
//!   `/etc/gshadow`, `/etc/subuid`, `/etc/subgid` (`update-users-groups.pl`, from
//!   `users.users`), `/etc/fstab` (`fileSystems`), `/etc/os-release`, `/etc/sudoers`,
//!   `/etc/NIXOS` (the activation script's mark), and `setup-etc.pl`'s own `/etc/static`,
//!   `/etc/.clean`, `/etc/.updated`.
//! - Persisted files outside /etc become `systemd.tmpfiles.rules` lines, and directories bind
//!   mounts; in both a `%` is a specifier (tmpfiles.d(5), systemd.unit(5) "Specifiers").

use super::{Checked, is_within, problem};
use crate::error::excerpt;

/// Every NixOS release, oldest first; the last is the one in development.
pub const RELEASES: &[&str] = &[
    "13.10", "14.04", "14.12", "15.09", "16.03", "16.09", "17.03", "17.09", "18.03", "18.09", "19.03", "19.09",
    "20.03", "20.09", "21.05", "21.11", "22.05", "22.11", "23.05", "23.11", "24.05", "24.11", "25.05", "25.11",
    "26.05", "26.11",
];

/// `system.stateVersion`: a NixOS release such as `25.11`.
pub fn state_version(v: &str) -> Checked {
    if RELEASES.contains(&v) {
        return Ok(());
    }
    let newest = RELEASES.last().copied().unwrap_or_default();
    Err(problem(
        format!("state_version {} is not a NixOS release", excerpt(v)),
        format!(
            "use the release the machine is first installed with, e.g. \"25.11\": NixOS releases are YY.05 and YY.11 (13.10 to 20.09 had other months), the newest being {newest}"
        ),
    ))
}

/// The `/dev/disk` directories where udev links the LUKS mapping the pool is on.
const DEV_NODE_DIRS: &[&str] = &["/dev/disk/by-id", "/dev/disk/by-uuid", "/dev/disk/by-label"];

/// `boot.zfs.devNodes`.
pub fn dev_nodes(v: &str) -> Checked {
    if DEV_NODE_DIRS.contains(&v) {
        return Ok(());
    }
    let why = if ["/dev/disk/by-partuuid", "/dev/disk/by-partlabel", "/dev/disk/by-path"].contains(&v) {
        ": the pool is on the LUKS mapping, which udev links in by-id, by-uuid and by-label only, so stage 1 would not find it"
    } else {
        ": NixOS imports the pool by scanning this directory in stage 1"
    };
    Err(problem(
        format!("dev_nodes {} is not a /dev/disk directory stage 1 can find the pool in{why}", excerpt(v)),
        "use \"/dev/disk/by-id\" (the default), \"/dev/disk/by-uuid\" or \"/dev/disk/by-label\"",
    ))
}

/// What the shape of a disk path says it is, when that is not a whole disk.
fn disk_kind(path: &str) -> Option<&'static str> {
    let Some(rest) = path.strip_prefix("/dev/") else {
        return Some("not a device under /dev");
    };
    let digits_after = |prefix: &str| {
        rest.strip_prefix(prefix).is_some_and(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
    };
    let part_suffix =
        |s: &str| s.rsplit_once("-part").is_some_and(|(_, n)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
    if rest.starts_with("mapper/") || digits_after("dm-") {
        return Some("a device-mapper device (a mapping such as an open LUKS container or an LVM volume)");
    }
    if digits_after("loop") || digits_after("ram") || digits_after("zram") {
        return Some("a loop or RAM device");
    }
    if rest.starts_with("disk/by-partuuid/") || rest.starts_with("disk/by-partlabel/") {
        return Some("a partition");
    }
    if rest.starts_with("disk/by-uuid/") || rest.starts_with("disk/by-label/") {
        return Some("a file system or container on a device, not the disk");
    }
    if (rest.starts_with("disk/by-id/") || rest.starts_with("disk/by-path/")) && part_suffix(rest) {
        return Some("a partition");
    }
    // sda1, vdb2, xvda1, hdc3: letters then a partition number.
    for p in ["sd", "vd", "hd", "xvd"] {
        if let Some(tail) = rest.strip_prefix(p) {
            let letters = tail.chars().take_while(|c| c.is_ascii_lowercase()).count();
            let digits = tail.get(letters..).unwrap_or("");
            if letters > 0 && !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
                return Some("a partition");
            }
        }
    }
    // nvme0n1p2, mmcblk0p1: a `p` and a number after the whole device's name.
    for p in ["nvme", "mmcblk"] {
        if let Some(tail) = rest.strip_prefix(p)
            && let Some((_, n)) = tail.rsplit_once('p')
            && !n.is_empty()
            && n.chars().all(|c| c.is_ascii_digit())
        {
            return Some("a partition");
        }
    }
    None
}

/// The target disk as named: under /dev, and not by its shape a partition or mapping.
pub fn disk(path: &str) -> Checked {
    super::absolute_path("disk", path)?;
    // No kernel device name and no udev link under /dev/disk holds white space (udev replaces
    // it with `_` in by-id names); a stray one is a typing slip, not another disk.
    if path.chars().any(char::is_whitespace) {
        return Err(problem(
            format!("disk {} contains white space", excerpt(path)),
            "write the disk's path without spaces, e.g. /dev/vda or /dev/disk/by-id/<disk>",
        ));
    }
    match disk_kind(path) {
        None => Ok(()),
        Some(kind) => Err(problem(
            format!("disk {} is {kind}", excerpt(path)),
            "blankroot partitions a whole disk: name it like /dev/vda, /dev/nvme0n1 or /dev/disk/by-id/<disk> (without -partN)",
        )),
    }
}

/// A user name NixOS declares itself (see the module comment).
pub(crate) fn system_user(name: &str) -> Checked {
    const DECLARED: &[&str] = &["root", "nobody", "messagebus", "sshd", "nscd", "polkituser", "dhcpcd", "nixbld"];
    let nixbld = name.strip_prefix("nixbld").is_some_and(|n| n.chars().all(|c| c.is_ascii_digit()));
    if DECLARED.contains(&name) || nixbld || name.starts_with("systemd-") {
        return Err(problem(
            format!("user {} is a system account NixOS declares itself", excerpt(name)),
            "choose another name for your account, e.g. `alice`",
        ));
    }
    Ok(())
}

/// Files under /etc that NixOS writes on every activation.
const NIXOS_ETC: &[&str] = &[
    "/etc/hostid",
    "/etc/hostname",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/subuid",
    "/etc/subgid",
    "/etc/fstab",
    "/etc/os-release",
    "/etc/sudoers",
    "/etc/NIXOS",
    "/etc/static",
    "/etc/.clean",
    "/etc/.updated",
];

/// NixOS's own rules for a persisted path (file or directory).
pub(crate) fn persisted_path(path: &str) -> Checked {
    if let Some(c) = path.chars().find(|&c| c == '%' || (c.is_whitespace() && c != ' ')) {
        return Err(problem(
            format!(
                "persisted path {} contains {c:?}: {}",
                excerpt(path),
                if c == '%' {
                    "systemd reads `%` as a specifier in the tmpfiles rule and mount unit made from it"
                } else {
                    "the tmpfiles rule and mount unit made from it cannot carry whitespace other than spaces"
                }
            ),
            "rename the path without it",
        ));
    }
    if let Some(f) = NIXOS_ETC.iter().find(|f| path == **f || is_within(f, path)) {
        return Err(problem(
            format!("persisted path {} is or holds {f}, which NixOS writes itself on every boot", excerpt(path)),
            match *f {
                "/etc/hostid" => {
                    "remove it: blankroot.nix sets networking.hostId, and NixOS writes /etc/hostid from it"
                }
                "/etc/passwd" | "/etc/group" | "/etc/shadow" | "/etc/gshadow" | "/etc/subuid" | "/etc/subgid" => {
                    "remove it: NixOS builds the account files from users.users (password hashes are kept in /persist by blankroot)"
                }
                _ => "remove it: NixOS generates it from the configuration",
            },
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_shapes() {
        for ok in
            ["/dev/vda", "/dev/sdb", "/dev/nvme0n1", "/dev/mmcblk0", "/dev/disk/by-id/virtio-blankroot0", "/dev/xvda"]
        {
            assert!(disk(ok).is_ok(), "{ok}");
        }
        for bad in [
            "/dev/mapper/vda",
            "/dev/dm-0",
            "/dev/vda1",
            "/dev/sdb12",
            "/dev/nvme0n1p2",
            "/dev/mmcblk0p1",
            "/dev/disk/by-id/ata-X-part1",
            "/dev/disk/by-partuuid/abc",
            "/dev/disk/by-uuid/abc",
            "/dev/loop0",
            "/dev/zram0",
            "/tmp/disk.img",
        ] {
            assert!(disk(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn releases() {
        for ok in ["13.10", "20.09", "25.11", "26.05", "26.11"] {
            assert!(state_version(ok).is_ok(), "{ok}");
        }
        for bad in ["99.11", "27.05", "13.11", "25.10", "", "25.1", "é5.11"] {
            assert!(state_version(bad).is_err(), "{bad}");
        }
    }
}
