//! Paths of an examined machine, one way everywhere: a path of the machine (`/etc/nixos`) under
//! the root it is examined at (`/mnt`, a fixture folder), and whether one path lies inside
//! another, by name ([`is_within`]) or on disk with links resolved ([`resolves_inside`]).

use std::path::{Path, PathBuf};

/// Where `path` of a root at `root` on this machine lies (`/etc/x` under `/mnt` →
/// `/mnt/etc/x`).
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// Where `path` of a root that the machine itself sees at `root` lies, as the machine names it
/// (`/persist` → `/mnt/persist` for a root mounted at `/mnt`; unchanged for `/`): how mount
/// points in mountinfo are named.
pub(crate) fn machine_path(root: &str, path: &str) -> String {
    match root.trim_end_matches('/') {
        "" => path.to_string(),
        r => format!("{r}{path}"),
    }
}

/// Whether the normalised absolute `path` is `dir` or inside it, by name (`/var/lib` is within
/// `/var`, `/variable` is not; everything is within `/`).
pub fn is_within(path: &str, dir: &str) -> bool {
    dir == "/" || path == dir || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// Whether `dir`, with every link resolved, lies inside `root` (also resolved): where a link
/// that an installation mounted at `root` holds really leads. False when either cannot be
/// resolved.
pub(crate) fn resolves_inside(dir: &Path, root: &Path) -> bool {
    match (std::fs::canonicalize(dir), std::fs::canonicalize(root)) {
        (Ok(dir), Ok(root)) => dir.starts_with(root),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containment_by_name_and_on_disk() {
        assert_eq!(under(Path::new("/mnt"), "/etc/x"), PathBuf::from("/mnt/etc/x"));
        assert_eq!(machine_path("/", "/persist"), "/persist");
        assert_eq!(machine_path("/mnt/", "/persist"), "/mnt/persist");
        assert!(is_within("/var/lib", "/var") && is_within("/var", "/var") && is_within("/x", "/"));
        assert!(!is_within("/variable", "/var") && !is_within("/va", "/var"));
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("in")).unwrap();
        std::os::unix::fs::symlink("/", d.path().join("out")).unwrap();
        assert!(resolves_inside(&d.path().join("in"), d.path()));
        assert!(!resolves_inside(&d.path().join("out"), d.path()));
        assert!(!resolves_inside(&d.path().join("missing"), d.path()));
    }
}
