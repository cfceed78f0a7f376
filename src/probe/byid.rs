//! `/dev/disk/by-id` as listed by
//! `find /dev/disk/by-id -mindepth 1 -maxdepth 1 -printf '%f\t%l\n'`: one line per link, the
//! link's name, a TAB, and the link's target as udev wrote it (`../../vda`, `../../dm-0`).

use serde::{Deserialize, Serialize};

/// One link in `/dev/disk/by-id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ByIdLink {
    /// The link's name, e.g. `virtio-disk01` or `virtio-disk01-part2` or `dm-name-cryptroot`.
    pub name: String,
    /// The kernel name of the device it points to, e.g. `vda`, `vda2`, `dm-0`.
    pub target: String,
}

impl ByIdLink {
    /// The full path of the link.
    pub fn path(&self) -> String {
        format!("/dev/disk/by-id/{}", self.name)
    }
}

/// Parses the `find … -printf '%f\t%l\n'` listing, sorted by name. Lines that are not links
/// (no target) are skipped.
pub fn parse(listing: &str) -> Vec<ByIdLink> {
    let mut links: Vec<ByIdLink> = listing
        .lines()
        .filter_map(|line| {
            let (name, target) = line.split_once('\t')?;
            let target = target.trim_end().rsplit('/').next().unwrap_or_default();
            (!name.is_empty() && !target.is_empty())
                .then(|| ByIdLink { name: name.to_string(), target: target.to_string() })
        })
        .collect();
    links.sort();
    links
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_component_of_the_target_and_sorts() {
        let links = parse("virtio-disk01-part1\t../../vda1\nvirtio-disk01\t../../vda\nnot-a-link\t\n\n");
        assert_eq!(
            links,
            vec![
                ByIdLink { name: "virtio-disk01".into(), target: "vda".into() },
                ByIdLink { name: "virtio-disk01-part1".into(), target: "vda1".into() },
            ]
        );
        assert_eq!(links[0].path(), "/dev/disk/by-id/virtio-disk01");
    }

    #[test]
    fn absolute_and_bare_targets_work_too() {
        let links = parse("a\t/dev/sda\nb\tsdb\n");
        assert_eq!(links[0].target, "sda");
        assert_eq!(links[1].target, "sdb");
    }
}
