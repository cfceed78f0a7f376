//! `blankroot doctor` on fixture machines: a temporary folder stands for the machine's root
//! (its /sys, /proc/self/mountinfo, /etc, /persist), and the fake runner answers the commands
//! (the probe's lsblk, firmware and /dev/disk/by-id questions, zpool, zfs, zdb, journalctl)
//! with real output formats; nix-instantiate
//! is the real one, evaluating the real generated blankroot.nix (the machines are in
//! tests/it/common/doctor.rs). Every finding is produced by at least one test here or in
//! tests/it/doctor_rollback.rs; the VM tier runs doctor for real (tests/it/vm_e2e.rs).

use crate::common;

use blankroot::checks::{Finding, Severity, live};
use blankroot::commands::doctor::{self, Mode};
use blankroot::infra::host::LocalHost;
use blankroot::plan::Content;
use common::doctor::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

// ---------------------------------------------------------------- live

/// The installer of the example machine: UEFI, a QEMU guest, an empty 20 GiB virtio disk
/// (serial disk01), the ZFS module loaded, every tool.
fn live_machine() -> (tempfile::TempDir, Fake) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    mkdir(r, "/sys/module/zfs");
    write(r, "/sys/class/dmi/id/sys_vendor", "QEMU\n");
    write(r, "/sys/class/dmi/id/product_name", "Standard PC (Q35 + ICH9, 2009)\n");
    write(r, "/sys/class/dmi/id/product_uuid", "952490ec-138b-4c55-9e78-34e54e59b79a\n");
    let tools: String = blankroot::probe::TOOLS.iter().map(|t| format!("{t}\n")).collect();
    let fake = Fake::default()
        .on(&as_str(&argv(blankroot::probe::firmware_cmd())), 0, "")
        .on(&as_str(&argv(blankroot::probe::by_id_cmd())), 0, &by_id(&[("virtio-disk01", "vda")]))
        .on(&as_str(&argv(blankroot::probe::lsblk_cmd())), 0, include_str!("../../src/example/lsblk.json"))
        .on(&as_str(&argv(blankroot::probe::tools_cmd())), 0, &tools)
        .on(&as_str(&argv(blankroot::probe::pools_cmd())), 0, "no pools available\n");
    (dir, fake)
}

/// `/dev/disk/by-id` as the probe's `find` lists it: these links, and the DVD drive's.
fn by_id(links: &[(&str, &str)]) -> String {
    let mut all: Vec<(&str, &str)> = links.to_vec();
    all.push(("ata-QEMU_DVD-ROM_QM00001", "sr0"));
    all.iter().map(|(name, to)| format!("{name}\t../../{to}\n")).collect()
}

fn run_live(dir: &Path, fake: &Fake, opts: &live::Options) -> Vec<Finding> {
    let runner = fake.runner();
    live::check(&LocalHost::fixture(dir, &runner), opts).unwrap()
}

#[test]
fn a_ready_installer_passes_every_live_check() {
    let (dir, fake) = live_machine();
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/vda"));
    for f in &fs {
        assert_eq!(f.severity, Severity::Ok, "{f:?}");
    }
    let checks: Vec<&str> = fs.iter().map(|f| f.check).collect();
    assert_eq!(
        checks,
        ["uefi", "disk-size", "disk-in-use", "by-id", "zfs-module", "zfs-tools", "disk-tools", "nixos-tools", "clock"]
    );
    assert_eq!(find(&fs, "by-id").what, "/dev/vda is /dev/disk/by-id/virtio-disk01");
}

#[test]
fn bios_firmware_names_the_libvirt_fix_with_this_vms_uuid() {
    let (dir, fake) = live_machine();
    let fake = fake.on(&as_str(&argv(blankroot::probe::firmware_cmd())), 1, "");
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/vda"));
    let f = find(&fs, "uefi");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("BIOS"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("`blankroot libvirt 952490ec-138b-4c55-9e78-34e54e59b79a`"), "{f:?}");
    // Only a warning when the install stops before systemd-boot (--until config).
    let until_config = live::Options { until: Some(blankroot::plan::Phase::Config), ..live_opts("/dev/vda") };
    let fs = run_live(dir.path(), &fake, &until_config);
    assert_eq!(find(&fs, "uefi").severity, Severity::Warning);
    // Bare metal: the firmware menu.
    std::fs::write(dir.path().join("sys/class/dmi/id/sys_vendor"), "LENOVO\n").unwrap();
    std::fs::write(dir.path().join("sys/class/dmi/id/product_name"), "21CB\n").unwrap();
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/vda"));
    assert!(find(&fs, "uefi").fix.as_deref().unwrap().contains("boot menu"));
}

#[test]
fn a_virtio_disk_without_serial_gets_the_exact_libvirt_command() {
    let (dir, fake) = live_machine();
    let fake = fake.on(&as_str(&argv(blankroot::probe::by_id_cmd())), 0, &by_id(&[]));
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/vda"));
    let f = find(&fs, "by-id");
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.what.contains("virtio disk without a serial"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("blankroot libvirt 952490ec-138b-4c55-9e78-34e54e59b79a"), "{f:?}");
    // A QEMU guest whose SMBIOS UUID is not set: the command with DOMAIN to fill in.
    std::fs::write(dir.path().join("sys/class/dmi/id/product_uuid"), "00000000-0000-0000-0000-000000000000\n").unwrap();
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/vda"));
    assert!(find(&fs, "by-id").fix.as_deref().unwrap().contains("`blankroot libvirt DOMAIN`"));
}

#[test]
fn the_disk_missing_small_busy_or_not_empty() {
    let (dir, fake) = live_machine();
    let fs = run_live(dir.path(), &fake, &live_opts("/dev/sdz"));
    let f = find(&fs, "disk");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("disk \"/dev/sdz\" does not exist"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("/dev/vda (20.0 GiB)"), "{f:?}");

    let mut small = live_opts("/dev/vda");
    small.config.esp_size_bytes = 17 << 30;
    let fs = run_live(dir.path(), &fake, &small);
    assert_eq!(find(&fs, "disk-size").severity, Severity::Error);

    // The VM capture: vdb holds the mounted ESP and the open LUKS pool; vdc active swap.
    let busy = fake
        .clone()
        .on(
            &as_str(&argv(blankroot::probe::lsblk_cmd())),
            0,
            &std::fs::read_to_string(common::fixture("lsblk/vm-luks-zfs-open.json")).unwrap(),
        )
        .on(&as_str(&argv(blankroot::probe::by_id_cmd())), 0, &by_id(&[("virtio-disk01", "vdb")]));
    let fs = run_live(dir.path(), &busy, &live_opts("/dev/vdb"));
    let f = find(&fs, "disk-in-use");
    assert_eq!(f.severity, Severity::Error);
    assert!(
        f.what.contains("vdb1 is mounted at /mnt/boot") && f.what.contains("vdb2 is open as /dev/mapper/cryptroot"),
        "{f:?}"
    );
    let fs = run_live(dir.path(), &busy, &live_opts("/dev/vdc"));
    assert!(find(&fs, "disk-in-use").what.contains("vdc1 is swap, in use"));

    // vda with a partition that holds a file system but is not in use: install needs --wipe.
    let mut lsblk: serde_json::Value = serde_json::from_str(include_str!("../../src/example/lsblk.json")).unwrap();
    let vda = lsblk["blockdevices"].as_array_mut().unwrap().iter_mut().find(|d| d["name"] == "vda").unwrap();
    vda["pttype"] = "gpt".into();
    vda["children"] = serde_json::json!([{
        "name": "vda1", "kname": "vda1", "path": "/dev/vda1", "type": "part", "size": 1073741824,
        "ro": false, "rm": false, "fstype": "ext4", "label": "old", "pttype": "gpt", "mountpoints": [null]
    }]);
    let used = fake.on(&as_str(&argv(blankroot::probe::lsblk_cmd())), 0, &lsblk.to_string());
    let fs = run_live(dir.path(), &used, &live_opts("/dev/vda"));
    let f = find(&fs, "disk-in-use");
    assert_eq!(f.severity, Severity::Warning, "{f:?}");
    assert!(
        f.what.contains("vda has 1 gpt partition: vda1") && f.what.contains("vda1 contains ext4 labelled old"),
        "{f:?}"
    );
    assert!(f.fix.as_deref().unwrap().contains("--wipe"));
}

#[test]
fn zfs_module_and_tools() {
    let (dir, fake) = live_machine();
    std::fs::remove_dir_all(dir.path().join("sys/module/zfs")).unwrap();
    let modprobe = ["modprobe", "--dry-run", "--quiet", "zfs"];
    let fs = run_live(dir.path(), &fake.clone().on(&modprobe, 0, ""), &live_opts("/dev/vda"));
    assert_eq!(find(&fs, "zfs-module").severity, Severity::Ok);
    assert!(find(&fs, "zfs-module").what.contains("loadable"));
    let fs = run_live(
        dir.path(),
        &fake.clone().on(&modprobe, 1, "modprobe: FATAL: Module zfs not found"),
        &live_opts("/dev/vda"),
    );
    let f = find(&fs, "zfs-module");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.fix.as_deref().unwrap().contains("NixOS installer"));

    let few =
        fake.on(&as_str(&argv(blankroot::probe::tools_cmd())), 0, "sfdisk\nlsblk\nblkid\nmount\numount\nudevadm\n");
    let fs = run_live(dir.path(), &few, &live_opts("/dev/vda"));
    assert_eq!(find(&fs, "zfs-tools").what, "this machine lacks zpool, zfs, zgenhostid");
    assert_eq!(find(&fs, "disk-tools").what, "this machine lacks cryptsetup, mkfs.fat, fatlabel");
    let f = find(&fs, "nixos-tools");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.fix.as_deref().unwrap().contains("--until config"));
    let until_config = live::Options { until: Some(blankroot::plan::Phase::Config), ..live_opts("/dev/vda") };
    let fs = run_live(dir.path(), &few, &until_config);
    assert_eq!(find(&fs, "nixos-tools").severity, Severity::Warning);
}

#[test]
fn a_clock_in_the_past_is_an_error() {
    let (dir, fake) = live_machine();
    let fs = run_live(dir.path(), &fake, &live::Options { now_unix: Some(86_400 * 365), ..live_opts("/dev/vda") });
    let f = find(&fs, "clock");
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("1971-01-01"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("timedatectl set-ntp true"));
}

// ---------------------------------------------------------------- installed

#[test]
fn a_healthy_installed_system_passes() {
    let (dir, fake) = installed_machine();
    let fs = run_installed(dir.path(), &fake);
    for f in &fs {
        assert_eq!(f.severity, Severity::Ok, "{f:#?}");
    }
    assert!(find(&fs, "rollback-config").what.contains("after zfs-import-rpool.service, before sysroot.mount"));
    assert_eq!(
        find(&fs, "import-after-luks").what,
        "zfs-import-rpool.service waits for cryptsetup.target (after and wants)"
    );
    assert!(find(&fs, "luks-tries").what.starts_with("systemd-cryptsetup@cryptroot.service asks"));
    assert!(find(&fs, "rollback-failed").what.contains("no /run/blankroot/rollback-failed"));
    assert!(find(&fs, "hostid").what.contains("5eed0007"));
    assert_eq!(all(&fs, "persisted").len(), 3, "/etc/nixos, /var/lib/nixos, /var/log");
    assert!(find(&fs, "blankroot-kept").what.contains("a static blankroot, on PATH"));
    let runner = fake.runner();
    assert_eq!(doctor::detect_mode(&LocalHost::fixture(dir.path(), &runner)), Mode::Installed);
}

#[test]
fn the_kept_blankroot_must_be_there_static_and_roots() {
    let (dir, fake) = installed_machine();
    let kept = dir.path().join(blankroot::nixgen::KEPT_BLANKROOT.trim_start_matches('/'));
    // A normal (dynamic) build, such as this test binary, would not run on NixOS.
    std::fs::copy(std::env::current_exe().unwrap(), &kept).unwrap();
    let f = find(&run_installed(dir.path(), &fake), "blankroot-kept").clone();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.what.contains("needs a dynamic loader"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("scripts/build-static"), "{f:?}");
    std::fs::write(&kept, "#!/bin/sh\n").unwrap();
    assert!(find(&run_installed(dir.path(), &fake), "blankroot-kept").what.contains("not an ELF file"));
    // An interrupted copy: its loadable segment (from byte 0, 4 KiB) runs past its end.
    let mut cut = static_elf();
    cut[64 + 0x20..64 + 0x28].copy_from_slice(&4096u64.to_le_bytes());
    std::fs::write(&kept, cut).unwrap();
    let f = find(&run_installed(dir.path(), &fake), "blankroot-kept").clone();
    assert!(f.what.contains("cut short: a segment at byte 0 of 4096 bytes runs past its end (176 bytes)"), "{f:?}");
    std::fs::write(&kept, static_elf()).unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(find(&run_installed(dir.path(), &fake), "blankroot-kept").what.contains("mode 0644"));
    std::fs::remove_file(&kept).unwrap();
    let f = find(&run_installed(dir.path(), &fake), "blankroot-kept").clone();
    assert!(f.what.ends_with("is missing") && f.severity == Severity::Warning, "{f:?}");
    // Not asked for: not checked.
    edit(dir.path(), "/etc/nixos/blankroot.toml", "blankroot = true", "blankroot = false");
    assert!(all(&run_installed(dir.path(), &fake), "blankroot-kept").is_empty());
}

#[test]
fn a_missing_or_misordered_rollback_unit_is_an_error() {
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.nix", "after = [ \"zfs-import-rpool.service\" ];", "after = [ ];");
    let f = find(&run_installed(dir.path(), &fake), "rollback-config").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("not ordered after zfs-import-rpool.service"), "{f:?}");
    edit(dir.path(), "/etc/nixos/blankroot.nix", "before = [ \"sysroot.mount\" ];", "");
    let f = find(&run_installed(dir.path(), &fake), "rollback-config").clone();
    assert!(f.what.contains("before sysroot.mount"), "{f:?}");
    edit(
        dir.path(),
        "/etc/nixos/blankroot.nix",
        "boot.initrd.systemd.services.blankroot-rollback",
        "boot.initrd.systemd.services.other",
    );
    let f = find(&run_installed(dir.path(), &fake), "rollback-config").clone();
    assert!(f.what.contains("has no blankroot-rollback unit"), "{f:?}");
}

#[test]
fn post_device_commands_under_systemd_is_flagged() {
    let (dir, fake) = installed_machine();
    edit(
        dir.path(),
        "/etc/nixos/configuration.nix",
        "networking.hostName",
        "boot.initrd.postDeviceCommands = lib.mkAfter ''\n    zfs rollback -r rpool/local/root@blank\n  '';\n  networking.hostName",
    );
    let f = find(&run_installed(dir.path(), &fake), "post-device").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("configuration.nix") && f.why.contains("systemd/initrd.nix"), "{f:?}");
    // A comment mentioning it is not a setting.
    let (dir, fake) = installed_machine();
    edit(
        dir.path(),
        "/etc/nixos/configuration.nix",
        "networking.hostName",
        "# no postDeviceCommands here\n  networking.hostName",
    );
    assert_eq!(find(&run_installed(dir.path(), &fake), "post-device").severity, Severity::Ok);
}

#[test]
fn the_scripted_stage_one_is_checked_too() {
    let dir = tempfile::tempdir().unwrap();
    let plan = common::plan_for("scripted-two-users");
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(rel), Content::Text(t)) = (f.path.strip_prefix("/mnt"), &f.content) {
            write(dir.path(), rel, t);
        }
    }
    let fs = run_installed(dir.path(), &Fake::default());
    assert!(
        find(&fs, "rollback-config")
            .what
            .contains("scripted stage 1 runs `zfs rollback -r rpool/local/root@blank` in postResumeCommands")
    );
    for systemd_only in ["import-after-luks", "luks-tries", "rollback-failed"] {
        assert!(all(&fs, systemd_only).is_empty(), "{systemd_only}: {fs:#?}");
    }
    edit(dir.path(), "/etc/nixos/blankroot.nix", "zfs rollback -r", "echo zfs rollback -q");
    assert_eq!(find(&run_installed(dir.path(), &Fake::default()), "rollback-config").severity, Severity::Error);
}

#[test]
fn no_blank_snapshot_or_a_full_root_right_after_boot() {
    let (dir, fake) = installed_machine();
    let none = fake.clone().on(&["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "rpool/local/root@blank"], 1, "");
    let f = find(&run_installed(dir.path(), &none), "blank-snapshot").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("rpool/local/root@blank does not exist"));
    // The fix restores an empty root on the running system, computed from the config.
    let cmds = blankroot::checks::installed::blank_fix_commands(&common::config("seed-defaults")).unwrap();
    let lines: Vec<String> = cmds.iter().map(|c| blankroot::infra::shell::quote_argv(c)).collect();
    assert_eq!(
        lines,
        [
            "zfs create -o canmount=noauto -o mountpoint=legacy rpool/local/root.blank",
            "zfs snapshot rpool/local/root.blank@blank",
            "zfs rename -u rpool/local/root rpool/local/root.old",
            "zfs rename -u rpool/local/root.blank rpool/local/root",
            "reboot",
            "zfs destroy -r rpool/local/root.old",
        ]
    );
    let fix = f.fix.as_deref().unwrap();
    assert!(fix.contains(&format!("`{}`", lines[..4].join(" && "))), "{fix}");
    assert!(fix.contains("reboot") && fix.contains("`zfs destroy -r rpool/local/root.old`"), "{fix}");
    let full = fake.on(&["zfs", "get", "-Hp", "-o", "value", "written@blank", "rpool/local/root"], 0, "2147483648\n");
    let f = find(&run_installed(dir.path(), &full), "rollback-ran").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("2.0 GiB written") && f.why.contains("did not run"), "{f:?}");
    // Long after boot that is just what the next boot erases.
    write(dir.path(), "/proc/uptime", "86400.0 1.0\n");
    assert_eq!(find(&run_installed(dir.path(), &full), "rollback-ran").severity, Severity::Info);
}

#[test]
fn host_ids_must_agree() {
    let (dir, fake) = installed_machine();
    std::fs::write(dir.path().join("etc/hostid"), 0x12345678u32.to_ne_bytes()).unwrap();
    let f = find(&run_installed(dir.path(), &fake), "hostid").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("/etc/hostid holds 12345678"), "{f:?}");
    std::fs::remove_file(dir.path().join("etc/hostid")).unwrap();
    assert!(find(&run_installed(dir.path(), &fake), "hostid").what.contains("/etc/hostid is missing"));
    let (dir, fake) = installed_machine();
    let other = fake.on(&["zdb", "-l", "/dev/dm-0"], 0, "    name: 'rpool'\n    hostid: 305419896\n");
    let f = find(&run_installed(dir.path(), &other), "hostid").clone();
    assert!(f.what.contains("was last imported under 12345678"), "{f:?}");
    assert!(f.why.contains("previously in use from another system"));
}

#[test]
fn persist_must_be_mounted_needed_for_boot_and_hold_the_state() {
    let (dir, fake) = installed_machine();
    edit(
        dir.path(),
        "/proc/self/mountinfo",
        "24 22 0:23 / /persist rw,relatime shared:3 - zfs rpool/safe/persist rw,xattr,posixacl\n",
        "",
    );
    assert_eq!(find(&run_installed(dir.path(), &fake), "persist-mounted").severity, Severity::Error);

    let (dir, fake) = installed_machine();
    edit(
        dir.path(),
        "/etc/nixos/blankroot.nix",
        "    neededForBoot = true;\n  };\n  fileSystems.\"/boot\"",
        "  };\n  fileSystems.\"/boot\"",
    );
    let f = find(&run_installed(dir.path(), &fake), "persist-boot").clone();
    assert_eq!(f.severity, Severity::Error, "{f:?}");

    let (dir, fake) = installed_machine();
    edit(dir.path(), "/proc/self/mountinfo", "25 22 0:23 /etc/nixos /etc/nixos", "25 22 0:21 /etc/nixos /etc/nixos");
    edit(
        dir.path(),
        "/proc/self/mountinfo",
        "27 22 0:23 /var/log /var/log rw,relatime shared:3 - zfs rpool/safe/persist",
        "27 22 0:25 / /var/log rw,relatime shared:3 - tmpfs tmpfs",
    );
    let fs = run_installed(dir.path(), &fake);
    let p = all(&fs, "persisted");
    assert!(p.iter().any(|f| f.severity == Severity::Ok && f.what == "/var/lib/nixos is /persist/var/lib/nixos"));
    assert!(
        p.iter().any(|f| f.severity == Severity::Ok && f.what == "/etc/nixos is /persist/etc/nixos"),
        "mountinfo's source still says persist: {p:?}"
    );
    assert!(
        p.iter().any(|f| f.severity == Severity::Warning && f.what == "/var/log is not a bind of /persist/var/log"),
        "{p:?}"
    );

    // /var/lib/nixos on a dataset of its own (the config drops it from the list): fine while
    // that dataset is not the rolled-back root.
    let (dir, fake) = installed_machine();
    edit(
        dir.path(),
        "/etc/nixos/blankroot.toml",
        "[[datasets]]\nname = \"safe/persist\"",
        "[[datasets]]\nname = \"safe/varlib\"\nmount = \"/var/lib\"\nproperties = { mountpoint = \"legacy\" }\n\n[[datasets]]\nname = \"safe/persist\"",
    );
    edit(
        dir.path(),
        "/etc/nixos/blankroot.toml",
        "directories = [\"/etc/nixos\", \"/var/lib/nixos\", \"/var/log\"]",
        "directories = [\"/etc/nixos\", \"/var/log\"]",
    );
    edit(
        dir.path(),
        "/proc/self/mountinfo",
        "26 22 0:23 /var/lib/nixos /var/lib/nixos rw,relatime shared:3 - zfs rpool/safe/persist",
        "26 22 0:30 / /var/lib rw,relatime shared:3 - zfs rpool/safe/varlib",
    );
    let fs = run_installed(dir.path(), &fake);
    let p = all(&fs, "persisted");
    assert!(
        p.iter().any(|f| f.severity == Severity::Ok && f.what == "/var/lib/nixos is on the dataset rpool/safe/varlib"),
        "{p:?}"
    );
    edit(
        dir.path(),
        "/proc/self/mountinfo",
        "26 22 0:30 / /var/lib rw,relatime shared:3 - zfs rpool/safe/varlib rw,xattr,posixacl\n",
        "",
    );
    let fs = run_installed(dir.path(), &fake);
    let f = all(&fs, "persisted").into_iter().find(|f| f.what.starts_with("/var/lib/nixos")).unwrap().clone();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.what, "/var/lib/nixos is on the rolled-back root (rpool/local/root)");
}

#[test]
fn machine_id_ssh_keys_and_password_hashes() {
    let (dir, fake) = installed_machine();
    link(dir.path(), "/nix/store/abc-etc/etc/machine-id", "/etc/machine-id.random");
    let f = find(&run_installed(dir.path(), &fake), "machine-id").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("does not lead to /persist/etc/machine-id"), "{f:?}");
    std::fs::remove_file(dir.path().join("persist/etc/machine-id")).unwrap();
    assert!(find(&run_installed(dir.path(), &fake), "machine-id").what.contains("missing or empty"));

    let (dir, fake) = installed_machine();
    std::fs::remove_file(dir.path().join("persist/etc/ssh/ssh_host_ed25519_key")).unwrap();
    assert_eq!(find(&run_installed(dir.path(), &fake), "ssh-host-keys").severity, Severity::Info);
    edit(
        dir.path(),
        "/etc/nixos/blankroot.nix",
        "path = \"/persist/etc/ssh/ssh_host_rsa_key\"",
        "path = \"/etc/ssh/ssh_host_rsa_key\"",
    );
    let f = find(&run_installed(dir.path(), &fake), "ssh-host-keys").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("/etc/ssh/ssh_host_rsa_key, outside /persist"));
    edit(dir.path(), "/etc/nixos/blankroot.toml", "ssh_host_keys = true", "ssh_host_keys = false");
    assert_eq!(find(&run_installed(dir.path(), &fake), "ssh-host-keys").severity, Severity::Warning);

    let (dir, fake) = installed_machine();
    let hash = dir.path().join("persist/etc/nixos-secrets/passwords/admin");
    std::fs::set_permissions(&hash, std::fs::Permissions::from_mode(0o644)).unwrap();
    let f = find(&run_installed(dir.path(), &fake), "password-hash").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("mode 0644"), "{f:?}");
    std::fs::remove_file(&hash).unwrap();
    assert!(find(&run_installed(dir.path(), &fake), "password-hash").why.contains("admin has no password"));
}

#[test]
fn no_config_or_an_unreadable_module() {
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.nix", "{ config, lib, pkgs, ... }:", "{ config, lib, pkgs, ... }: {");
    let f = find(&run_installed(dir.path(), &fake), "rollback-config").clone();
    assert_eq!(f.severity, Severity::Warning);
    assert!(f.what.starts_with("cannot evaluate /etc/nixos/blankroot.nix"), "{f:?}");
    // Nix's own words say what is wrong (the real nix-instantiate's stderr).
    assert!(f.what.contains("syntax error"), "{f:?}");
    // No layout to check against: an error (exit 2) with the fix, not a finding.
    std::fs::remove_file(dir.path().join("etc/nixos/blankroot.toml")).unwrap();
    let runner = fake.runner();
    let e = blankroot::checks::installed::check(&LocalHost::fixture(dir.path(), &runner)).unwrap_err();
    assert_eq!(e.kind.exit_code(), 2);
    assert!(e.message.starts_with("no /etc/nixos/blankroot.toml: this is not a system blankroot installed"), "{e}");
    assert!(e.hint.as_deref().unwrap_or_default().contains("--mode live"), "{e}");
    assert_eq!(doctor::detect_mode(&LocalHost::fixture(dir.path(), &runner)), Mode::Live);
    // One that does not parse: its position.
    write(dir.path(), "/etc/nixos/blankroot.toml", "hostname = \"ok\"\n[pool\n");
    let e = blankroot::checks::installed::check(&LocalHost::fixture(dir.path(), &runner)).unwrap_err();
    assert_eq!(e.kind.exit_code(), 2);
    assert!(e.message.starts_with("/etc/nixos/blankroot.toml:2:"), "{e}");
    // One that cannot be read (a directory there).
    std::fs::remove_file(dir.path().join("etc/nixos/blankroot.toml")).unwrap();
    std::fs::create_dir(dir.path().join("etc/nixos/blankroot.toml")).unwrap();
    let e = blankroot::checks::installed::check(&LocalHost::fixture(dir.path(), &runner)).unwrap_err();
    assert!(e.message.starts_with("cannot read /etc/nixos/blankroot.toml"), "{e}");
}

/// Every file under `r` with its bytes.
fn tree(r: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut todo = vec![r.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn doctor_root_of_no_installation_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::write(r.join("file"), "x").unwrap();
    std::fs::create_dir_all(r.join("empty")).unwrap();
    std::fs::create_dir_all(r.join("bad/etc/nixos")).unwrap();
    std::fs::write(r.join("bad/etc/nixos/blankroot.toml"), "pool = 3\n").unwrap();
    std::fs::create_dir_all(r.join("binary/etc/nixos")).unwrap();
    std::fs::write(r.join("binary/etc/nixos/blankroot.toml"), b"\xff\xfe").unwrap();
    let at = |p: &str| r.join(p).display().to_string();
    let cases = [
        (at("missing"), "--root \"".to_string() + &at("missing") + "\": no such directory", "--root the directory"),
        (at("file"), format!("--root \"{}\" is not a directory", at("file")), "--root the directory"),
        (
            at("empty"),
            format!("no {}/etc/nixos/blankroot.toml: this is not a system blankroot installed", at("empty")),
            "--mode live",
        ),
        (at("bad"), format!("{}/etc/nixos/blankroot.toml:1:", at("bad")), ""),
        (at("binary"), format!("{}/etc/nixos/blankroot.toml is not UTF-8 text", at("binary")), "restore"),
        (
            format!("{}/\u{1b}[2J", at("empty")),
            "--root \"".to_string() + &at("empty") + "/\\u{1b}[2J\": no such directory",
            "",
        ),
    ];
    for (root, want, hint) in cases {
        let before = tree(r);
        for format in ["human", "json"] {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
                .args(["doctor", "--root", &root, "--format", format])
                .output()
                .unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{root}: {stderr}");
            assert!(stderr.starts_with(&format!("error: {want}")), "{root}: {want} in {stderr}");
            assert!(stderr.contains(&format!("hint: {}", "")) && stderr.contains(hint), "{root}: {stderr}");
            assert!(out.stdout.is_empty(), "{root}: no report: {}", String::from_utf8_lossy(&out.stdout));
            assert!(!out.stderr.contains(&0x1b), "escaped");
        }
        assert_eq!(tree(r), before, "{root}: nothing changed");
    }
}

#[test]
fn reports_render_for_people_and_scripts() {
    let (dir, fake) = installed_machine();
    std::fs::remove_file(dir.path().join("etc/hostid")).unwrap();
    let runner = fake.runner();
    let report =
        doctor::run(&LocalHost::fixture(dir.path(), &runner), Some(Mode::Installed), &live_opts("/dev/vda")).unwrap();
    assert_eq!((report.errors, report.warnings), (1, 0));
    use blankroot::output::{Detail, Render};
    let text = report.human(Detail::Normal);
    assert!(text.contains("  ERROR hostid"), "{text}");
    assert!(text.contains("why: a pool last imported under another host id"), "{text}");
    assert!(text.contains("fix: "), "{text}");
    let json: serde_json::Value = serde_json::to_value(&report).unwrap();
    assert_eq!(json["mode"], "installed");
    assert_eq!(json["errors"], 1);
    let err = report.failure().unwrap();
    assert_eq!(err.kind.exit_code(), 3);
    assert_eq!(err.message, "doctor found 1 error(s) and 0 warning(s), listed above");
    // Quiet: the problems only.
    let quiet = report.human(Detail::Quiet);
    assert!(quiet.contains("  ERROR hostid") && !quiet.contains("  ok    "), "{quiet}");
    assert!(text.contains("  ok    "), "{text}");
}
