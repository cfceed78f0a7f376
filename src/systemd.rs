//! systemd unit names: escaping and validity. The config refuses names and paths that would
//! make a unit blankroot generates or refers to invalid, and doctor names the units it asks
//! about exactly as systemd does.
//!
//! Implemented after systemd's own code (`src/basic/unit-name.c`, the same since systemd 247):
//! `unit_name_escape()`/`do_escape()` (every byte not in `[A-Za-z0-9:_.]` and a leading `.`
//! become `\xNN`, `/` becomes `-`), `unit_name_path_escape()` (the path simplified, `/` alone
//! is `-`, leading and trailing `/` dropped; a path with a `..` part cannot be escaped) and
//! `unit_name_is_valid()` (shorter than `UNIT_NAME_MAX` = 256, characters of `VALID_CHARS`
//! plus `@`, a known type suffix). The expected values in the tests are `systemd-escape`'s.

/// `UNIT_NAME_MAX`: a unit name is shorter than this.
pub const UNIT_NAME_MAX: usize = 256;

/// The unit types systemd knows (`unit_type_table`).
const UNIT_TYPES: &[&str] =
    &["service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path", "slice", "scope"];

/// `VALID_CHARS` without the `-` and `\` that `do_escape` escapes all the same.
fn kept(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.')
}

fn escape_byte(out: &mut String, b: u8) {
    out.push_str(&format!("\\x{b:02x}"));
}

/// `systemd-escape STRING` (`unit_name_escape`): how systemd turns a name into a unit name's
/// instance, e.g. the LUKS name in `systemd-cryptsetup@<name>.service` (`crypt-root` →
/// `crypt\x2droot`).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, &b) in s.as_bytes().iter().enumerate() {
        match b {
            b'.' if i == 0 => escape_byte(&mut out, b),
            b'/' => out.push('-'),
            b if kept(b) => out.push(b as char),
            b => escape_byte(&mut out, b),
        }
    }
    out
}

/// `systemd-escape --path PATH` (`unit_name_path_escape`): how systemd names the mount unit of
/// a path (`/var/lib/nixos` → `var-lib-nixos`, `/` → `-`). `None` for a path systemd refuses
/// to escape (one with a `..` part).
pub fn escape_path(path: &str) -> Option<String> {
    // path_simplify(): no empty or `.` parts (so no duplicate or trailing slashes).
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    if parts.is_empty() {
        return Some("-".to_string());
    }
    if parts.contains(&"..") {
        return None;
    }
    Some(escape(&parts.join("/")))
}

/// The mount unit systemd makes for a mount point (`/persist` → `persist.mount`).
pub fn mount_unit(path: &str) -> Option<String> {
    escape_path(path).map(|e| format!("{e}.mount"))
}

/// The unit that opens the LUKS device `name` (systemd-cryptsetup-generator escapes the name).
pub fn cryptsetup_unit(name: &str) -> String {
    format!("systemd-cryptsetup@{}.service", escape(name))
}

/// The unit in which NixOS's systemd stage 1 imports the root pool (nixpkgs `zfs.nix`
/// `createImportService`: the pool's name as it is, not escaped).
pub fn zfs_import_unit(pool: &str) -> String {
    format!("zfs-import-{pool}.service")
}

/// `unit_name_is_valid(name, UNIT_NAME_PLAIN | UNIT_NAME_INSTANCE | UNIT_NAME_TEMPLATE)`.
pub fn unit_name_valid(name: &str) -> bool {
    if name.is_empty() || name.len() >= UNIT_NAME_MAX {
        return false;
    }
    let Some(dot) = name.rfind('.').filter(|&d| d > 0) else {
        return false;
    };
    if !UNIT_TYPES.contains(&&name[dot + 1..]) {
        return false;
    }
    let stem = &name.as_bytes()[..dot];
    // Every `@` is a valid character; the first one separates the template from the instance.
    if !stem.iter().all(|&b| kept(b) || matches!(b, b'-' | b'\\' | b'@')) {
        return false;
    }
    stem.first() != Some(&b'@')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `systemd-escape --path` (systemd 252) on each input.
    #[test]
    fn path_escaping_matches_systemd_escape() {
        for (path, escaped) in [
            ("/", "-"),
            ("/persist", "persist"),
            ("/var/lib/nixos", "var-lib-nixos"),
            ("/a b", "a\\x20b"),
            ("/x-y", "x\\x2dy"),
            ("/.hidden", "\\x2ehidden"),
            ("/ü", "\\xc3\\xbc"),
            ("//a//b/", "a-b"),
            ("/a/./b", "a-b"),
            ("/a:b_c.d", "a:b_c.d"),
            ("/a\\b", "a\\x5cb"),
        ] {
            assert_eq!(escape_path(path).as_deref(), Some(escaped), "{path}");
        }
        assert_eq!(escape_path("/a/../b"), None, "systemd-escape: not a normalized file system path");
    }

    /// `systemd-escape` without `--path`.
    #[test]
    fn name_escaping_matches_systemd_escape() {
        assert_eq!(escape("crypt-root"), "crypt\\x2droot");
        assert_eq!(escape(".x"), "\\x2ex");
        assert_eq!(escape("cryptroot"), "cryptroot");
        assert_eq!(cryptsetup_unit("crypt-root"), "systemd-cryptsetup@crypt\\x2droot.service");
    }

    #[test]
    fn unit_names_follow_systemd() {
        for good in [
            "zfs-import-rpool.service",
            "zfs-import-tank:x.y.service",
            "systemd-cryptsetup@crypt\\x2droot.service",
            "systemd-cryptsetup@.service",
            "var-lib-nixos.mount",
            "-.mount",
            "a@b@c.service",
        ] {
            assert!(unit_name_valid(good), "{good}");
        }
        let long = format!("{}.service", "a".repeat(UNIT_NAME_MAX - ".service".len()));
        for bad in ["", "service", ".service", "a.nope", "a b.service", "@a.service", "a/b.mount", long.as_str()] {
            assert!(!unit_name_valid(bad), "{bad}");
        }
        assert!(unit_name_valid(&long[1..]), "255 characters are allowed");
    }
}
