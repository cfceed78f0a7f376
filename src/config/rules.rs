//! Value rules for the config: what ZFS, cryptsetup, NixOS and the kernel accept for each
//! field. Each rule returns the problem and how to fix it; `parse` adds the file position.
//!
//! Sources (read from the projects' own trees):
//! - Pool and dataset names: OpenZFS `module/zcommon/zfs_namecheck.c` — `valid_char()`
//!   (`[A-Za-z0-9_.: -]`), `pool_namecheck()` (begins with a letter; `mirror`, `raidz`, `draid`
//!   reserved; shorter than `ZFS_MAX_DATASET_NAME_LEN - 2 - 2 * strlen("$ORIGIN")` = 240) and
//!   `entity_namecheck()` (no leading/trailing `/`, no empty, `.` or `..` component, names
//!   shorter than `ZFS_MAX_DATASET_NAME_LEN` = 256 from `include/sys/fs/zfs.h`, nesting below
//!   `zfs_max_dataset_nesting` = 50); `lib/libzfs/libzfs_pool.c` `zpool_name_valid()` (on create
//!   also the prefixes `mirror`, `raidz`, `draid`, `spare` and the name `log`, case-sensitive);
//!   `lib/libzfs/libzfs_dataset.c` `zfs_validate_name()` (`%` refused when creating). The old
//!   "looks like a disk (`c0…`)" rule was dropped in OpenZFS 2.2 (commit c05eec32a7), so such
//!   pool names are accepted.
//! - Host names: the type of `networking.hostName` in nixpkgs
//!   `nixos/modules/tasks/network-interfaces.nix`,
//!   `^$|^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$` (blankroot also refuses the empty
//!   name, which NixOS reads as "ask DHCP"), and the `networking.hostId` assertion in the same
//!   file (8 hexadecimal digits).
//! - User and group names: nixpkgs `nixos/modules/config/users-groups.nix` asserts
//!   `[a-zA-Z0-9_.][a-zA-Z0-9_.-]*` (shadow's `is_valid_name` without the trailing `$`) and
//!   aborts on names of 32 characters or more (`stringLength x < 32`). blankroot is stricter, so
//!   a name works with every user database NixOS can use: systemd's strict
//!   `valid_user_group_name()` (`src/basic/user-util.c`: a letter or `_` first, no `.`, at most
//!   31 characters), and it keeps to lower case, the portable convention (NixOS itself would
//!   accept upper-case letters).

mod luks;
mod nixos;
mod units;
mod zfs;
pub use luks::format_options as luks_format_options;
pub use nixos::{RELEASES, dev_nodes, disk, state_version};
pub use units::unit_path;
pub use zfs::{nicestrtonum, property as zfs_property, property_name as zfs_property_name};

/// A rule violation: what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub message: String,
    pub hint: String,
}

pub type Checked<T = ()> = Result<T, Problem>;

fn problem(message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem { message: message.into(), hint: hint.into() }
}

/// OpenZFS `valid_char()`.
fn zfs_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ')
}

/// `ZFS_MAX_DATASET_NAME_LEN`: every full dataset or snapshot name is shorter than this.
pub(crate) const ZFS_MAX_NAME_LEN: usize = 256;
/// `zfs_max_dataset_nesting`: a full dataset name has fewer `/` than this.
pub(crate) const ZFS_MAX_NESTING: usize = 50;

/// A pool name `zpool create` accepts and that can be part of a systemd unit name
/// (`zfs-import-<pool>.service`), so no spaces.
pub(crate) fn pool_name(name: &str) -> Checked {
    let hint = "use a name like `rpool`: a letter, then letters, digits, `_`, `-`, `.` or `:`";
    if name.is_empty() {
        return Err(problem("pool name is empty", hint));
    }
    // pool_namecheck(): room for "<pool>/$ORIGIN@$ORIGIN" below ZFS_MAX_DATASET_NAME_LEN.
    let max = ZFS_MAX_NAME_LEN - 2 - 2 * "$ORIGIN".len() - 1;
    if name.len() > max {
        return Err(problem(format!("pool name is {} characters long; ZFS allows at most {max}", name.len()), hint));
    }
    if let Some(c) = name.chars().find(|&c| !zfs_char_ok(c) || c == ' ') {
        let why = if c == ' ' {
            " (ZFS allows spaces, but NixOS names the import unit `zfs-import-<pool>.service`)"
        } else {
            ""
        };
        return Err(problem(format!("pool name {name:?} contains {c:?}, which is not allowed{why}"), hint));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(problem(format!("pool name {name:?} must begin with a letter"), hint));
    }
    // zpool_name_valid() on create: these prefixes and `log` name vdev types (case-sensitive).
    for reserved in ["mirror", "raidz", "draid", "spare"] {
        if name.starts_with(reserved) {
            return Err(problem(
                format!("pool name {name:?} begins with {reserved:?}, which ZFS reserves for vdev types"),
                hint,
            ));
        }
    }
    if name == "log" {
        return Err(problem("pool name \"log\" is reserved by ZFS for log vdevs", hint));
    }
    units::pool_unit(name)
}

/// A dataset name below the pool (`local/root`), as `zfs create` accepts it.
pub(crate) fn dataset_name(name: &str) -> Checked {
    let hint = "use slash-separated parts of letters, digits, `_`, `-`, `.`, `:` or space, e.g. `safe/persist`";
    if name.is_empty() {
        return Err(problem("dataset name is empty", hint));
    }
    if name.starts_with('/') {
        return Err(problem(
            format!("dataset name {name:?} begins with `/`; it is relative to the pool, like `local/root`"),
            hint,
        ));
    }
    if name.ends_with('/') {
        return Err(problem(format!("dataset name {name:?} ends with `/`"), hint));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err(problem(format!("dataset name {name:?} has an empty part (`//`)"), hint));
        }
        if part == "." || part == ".." {
            return Err(problem(
                format!("dataset name {name:?} has a {part:?} part, which ZFS reserves as a path reference"),
                hint,
            ));
        }
        if let Some(c) = part.chars().find(|&c| !zfs_char_ok(c)) {
            let what = match c {
                '@' => " (`@` separates snapshot names)",
                '#' => " (`#` separates bookmark names)",
                '%' => " (`%` is reserved for ZFS's temporary names)",
                _ => "",
            };
            return Err(problem(format!("dataset name {name:?} contains {c:?}, which ZFS rejects{what}"), hint));
        }
    }
    // The pool adds one level: "<pool>/<name>" must have fewer than ZFS_MAX_NESTING slashes.
    let depth = name.split('/').count();
    if depth >= ZFS_MAX_NESTING {
        return Err(problem(
            format!("dataset name {name:?} is nested {depth} levels deep; ZFS allows {}", ZFS_MAX_NESTING - 1),
            "use fewer levels",
        ));
    }
    Ok(())
}

/// A full dataset or snapshot name (`rpool/local/root@blank`) must fit ZFS's name length.
pub(crate) fn full_name_length(full: &str) -> Checked {
    if full.len() >= ZFS_MAX_NAME_LEN {
        return Err(problem(
            format!(
                "the full ZFS name {full:?} is {} characters long; ZFS allows {}",
                full.len(),
                ZFS_MAX_NAME_LEN - 1
            ),
            "shorten the pool or dataset name",
        ));
    }
    Ok(())
}

/// `networking.hostId`: exactly 8 hex digits, not all zero, not the seed's example. Returns
/// the lower-case form.
/// `[luks] uuid`: a version-4 UUID (what blankroot makes; `cryptsetup luksUUID` prints it),
/// written in lower case.
pub fn luks_uuid(id: &str) -> Checked<String> {
    let lower = id.to_ascii_lowercase();
    if crate::plan::ids::is_uuid_v4(&lower) {
        return Ok(lower);
    }
    Err(problem(
        format!(
            "[luks] uuid {} is not a version-4 UUID (xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx)",
            crate::error::excerpt(id)
        ),
        "leave it out and blankroot draws one (an install records it here); for an installed system, `cryptsetup luksUUID` on its LUKS partition prints it",
    ))
}

/// `[esp] uuid`: the FAT volume id as blkid prints it (`1A2B-3C4D`), written in upper case.
pub fn esp_uuid(id: &str) -> Checked<String> {
    let upper = id.to_ascii_uppercase();
    if crate::plan::ids::is_fat_volume_id(&upper) {
        return Ok(upper);
    }
    Err(problem(
        format!("[esp] uuid {} is not a FAT volume id (XXXX-XXXX, hexadecimal)", crate::error::excerpt(id)),
        "leave it out and blankroot draws one (an install records it here); for an installed system, `blkid -s UUID -o value` on its ESP prints it",
    ))
}

pub fn host_id(id: &str) -> Checked<String> {
    let hint = "generate one with `head -c4 /dev/urandom | od -An -tx4 | tr -d ' '`, or leave host_id out and blankroot draws a random one";
    if let Some(c) = id.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(problem(format!("host_id {id:?} contains {c:?}, which is not a hexadecimal digit"), hint));
    }
    if id.len() != 8 {
        return Err(problem(
            format!("host_id {id:?} has {} digits; it must be exactly 8 hexadecimal digits", id.len()),
            hint,
        ));
    }
    let lower = id.to_ascii_lowercase();
    if lower == "00000000" {
        return Err(problem("host_id 00000000 means \"no host id\" to ZFS", hint));
    }
    if lower == super::SEED_EXAMPLE_HOST_ID {
        return Err(problem(
            format!("host_id {id:?} is the example value from the guide; every copy of it collides"),
            hint,
        ));
    }
    Ok(lower)
}

/// A size such as `1GiB`, `512M`, `512MiB`, `1073741824`: binary units, as sfdisk reads them.
pub fn size(text: &str) -> Checked<u64> {
    let hint = "write a whole number with an optional unit: K, M, G, T (or KiB, MiB, GiB, TiB), e.g. `1GiB`";
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    if num.is_empty() {
        return Err(problem(format!("size {text:?} does not start with a number"), hint));
    }
    if unit.starts_with(['.', ',']) {
        return Err(problem(
            format!("size {text:?} is not a whole number"),
            "use a smaller unit instead of a fraction, e.g. `1536MiB` for 1.5GiB",
        ));
    }
    let n: u64 = num.parse().map_err(|_| problem(format!("size {text:?} is too large"), hint))?;
    let shift = match unit.trim() {
        "" | "B" => 0,
        "K" | "KiB" => 10,
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        other => return Err(problem(format!("size {text:?} has an unknown unit {other:?}"), hint)),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| problem(format!("size {text:?} is too large"), hint))
}

fn show_bytes(bytes: u64) -> String {
    if bytes.is_multiple_of(1 << 20) { format!("{} MiB", bytes >> 20) } else { format!("{bytes} bytes") }
}

/// The ESP's size: big enough for FAT32 and several NixOS generations' kernels.
pub fn esp_size(bytes: u64) -> Checked {
    let min = 256u64 << 20;
    if bytes < min {
        return Err(problem(
            format!("ESP size {} is too small", show_bytes(bytes)),
            "systemd-boot keeps a kernel and initrd per NixOS generation on the ESP: use at least 256MiB (the default is 1GiB)",
        ));
    }
    if !bytes.is_multiple_of(1 << 20) {
        return Err(problem(
            format!("ESP size {bytes} bytes is not a whole number of MiB"),
            "use a size in MiB or GiB, e.g. `512MiB`, so partitions stay aligned",
        ));
    }
    Ok(())
}

/// `networking.hostName`: one DNS label, `^[[:alnum:]]([[:alnum:]_-]{0,61}[[:alnum:]])?$`.
pub fn hostname(name: &str) -> Checked {
    let hint = "use letters, digits, `-` and `_`, beginning and ending with a letter or digit, at most 63 characters (no domain part)";
    if name.is_empty() {
        return Err(problem("hostname is empty", hint));
    }
    if name.len() > 63 {
        return Err(problem(format!("hostname {name:?} is {} characters long; NixOS allows 63", name.len()), hint));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
        let why = if c == '.' { " (networking.hostName takes no domain part)" } else { "" };
        return Err(problem(format!("hostname {name:?} contains {c:?}, which NixOS rejects{why}"), hint));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) || !name.ends_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(problem(format!("hostname {name:?} must begin and end with a letter or digit"), hint));
    }
    Ok(())
}

/// User and group names; see the module comment for where each limit comes from.
fn account_name(kind: &str, name: &str) -> Checked {
    let hint = format!(
        "a {kind} name is a lower-case letter or `_`, then lower-case letters, digits, `_` or `-`, at most 31 characters, e.g. `alice`"
    );
    if name.is_empty() {
        return Err(problem(format!("{kind} name is empty"), hint));
    }
    if name.len() > 31 {
        return Err(problem(
            format!("{kind} name {name:?} is {} characters long; NixOS allows at most 31", name.len()),
            hint,
        ));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
        return Err(problem(format!("{kind} name {name:?} contains {c:?}, which is not allowed"), hint));
    }
    if name.starts_with(|c: char| c.is_ascii_digit() || c == '-') {
        return Err(problem(format!("{kind} name {name:?} must begin with a letter or `_`"), hint));
    }
    if name.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(problem(
            format!("{kind} name {name:?} has upper-case letters; blankroot accepts lower-case names only"),
            hint,
        ));
    }
    Ok(())
}

pub(crate) fn user_name(name: &str) -> Checked {
    account_name("user", name)?;
    if name == "root" {
        return Err(problem(
            "user \"root\" cannot be listed under [[users]]",
            "set root's password in the [root] table instead",
        ));
    }
    nixos::system_user(name)
}

pub(crate) fn group_name(name: &str) -> Checked {
    account_name("group", name)
}

/// An absolute, normalised path: no `.`/`..`/empty components, no trailing `/`, no control
/// characters (they cannot be written safely into fstab-like unit names).
pub(crate) fn absolute_path(what: &str, path: &str) -> Checked {
    let example = match what {
        "disk" => "/dev/disk/by-id/…",
        "dev_nodes" => "/dev/disk/by-id",
        "mount point" => "/srv/data",
        _ => "/var/lib/foo",
    };
    let hint =
        format!("write the {what} as an absolute path like `{example}`, without `.`, `..`, `//` or a trailing `/`");
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(problem(format!("{what} {path:?} contains the control character {c:?}"), hint));
    }
    if !path.starts_with('/') {
        return Err(problem(format!("{what} {path:?} is not an absolute path"), hint));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(problem(format!("{what} {path:?} ends with `/`"), hint));
    }
    for part in path[1..].split('/') {
        if part.is_empty() || part == "." || part == ".." {
            let part = if part.is_empty() { "//" } else { part };
            return Err(problem(format!("{what} {path:?} is not normalised (it has a {part:?} part)"), hint));
        }
    }
    Ok(())
}

pub use crate::infra::paths::is_within;

/// Places a dataset must not be mounted on: the ESP's `/boot` and the kernel's file systems.
pub(crate) fn dataset_mount(mount: &str) -> Checked {
    absolute_path("mount point", mount)?;
    for special in ["/boot", "/proc", "/sys", "/dev", "/run"] {
        if is_within(mount, special) {
            return Err(problem(
                format!("mount point {mount:?} is under {special}, which is not a place for a dataset"),
                if special == "/boot" {
                    "/boot is the ESP (FAT32, read by the firmware); choose another mount point"
                } else {
                    "the kernel and systemd mount file systems there; choose another mount point"
                },
            ));
        }
    }
    Ok(())
}

/// A path to keep in /persist: absolute, and not somewhere that is already kept or never erased.
pub(crate) fn persisted_path(path: &str, dataset_mounts: &[&str]) -> Checked {
    absolute_path("persisted path", path)?;
    if path == "/" {
        return Err(problem(
            "persisted path \"/\" would keep the whole root, defeating the rollback",
            "list the directories you want to keep instead",
        ));
    }
    nixos::persisted_path(path)?;
    for special in ["/nix", "/boot", "/persist", "/proc", "/sys", "/dev", "/run", "/tmp"] {
        if is_within(path, special) {
            return Err(problem(
                format!("persisted path {path:?} is under {special}, which is not on the erased root"),
                "list only paths on the root dataset, such as `/var/lib/foo` or `/etc/foo`",
            ));
        }
    }
    for m in dataset_mounts.iter().filter(|m| **m != "/") {
        if is_within(path, m) {
            return Err(problem(
                format!("persisted path {path:?} is under {m}, which is its own dataset and survives reboots already"),
                "remove it from [persist]",
            ));
        }
        if is_within(m, path) {
            return Err(problem(
                format!("persisted path {path:?} contains {m}, the mount point of a dataset"),
                "a bind mount from /persist would hide that dataset; persist the paths beside it instead",
            ));
        }
    }
    Ok(())
}

/// A device-mapper name for the LUKS mapping, also used as a Nix attribute and a systemd unit name.
pub fn luks_name(name: &str) -> Checked {
    let hint = "use letters, digits, `_`, `-` or `.`, e.g. `cryptroot` (it becomes /dev/mapper/<name>)";
    if name.is_empty() {
        return Err(problem("LUKS mapping name is empty", hint));
    }
    if name.len() > 127 {
        return Err(problem(
            format!("LUKS mapping name is {} characters long; device-mapper allows 127", name.len()),
            hint,
        ));
    }
    if let Some(c) = name.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))) {
        return Err(problem(
            format!("LUKS mapping name {} contains {c:?}, which is not allowed", crate::error::excerpt(name)),
            hint,
        ));
    }
    // `cryptsetup open DEVICE -x` would read the name as an option (popt), and systemd's
    // cryptsetup generator passes it as an argument too: start with a letter or digit.
    if name.starts_with(['-', '.']) && !matches!(name, "." | "..") {
        return Err(problem(
            format!(
                "LUKS mapping name {} starts with {:?}",
                crate::error::excerpt(name),
                name.chars().next().unwrap_or('-')
            ),
            "start the name with a letter or a digit, e.g. `cryptroot`",
        ));
    }
    if matches!(name, "." | ".." | "control") {
        return Err(problem(format!("LUKS mapping name {name:?} is reserved in /dev/mapper"), hint));
    }
    units::luks_unit(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(size("1GiB").unwrap(), 1 << 30);
        assert_eq!(size("512M").unwrap(), 512 << 20);
        assert_eq!(size("4096").unwrap(), 4096);
        assert!(size("1.5G").is_err());
        assert!(size("G").is_err());
        assert!(size("99999999999999T").is_err());
    }

    #[test]
    fn pool_names_follow_zfs() {
        assert!(pool_name("rpool").is_ok());
        assert!(pool_name("tank-01.a:b").is_ok());
        // OpenZFS 2.2 dropped the "looks like a Solaris disk" rule; the reserved prefixes are case-sensitive.
        assert!(pool_name("c0t0").is_ok());
        assert!(pool_name("Mirror").is_ok());
        for bad in ["", "1pool", "mirror1", "raidz", "log", "a b", "a/b", "sparepool", "draid2", &"p".repeat(240)] {
            assert!(pool_name(bad).is_err(), "{bad}");
        }
        // zfs-import-<pool>.service must stay within systemd's 255 characters.
        assert!(pool_name(&"p".repeat(236)).is_ok());
        assert!(pool_name(&"p".repeat(237)).unwrap_err().message.contains("zfs-import-<pool>.service 256 characters"));
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/var/log/x", "/var/log"));
        assert!(is_within("/var/log", "/var/log"));
        assert!(!is_within("/var/logs", "/var/log"));
    }
}
