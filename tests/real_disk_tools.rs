//! The plan's disk commands against the real tools, on image files (no root, no loop device):
//! real `sfdisk` accepts the planned script and lays out exactly the planned GPT, and real
//! `mkfs.fat` + `blkid` give the volume id the plan's check expects.

mod common;

use blankroot::plan::{Expect, Plan, Stdin, Step};
use std::io::Write;
use std::process::{Command, Stdio};

fn step<'a>(p: &'a Plan, id: &str) -> &'a Step {
    p.steps.iter().find(|s| s.id == id).unwrap()
}

fn run(argv: &[String], stdin: Option<&str>) -> String {
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e}", argv[0]));
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{argv:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn with_path(argv: &[String], from: &str, to: &str) -> Vec<String> {
    argv.iter().map(|a| if a == from { to.to_string() } else { a.clone() }).collect()
}

#[test]
fn real_sfdisk_lays_out_the_planned_gpt() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    std::fs::File::create(&img).unwrap().set_len(p.target.disk.size_bytes).unwrap();
    let img = img.to_str().unwrap();
    let s = step(&p, "partition");
    let Some(Stdin::Text(script)) = &s.commands[0].stdin else { panic!() };
    run(&with_path(&s.commands[0].argv, "/dev/vda", img), Some(script));

    let json: serde_json::Value =
        serde_json::from_str(&run(&["sfdisk".into(), "--json".into(), img.into()], None)).unwrap();
    let t = &json["partitiontable"];
    assert_eq!(t["label"], "gpt");
    assert_eq!(t["id"].as_str().unwrap().to_lowercase(), p.ids.disk_guid);
    let parts = t["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), 2);
    assert_eq!(parts[0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(parts[0]["start"], 2048, "1 MiB aligned");
    assert_eq!(parts[0]["size"].as_u64().unwrap() * 512, 1 << 30);
    assert_eq!(parts[0]["uuid"].as_str().unwrap().to_lowercase(), p.ids.esp_partuuid);
    assert_eq!(parts[0]["name"], "ESP");
    assert_eq!(parts[1]["type"], "CA7D7CCB-63ED-4C53-861C-1742536059CC");
    assert_eq!(parts[1]["uuid"].as_str().unwrap().to_lowercase(), p.ids.luks_partuuid);
    assert_eq!(parts[1]["name"], "cryptroot");
    let end = (parts[1]["start"].as_u64().unwrap() + parts[1]["size"].as_u64().unwrap()) * 512;
    assert!(p.target.disk.size_bytes - end < 2 << 20, "the LUKS partition fills the disk");

    // The plan's check command, pointed at the image, prints what the check expects.
    let check = &s.check[0];
    let Expect::Stdout(want) = &check.expect else { panic!() };
    assert_eq!(run(&with_path(&check.argv, "/dev/vda", img), None).trim(), want);
}

#[test]
fn real_mkfs_fat_gives_the_planned_volume_id() {
    let p = common::plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("esp.img");
    std::fs::File::create(&img).unwrap().set_len(p.config.esp_size_bytes).unwrap();
    let img = img.to_str().unwrap();
    let s = step(&p, "format-esp");
    run(&with_path(&s.commands[0].argv, "/dev/vda1", img), None);
    let Expect::Stdout(want) = &s.check[0].expect else { panic!() };
    assert_eq!(run(&with_path(&s.check[0].argv, "/dev/vda1", img), None).trim(), want);
    let ty = run(
        &["blkid".into(), "-p".into(), "-s".into(), "VERSION".into(), "-o".into(), "value".into(), img.into()],
        None,
    );
    assert_eq!(ty.trim(), "FAT32");
    // The second check: the file system is consistent (fsck.fat -n exits 0).
    assert_eq!(s.check[1].argv[0], "fsck.fat");
    run(&with_path(&s.check[1].argv, "/dev/vda1", img), None);
}
