//! The kernel's table of mounts, `/proc/self/mountinfo` (proc(5)): unlike `/proc/mounts` it
//! says which directory of a file system a bind mount shows (`root`), which is how a bind from
//! `/persist/etc/nixos` onto `/etc/nixos` is recognised.

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// The directory of the mounted file system that appears at the mount point (`/` for a
    /// whole file system; `/etc/nixos` for a bind of that directory).
    pub root: String,
    pub mount_point: String,
    pub options: String,
    pub fstype: String,
    /// The mount source (`rpool/safe/persist`, `/dev/vda1`).
    pub source: String,
}

/// `\040`-style octal escapes (space, tab, newline, backslash) as the kernel writes them.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses mountinfo; lines it cannot read are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 6 || r.len() < 2 {
                return None;
            }
            Some(Mount {
                root: unescape(l[3]),
                mount_point: unescape(l[4]),
                options: l[5].to_string(),
                fstype: r[0].to_string(),
                source: unescape(r[1]),
            })
        })
        .collect()
}

/// The mount visible at `path` (the last one mounted there).
pub fn at<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    mounts.iter().rev().find(|m| m.mount_point == path)
}

/// The mount that holds `path`: the one mounted last at the longest mount point above it.
pub fn holding<'a>(mounts: &'a [Mount], path: &str) -> Option<&'a Mount> {
    let within = |m: &Mount| {
        m.mount_point == "/"
            || path == m.mount_point
            || path.strip_prefix(m.mount_point.as_str()).is_some_and(|rest| rest.starts_with('/'))
    };
    let best = mounts.iter().filter(|m| within(m)).map(|m| m.mount_point.len()).max()?;
    mounts.iter().rev().find(|m| within(m) && m.mount_point.len() == best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_binds_escapes_and_optional_fields() {
        let text = "\
22 1 0:21 / / rw,relatime shared:1 - zfs rpool/local/root rw,xattr,posixacl
40 22 0:33 / /persist rw,relatime shared:20 - zfs rpool/safe/persist rw,xattr,posixacl
41 22 0:33 /etc/nixos /etc/nixos rw,relatime shared:20 - zfs rpool/safe/persist rw,xattr,posixacl
50 22 0:40 / /mnt/my\\040disk rw master:3 propagate_from:2 - ext4 /dev/vdb1 rw
bad line
";
        let m = parse(text);
        assert_eq!(m.len(), 4);
        let nixos = at(&m, "/etc/nixos").unwrap();
        assert_eq!(
            (nixos.root.as_str(), nixos.source.as_str(), nixos.fstype.as_str()),
            ("/etc/nixos", "rpool/safe/persist", "zfs")
        );
        assert_eq!(at(&m, "/mnt/my disk").unwrap().source, "/dev/vdb1");
        assert!(at(&m, "/nope").is_none());
        assert_eq!(holding(&m, "/etc/nixos/configuration.nix").unwrap().root, "/etc/nixos");
        assert_eq!(holding(&m, "/persistent").unwrap().source, "rpool/local/root", "a prefix is not a parent");
        assert_eq!(holding(&m, "/persist").unwrap().source, "rpool/safe/persist");
    }
}
