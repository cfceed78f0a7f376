//! Imported ZFS pools and the devices under them, from `zpool status -P -L` (full, resolved
//! device paths). lsblk cannot show this: a pool's datasets are mounted by name, not by
//! device, so a disk under an imported pool looks unmounted.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolDevice {
    pub pool: String,
    /// Resolved device path, e.g. `/dev/vdb1` or `/dev/dm-0`.
    pub path: String,
}

/// `zpool status -P -L`: the device lines are the ones whose first field is a `/dev/` path.
pub(crate) fn parse_status(text: &str) -> Vec<PoolDevice> {
    let mut pool = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim_start();
        if let Some(p) = t.strip_prefix("pool:") {
            pool = p.trim().to_string();
        } else if let Some(first) = t.split_whitespace().next()
            && first.starts_with("/dev/")
            && !pool.is_empty()
        {
            out.push(PoolDevice { pool: pool.clone(), path: first.to_string() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_devices_of_each_pool() {
        // Shape of `zpool status -P -L` (OpenZFS 2.x).
        let text = "  pool: rpool\n state: ONLINE\nconfig:\n\n\tNAME         STATE     READ WRITE CKSUM\n\
                    \trpool        ONLINE       0     0     0\n\t  /dev/dm-0  ONLINE       0     0     0\n\n\
                    errors: No known data errors\n\n  pool: tank\n state: ONLINE\nconfig:\n\n\
                    \tNAME          STATE     READ WRITE CKSUM\n\ttank          ONLINE       0     0     0\n\
                    \t  mirror-0    ONLINE       0     0     0\n\t    /dev/vdc1 ONLINE       0     0     0\n\
                    \t    /dev/vdd1 ONLINE       0     0     0\n";
        let got = parse_status(text);
        assert_eq!(
            got,
            vec![
                PoolDevice { pool: "rpool".into(), path: "/dev/dm-0".into() },
                PoolDevice { pool: "tank".into(), path: "/dev/vdc1".into() },
                PoolDevice { pool: "tank".into(), path: "/dev/vdd1".into() },
            ]
        );
        assert!(parse_status("no pools available\n").is_empty());
    }
}
