//! The `blankroot` binary as users run it: exit codes, error shape, output formats.

use blankroot::plan::Plan;
use std::process::{Command, Output};

fn blankroot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blankroot")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plan_example_prints_the_whole_plan() {
    let out = blankroot(&["plan", "--example"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("This DESTROYS:"));
    assert!(s.contains("cryptsetup luksFormat --type luks2"));
    assert!(s.contains("< <secret:luks-passphrase>"));
    assert!(s.contains("zpool create -f -o ashift=12 -o autotrim=on"));
    assert!(s.contains("boot.initrd.systemd.services.blankroot-rollback"));
    assert!(s.contains("Nothing has been changed."));
}

#[test]
fn plan_json_is_a_plan_and_host_id_is_random_each_time() {
    let a = blankroot(&["plan", "--example", "--format", "json"]);
    let b = blankroot(&["plan", "--example", "--format", "json"]);
    let pa = Plan::from_json(&text(&a.stdout)).unwrap();
    let pb = Plan::from_json(&text(&b.stdout)).unwrap();
    assert_ne!(pa.ids.host_id, pb.ids.host_id, "hostId is drawn at random per plan");
    assert_ne!(pa.ids.luks_uuid, pb.ids.luks_uuid);
    assert_eq!(pa.target.disk.device, "/dev/vda");
    assert_eq!(pa.target.disk.serial.as_deref(), Some("disk01"));
}

#[test]
fn flags_override_and_output_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    let out = blankroot(&[
        "plan",
        "--example",
        "--host-id",
        "CAFEF00D",
        "--pool",
        "tank",
        "--initrd",
        "scripted",
        "--format",
        "json",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let p = Plan::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(p.ids.host_id, "cafef00d");
    assert_eq!(p.config.pool.name, "tank");
    assert!(p.steps.iter().any(|s| s.id == "pool-create" && s.commands[0].argv.contains(&"tank".to_string())));
}

#[test]
fn bad_config_exits_2_with_position_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blankroot.toml");
    std::fs::write(&cfg, "disk = \"/dev/vda\"\nhost_id = \"xyz\"\n").unwrap();
    let out = blankroot(&["plan", "--example", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("blankroot.toml:2:11"), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn missing_disk_exits_3_and_lists_the_disks() {
    let out = blankroot(&["plan", "--example", "--disk", "/dev/sdz"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("error: disk /dev/sdz does not exist on this machine"), "{err}");
    assert!(err.contains("hint: pick one of this machine's disks with --disk: /dev/vda (20.0 GiB)"), "{err}");
}

#[test]
fn a_partition_is_not_a_disk() {
    let out = blankroot(&["plan", "--example", "--disk", "/dev/sr0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is a rom device, not a whole disk"));
}

#[test]
fn bad_flag_value_names_the_flag() {
    let out = blankroot(&["plan", "--example", "--esp-size", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error: --esp-size: "));
}

#[test]
fn plan_probes_this_machine_without_example() {
    // The real probe (lsblk, /sys/firmware/efi, /dev/disk/by-id) on the machine running the
    // tests; whatever its disks, the answer is a plan or a clear error naming the disks.
    let out = blankroot(&["plan", "--format", "json"]);
    match out.status.code() {
        Some(0) => {
            let p = Plan::from_json(&text(&out.stdout)).unwrap();
            assert_eq!(p.target.disk.path, "/dev/vda");
        }
        Some(2) | Some(3) => assert!(text(&out.stderr).starts_with("error: "), "{}", text(&out.stderr)),
        other => panic!("unexpected exit {other:?}: {}", text(&out.stderr)),
    }
}
