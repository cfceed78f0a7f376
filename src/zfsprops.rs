//! How ZFS reports a property value blankroot set: `zfs get` prints canonical names, which
//! are not always what `zfs create -o` accepted. Used to compare a live pool with its plan.
//!
//! Measured on OpenZFS 2.3.2 (VM tier): `acltype=posixacl` reads back as `posix`;
//! `xattr=sa` reads back as `on` (2.3 made `sa` the meaning of `on`, vm-testing.md). That is
//! also the default, so a value alone cannot tell a property blankroot set from one it left
//! unset: [`set_here`] also wants the source `local`.

/// Whether `reported` (from `zfs get -Hp` / `zpool get -Hp`) is the value `planned` set.
pub fn matches(key: &str, planned: &str, reported: &str) -> bool {
    if planned == reported {
        return true;
    }
    match (key, planned, reported) {
        ("acltype", "posixacl", "posix") | ("acltype", "posix", "posixacl") => true,
        ("acltype", "noacl", "off") | ("acltype", "off", "noacl") => true,
        ("xattr", "sa", "on") => true,
        _ => {
            // Booleans and sizes: "on"/"off" for true/false is already literal; compare sizes
            // numerically when ZFS prints bytes for a size written with a unit (recordsize=1M),
            // reading the planned one as ZFS itself does.
            crate::config::rules::nicestrtonum(planned).is_some_and(|p| reported.parse::<u64>().ok() == Some(p))
        }
    }
}

/// The properties a file system takes only when it is created ("cannot be changed after the
/// file system is created", zfsprops(7)): `zfs get` prints their source as `-`, given or not
/// (measured on OpenZFS 2.3.2: `-O normalization=formD` reads `formD` with source `-`, and so
/// does the `utf8only=on` it implies).
const CREATE_ONLY: [&str; 3] = ["casesensitivity", "normalization", "utf8only"];

/// Whether a `zfs get -Hp` / `zpool get -Hp` row (value and source columns) shows `planned`
/// set on this very pool or dataset: the value [`matches`] and the source is `local`, which is
/// what both print for a property given with `-o`/`-O` at create time (measured on OpenZFS
/// 2.3.2 in the VM tier: `ashift`, `autotrim`, `compression`, `xattr`, `acltype`, …). A
/// matching value whose source is `default` or `inherited from …` was not set here and does
/// not count; `-` counts only for the [`CREATE_ONLY`] properties, the one source ZFS gives
/// them (so for those the value alone decides: set to their default, they cannot be told
/// from unset).
pub fn set_here(key: &str, planned: &str, reported: &str, source: &str) -> bool {
    let set = source == "local" || (source == "-" && CREATE_ONLY.contains(&key));
    set && matches(key, planned, reported)
}

#[cfg(test)]
mod tests {
    use super::{matches, set_here};

    #[test]
    fn aliases_and_sizes() {
        assert!(matches("acltype", "posixacl", "posix"));
        assert!(matches("xattr", "sa", "on"));
        assert!(!matches("xattr", "on", "sa"), "on does not imply sa on older ZFS");
        assert!(matches("recordsize", "1M", "1048576"));
        assert!(matches("compression", "zstd", "zstd"));
        assert!(!matches("compression", "zstd", "lz4"));
        assert!(!matches("acltype", "posixacl", "off"));
    }

    #[test]
    fn a_matching_value_counts_only_when_set_locally() {
        assert!(set_here("xattr", "sa", "on", "local"));
        assert!(set_here("recordsize", "1M", "1048576", "local"));
        // OpenZFS 2.3's default xattr reads `on` too: left unset, it must not pass.
        assert!(!set_here("xattr", "sa", "on", "default"));
        assert!(!set_here("compression", "zstd", "zstd", "inherited from rpool"));
        assert!(!set_here("ashift", "12", "12", "-"));
        assert!(!set_here("compression", "zstd", "zstd", "-"));
        // Create-time-only: `-` is all ZFS prints, set or not; the value decides.
        assert!(set_here("normalization", "formD", "formD", "-"));
        assert!(!set_here("normalization", "formD", "none", "-"));
        assert!(!set_here("compression", "zstd", "lz4", "local"));
    }
}
