//! From probed machine facts to the [`Target`] a plan is built for: the disk the user named,
//! resolved through `/dev/disk/by-id` when needed, with what it holds now.

use super::{Target, TargetDisk};
use crate::error::{Error, Result, excerpt};
use crate::probe::{Facts, Firmware};

/// Resolves `disk` (as the user named it) among the facts.
pub fn from_facts(facts: &Facts, disk: &str) -> Result<Target> {
    let Some(dev) = facts.find_device(disk) else {
        let disks: Vec<String> = facts
            .block_devices
            .iter()
            .filter(|d| d.kind == "disk")
            .map(|d| format!("{} ({})", d.path, crate::infra::size::gib(d.size_bytes)))
            .collect();
        let hint = if disks.is_empty() {
            "this machine shows no disks; run blankroot on the machine to install (or pass --example to see a plan)"
                .to_string()
        } else {
            format!("pick one of this machine's disks with --disk: {}", disks.join(", "))
        };
        return Err(
            Error::env(format!("disk {} does not exist on this machine", crate::error::excerpt(disk))).hint(hint)
        );
    };
    // lsblk's TYPE is the kernel's word for it: a partition (`part`), a mapping (`crypt`,
    // `lvm`, `dm`), a loop device, a RAID array… are refused, however they are named (a
    // /dev/disk/by-id link to a partition resolves to the partition).
    let top_level = facts.block_devices.iter().any(|d| std::ptr::eq(d, dev));
    if dev.kind != "disk" || !top_level {
        let via = if disk == dev.path { String::new() } else { format!(" (it is {})", excerpt(&dev.path)) };
        return Err(Error::input(format!(
            "{}{via} is a {} device, not a whole disk",
            excerpt(disk),
            if dev.kind == "disk" { "nested disk" } else { dev.kind.as_str() }
        ))
        .hint("blankroot partitions a whole disk: name the disk (e.g. /dev/vda), not a partition or mapping"));
    }
    if dev.ro {
        return Err(Error::env(format!("{disk} is read-only")).hint("choose a writable disk with --disk"));
    }
    let mut summary = dev.holders_summary();
    let mut in_pool = false;
    for d in dev.walk() {
        let kpath = format!("/dev/{}", d.kname);
        for p in facts.pool_devices.iter().filter(|p| p.path == d.path || p.path == kpath) {
            summary.push(format!("{} is in the imported ZFS pool {}", d.name, p.pool));
            in_pool = true;
        }
    }
    let in_use = in_pool || dev.is_in_use();
    let (holders, contents) = if in_use { (summary.clone(), summary) } else { (Vec::new(), summary) };
    Ok(Target {
        firmware: match facts.firmware {
            Firmware::Uefi => "uefi".into(),
            Firmware::Bios => "bios".into(),
        },
        disk: TargetDisk {
            path: disk.to_string(),
            device: if dev.path.is_empty() { format!("/dev/{}", dev.name) } else { dev.path.clone() },
            size_bytes: dev.size_bytes,
            model: dev.model.clone().filter(|m| !m.trim().is_empty()).map(|m| m.trim().to_string()),
            serial: dev.serial.clone().filter(|s| !s.trim().is_empty()),
            by_id: facts.by_id_names(&dev.kname).into_iter().map(str::to_string).collect(),
            contents,
            holders,
        },
        missing_tools: facts.missing_commands().into_iter().map(str::to_string).collect(),
        nixos_release: facts.nixos_release.clone(),
        static_blankroot: facts.static_blankroot,
    })
}
