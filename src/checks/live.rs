//! The preflight policy: what must hold on the installer before (part of) an install runs,
//! said once and used three ways. `doctor` reports every finding; `install` refuses on the first
//! error ([`refusal`]); `plan` lists the problems as warnings ([`plan_findings`], pure).
//! Firmware (UEFI for the install phase), the target disk (present, big enough, not in use,
//! empty or `--wipe`, with a /dev/disk/by-id name), the ZFS module, the tools each phase runs,
//! and a clock that can be right.

use super::{Finding, Severity};
use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::infra::host::Host;
use crate::infra::size::gib;
use crate::plan::{Phase, Target, TargetDisk};
use crate::probe::{self, Facts, Firmware};

/// What the live checks are about.
#[derive(Debug, Clone)]
pub struct Options {
    /// The resolved config: its disk is the target, its ESP size counts for the size check.
    pub config: Config,
    /// The last phase to run (`install --until`); `None`: all of them. Firmware and tools are
    /// errors only for the phases that need them.
    pub until: Option<Phase>,
    /// How the target disk is judged.
    pub disk: DiskRule,
    /// The time to judge the clock by; `None`: this machine's.
    pub now_unix: Option<u64>,
}

/// How the target disk is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskRule {
    /// Report it (doctor, plan): a disk with contents is a warning (install needs `--wipe`).
    Report,
    /// The install gate: contents are an error unless `wipe` (a disk in use always is).
    Gate { wipe: bool },
    /// Not judged: the install resumes on this plan's own partition table.
    Skip,
}

/// No machine that runs this blankroot lives before 2026-11-01.
const EARLIEST_SANE_CLOCK: u64 = 1_793_491_200;
/// Or after 2100-01-01.
const LATEST_SANE_CLOCK: u64 = 4_102_444_800;

/// The phase in which an install first runs each of [`probe::TOOLS`] (a test holds this
/// against the plan's steps).
pub(crate) fn phase_of(tool: &str) -> Phase {
    match tool {
        "zpool" | "zfs" | "zgenhostid" => Phase::Pool,
        "mount" | "umount" => Phase::Mount,
        "nixos-generate-config" | "nixos-install" => Phase::Install,
        _ => Phase::Disk,
    }
}

fn runs(until: Option<Phase>, phase: Phase) -> bool {
    until.is_none_or(|u| phase <= u)
}

/// The tools, in groups, each with why it matters and where to get it.
const TOOL_GROUPS: [(&str, &[&str], &str); 3] = [
    ("zfs-tools", &["zpool", "zfs", "zgenhostid"], "install creates the pool and datasets with them"),
    (
        "disk-tools",
        &["cryptsetup", "sfdisk", "mkfs.fat", "fatlabel", "blkid", "lsblk", "udevadm", "mount", "umount"],
        "install partitions, formats and encrypts the disk with them",
    ),
    (
        "nixos-tools",
        &["nixos-generate-config", "nixos-install"],
        "the install phase runs them; without them an install can only stop before it (--until config)",
    ),
];

const INSTALLER_FIX: &str = "run blankroot on the NixOS installer (minimal ISO), which has them";

/// Firmware: UEFI, or an error when the install phase is to run (a warning before it).
/// `vm_fix`: the fix for a virtual machine, when this is one.
pub fn firmware(firmware: &str, until: Option<Phase>, vm_fix: Option<String>) -> Finding {
    if firmware == "uefi" {
        return Finding::ok("uefi", "booted with UEFI firmware");
    }
    let severity = if runs(until, Phase::Install) { Severity::Error } else { Severity::Warning };
    Finding::problem(
        "uefi",
        severity,
        "this machine booted with BIOS firmware (no /sys/firmware/efi)",
        "systemd-boot and the installed system need UEFI; an install made under BIOS cannot write its boot entry",
        vm_fix.unwrap_or_else(|| {
            "reboot and choose the installer's UEFI entry in the boot menu (or turn UEFI on / CSM off in the firmware setup); or stop before the install phase with --until config".to_string()
        }),
    )
}

/// The smallest disk the layout fits on.
pub(crate) fn disk_needs(config: &Config) -> u64 {
    config.esp_size_bytes + crate::plan::MIN_LUKS_BYTES + (2 << 20)
}

/// The disk's size against the layout's needs.
pub(crate) fn disk_size(d: &TargetDisk, config: &Config) -> Finding {
    let need = disk_needs(config);
    if d.size_bytes >= need {
        return Finding::ok("disk-size", format!("{} is {}", d.path, gib(d.size_bytes)));
    }
    Finding::error(
        "disk-size",
        format!(
            "{} is {} but the layout needs at least {} ({} ESP + {} for LUKS and ZFS)",
            d.path,
            gib(d.size_bytes),
            gib(need),
            gib(config.esp_size_bytes),
            gib(crate::plan::MIN_LUKS_BYTES)
        ),
        "the ESP, and LUKS with the pool for /nix and a first system, must fit",
        "choose a bigger disk with --disk, or a smaller ESP with --esp-size",
    )
}

/// Whether the disk is in use (always an error) or not empty (per `rule`).
pub(crate) fn disk_in_use(d: &TargetDisk, rule: DiskRule) -> Finding {
    if !d.holders.is_empty() {
        return Finding::error(
            "disk-in-use",
            format!("{} is in use: {}", d.path, d.holders.join("; ")),
            "install refuses a disk in use: wiping it would pull data from under a running system",
            "release it first (umount, swapoff, zpool export, cryptsetup close), or choose another disk with --disk",
        );
    }
    if d.contents.is_empty() {
        return Finding::ok("disk-in-use", format!("{} is empty and not in use", d.path));
    }
    let severity = match rule {
        DiskRule::Gate { wipe: true } => {
            return Finding::ok("disk-in-use", format!("{} is not in use; --wipe overwrites it", d.path));
        }
        DiskRule::Gate { wipe: false } => Severity::Error,
        DiskRule::Report | DiskRule::Skip => Severity::Warning,
    };
    Finding::problem(
        "disk-in-use",
        severity,
        format!("{} is not empty: {}", d.path, d.contents.join("; ")),
        "install destroys everything on it",
        "pass --wipe to overwrite it (everything on it is lost), or choose another disk",
    )
}

/// The disk's /dev/disk/by-id name. `vm_fix`: the fix for a virtual machine, when this is one.
pub fn by_id(d: &TargetDisk, vm_fix: Option<String>) -> Finding {
    if let Some(name) = d.by_id.first() {
        return Finding::ok("by-id", format!("{} is /dev/disk/by-id/{name}", d.device));
    }
    if d.device.starts_with("/dev/vd") {
        return Finding::warning(
            "by-id",
            format!("{} is a virtio disk without a serial number: it has no /dev/disk/by-id name", d.device),
            "NixOS imports pools from /dev/disk/by-id; this layout's pool is found through its LUKS mapping (dm-name-…), but the disk itself has no stable name, and a pool put directly on it would not import",
            vm_fix.unwrap_or_else(|| {
                "give the virtual disk a serial number in the hypervisor (for libvirt: `blankroot libvirt DOMAIN`)"
                    .into()
            }),
        );
    }
    Finding::warning(
        "by-id",
        format!("{} has no /dev/disk/by-id name", d.device),
        "NixOS imports pools from /dev/disk/by-id; without udev's links stage 1 may not find the devices",
        "check that udev runs (`udevadm settle`; `ls -l /dev/disk/by-id`)",
    )
}

/// Each group of tools: an error when a tool the phases to run need is missing, a warning when
/// only a later phase's is.
pub fn tools(missing: &[String], until: Option<Phase>) -> Vec<Finding> {
    TOOL_GROUPS
        .iter()
        .map(|(check, group, why)| {
            let gone: Vec<&str> = group.iter().copied().filter(|t| missing.iter().any(|m| m == t)).collect();
            if gone.is_empty() {
                return Finding::ok(check, format!("{} are installed", group.join(", ")));
            }
            let needed = gone.iter().any(|t| runs(until, phase_of(t)));
            let severity = if needed { Severity::Error } else { Severity::Warning };
            let fix = if *check == "nixos-tools" {
                "run blankroot on the NixOS installer (minimal ISO), or install with --until config"
            } else {
                INSTALLER_FIX
            };
            Finding::problem(check, severity, format!("this machine lacks {}", gone.join(", ")), *why, fix)
        })
        .collect()
}

/// The checks `plan` lists as warnings: firmware, the disk, the tools, for a whole install (no
/// machine is read: only the target's facts).
pub(crate) fn plan_findings(target: &Target) -> Vec<Finding> {
    let mut out = vec![firmware(&target.firmware, None, None)];
    out.push(disk_in_use(&target.disk, DiskRule::Report));
    out.extend(tools(&target.missing_tools, None));
    out.push(by_id(&target.disk, None));
    out.into_iter().filter(|f| f.severity >= Severity::Warning).collect()
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

/// Runs the live checks on facts already probed through `host`.
pub(crate) fn check_with(host: &dyn Host, facts: &Facts, opts: &Options) -> Vec<Finding> {
    let fw = match facts.firmware {
        Firmware::Uefi => "uefi",
        Firmware::Bios => "bios",
    };
    let mut out = vec![firmware(fw, opts.until, libvirt_fix(host))];
    if opts.disk != DiskRule::Skip {
        out.extend(disk(host, facts, opts));
    }
    out.push(zfs_module(host));
    let missing: Vec<String> = facts.missing_commands().into_iter().map(str::to_string).collect();
    out.extend(tools(&missing, opts.until));
    out.push(clock(opts.now_unix.unwrap_or_else(crate::infra::clock::now)));
    out
}

/// Probes the machine through `host`, then runs the live checks.
pub fn check(host: &dyn Host, opts: &Options) -> Result<Vec<Finding>> {
    Ok(check_with(host, &probe::probe(host)?, opts))
}

/// The install's refusal: the first error among `findings` as an error (a disk that is only
/// not empty is bad input, fixed by `--wipe`; anything else is the machine), the others as its
/// causes; `None` when none is an error.
pub fn refusal(findings: &[Finding]) -> Option<Error> {
    let errors: Vec<&Finding> = findings.iter().filter(|f| f.severity == Severity::Error).collect();
    let first = errors.first()?;
    let kind = if first.check == "disk-in-use" && first.what.contains(" is not empty: ") {
        ErrorKind::Input
    } else {
        ErrorKind::Environment
    };
    let mut e = Error::new(kind, first.what.clone());
    for f in &errors[1..] {
        e = e.caused_by(format!("also: {}", f.what));
    }
    let fix = first.fix.clone().unwrap_or_else(|| "see `blankroot doctor`".into());
    Some(e.hint(format!("{fix}; nothing was changed")))
}

fn disk(host: &dyn Host, facts: &Facts, opts: &Options) -> Vec<Finding> {
    let target = match crate::plan::target::from_facts(facts, &opts.config.disk) {
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
    vec![disk_size(d, &opts.config), disk_in_use(d, opts.disk), by_id(d, libvirt_fix(host))]
}

/// `modprobe --dry-run --quiet zfs`: exit 0 when the ZFS module can be loaded.
pub(crate) fn zfs_module_cmd() -> crate::infra::runner::Cmd {
    crate::infra::runner::Cmd::new(["modprobe", "--dry-run", "--quiet", "zfs"])
}

fn zfs_module(host: &dyn Host) -> Finding {
    if host.exists("/sys/module/zfs") {
        return Finding::ok("zfs-module", "the ZFS kernel module is loaded");
    }
    let loadable = host.output(&zfs_module_cmd()).is_ok_and(|o| o.success());
    if loadable {
        return Finding::ok("zfs-module", "the ZFS kernel module is not loaded but loadable");
    }
    Finding::error(
        "zfs-module",
        "this kernel has no ZFS module (`modprobe --dry-run zfs` fails)",
        "the pool cannot be created or imported without it",
        "run blankroot on the NixOS installer, whose kernel has ZFS (on a custom image: `boot.supportedFilesystems = [ \"zfs\" ];`)",
    )
}

fn clock(now: u64) -> Finding {
    let date = crate::infra::clock::utc_date(now);
    if (EARLIEST_SANE_CLOCK..LATEST_SANE_CLOCK).contains(&now) {
        return Finding::ok("clock", format!("the clock says {date} (UTC)"));
    }
    Finding::error(
        "clock",
        format!("the clock says {date} (UTC), which cannot be right"),
        "TLS certificates of the binary cache are checked against it (nixos-install fails to download), and the installed files get wrong times",
        "set it: `timedatectl set-ntp true`, or `date -s 'YYYY-MM-DD HH:MM'`",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{self, Overrides};
    use crate::plan::{self, Identities, Plan};
    use std::collections::BTreeMap;

    fn plan_for(config: &config::Config) -> Plan {
        let facts = crate::example::facts().unwrap();
        let target = plan::target::from_facts(&facts, &config.disk).unwrap();
        plan::build(config, &target, &Identities::for_config(config).unwrap()).unwrap()
    }

    /// The earliest phase in which a step of `plan` runs each of [`probe::TOOLS`]: in its
    /// commands, its checks (asked before it runs), its resume or its undo.
    fn first_use(plan: &Plan) -> BTreeMap<&'static str, Phase> {
        let mut first = BTreeMap::new();
        for step in &plan.steps {
            let argvs = step.commands.iter().chain(&step.resume).chain(&step.revert).map(|c| &c.argv);
            for argv in argvs.chain(step.check.iter().map(|c| &c.argv)) {
                for tool in probe::TOOLS.iter().filter(|t| argv.iter().any(|a| a == *t)) {
                    let phase = first.entry(*tool).or_insert(step.phase);
                    *phase = (*phase).min(step.phase);
                }
            }
        }
        first
    }

    #[test]
    fn phase_of_is_the_phase_a_plan_first_runs_each_tool() {
        let default = config::load(None, &Overrides::default()).unwrap();
        let full_text = include_str!("../../tests/fixtures/configs/full.toml");
        let on_vda = Overrides { disk: Some("/dev/vda".into()), ..Overrides::default() };
        let full = config::parse_str("full.toml", full_text, &on_vda).unwrap();
        for config in [default, full] {
            let first = first_use(&plan_for(&config));
            // Not vacuous: the tools of the pool, mount and install phases are all seen.
            for tool in ["zpool", "zfs", "mount", "nixos-install", "cryptsetup", "sfdisk"] {
                assert!(first.contains_key(tool), "no step runs {tool}: {first:?}");
            }
            for (tool, phase) in &first {
                assert_eq!(phase_of(tool), *phase, "{tool} first runs in the {} phase", phase.name());
            }
        }
    }

    #[test]
    fn a_run_that_stops_early_needs_only_the_tools_of_its_phases() {
        assert!(runs(Some(Phase::Disk), phase_of("sfdisk")));
        assert!(!runs(Some(Phase::Disk), phase_of("zpool")));
        assert!(!runs(Some(Phase::Config), phase_of("nixos-install")));
        assert!(runs(None, phase_of("nixos-install")));
    }
}
