//! How ZFS reports a property value blankroot set: `zfs get` prints canonical names, which
//! are not always what `zfs create -o` accepted. Used to compare a live pool with its plan.
//!
//! Measured on OpenZFS 2.3.2 (VM tier): `acltype=posixacl` reads back as `posix`;
//! `xattr=sa` reads back as `on` (2.3 made `sa` the meaning of `on`, vm-testing.md).

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

#[cfg(test)]
mod tests {
    use super::matches;

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
}
