//! Value rules for the config: what ZFS, cryptsetup, NixOS and the kernel accept for each
//! field. Each rule returns the problem and how to fix it; `parse` adds the file position.
//!
//! Sources: ZFS names follow OpenZFS `module/zcommon/zfs_namecheck.c` (valid characters
//! `[A-Za-z0-9_.: -]`, reserved pool names) and `zpool_name_valid()` in libzfs; host names
//! follow `networking.hostName`'s type in nixpkgs `nixos/modules/tasks/network-interfaces.nix`;
//! user and group names follow the `isValidName` check in nixpkgs
//! `nixos/modules/config/users-groups.nix` (`^[a-z_][a-z0-9_-]*\$?$`, at most 32 characters).

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

fn zfs_char_ok(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | ' ')
}

/// A pool name `zpool create` accepts and that can be part of a systemd unit name
/// (`zfs-import-<pool>.service`), so no spaces.
pub fn pool_name(name: &str) -> Checked {
    let hint = "use a name like `rpool`: a letter, then letters, digits, `_`, `-`, `.` or `:`";
    if name.is_empty() {
        return Err(problem("pool name is empty", hint));
    }
    if name.len() > 255 {
        return Err(problem(format!("pool name is {} characters long; ZFS allows 255", name.len()), hint));
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(problem(format!("pool name {name:?} must begin with a letter"), hint));
    }
    if let Some(c) = name.chars().find(|&c| !zfs_char_ok(c) || c == ' ') {
        let why = if c == ' ' {
            " (ZFS allows spaces, but NixOS names the import unit `zfs-import-<pool>.service`)".to_string()
        } else {
            String::new()
        };
        return Err(problem(format!("pool name {name:?} contains {c:?}, which is not allowed{why}"), hint));
    }
    let lower = name.to_ascii_lowercase();
    for reserved in ["mirror", "raidz", "draid", "spare"] {
        if lower.starts_with(reserved) {
            return Err(problem(
                format!("pool name {name:?} begins with {reserved:?}, which ZFS reserves for vdev types"),
                hint,
            ));
        }
    }
    if name == "log" {
        return Err(problem("pool name \"log\" is reserved by ZFS", hint));
    }
    let b = name.as_bytes();
    if b[0] == b'c' && b.len() > 1 && b[1].is_ascii_digit() {
        return Err(problem(
            format!("pool name {name:?} looks like a disk name (c<digit>…), which ZFS rejects"),
            hint,
        ));
    }
    Ok(())
}

/// A dataset name below the pool (`local/root`), as `zfs create` accepts it.
pub fn dataset_name(name: &str) -> Checked {
    let hint = "use slash-separated parts of letters, digits, `_`, `-`, `.`, `:` or space, e.g. `safe/persist`";
    if name.is_empty() {
        return Err(problem("dataset name is empty", hint));
    }
    if name.starts_with('/') || name.ends_with('/') {
        return Err(problem(
            format!("dataset name {name:?} must not begin or end with `/`; it is relative to the pool"),
            hint,
        ));
    }
    for part in name.split('/') {
        if part.is_empty() {
            return Err(problem(format!("dataset name {name:?} has an empty part (`//`)"), hint));
        }
        if part == "." || part == ".." {
            return Err(problem(format!("dataset name {name:?} has a {part:?} part, which ZFS rejects"), hint));
        }
        if let Some(c) = part.chars().find(|&c| !zfs_char_ok(c)) {
            let what = match c {
                '@' => " (`@` separates snapshot names)".to_string(),
                '#' => " (`#` separates bookmark names)".to_string(),
                '%' => " (`%` is reserved for temporary names)".to_string(),
                _ => String::new(),
            };
            return Err(problem(format!("dataset name {name:?} contains {c:?}, which ZFS rejects{what}"), hint));
        }
    }
    Ok(())
}

/// `networking.hostId`: exactly 8 hex digits, not all zero, not the seed's example. Returns
/// the lower-case form.
pub fn host_id(id: &str) -> Checked<String> {
    let hint = "generate one with `head -c4 /dev/urandom | od -An -tx4 | tr -d ' '`, or leave host_id out and blankroot draws a random one";
    if id.len() != 8 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(problem(format!("host_id {id:?} is not 8 hexadecimal digits"), hint));
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

/// The ESP's size: big enough for FAT32 and several NixOS generations' kernels.
pub fn esp_size(bytes: u64) -> Checked {
    let min = 256u64 << 20;
    if bytes < min {
        return Err(problem(
            format!("ESP size {} MiB is too small", bytes >> 20),
            "systemd-boot keeps a kernel and initrd per NixOS generation on the ESP: use at least 256MiB (the default is 1GiB)",
        ));
    }
    if bytes % (1 << 20) != 0 {
        return Err(problem(
            format!("ESP size {bytes} bytes is not a whole number of MiB"),
            "use a size in MiB or GiB, e.g. `512MiB`, so partitions stay aligned",
        ));
    }
    Ok(())
}

/// `networking.hostName`.
pub fn hostname(name: &str) -> Checked {
    let hint = "use letters, digits, `-` and `_`, beginning and ending with a letter or digit, at most 63 characters";
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if ok { Ok(()) } else { Err(problem(format!("hostname {name:?} is not a valid NixOS host name"), hint)) }
}

fn nixos_name(kind: &str, name: &str) -> Checked {
    let hint = format!("a {kind} name starts with a lower-case letter or `_`, then lower-case letters, digits, `_` or `-`, at most 32 characters");
    let body = name.strip_suffix('$').unwrap_or(name);
    let ok = !body.is_empty()
        && name.len() <= 32
        && body.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && body.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok { Ok(()) } else { Err(problem(format!("{kind} name {name:?} is rejected by NixOS"), hint)) }
}

pub fn user_name(name: &str) -> Checked {
    nixos_name("user", name)?;
    if name == "root" {
        return Err(problem(
            "user \"root\" cannot be listed under [[users]]",
            "set root's password in the [root] table instead",
        ));
    }
    Ok(())
}

pub fn group_name(name: &str) -> Checked {
    nixos_name("group", name)
}

/// An absolute, normalised path: no `.`/`..`/empty components, no trailing `/`, no control
/// characters (they cannot be written safely into fstab-like unit names).
pub fn absolute_path(what: &str, path: &str) -> Checked {
    let hint = format!("write the {what} as an absolute path like `/var/lib/foo`, without `.`, `..`, `//` or a trailing `/`");
    if !path.starts_with('/') {
        return Err(problem(format!("{what} {path:?} is not an absolute path"), hint));
    }
    if let Some(c) = path.chars().find(|c| c.is_control()) {
        return Err(problem(format!("{what} {path:?} contains the control character {c:?}"), hint));
    }
    if path == "/" {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(problem(format!("{what} {path:?} ends with `/`"), hint));
    }
    for part in path[1..].split('/') {
        if part.is_empty() || part == "." || part == ".." {
            return Err(problem(format!("{what} {path:?} is not normalised (it has a {part:?} part)"), hint));
        }
    }
    Ok(())
}

/// Whether `path` is `dir` or inside it.
pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// A path to keep in /persist: absolute, and not somewhere that is already kept or never erased.
pub fn persisted_path(path: &str, dataset_mounts: &[&str]) -> Checked {
    absolute_path("persisted path", path)?;
    for special in ["/nix", "/boot", "/persist", "/proc", "/sys", "/dev", "/run", "/tmp"] {
        if is_within(path, special) {
            return Err(problem(
                format!("persisted path {path:?} is under {special}, which is not on the erased root"),
                "list only paths on the root dataset, such as `/var/lib/foo` or `/etc/foo`",
            ));
        }
    }
    if path == "/" {
        return Err(problem(
            "persisted path \"/\" would keep the whole root, defeating the rollback",
            "list the directories you want to keep instead",
        ));
    }
    for m in dataset_mounts.iter().filter(|m| **m != "/") {
        if is_within(path, m) {
            return Err(problem(
                format!("persisted path {path:?} is under {m}, which is its own dataset and survives reboots already"),
                "remove it from [persist]",
            ));
        }
    }
    Ok(())
}

/// `system.stateVersion`: a NixOS release such as `25.11`.
pub fn state_version(v: &str) -> Checked {
    let ok = v.len() == 5 && v.as_bytes()[2] == b'.' && {
        let (y, m) = (&v[..2], &v[3..]);
        y.chars().all(|c| c.is_ascii_digit()) && (m == "05" || m == "11")
    };
    if ok {
        Ok(())
    } else {
        Err(problem(
            format!("state_version {v:?} is not a NixOS release"),
            "use the release the machine is first installed with, e.g. \"25.11\"; NixOS releases are YY.05 and YY.11",
        ))
    }
}

/// A device-mapper name for the LUKS mapping, also used as a Nix attribute and a systemd unit name.
pub fn luks_name(name: &str) -> Checked {
    let ok = !name.is_empty()
        && name.len() <= 127
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && name != "."
        && name != ".."
        && name != "control";
    if ok {
        Ok(())
    } else {
        Err(problem(
            format!("LUKS mapping name {name:?} is not usable"),
            "use letters, digits, `_`, `-` or `.`, e.g. `cryptroot` (it becomes /dev/mapper/<name>)",
        ))
    }
}

/// Extra luksFormat options must not take over what blankroot sets or carry a key.
pub fn luks_format_option(opt: &str) -> Checked {
    let owned = ["--uuid", "--type", "--key-file", "-d", "--batch-mode", "-q", "--keyfile-size", "--key-slot"];
    let name = opt.split('=').next().unwrap_or(opt);
    if owned.contains(&name) {
        return Err(problem(
            format!("luks.format_options may not contain {name:?}: blankroot sets it"),
            "remove it; blankroot passes the LUKS2 type, the planned UUID and the passphrase on stdin itself",
        ));
    }
    if opt.chars().any(|c| c.is_control()) {
        return Err(problem(format!("luks.format_options entry {opt:?} contains a control character"), "remove it"));
    }
    Ok(())
}

/// A ZFS property name (`ashift`, `com.example:tag`) and value.
pub fn zfs_property(kind: &str, key: &str, value: &str) -> Checked {
    let key_ok = !key.is_empty()
        && key.starts_with(|c: char| c.is_ascii_lowercase())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | ':' | '.' | '-'));
    if !key_ok {
        return Err(problem(
            format!("{kind} property name {key:?} is not a ZFS property"),
            "property names are lower-case, like `compression` or `com.example:note`",
        ));
    }
    if value.is_empty() || value.chars().any(|c| c.is_control()) {
        return Err(problem(
            format!("{kind} property {key} has an empty value or one with control characters"),
            "give a plain value such as `on`, `zstd` or `12`",
        ));
    }
    Ok(())
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
        for bad in ["", "1pool", "mirror1", "raidz", "c0t0", "log", "a b", "a/b", "sparepool", "draid2"] {
            assert!(pool_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn within_is_component_wise() {
        assert!(is_within("/var/log/x", "/var/log"));
        assert!(is_within("/var/log", "/var/log"));
        assert!(!is_within("/var/logs", "/var/log"));
    }
}
