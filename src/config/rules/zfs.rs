//! ZFS properties in the config: `[pool] options` (`zpool create -o`), `[pool] fs_options`
//! (`zpool create -O`, the pool's root file system) and `[[datasets]] properties`
//! (`zfs create -o`). Each name must be a property ZFS knows and can set on that object, each
//! value one ZFS accepts, and none may undo the layout blankroot builds.
//!
//! The tables are OpenZFS's own, read from the zfs-2.3.5 tag (commit ab38521f31f7) of
//! openzfs/zfs, the release line NixOS 25.05/25.11 installers ship (2.4 only adds the
//! `default*quota` properties, left out so every supported installer's zpool accepts what
//! passes here):
//! - `module/zcommon/zfs_prop.c` `zfs_prop_init()`: the index tables (`compress_table`, …),
//!   which properties are read-only (`PROP_READONLY`) or for volumes only (`ZFS_TYPE_VOLUME`);
//!   `recordsize` "512 to 16M, power of 2", `special_small_blocks` "0 to 16M" (power of two,
//!   `lib/libzfs/libzfs_dataset.c` `zfs_valid_proplist()`).
//! - `module/zcommon/zpool_prop.c` `zpool_prop_init()`: pool properties; `ashift` "9-16, or
//!   0=default" (`ASHIFT_MIN`/`ASHIFT_MAX`), `comment` at most `ZPROP_MAX_COMMENT` = 32
//!   printable characters and `version` `SPA_VERSION_IS_SUPPORTED` (1–28 or 5000), both checked
//!   in `lib/libzfs/libzfs_pool.c` `zpool_valid_proplist()`, which also takes `feature@<name>`
//!   = `enabled`|`disabled` for the features of `module/zcommon/zfeature_common.c`.
//! - Sizes as `zfs_nicestrtonum()` (`lib/libzfs/libzfs_util.c`) reads them: a number, an
//!   optional fraction, an optional suffix `B K M G T P E Z` (also `KB`, `KiB`), any case.
//! - User properties (`zfs_prop_user()`): a name with a `:` of lower-case letters, digits and
//!   `:._-`, shorter than `ZAP_MAXNAMELEN` (256), a value shorter than `ZFS_MAXPROPLEN` (8192).
//!
//! Refused although ZFS takes them, because they break the layout: `encryption`, `keyformat`,
//! `keylocation`, `pbkdf2iters` (LUKS is the encryption; `zpool create` would prompt for a
//! key), `readonly=on`, a `mountpoint` other than `legacy`/`none` (blankroot mounts datasets
//! itself with `mount = "/path"`; a ZFS mountpoint would mount outside the target, over the
//! live system), and the pool properties blankroot sets or that name files and datasets on the
//! installer (`altroot`, `cachefile`, `bootfs`, `readonly`).

use super::{Checked, problem};
use crate::error::excerpt;

/// What a property's value may be.
#[derive(Clone, Copy)]
enum Ty {
    /// One of these words (a ZFS index table).
    Index(&'static [&'static str]),
    /// A size, `none` when `none` is true; in `min..=max`, a power of two when `pow2`
    /// (0 always allowed when `zero`).
    Size { none: bool, min: u64, max: u64, pow2: bool, zero: bool },
    /// A count, or `none`.
    Count,
    /// Printable text of at most this many characters.
    Text(usize),
    /// A whole number in this range (or one of the extra values).
    Number(u64, u64, &'static [u64]),
    /// Refused: the reason and how to fix it.
    Refused(&'static str, &'static str),
}

const ON_OFF: &[&str] = &["on", "off"];
const CACHE: &[&str] = &["none", "metadata", "all"];
const M16: u64 = 16 << 20;
const ANY_SIZE: Ty = Ty::Size { none: true, min: 0, max: u64::MAX, pow2: false, zero: true };
const LUKS: Ty = Ty::Refused(
    "blankroot encrypts the whole pool with LUKS, and `zpool create` would stop to ask for a ZFS key",
    "remove it: the pool is already encrypted by the LUKS container under it",
);
const RO: Ty = Ty::Refused("it is read-only: ZFS reports it but nobody sets it", "remove it from the config");
const VOLUME: Ty =
    Ty::Refused("it applies to volumes (zvols) only, and blankroot creates file systems", "remove it from the config");

/// File system properties (`zfs create -o`, `zpool create -O`).
const FS: &[(&str, Ty)] = &[
    ("redundant_metadata", Ty::Index(&["all", "most", "some", "none"])),
    ("sync", Ty::Index(&["standard", "always", "disabled"])),
    // `noparity` is in checksum_table but not in the property's documented values.
    ("checksum", Ty::Index(&["on", "off", "fletcher2", "fletcher4", "sha256", "sha512", "skein", "edonr", "blake3"])),
    (
        "dedup",
        Ty::Index(&[
            "on",
            "off",
            "verify",
            "sha256",
            "sha256,verify",
            "sha512",
            "sha512,verify",
            "skein",
            "skein,verify",
            "edonr,verify",
            "blake3",
            "blake3,verify",
        ]),
    ),
    ("compression", Ty::Index(&[])), // compress_table: see compression_ok()
    ("snapdir", Ty::Index(&["disabled", "hidden", "visible"])),
    ("snapdev", Ty::Index(&["hidden", "visible"])),
    ("aclmode", Ty::Index(&["discard", "groupmask", "passthrough", "restricted"])),
    ("acltype", Ty::Index(&["off", "posix", "nfsv4", "disabled", "noacl", "posixacl"])),
    ("aclinherit", Ty::Index(&["discard", "noallow", "restricted", "passthrough", "secure", "passthrough-x"])),
    ("copies", Ty::Index(&["1", "2", "3"])),
    ("primarycache", Ty::Index(CACHE)),
    ("secondarycache", Ty::Index(CACHE)),
    ("prefetch", Ty::Index(CACHE)),
    ("logbias", Ty::Index(&["latency", "throughput"])),
    ("xattr", Ty::Index(&["off", "sa", "on", "dir"])),
    ("dnodesize", Ty::Index(&["legacy", "auto", "1k", "2k", "4k", "8k", "16k"])),
    ("volmode", Ty::Index(&["default", "full", "geom", "dev", "none"])),
    ("direct", Ty::Index(&["disabled", "standard", "always"])),
    ("atime", Ty::Index(ON_OFF)),
    ("relatime", Ty::Index(ON_OFF)),
    ("devices", Ty::Index(ON_OFF)),
    ("exec", Ty::Index(ON_OFF)),
    ("setuid", Ty::Index(ON_OFF)),
    ("readonly", Ty::Index(ON_OFF)), // `on` refused in fs_conflict()
    ("zoned", Ty::Index(ON_OFF)),
    ("vscan", Ty::Index(ON_OFF)),
    ("nbmand", Ty::Index(ON_OFF)),
    ("overlay", Ty::Index(ON_OFF)),
    ("longname", Ty::Index(ON_OFF)),
    ("version", Ty::Index(&["1", "2", "3", "4", "5", "current"])),
    ("canmount", Ty::Index(&["on", "off", "noauto"])),
    ("normalization", Ty::Index(&["none", "formD", "formKC", "formC", "formKD"])),
    ("casesensitivity", Ty::Index(&["sensitive", "insensitive", "mixed"])),
    ("utf8only", Ty::Index(ON_OFF)),
    ("mountpoint", Ty::Text(1024)), // only legacy or none: see fs_conflict()
    ("sharenfs", Ty::Text(1024)),
    ("sharesmb", Ty::Text(1024)),
    ("mlslabel", Ty::Text(1024)),
    ("context", Ty::Text(1024)),
    ("fscontext", Ty::Text(1024)),
    ("defcontext", Ty::Text(1024)),
    ("rootcontext", Ty::Text(1024)),
    ("quota", ANY_SIZE),
    ("refquota", ANY_SIZE),
    ("reservation", ANY_SIZE),
    ("refreservation", ANY_SIZE),
    ("filesystem_limit", Ty::Count),
    ("snapshot_limit", Ty::Count),
    ("recordsize", Ty::Size { none: false, min: 512, max: M16, pow2: true, zero: false }),
    ("special_small_blocks", Ty::Size { none: false, min: 512, max: M16, pow2: true, zero: true }),
    ("encryption", LUKS),
    ("keyformat", LUKS),
    ("keylocation", LUKS),
    ("pbkdf2iters", LUKS),
    ("volsize", VOLUME),
    ("volblocksize", VOLUME),
    ("volthreading", VOLUME),
    ("used", RO),
    ("available", RO),
    ("avail", RO),
    ("referenced", RO),
    ("refer", RO),
    ("compressratio", RO),
    ("refcompressratio", RO),
    ("usedbysnapshots", RO),
    ("usedbydataset", RO),
    ("usedbychildren", RO),
    ("usedbyrefreservation", RO),
    ("userrefs", RO),
    ("written", RO),
    ("logicalused", RO),
    ("logicalreferenced", RO),
    ("filesystem_count", RO),
    ("snapshot_count", RO),
    ("guid", RO),
    ("createtxg", RO),
    ("objsetid", RO),
    ("origin", RO),
    ("clones", RO),
    ("type", RO),
    ("name", RO),
    ("receive_resume_token", RO),
    ("encryptionroot", RO),
    ("redact_snaps", RO),
    ("mounted", RO),
    ("defer_destroy", RO),
    ("keystatus", RO),
    ("creation", RO),
    ("snapshots_changed", RO),
];

/// Pool properties (`zpool create -o`).
const POOL: &[(&str, Ty)] = &[
    ("ashift", Ty::Number(9, 16, &[0])),
    ("autotrim", Ty::Index(ON_OFF)),
    ("autoexpand", Ty::Index(ON_OFF)),
    ("autoreplace", Ty::Index(ON_OFF)),
    ("delegation", Ty::Index(ON_OFF)),
    ("listsnapshots", Ty::Index(ON_OFF)),
    ("multihost", Ty::Index(ON_OFF)),
    ("failmode", Ty::Index(&["wait", "continue", "panic"])),
    ("comment", Ty::Text(32)),
    ("compatibility", Ty::Text(1024)), // checked in compatibility_ok()
    ("version", Ty::Number(1, 28, &[5000])),
    ("dedup_table_quota", Ty::Size { none: true, min: 0, max: u64::MAX, pow2: false, zero: true }),
    (
        "altroot",
        Ty::Refused(
            "blankroot creates the pool with the altroot /mnt itself (`zpool create -R /mnt`)",
            "remove it from the config",
        ),
    ),
    (
        "cachefile",
        Ty::Refused(
            "blankroot sets it: the altroot (-R) keeps the pool out of the installer's cache file, and NixOS imports the pool by scanning dev_nodes",
            "remove it from [pool] options",
        ),
    ),
    (
        "bootfs",
        Ty::Refused(
            "it names a dataset for a ZFS boot loader; blankroot boots with systemd-boot from the ESP",
            "remove it from [pool] options",
        ),
    ),
    ("readonly", Ty::Refused("a read-only pool cannot be created or installed to", "remove it from the config")),
    ("size", RO),
    ("free", RO),
    ("freeing", RO),
    ("checkpoint", RO),
    ("leaked", RO),
    ("allocated", RO),
    ("expandsize", RO),
    ("fragmentation", RO),
    ("capacity", RO),
    ("guid", RO),
    ("load_guid", RO),
    ("health", RO),
    ("dedupratio", RO),
    ("bcloneused", RO),
    ("bclonesaved", RO),
    ("bcloneratio", RO),
    ("dedup_table_size", RO),
    ("last_scrubbed_txg", RO),
    ("name", RO),
    ("maxblocksize", RO),
    ("maxdnodesize", RO),
    ("dedupcached", RO),
];

/// The pool features of `zfeature_common.c` (zfs-2.3.5), by their short names.
#[rustfmt::skip]
const FEATURES: &[&str] = &[
    "async_destroy", "empty_bpobj", "lz4_compress", "multi_vdev_crash_dump", "spacemap_histogram",
    "enabled_txg", "hole_birth", "zpool_checkpoint", "spacemap_v2", "extensible_dataset", "bookmarks",
    "filesystem_limits", "embedded_data", "livelist", "log_spacemap", "large_blocks", "large_dnode", "sha512",
    "skein", "edonr", "redaction_bookmarks", "redacted_datasets", "bookmark_written", "device_removal",
    "obsolete_counts", "userobj_accounting", "bookmark_v2", "encryption", "project_quota",
    "allocation_classes", "resilver_defer", "device_rebuild", "zstd_compress", "draid", "zilsaxattr",
    "head_errlog", "blake3", "block_cloning", "vdev_zaps_v2", "redaction_list_spill", "raidz_expansion",
    "fast_dedup", "longname", "large_microzap",
];

/// Which `-o` a property is passed with: `kind` as the parser names it in messages.
fn is_pool(kind: &str) -> bool {
    kind == "pool"
}

/// Whether `key` is a property `kind` (`pool`, `pool fs` or `dataset`) can be given at all.
pub fn property_name(kind: &str, key: &str) -> Checked {
    if key.contains(':') {
        return user_name(kind, key);
    }
    if let Some(feature) = key.strip_prefix("feature@") {
        return feature_name(kind, feature);
    }
    if let Some((name, who)) = key.split_once('@') {
        return quota_name(kind, name, who);
    }
    match lookup(kind, key) {
        None => Err(unknown(kind, key)),
        Some(Ty::Refused(why, fix)) => Err(problem(format!("{kind} property {key} is refused: {why}"), fix)),
        Some(_) => Ok(()),
    }
}

/// Whether `value` is one ZFS takes for `key` (a name [`property_name`] accepted), and one
/// the layout allows.
pub fn property(kind: &str, key: &str, value: &str) -> Checked {
    property_name(kind, key)?;
    if key.contains(':') {
        return user_value(kind, key, value);
    }
    if let Some(feature) = key.strip_prefix("feature@") {
        return feature_value(feature, value);
    }
    if key.contains('@') {
        return check_value(kind, key, value, ANY_SIZE);
    }
    match lookup(kind, key) {
        Some(ty) => check_value(kind, key, value, ty)?,
        None => return Err(unknown(kind, key)),
    }
    if !is_pool(kind) {
        fs_conflict(kind, key, value)?;
    }
    Ok(())
}

fn lookup(kind: &str, key: &str) -> Option<Ty> {
    let table = if is_pool(kind) { POOL } else { FS };
    table.iter().find(|(n, _)| *n == key).map(|(_, ty)| *ty)
}

fn unknown(kind: &str, key: &str) -> crate::config::rules::Problem {
    let other = if is_pool(kind) { FS } else { POOL };
    let (why, hint) = if other.iter().any(|(n, _)| *n == key) {
        if is_pool(kind) {
            (
                " here: it is a file system property",
                format!("put {key} in [pool] fs_options (zpool create -O) or a dataset's properties"),
            )
        } else {
            (" here: it is a pool property", format!("put {key} in [pool] options (zpool create -o)"))
        }
    } else {
        ("", "property names are lower-case, like `compression`, `recordsize`, `feature@large_dnode` or a user property `com.example:note` (see zfsprops(7) and zpoolprops(7))".to_string())
    };
    problem(format!("{kind} property name {} is not a ZFS property{why}", excerpt(key)), hint)
}

fn printable(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| !c.is_control())
}

fn user_name(kind: &str, key: &str) -> Checked {
    let name_ok = key.len() < 256
        && key.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '.' | '_' | '-'));
    if name_ok {
        return Ok(());
    }
    Err(problem(
        format!("{kind} property name {} is not a valid ZFS user property name", excerpt(key)),
        "a user property is `module:name` in lower-case letters, digits, `:`, `.`, `_` and `-`, e.g. `com.example:note`",
    ))
}

fn user_value(kind: &str, key: &str, value: &str) -> Checked {
    if !printable(value) || value.len() >= 8192 {
        return Err(problem(
            format!(
                "{kind} property {key} has an empty value, one with control characters, or one of 8192 bytes or more"
            ),
            "give a plain value such as \"backup-nightly\"",
        ));
    }
    Ok(())
}

fn feature_name(kind: &str, feature: &str) -> Checked {
    if !is_pool(kind) {
        return Err(problem(
            format!("{kind} property feature@{} is a pool feature, not a file system property", excerpt(feature)),
            "put it in [pool] options (zpool create -o)",
        ));
    }
    if !FEATURES.contains(&feature) {
        return Err(problem(
            format!("pool feature {} is not one OpenZFS 2.3 knows", excerpt(feature)),
            "see zpool-features(7) for the names, e.g. `feature@large_dnode`",
        ));
    }
    Ok(())
}

fn feature_value(feature: &str, value: &str) -> Checked {
    if value != "enabled" && value != "disabled" {
        return Err(problem(
            format!("pool property feature@{feature} = {} must be \"enabled\" or \"disabled\"", excerpt(value)),
            format!("write feature@{feature} = \"enabled\""),
        ));
    }
    Ok(())
}

/// `userquota@alice = "10G"` and its kin (`zfs_prop_userquota()`).
fn quota_name(kind: &str, name: &str, who: &str) -> Checked {
    const QUOTAS: &[&str] =
        &["userquota", "groupquota", "projectquota", "userobjquota", "groupobjquota", "projectobjquota"];
    if is_pool(kind) || !QUOTAS.contains(&name) || who.is_empty() || !printable(who) {
        return Err(unknown(kind, &format!("{name}@{who}")));
    }
    Ok(())
}

fn check_value(kind: &str, key: &str, value: &str, ty: Ty) -> Checked {
    let bad = |expected: String| {
        problem(
            format!("{kind} property {key} = {} is not a value ZFS accepts: {expected}", excerpt(value)),
            format!("write {key} = \"…\" with one of the values above (zfsprops(7), zpoolprops(7))"),
        )
    };
    match ty {
        Ty::Refused(why, fix) => Err(problem(format!("{kind} property {key} is refused: {why}"), fix)),
        Ty::Index(_) if key == "compression" => {
            if compression_ok(value) {
                Ok(())
            } else {
                Err(bad("it takes on, off, lzjb, gzip, gzip-1…9, zle, lz4, zstd, zstd-1…19, zstd-fast, zstd-fast-1…10, 20…100 in tens, 500 or 1000".into()))
            }
        }
        Ty::Index(words) if words.contains(&value) => Ok(()),
        Ty::Index(words) => Err(bad(format!("it takes {}", words.join(", ")))),
        Ty::Text(max) if printable(value) && value.chars().count() <= max => {
            if key == "compatibility" {
                compatibility_ok(kind, value)
            } else {
                Ok(())
            }
        }
        Ty::Text(max) => Err(bad(format!("it takes printable text of 1 to {max} characters"))),
        Ty::Count if value == "none" || value.parse::<u64>().is_ok() => Ok(()),
        Ty::Count => Err(bad("it takes a whole number or none".into())),
        Ty::Number(lo, hi, extra) => match value.parse::<u64>() {
            Ok(n) if (lo..=hi).contains(&n) || extra.contains(&n) => Ok(()),
            _ => {
                let extra: Vec<String> = extra.iter().map(u64::to_string).collect();
                Err(bad(format!("it takes a whole number from {lo} to {hi} (or {})", extra.join(", "))))
            }
        },
        Ty::Size { none, min, max, pow2, zero } => {
            if none && value == "none" || key == "dedup_table_quota" && value == "auto" {
                return Ok(());
            }
            let Some(n) = nicestrtonum(value) else {
                return Err(bad(format!(
                    "it takes a size such as 128K, 1M or 10G{}",
                    if none { ", or none" } else { "" }
                )));
            };
            if zero && n == 0 {
                return Ok(());
            }
            if n < min || n > max || pow2 && !n.is_power_of_two() {
                return Err(bad(format!(
                    "it takes a {}size from {} to {}{}",
                    if pow2 { "power-of-two " } else { "" },
                    show(min),
                    show(max),
                    if zero { ", or 0" } else { "" }
                )));
            }
            Ok(())
        }
    }
}

fn show(bytes: u64) -> String {
    match bytes {
        u64::MAX => "any size".into(),
        b if b >= 1 << 20 && b.is_multiple_of(1 << 20) => format!("{}M", b >> 20),
        b if b >= 1 << 10 && b.is_multiple_of(1 << 10) => format!("{}K", b >> 10),
        b => b.to_string(),
    }
}

/// `compress_table` of zfs_prop.c.
fn compression_ok(v: &str) -> bool {
    const FAST: &[u32] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 500, 1000];
    let level = |s: &str| -> Option<u32> {
        if s.starts_with('0') || s.starts_with('+') {
            return None;
        }
        s.parse().ok()
    };
    match v {
        "on" | "off" | "lzjb" | "gzip" | "zle" | "lz4" | "zstd" | "zstd-fast" => true,
        _ => {
            if let Some(n) = v.strip_prefix("zstd-fast-") {
                level(n).is_some_and(|n| FAST.contains(&n))
            } else if let Some(n) = v.strip_prefix("zstd-") {
                level(n).is_some_and(|n| (1..=19).contains(&n))
            } else if let Some(n) = v.strip_prefix("gzip-") {
                level(n).is_some_and(|n| (1..=9).contains(&n))
            } else {
                false
            }
        }
    }
}

/// `compatibility = "off" | "legacy" | file[,file…]` (files of
/// /usr/share/zfs/compatibility.d, named like `openzfs-2.1-linux`).
fn compatibility_ok(kind: &str, v: &str) -> Checked {
    let name_ok = |f: &str| {
        !f.is_empty()
            && !f.starts_with('.')
            && f.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    if v == "off" || v == "legacy" || v.split(',').all(name_ok) {
        return Ok(());
    }
    Err(problem(
        format!(
            "{kind} property compatibility = {} is not off, legacy or a list of compatibility file names",
            excerpt(v)
        ),
        "write e.g. compatibility = \"openzfs-2.1-linux\" (a file of /usr/share/zfs/compatibility.d)",
    ))
}

/// Values that ZFS accepts but that break what blankroot builds.
fn fs_conflict(kind: &str, key: &str, value: &str) -> Checked {
    if key == "mountpoint" && value != "legacy" && value != "none" {
        return Err(problem(
            format!(
                "{kind} property mountpoint = {} would make ZFS mount it by itself, outside the installed system's mounts (on the installer, over its own files)",
                excerpt(value)
            ),
            "use mountpoint = \"legacy\" (or \"none\") and give the dataset mount = \"/path\": blankroot mounts it there, under /mnt while installing",
        ));
    }
    if key == "readonly" && value == "on" {
        return Err(problem(
            format!("{kind} property readonly = \"on\" would make the installed system unwritable"),
            "remove it (NixOS and nixos-install write to every dataset)",
        ));
    }
    Ok(())
}

/// A ZFS size as `zfs_nicestrtonum()` reads it; `None` when it does not parse or overflows.
pub fn nicestrtonum(v: &str) -> Option<u64> {
    let digits_end = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (int, rest) = v.split_at(digits_end);
    let (frac, suffix) = match rest.strip_prefix('.') {
        Some(r) => {
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            r.split_at(end)
        }
        None => ("", rest),
    };
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let shift = str2shift(suffix)?;
    let whole: u64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let scaled = whole.checked_mul(1u64.checked_shl(shift)?)?;
    if frac.is_empty() {
        return Some(scaled);
    }
    // The fraction, like strtod()'s, only adds less than one unit.
    let digits: String = frac.chars().take(18).collect();
    let f: u128 = digits.parse().ok()?;
    let extra = (f << shift) / 10u128.pow(digits.len() as u32);
    scaled.checked_add(u64::try_from(extra).ok()?)
}

/// `str2shift()`: "" → 0, `K`/`KB`/`KiB` → 10, … `Z` → 70 (too big for 64 bits unless 0).
fn str2shift(s: &str) -> Option<u32> {
    if s.is_empty() {
        return Some(0);
    }
    let mut chars = s.chars();
    let first = chars.next()?.to_ascii_uppercase();
    let i = "BKMGTPEZ".find(first)? as u32;
    let rest = chars.as_str().to_ascii_uppercase();
    let ok = rest.is_empty() || first != 'B' && (rest == "B" || rest == "IB");
    (ok && i * 10 < 64).then_some(i * 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_zfs() {
        assert_eq!(nicestrtonum("1M"), Some(1 << 20));
        assert_eq!(nicestrtonum("128k"), Some(128 << 10));
        assert_eq!(nicestrtonum("1GiB"), Some(1 << 30));
        assert_eq!(nicestrtonum("1.5K"), Some(1536));
        assert_eq!(nicestrtonum("512"), Some(512));
        for bad in ["", "M", "1BB", "1BiB", "1X", "-1", "99999999999999999999", "16E", "1Z", "."] {
            assert_eq!(nicestrtonum(bad), None, "{bad}");
        }
    }

    #[test]
    fn compression_levels() {
        for ok in ["zstd", "zstd-3", "zstd-19", "zstd-fast-1000", "gzip-9", "lz4"] {
            assert!(compression_ok(ok), "{ok}");
        }
        for bad in ["zstd-20", "zstd-0", "zstd-03", "zstd-fast-11", "gzip-10", "bogus", "ZSTD"] {
            assert!(!compression_ok(bad), "{bad}");
        }
    }
}
