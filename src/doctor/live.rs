//! Doctor's checks of the installer before `install`: booted with UEFI; the target disk
//! present, big enough and not in use, with a /dev/disk/by-id name (a virtio disk without a
//! serial gets the exact `blankroot libvirt` command); the ZFS module and tools; the other
//! tools the install runs; a sane clock. `install` runs them first (with the facts it probed).

use super::host::Host;
use super::{Finding, Severity};
use crate::config::Config;
use crate::error::Result;
use crate::probe::{self, Facts, Firmware};

/// What the live checks are about.
#[derive(Debug, Clone)]
pub struct Options {
    /// The resolved config: its disk is the target, its ESP size counts for the size check.
    pub config: Config,
    /// Whether the install phase (systemd-boot, nixos-install) is to run; without it, BIOS
    /// firmware and missing NixOS tools are warnings (`install --until config`).
    pub install_phase: bool,
    /// Whether to check the target disk (`install` leaves that to its own destruction gate).
    pub check_disk: bool,
    /// The time to judge the clock by; `None`: this machine's.
    pub now_unix: Option<u64>,
}

/// No machine that runs this blankroot lives before 2026-11-01.
const EARLIEST_SANE_CLOCK: u64 = 1_793_491_200;
/// Or after 2100-01-01.
const LATEST_SANE_CLOCK: u64 = 4_102_444_800;

/// The facts `install` would probe, read through the host (files for /sys and
/// /dev/disk/by-id, commands for lsblk, the tools and imported pools).
pub fn facts(host: &dyn Host) -> Result<Facts> {
    let out = host.run(&probe::lsblk_cmd())?;
    let block_devices = probe::lsblk::parse(&out.stdout)?;
    let firmware = if host.exists("/sys/firmware/efi") { Firmware::Uefi } else { Firmware::Bios };
    let listing: String = host
        .list("/dev/disk/by-id")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|n| host.read_link(&format!("/dev/disk/by-id/{n}")).map(|t| format!("{n}\t{t}\n")))
        .collect();
    let by_id = probe::byid::parse(&listing);
    let found = host.run(&probe::tools_cmd()).map(|o| o.stdout_str()).unwrap_or_default();
    let commands = probe::TOOLS.iter().map(|t| (t.to_string(), found.lines().any(|l| l.trim() == *t))).collect();
    let pool_devices = host
        .run(&probe::pools_cmd())
        .ok()
        .filter(|o| o.success())
        .map_or_else(Vec::new, |o| probe::pools::parse_status(&o.stdout_str()));
    let nixos_release = host
        .run(&probe::nixos_version_cmd())
        .ok()
        .filter(|o| o.success())
        .and_then(|o| probe::parse_nixos_release(&o.stdout_str()));
    Ok(Facts { firmware, block_devices, by_id, commands, pool_devices, nixos_release })
}

/// The libvirt UUID of this machine when it is a QEMU guest (libvirt passes the domain's UUID
/// as the SMBIOS system UUID, and `virsh` takes it wherever it takes a name).
fn qemu_guest_uuid(host: &dyn Host) -> Option<Option<String>> {
    let vendor = host.read_string("/sys/class/dmi/id/sys_vendor").unwrap_or_default();
    let product = host.read_string("/sys/class/dmi/id/product_name").unwrap_or_default();
    if !(vendor.contains("QEMU") || product.contains("QEMU") || product.contains("Standard PC")) {
        return None;
    }
    let uuid = host.read_string("/sys/class/dmi/id/product_uuid").map(|u| u.trim().to_lowercase());
    Some(uuid.filter(|u| !u.is_empty() && u.chars().any(|c| c != '0' && c != '-')))
}

/// The command that fixes this VM on its libvirt host.
fn libvirt_fix(host: &dyn Host) -> Option<String> {
    match qemu_guest_uuid(host)? {
        Some(uuid) => Some(format!(
            "on the libvirt host, with the VM powered off: `blankroot libvirt {uuid}` (this VM's libvirt UUID, from /sys/class/dmi/id/product_uuid), then start it again"
        )),
        None => Some(
            "on the libvirt host, with the VM powered off: `blankroot libvirt DOMAIN` (`virsh list --all` names it), then start it again"
                .to_string(),
        ),
    }
}

/// Runs the live checks. `facts`: already probed (by `install`), else read through `host`.
pub fn check_with(host: &dyn Host, facts: &Facts, opts: &Options) -> Vec<Finding> {
    let mut out = Vec::new();
    let phase_severity = if opts.install_phase { Severity::Error } else { Severity::Warning };
    match facts.firmware {
        Firmware::Uefi => out.push(Finding::ok("uefi", "booted with UEFI firmware")),
        Firmware::Bios => out.push(Finding::problem(
            "uefi",
            phase_severity,
            "this machine booted with BIOS firmware (no /sys/firmware/efi)",
            "systemd-boot and the installed system need UEFI; an install made under BIOS cannot write its boot entry",
            libvirt_fix(host).unwrap_or_else(|| {
                "reboot and choose the installer's UEFI entry in the boot menu (or turn UEFI on / CSM off in the firmware setup)".to_string()
            }),
        )),
    }
    if opts.check_disk {
        out.extend(disk(host, facts, &opts.config));
    }
    out.extend(zfs(host, facts));
    out.extend(tools(facts, phase_severity));
    out.push(clock(opts.now_unix.unwrap_or_else(crate::install::receipt::now)));
    out
}

/// Reads the facts through `host`, then runs the live checks.
pub fn check(host: &dyn Host, opts: &Options) -> Result<Vec<Finding>> {
    Ok(check_with(host, &facts(host)?, opts))
}

fn disk(host: &dyn Host, facts: &Facts, config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    let target = match crate::plan::target::from_facts(facts, &config.disk) {
        Ok(t) => t,
        Err(e) => {
            return vec![Finding::error(
                "disk",
                e.message,
                "install partitions this disk",
                e.hint.unwrap_or_else(|| "name the disk with --disk".into()),
            )];
        }
    };
    let d = &target.disk;
    let need = config.esp_size_bytes + crate::plan::MIN_LUKS_BYTES + (2 << 20);
    let gib = |b: u64| format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64);
    if d.size_bytes < need {
        out.push(Finding::error(
            "disk-size",
            format!("{} is {}, the layout needs at least {}", d.path, gib(d.size_bytes), gib(need)),
            "the ESP, and LUKS with the pool for /nix and a first system, must fit",
            "choose a bigger disk with --disk (or a smaller ESP with --esp-size)",
        ));
    } else {
        out.push(Finding::ok("disk-size", format!("{} is {}", d.path, gib(d.size_bytes))));
    }
    if !d.holders.is_empty() {
        out.push(Finding::error(
            "disk-in-use",
            format!("{} is in use: {}", d.path, d.holders.join("; ")),
            "install refuses a disk in use: wiping it would pull data from under a running system",
            "release it (umount, swapoff, zpool export, cryptsetup close) or choose another disk",
        ));
    } else if !d.contents.is_empty() {
        out.push(Finding::warning(
            "disk-in-use",
            format!("{} is not empty: {}", d.path, d.contents.join("; ")),
            "install destroys everything on it",
            "pass --wipe to install once you are sure (or choose another disk)",
        ));
    } else {
        out.push(Finding::ok("disk-in-use", format!("{} is empty and not in use", d.path)));
    }
    if let Some(name) = d.by_id.first() {
        out.push(Finding::ok("by-id", format!("{} is /dev/disk/by-id/{name}", d.device)));
    } else if d.device.starts_with("/dev/vd") {
        out.push(Finding::warning(
            "by-id",
            format!("{} is a virtio disk without a serial number: it has no /dev/disk/by-id name", d.device),
            "NixOS imports pools from /dev/disk/by-id; this layout's pool is found through its LUKS mapping (dm-name-…), but the disk itself has no stable name, and a pool put directly on it would not import",
            libvirt_fix(host).unwrap_or_else(|| "give the virtual disk a serial number in the hypervisor".into()),
        ));
    } else {
        out.push(Finding::warning(
            "by-id",
            format!("{} has no /dev/disk/by-id name", d.device),
            "NixOS imports pools from /dev/disk/by-id; without udev's links stage 1 may not find the devices",
            "check that udev runs (`udevadm settle`; `ls -l /dev/disk/by-id`)",
        ));
    }
    out
}

fn zfs(host: &dyn Host, facts: &Facts) -> Vec<Finding> {
    let mut out = Vec::new();
    let fix = "run blankroot on the NixOS installer, whose kernel has ZFS (on a custom image: `boot.supportedFilesystems = [ \"zfs\" ];`)";
    if host.exists("/sys/module/zfs") {
        out.push(Finding::ok("zfs-module", "the ZFS kernel module is loaded"));
    } else {
        let loadable =
            host.run(&crate::runner::Cmd::new(["modprobe", "--dry-run", "--quiet", "zfs"])).is_ok_and(|o| o.success());
        if loadable {
            out.push(Finding::ok("zfs-module", "the ZFS kernel module is not loaded but loadable"));
        } else {
            out.push(Finding::error(
                "zfs-module",
                "this kernel has no ZFS module (`modprobe --dry-run zfs` fails)",
                "the pool cannot be created or imported without it",
                fix,
            ));
        }
    }
    let missing: Vec<&str> = ["zpool", "zfs", "zgenhostid"].into_iter().filter(|t| !facts.has_command(t)).collect();
    if missing.is_empty() {
        out.push(Finding::ok("zfs-tools", "zpool, zfs and zgenhostid are installed"));
    } else {
        out.push(Finding::error(
            "zfs-tools",
            format!("missing: {}", missing.join(", ")),
            "install creates the pool and datasets with them",
            fix,
        ));
    }
    out
}

fn tools(facts: &Facts, nixos_severity: Severity) -> Vec<Finding> {
    let mut out = Vec::new();
    let disk_tools = ["cryptsetup", "sfdisk", "mkfs.fat", "blkid", "lsblk", "udevadm", "mount", "umount"];
    let missing: Vec<&str> = disk_tools.into_iter().filter(|t| !facts.has_command(t)).collect();
    if missing.is_empty() {
        out.push(Finding::ok("disk-tools", disk_tools.join(", ") + " are installed"));
    } else {
        out.push(Finding::error(
            "disk-tools",
            format!("missing: {}", missing.join(", ")),
            "install partitions, formats and encrypts the disk with them",
            "run blankroot on the NixOS installer (minimal ISO), which has them",
        ));
    }
    let nixos = ["nixos-generate-config", "nixos-install"];
    let missing: Vec<&str> = nixos.into_iter().filter(|t| !facts.has_command(t)).collect();
    if missing.is_empty() {
        out.push(Finding::ok("nixos-tools", "nixos-generate-config and nixos-install are installed"));
    } else {
        out.push(Finding::problem(
            "nixos-tools",
            nixos_severity,
            format!("missing: {}", missing.join(", ")),
            "the install phase runs them; without them an install can only stop before it (--until config)",
            "run blankroot on the NixOS installer (minimal ISO), or install with --until config",
        ));
    }
    out
}

fn clock(now: u64) -> Finding {
    let date = crate::doctor::installed::utc_date(now);
    if (EARLIEST_SANE_CLOCK..LATEST_SANE_CLOCK).contains(&now) {
        Finding::ok("clock", format!("the clock says {date} (UTC)"))
    } else {
        Finding::error(
            "clock",
            format!("the clock says {date} (UTC), which cannot be right"),
            "TLS certificates of the binary cache are checked against it (nixos-install fails to download), and the installed files get wrong times",
            "set it: `timedatectl set-ntp true`, or `date -s 'YYYY-MM-DD HH:MM'`",
        )
    }
}
