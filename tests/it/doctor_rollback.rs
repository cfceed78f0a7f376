//! doctor's rollback checks on fixture machines (tests/it/common/doctor.rs): the rollback unit
//! runs once per boot, the pool import waits for LUKS, a mistyped passphrase is asked for
//! again, a failed rollback is reported with its message, and a missing @blank gets a fix that
//! restores an empty root without reinstalling. The VM tier boots the real thing.

use crate::common;

use blankroot::checks::Severity;
use blankroot::infra::host::LocalHost;
use common::doctor::{all, edit, find, installed_machine, run_installed, write};

#[test]
fn a_rollback_unit_that_would_run_twice_is_an_error() {
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.nix", "serviceConfig.RemainAfterExit = true;", "");
    let f = find(&run_installed(dir.path(), &fake), "rollback-config").clone();
    assert_eq!(f.severity, Severity::Error);
    assert!(f.what.contains("lacks serviceConfig.RemainAfterExit = true") && f.what.contains("a second time"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("nixos-rebuild boot"));
}

#[test]
fn the_import_must_wait_for_luks() {
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.nix", "    wants = [ \"cryptsetup.target\" ];\n", "");
    let f = find(&run_installed(dir.path(), &fake), "import-after-luks").clone();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.what, "boot.initrd.systemd.services.\"zfs-import-rpool\" lacks cryptsetup.target in wants");
    assert!(f.why.contains("60 s") && f.why.contains("NixOS/nixpkgs#250003"), "{f:?}");
    edit(
        dir.path(),
        "/etc/nixos/blankroot.nix",
        "boot.initrd.systemd.services.zfs-import-rpool",
        "boot.initrd.systemd.services.x",
    );
    let f = find(&run_installed(dir.path(), &fake), "import-after-luks").clone();
    assert!(f.what.ends_with("lacks cryptsetup.target in after and wants"), "{f:?}");
}

#[test]
fn a_mistyped_passphrase_must_be_asked_again() {
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.nix", "crypttabExtraOpts = [ \"tries=0\" ];", "");
    let f = find(&run_installed(dir.path(), &fake), "luks-tries").clone();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.what, "boot.initrd.luks.devices.cryptroot has no \"tries=0\" in crypttabExtraOpts");
    assert!(f.why.contains("systemd-cryptsetup@cryptroot.service then gives up after 3"), "{f:?}");
    // A LUKS name with `-`: systemd's unit name escapes it.
    let (dir, fake) = installed_machine();
    edit(dir.path(), "/etc/nixos/blankroot.toml", "name = \"cryptroot\"", "name = \"crypt-root\"");
    edit(dir.path(), "/etc/nixos/blankroot.nix", "luks.devices.cryptroot", "luks.devices.crypt-root");
    let f = find(&run_installed(dir.path(), &fake), "luks-tries").clone();
    assert_eq!(f.severity, Severity::Ok, "{f:?}");
    assert!(f.what.starts_with("systemd-cryptsetup@crypt\\x2droot.service asks"), "{f:?}");
}

#[test]
fn a_failed_rollback_is_reported_with_its_message() {
    let (dir, fake) = installed_machine();
    let said = "blankroot: rolling back rpool/local/root to @blank failed: this boot keeps what the last one wrote (run blankroot doctor)";
    write(dir.path(), blankroot::nixgen::ROLLBACK_FAILED_MARKER, &format!("{said}\n"));
    let f = find(&run_installed(dir.path(), &fake), "rollback-failed").clone();
    assert_eq!(f.severity, Severity::Error);
    assert_eq!(f.what, format!("this boot's rollback failed (/run/blankroot/rollback-failed: {said})"));
    assert!(f.why.contains("rpool/local/root holds what earlier boots wrote"), "{f:?}");
    assert!(f.fix.as_deref().unwrap().contains("journalctl -b -u blankroot-rollback"), "{f:?}");
    // Without @blank, the fix is to make one.
    let none = fake.clone().on(&["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "rpool/local/root@blank"], 1, "");
    let f = find(&run_installed(dir.path(), &none), "rollback-failed").clone();
    assert!(f.fix.as_deref().unwrap().contains("zfs snapshot rpool/local/root.blank@blank"), "{f:?}");
    // `--root DIR` reads the marker under DIR (its /run), not the running system's.
    let runner = fake.runner();
    let fs = blankroot::checks::installed::check(&LocalHost::mounted(dir.path(), &runner)).unwrap();
    assert_eq!(find(&fs, "rollback-failed").severity, Severity::Error);
    std::fs::remove_file(dir.path().join("run/blankroot/rollback-failed")).unwrap();
    let fs = blankroot::checks::installed::check(&LocalHost::mounted(dir.path(), &runner)).unwrap();
    assert!(all(&fs, "rollback-failed").is_empty(), "nothing to say about a root that is not booted");
}

#[test]
fn the_blank_fix_keeps_the_root_datasets_properties_and_a_valid_name() {
    let c = common::config("custom-datasets");
    let cmds = blankroot::checks::installed::blank_fix_commands(&c).unwrap();
    assert_eq!(
        cmds[0],
        ["zfs", "create", "-o", "canmount=noauto", "-o", "mountpoint=legacy", "tank/ephemeral/root.blank"]
    );
    let mut c = common::config("seed-defaults");
    c.datasets[0].properties.push(("recordsize".into(), "64K".into()));
    assert_eq!(
        blankroot::infra::shell::quote_argv(&blankroot::checks::installed::blank_fix_commands(&c).unwrap()[0]),
        "zfs create -o canmount=noauto -o mountpoint=legacy -o recordsize=64K rpool/local/root.blank"
    );
    // A valid root (its @blank fits), but "<root>.blank@blank" would not fit in 255 characters.
    c.datasets[0].name = format!("local/{}", "r".repeat(236));
    let e = blankroot::checks::installed::blank_fix_commands(&c).unwrap_err();
    assert!(e.message.contains(".blank@blank would be 260 characters long; ZFS allows 255"), "{}", e.message);
    assert!(e.hint.unwrap().contains("zfs snapshot rpool/local/"));
}
