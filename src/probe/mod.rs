//! The machine facts a plan needs: block devices, firmware, `/dev/disk/by-id` names and which
//! tools are installed. Gathered only through a [`Host`], so probing a machine over SSH is
//! the same code as probing this one.

pub mod byid;
pub mod lsblk;
pub mod pools;

pub use byid::ByIdLink;
pub use lsblk::BlockDevice;

use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::{Cmd, Output};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How the machine booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    Uefi,
    Bios,
}

/// What a machine looks like to blankroot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    pub firmware: Firmware,
    /// The lsblk device tree: whole disks (and loop devices, CD-ROMs, …) at the top level,
    /// partitions and mappings as their children.
    pub block_devices: Vec<BlockDevice>,
    /// The links in `/dev/disk/by-id`, sorted by name; empty where the directory does not
    /// exist (no udev).
    pub by_id: Vec<ByIdLink>,
    /// Each tool in [`TOOLS`]: whether it is on the target's PATH.
    pub commands: BTreeMap<String, bool>,
    /// Devices under imported ZFS pools (empty without `zpool`).
    #[serde(default)]
    pub pool_devices: Vec<pools::PoolDevice>,
    /// The NixOS release the machine runs, `YY.MM` from `nixos-version` (`None` without it:
    /// not NixOS).
    #[serde(default)]
    pub nixos_release: Option<String>,
    /// Whether the blankroot that acts on the machine (this process, which runs there) is a
    /// static executable: only such a one is kept on the installed system (`infra::elf`).
    #[serde(default)]
    pub static_blankroot: bool,
}

/// The programs blankroot may run on the target; `probe` reports which of them are present.
pub const TOOLS: &[&str] = &[
    "sfdisk",
    "mkfs.fat",
    "cryptsetup",
    "zpool",
    "zfs",
    "zgenhostid",
    "mount",
    "umount",
    "udevadm",
    "nixos-generate-config",
    "nixos-install",
    "fatlabel",
    "blkid",
    "lsblk",
];

const BY_ID_DIR: &str = "/dev/disk/by-id";

/// `lsblk --json --bytes --output-all`.
pub fn lsblk_cmd() -> Cmd {
    Cmd::new(["lsblk", "--json", "--bytes", "--output-all"])
}

/// `zpool status -P -L`: imported pools with full, resolved device paths.
pub fn pools_cmd() -> Cmd {
    Cmd::new(["zpool", "status", "-P", "-L"])
}

/// `test -d /sys/firmware/efi`: exit 0 on a machine booted through UEFI.
pub fn firmware_cmd() -> Cmd {
    Cmd::new(["test", "-d", "/sys/firmware/efi"])
}

/// Lists `/dev/disk/by-id` as `NAME<TAB>TARGET` lines.
pub fn by_id_cmd() -> Cmd {
    Cmd::new(["find", BY_ID_DIR, "-mindepth", "1", "-maxdepth", "1", "-printf", "%f\\t%l\\n"])
}

/// `test -d /dev/disk/by-id`, run only when listing it failed.
pub(crate) fn by_id_exists_cmd() -> Cmd {
    Cmd::new(["test", "-d", BY_ID_DIR])
}

/// Whether `zfs list -t snapshot` on `host` lists the snapshot `snap` (`pool/ds@name`).
pub(crate) fn snapshot_exists(host: &dyn Host, snap: &str) -> bool {
    let listed = host.run(&Cmd::new(["zfs", "list", "-H", "-t", "snapshot", "-o", "name", snap]));
    listed.is_ok_and(|o| o.stdout_str().trim() == snap)
}

/// `nixos-version`: `25.11.20251130.abcdef0 (Xantusia)` on NixOS.
pub(crate) fn nixos_version_cmd() -> Cmd {
    Cmd::new(["nixos-version"])
}

/// The release (`YY.MM`) in `nixos-version`'s output, when it names one.
pub(crate) fn parse_nixos_release(output: &str) -> Option<String> {
    let release = output.trim().get(..5)?;
    crate::config::rules::state_version(release).ok().map(|()| release.to_string())
}

/// Prints the name of each of [`TOOLS`] that is on PATH. (An `if`, not `&&`, so the loop
/// exits 0 even when the last tool is missing.)
pub fn tools_cmd() -> Cmd {
    let script = r#"for c in "$@"; do if command -v "$c" >/dev/null 2>&1; then echo "$c"; fi; done"#;
    let mut argv = vec!["sh", "-c", script, "sh"];
    argv.extend(TOOLS);
    Cmd::new(argv)
}

/// Reads the machine `host` is. Changes nothing. The six questions are independent and
/// asked at the same time (under emulation, one after the other took 0.25 s; see
/// benches/install_vm.rs); errors are reported in a fixed order all the same.
pub fn probe(host: &dyn Host) -> Result<Facts> {
    std::thread::scope(|s| {
        let block_devices = s.spawn(|| probe_block_devices(host));
        let firmware = s.spawn(|| probe_firmware(host));
        let by_id = s.spawn(|| probe_by_id(host));
        let commands = s.spawn(|| probe_commands(host));
        // Without zpool, or without the ZFS module (zpool fails), no pool is imported.
        let pools = s.spawn(|| {
            host.output(&pools_cmd())
                .ok()
                .filter(|o| o.success())
                .map_or_else(Vec::new, |o| pools::parse_status(&o.stdout_str()))
        });
        // Not on NixOS (no `nixos-version` on PATH, so the runner cannot start it): no release.
        let release = s.spawn(|| {
            host.output(&nixos_version_cmd())
                .ok()
                .filter(|o| o.success())
                .and_then(|o| parse_nixos_release(&o.stdout_str()))
        });
        let block_devices = join(block_devices)?;
        let firmware = join(firmware)?;
        let by_id = join(by_id)?;
        let commands = join(commands)?;
        let pools = join(pools);
        let nixos_release = join(release);
        let pool_devices = if commands.get("zpool") == Some(&true) { pools } else { Vec::new() };
        let static_blankroot = crate::infra::elf::self_is_static();
        Ok(Facts { firmware, block_devices, by_id, commands, pool_devices, nixos_release, static_blankroot })
    })
}

/// A probe thread's result (its panic, if it had one, goes on in this thread).
fn join<T>(h: std::thread::ScopedJoinHandle<'_, T>) -> T {
    h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn probe_block_devices(host: &dyn Host) -> Result<Vec<BlockDevice>> {
    let out = host.run(&lsblk_cmd()).map_err(|e| {
        or_hint(
            e.context("cannot list the block devices"),
            "blankroot reads disks with `lsblk --json --bytes --output-all` (util-linux 2.27 or later); \
             run it by hand on the target to see what fails",
        )
    })?;
    lsblk::parse(&out.stdout)
}

fn probe_firmware(host: &dyn Host) -> Result<Firmware> {
    let cmd = firmware_cmd();
    let out = host.output(&cmd).map_err(|e| e.context("cannot tell whether the machine booted through UEFI"))?;
    match out.status {
        Some(0) => Ok(Firmware::Uefi),
        Some(1) => Ok(Firmware::Bios),
        _ => Err(failed(&cmd, &out, "cannot tell whether the machine booted through UEFI")),
    }
}

fn probe_by_id(host: &dyn Host) -> Result<Vec<ByIdLink>> {
    let cmd = by_id_cmd();
    let out = host.output(&cmd).map_err(|e| e.context("cannot list /dev/disk/by-id"))?;
    if out.success() {
        return Ok(byid::parse(&out.stdout_str()));
    }
    // find fails when the directory is missing (no udev, or no disk with an id); that means
    // "no names", not an error. Ask rather than read find's (localised) message.
    let exists = host.output(&by_id_exists_cmd()).map_err(|e| e.context("cannot list /dev/disk/by-id"))?;
    if exists.status == Some(1) {
        return Ok(Vec::new());
    }
    Err(failed(&cmd, &out, "cannot list /dev/disk/by-id"))
}

fn probe_commands(host: &dyn Host) -> Result<BTreeMap<String, bool>> {
    let out = host
        .run(&tools_cmd())
        .map_err(|e| or_hint(e.context("cannot check which tools are installed"), "the target needs a POSIX `sh`"))?;
    let text = out.stdout_str();
    let found: Vec<&str> = text.lines().map(str::trim).collect();
    Ok(TOOLS.iter().map(|t| (t.to_string(), found.contains(t))).collect())
}

/// Adds `hint` unless `e` already has a more specific one (such as "install the program").
fn or_hint(e: Error, hint: &str) -> Error {
    if e.hint.is_some() { e } else { e.hint(hint) }
}

/// The error for a command that ran but answered something unexpected.
fn failed(cmd: &Cmd, out: &Output, message: &str) -> Error {
    let status = out.status.map_or("was killed by a signal".to_string(), |s| format!("exited with status {s}"));
    let mut e = Error::command(message).caused_by(format!("`{}` {status}", cmd.display()));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if !lines.is_empty() {
        e = e.caused_by(lines[lines.len().saturating_sub(5)..].join(" | "));
    }
    e
}

impl Facts {
    /// Every device, depth first (disks, then their partitions and mappings).
    pub fn all_devices(&self) -> Vec<&BlockDevice> {
        self.block_devices.iter().flat_map(BlockDevice::walk).collect()
    }

    /// The device (at any depth) that `user_path` names: `/dev/vda1`, `/dev/mapper/cryptroot`,
    /// `/dev/disk/by-id/<name>` (resolved through [`Facts::by_id`]), or a bare kernel name.
    /// Other `/dev/disk/by-*` links are not resolved.
    pub fn find_device(&self, user_path: &str) -> Option<&BlockDevice> {
        let user_path = user_path.trim_end_matches('/');
        if let Some(link) = user_path.strip_prefix(BY_ID_DIR).and_then(|rest| rest.strip_prefix('/')) {
            let target = &self.by_id.iter().find(|l| l.name == link)?.target;
            return self.all_devices().into_iter().find(|d| d.kname == *target || d.name == *target);
        }
        let devices = self.all_devices();
        if let Some(d) = devices.iter().find(|d| d.path == user_path) {
            return Some(d);
        }
        let name = user_path.strip_prefix("/dev/mapper/").or(user_path.strip_prefix("/dev/")).unwrap_or(user_path);
        if name.contains('/') {
            return None;
        }
        devices.into_iter().find(|d| d.name == name || d.kname == name)
    }

    /// Like [`Facts::find_device`], but only whole devices (the top of the lsblk tree: disks,
    /// loop devices, CD-ROMs), never a partition or mapping.
    pub fn find_disk(&self, user_path: &str) -> Option<&BlockDevice> {
        let found = self.find_device(user_path)?;
        self.block_devices.iter().find(|d| std::ptr::eq(*d, found))
    }

    /// The `/dev/disk/by-id` names (without the directory) that point at `kernel_name`.
    pub fn by_id_names(&self, kernel_name: &str) -> Vec<&str> {
        self.by_id.iter().filter(|l| l.target == kernel_name).map(|l| l.name.as_str()).collect()
    }

    /// Whether `tool` was found on the target's PATH.
    pub fn has_command(&self, tool: &str) -> bool {
        self.commands.get(tool).copied().unwrap_or(false)
    }

    /// The probed tools that are missing, in [`TOOLS`] order.
    pub(crate) fn missing_commands(&self) -> Vec<&'static str> {
        TOOLS.iter().copied().filter(|t| !self.has_command(t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use crate::infra::runner::Recording;

    const VM_LSBLK: &str = include_str!("../../tests/fixtures/lsblk/vm-luks-zfs-open.json");
    const VM_BYID: &str = include_str!("../../tests/fixtures/byid/vm-luks-zfs-open.txt");
    const HOST_LSBLK: &str = include_str!("../../tests/fixtures/lsblk/host-no-udev.json");
    const HOST_BYID_MISSING: &str = include_str!("../../tests/fixtures/byid/host-missing.stderr");

    fn argv(cmd: &Cmd) -> Vec<&str> {
        cmd.argv.iter().map(String::as_str).collect()
    }

    /// A fake machine: lsblk and by-id from fixtures, UEFI or not, these tools installed.
    fn machine(lsblk: &str, by_id: Option<&str>, uefi: bool, tools: &[&str]) -> Recording {
        let mut r = Recording::new().answer(&argv(&lsblk_cmd()), lsblk);
        r = if uefi { r.answer(&argv(&firmware_cmd()), "") } else { r.fail(&argv(&firmware_cmd()), 1, "") };
        r = match by_id {
            Some(listing) => r.answer(&argv(&by_id_cmd()), listing),
            None => r.fail(&argv(&by_id_cmd()), 1, HOST_BYID_MISSING).fail(&argv(&by_id_exists_cmd()), 1, ""),
        };
        let found: String = tools.iter().map(|t| format!("{t}\n")).collect();
        // The VM fixture's pool, as `zpool status -P -L` lists it: rpool on the LUKS mapping.
        let status = "  pool: rpool\n state: ONLINE\nconfig:\n\n\tNAME         STATE     READ WRITE CKSUM\n\
                      \trpool        ONLINE       0     0     0\n\t  /dev/dm-0  ONLINE       0     0     0\n";
        r.answer(&argv(&tools_cmd()), found)
            .answer(&argv(&pools_cmd()), status)
            .answer(&argv(&nixos_version_cmd()), "25.11.20251130.abcdef0 (Xantusia)\n")
    }

    #[test]
    fn probes_a_uefi_vm_end_to_end() {
        let r = machine(VM_LSBLK, Some(VM_BYID), true, &["sfdisk", "lsblk", "cryptsetup", "zpool", "zfs"]);
        let facts = probe(&r).unwrap();
        assert_eq!(facts.firmware, Firmware::Uefi);
        assert_eq!(r.calls.lock().unwrap().len(), 6, "lsblk, firmware, by-id, tools, zpool status, nixos-version");
        assert_eq!(facts.nixos_release.as_deref(), Some("25.11"));
        assert_eq!(facts.pool_devices, vec![pools::PoolDevice { pool: "rpool".into(), path: "/dev/dm-0".into() }]);

        let disk = facts.find_disk("/dev/disk/by-id/virtio-disk01").unwrap();
        assert_eq!(disk.kind, "disk");
        assert_eq!(facts.by_id_names(&disk.kname), vec!["virtio-disk01"]);
        assert!(facts.find_device("/dev/disk/by-id/dm-name-cryptroot").is_some());
        assert!(facts.find_disk("/dev/disk/by-id/dm-name-cryptroot").is_none(), "a mapping is not a disk");
        assert!(facts.find_disk("/dev/disk/by-id/no-such-disk").is_none());

        assert!(facts.has_command("zpool"));
        assert!(!facts.has_command("nixos-install"));
        assert_eq!(facts.commands.len(), TOOLS.len());
        assert!(facts.missing_commands().contains(&"mkfs.fat"));
    }

    #[test]
    fn the_release_comes_from_nixos_version_and_is_absent_off_nixos() {
        assert_eq!(parse_nixos_release("24.05.7376.b134951a4c9f (Uakari)\n").as_deref(), Some("24.05"));
        assert_eq!(parse_nixos_release("26.05pre-git (Yarara)").as_deref(), Some("26.05"));
        assert_eq!(parse_nixos_release("unknown"), None);
        assert_eq!(parse_nixos_release(""), None);
        assert_eq!(parse_nixos_release("25.10.1 (x)"), None, "not a NixOS release");
        // No nixos-version on PATH: the fake runner cannot start it.
        let r = Recording::new()
            .answer(&argv(&lsblk_cmd()), HOST_LSBLK)
            .fail(&argv(&firmware_cmd()), 1, "")
            .answer(&argv(&by_id_cmd()), "")
            .answer(&argv(&tools_cmd()), "lsblk\n");
        assert_eq!(probe(&r).unwrap().nixos_release, None);
    }

    #[test]
    fn missing_by_id_directory_means_no_names() {
        let r = machine(HOST_LSBLK, None, false, TOOLS);
        let facts = probe(&r).unwrap();
        assert_eq!(facts.firmware, Firmware::Bios);
        assert!(facts.by_id.is_empty());
        assert!(facts.missing_commands().is_empty());
        let calls: Vec<Cmd> = r.calls.lock().unwrap().clone();
        let find = calls.iter().position(|c| *c == by_id_cmd()).unwrap();
        let exists = calls.iter().position(|c| *c == by_id_exists_cmd()).expect("asked whether by-id exists");
        assert!(find < exists, "asked only after listing it failed");
    }

    #[test]
    fn by_id_failure_on_an_existing_directory_is_an_error() {
        let r = Recording::new()
            .answer(&argv(&lsblk_cmd()), HOST_LSBLK)
            .fail(&argv(&firmware_cmd()), 1, "")
            .fail(&argv(&by_id_cmd()), 1, "find: '/dev/disk/by-id': Permission denied\n")
            .answer(&argv(&by_id_exists_cmd()), "");
        let err = probe(&r).unwrap_err();
        assert_eq!(err.message, "cannot list /dev/disk/by-id");
        assert!(err.causes[1].contains("Permission denied"), "{:?}", err.causes);
    }

    #[test]
    fn lsblk_failure_keeps_the_stderr_and_gives_a_hint() {
        let r = Recording::new().fail(&argv(&lsblk_cmd()), 1, "lsblk: unrecognized option '--json'\n");
        let err = probe(&r).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Command);
        assert_eq!(err.message, "cannot list the block devices");
        assert_eq!(err.causes[1], "lsblk: unrecognized option '--json'");
        assert!(err.hint.unwrap().contains("util-linux"));
    }

    #[test]
    fn missing_lsblk_is_an_environment_error() {
        let r = Recording::new();
        let err = probe(&r).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Environment);
        assert_eq!(err.message, "cannot list the block devices");
        assert_eq!(err.causes[0], "cannot run `lsblk --json --bytes --output-all`");
    }

    #[test]
    fn a_hint_from_the_runner_is_kept() {
        let inner = Error::env("cannot run `lsblk`").caused_by("No such file or directory").hint("install util-linux");
        let err = or_hint(inner.context("cannot list the block devices"), "generic");
        assert_eq!(err.kind, ErrorKind::Environment);
        assert_eq!(err.causes, ["cannot run `lsblk`", "No such file or directory"]);
        assert_eq!(err.hint.as_deref(), Some("install util-linux"));
        assert_eq!(or_hint(Error::command("x"), "generic").hint.as_deref(), Some("generic"));
    }

    #[test]
    fn odd_firmware_answer_is_an_error() {
        let r = Recording::new().answer(&argv(&lsblk_cmd()), HOST_LSBLK).fail(&argv(&firmware_cmd()), 2, "test: weird");
        let err = probe(&r).unwrap_err();
        assert!(err.causes[0].contains("exited with status 2"));
    }

    #[test]
    fn tools_script_runs_in_a_real_shell_and_exits_zero() {
        let out = crate::infra::runner::Runner::run(&crate::infra::runner::Local::default(), &tools_cmd()).unwrap();
        assert!(out.stdout_str().lines().any(|l| l == "lsblk"));
    }

    #[test]
    fn facts_round_trip_through_json() {
        let r = machine(VM_LSBLK, Some(VM_BYID), true, &["lsblk"]);
        let facts = probe(&r).unwrap();
        let json = serde_json::to_string(&facts).unwrap();
        assert!(json.contains(r#""firmware":"uefi""#));
        let back: Facts = serde_json::from_str(&json).unwrap();
        assert_eq!(back, facts);
    }

    #[test]
    fn find_device_accepts_dev_paths_mapper_paths_and_bare_names() {
        let r = machine(VM_LSBLK, Some(VM_BYID), true, &[]);
        let facts = probe(&r).unwrap();
        assert_eq!(facts.find_disk("/dev/vdb").unwrap().name, "vdb");
        assert_eq!(facts.find_disk("vdb").unwrap().name, "vdb");
        assert_eq!(facts.find_device("/dev/mapper/cryptroot").unwrap().kind, "crypt");
        assert_eq!(facts.find_device("/dev/vdb1").unwrap().kind, "part");
        assert!(facts.find_disk("/dev/vdb1").is_none());
        assert!(facts.find_device("/dev/disk/by-uuid/x").is_none());
    }
}
