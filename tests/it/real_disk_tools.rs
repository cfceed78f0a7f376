//! The plan's disk commands against the real tools, on image files (no root, no loop device):
//! real `sfdisk` accepts the planned script and lays out exactly the planned GPT, and real
//! `mkfs.fat` + `blkid` give the volume id the plan's check expects.
//!
//! The plan names real devices (`/dev/vda`, `/dev/vda1`, `/dev/disk/by-id/…-part2`), and the
//! machines that run this test have a `/dev/vda` of their own. Every name the plan has for its
//! disk and its partitions is swapped for an image file, and [`run`] refuses to spawn any
//! command an argument of which still names a device of this host (`common::host_devices`).

use crate::common;

use blankroot::plan::{self, Expect, Identities, Plan, Stdin, Step, partition_path};
use common::host_devices::{guard, host_devices, run_guarded};
use std::path::{Path, PathBuf};

/// The disk names the tests plan for: a kernel name, one whose partitions take a `p`, a by-id link.
const DISKS: [&str; 3] = ["/dev/vda", "/dev/nvme0n1", "/dev/disk/by-id/virtio-disk01"];

/// The seed's defaults planned for `disk` on the example machine (fixed identities).
fn plan_on(disk: &str) -> Plan {
    let mut c = common::config("seed-defaults");
    c.disk = disk.to_string();
    let ids = Identities::fixed(7, c.host_id.as_deref());
    plan::build(&c, &common::target(disk), &ids).unwrap_or_else(|e| panic!("{disk}: {e}"))
}

fn step<'a>(p: &'a Plan, id: &str) -> &'a Step {
    p.steps.iter().find(|s| s.id == id).unwrap()
}

/// Runs `argv` (never when [`guard`] refuses it) and returns its stdout; fails the test if the
/// command fails.
fn run(argv: &[String], stdin: Option<&str>) -> String {
    let out = run_guarded(argv, stdin.map(str::as_bytes));
    assert!(out.status.success(), "{argv:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Every name the plan has for its disk (its path, the kernel's name, its by-id links) and for
/// partition N of each, mapped to image files.
struct Swap(Vec<(String, String)>);

impl Swap {
    /// `disk`: the image standing for the whole disk; `parts`: (N, image) for partition N.
    fn new(p: &Plan, disk: Option<&Path>, parts: &[(u32, &Path)]) -> Swap {
        let d = &p.target.disk;
        let mut names = vec![d.path.clone(), d.device.clone()];
        names.extend(d.by_id.iter().map(|id| format!("/dev/disk/by-id/{id}")));
        let mut map = Vec::new();
        for name in &names {
            if let Some(img) = disk {
                map.push((name.clone(), img.display().to_string()));
            }
            for (n, img) in parts {
                map.push((partition_path(name, *n), img.display().to_string()));
            }
        }
        Swap(map)
    }

    fn one(&self, arg: &str) -> String {
        let find = |a: &str| self.0.iter().find(|(from, _)| from == a).map(|(_, to)| to.clone());
        if let Some(to) = find(arg) {
            return to;
        }
        match arg.split_once('=') {
            Some((k, v)) => find(v).map_or_else(|| arg.to_string(), |to| format!("{k}={to}")),
            None => arg.to_string(),
        }
    }

    fn argv(&self, argv: &[String]) -> Vec<String> {
        argv.iter().map(|a| self.one(a)).collect()
    }
}

/// Runs the step's commands in order, swapped, with their stdin; `udevadm settle` is left out
/// (it waits for the kernel's events about devices, and an image file has none).
fn run_step(swap: &Swap, s: &Step) {
    for c in s.commands.iter().filter(|c| c.argv[0] != "udevadm") {
        let stdin = match &c.stdin {
            None => None,
            Some(Stdin::Text(t)) => Some(t.as_str()),
            Some(Stdin::Secret(name)) => panic!("step {}: {:?} reads the secret {name}", s.id, c.argv),
        };
        run(&swap.argv(&c.argv), stdin);
    }
}

fn image(dir: &Path, name: &str, size: u64) -> PathBuf {
    let img = dir.join(name);
    std::fs::File::create(&img).unwrap().set_len(size).unwrap();
    img
}

#[test]
fn real_sfdisk_lays_out_the_planned_gpt() {
    for disk in DISKS {
        let p = plan_on(disk);
        let dir = tempfile::tempdir().unwrap();
        let img = image(dir.path(), "disk.img", p.target.disk.size_bytes);
        let swap = Swap::new(&p, Some(&img), &[]);
        let s = step(&p, "partition");
        assert!(s.commands.iter().any(|c| c.argv[0] == "sfdisk"), "{disk}: {:?}", s.commands);
        run_step(&swap, s);

        let img = img.to_str().unwrap();
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
        assert_eq!(run(&swap.argv(&check.argv), None).trim(), want, "{disk}");
    }
}

#[test]
fn real_mkfs_fat_gives_the_planned_volume_id() {
    for disk in DISKS {
        let p = plan_on(disk);
        let dir = tempfile::tempdir().unwrap();
        let esp = image(dir.path(), "esp.img", p.config.esp_size_bytes);
        let swap = Swap::new(&p, None, &[(1, &esp)]);
        let s = step(&p, "format-esp");
        assert!(s.commands.iter().any(|c| c.argv[0] == "mkfs.fat"), "{disk}: {:?}", s.commands);
        let Expect::Stdout(want) = &s.check[0].expect else { panic!() };
        assert_eq!(s.check.len(), 1, "the volume id alone proves a complete ESP");
        // Cut short after mkfs.fat (and its sync): the FAT is complete but the check must not
        // hold yet, since the planned id comes last (fatlabel -i).
        let mkfs = s.commands.iter().position(|c| c.argv[0] == "mkfs.fat").unwrap();
        run_step(&swap, &Step { commands: s.commands[..=mkfs].to_vec(), ..s.clone() });
        assert_ne!(run(&swap.argv(&s.check[0].argv), None).trim(), want, "{disk}: the planned id before fatlabel");
        run_step(&swap, s);
        assert_eq!(run(&swap.argv(&s.check[0].argv), None).trim(), want, "{disk}");
        let esp = esp.to_str().unwrap();
        let ty = run(
            &["blkid".into(), "-p".into(), "-s".into(), "VERSION".into(), "-o".into(), "value".into(), esp.into()],
            None,
        );
        assert_eq!(ty.trim(), "FAT32");
        // With its id changed by fatlabel, the file system is consistent (boot sector and its
        // backup agree; fsck.fat -n exits 0).
        run(&["fsck.fat".into(), "-n".into(), esp.into()], None);
    }
}

/// Every command and check of the plan, with its disk and both partitions swapped, names no
/// device but the LUKS mapping: no other spelling of the disk slips past the swap.
#[test]
fn the_swap_covers_every_name_of_the_disk_in_the_plan() {
    for disk in DISKS {
        let p = plan_on(disk);
        let img = |n: &str| PathBuf::from(format!("/nonexistent/{n}.img"));
        let (d, p1, p2) = (img("disk"), img("p1"), img("p2"));
        let swap = Swap::new(&p, Some(&d), &[(1, &p1), (2, &p2)]);
        // The LUKS mapping, and the folder `zpool import -d` searches for it.
        let mapper = [format!("/dev/mapper/{}", p.config.luks.name), "/dev/mapper".to_string()];
        for s in &p.steps {
            let commands = s.commands.iter().chain(&s.revert).chain(&s.resume).map(|c| &c.argv);
            for argv in commands.chain(s.check.iter().map(|c| &c.argv)) {
                let left = host_devices(&swap.argv(argv));
                assert!(
                    left.iter().all(|a| mapper.contains(a)),
                    "{disk}: step {}: {argv:?} still names {left:?}",
                    s.id
                );
            }
        }
    }
}

#[test]
fn the_guard_refuses_a_leftover_host_device_before_spawning() {
    let dir = tempfile::tempdir().unwrap();
    let link = dir.path().join("disk");
    std::os::unix::fs::symlink("/dev/vda", &link).unwrap();
    let dangling = dir.path().join("dangling");
    std::os::unix::fs::symlink("/dev/vda9", &dangling).unwrap();
    let via_dir = dir.path().join("devdir");
    std::os::unix::fs::symlink("/dev", &via_dir).unwrap();
    let refused = [
        "/dev/vda2".to_string(),
        "/dev/disk/by-id/virtio-disk01-part2".into(),
        "/dev/disk/by-id/nvme-Samsung_SSD_980_S64ANS0T123456".into(),
        "/dev/mapper/cryptroot".into(),
        "--key-file=/dev/sda".into(),
        "//dev/vda".into(),
        "/tmp/../dev/vda1".into(),
        link.display().to_string(),
        dangling.display().to_string(),
        via_dir.join("vda7").display().to_string(),
    ];
    for arg in &refused {
        let argv = vec!["blkid".to_string(), "-p".into(), arg.clone()];
        let e = guard(&argv).expect_err(arg);
        assert!(e.contains(&format!("{argv:?}")) && e.contains(&format!("[{arg:?}]")), "{e}");
    }
    let fine: Vec<String> = ["dd", "if=/dev/zero", "-F", "32", "ESP", "/dev/null", "/proc/self/fd/0", "settle"]
        .iter()
        .map(|s| s.to_string())
        .chain([dir.path().join("disk.img").display().to_string()])
        .collect();
    assert_eq!(guard(&fine), Ok(()));

    // A swap that misses a partition leaves it for the guard: the LUKS step with the disk and
    // the ESP swapped still names /dev/vda2.
    let p = plan_on("/dev/vda");
    let swap = Swap::new(&p, Some(Path::new("/nonexistent/disk.img")), &[(1, Path::new("/nonexistent/esp.img"))]);
    let luks = swap.argv(&step(&p, "luks-format").commands[0].argv);
    assert_eq!(host_devices(&luks), ["/dev/vda2"]);

    // run() fails the test before anything is spawned: had `sh` run, it would have made the
    // marker (and left its last argument alone).
    let marker = dir.path().join("spawned");
    let argv: Vec<String> =
        vec!["sh".into(), "-c".into(), "touch \"$0\"".into(), marker.display().to_string(), "/dev/vda2".into()];
    let err = std::panic::catch_unwind(|| run(&argv, None)).expect_err("run() must refuse");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("refusing to run") && msg.contains("\"/dev/vda2\""), "{msg}");
    assert!(!marker.exists(), "the command was spawned");
}
