//! The probe's parsers fed real `lsblk` and `find /dev/disk/by-id` output (see
//! tests/fixtures/lsblk/README.md for how each fixture was captured), plus one probe of this
//! machine.

use blankroot::infra::runner::Local;
use blankroot::probe::{self, BlockDevice, ByIdLink, Facts, Firmware, lsblk::ESP_GPT_TYPE};
use std::collections::BTreeMap;
use std::path::Path;

fn fixture(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lsblk(name: &str) -> Vec<BlockDevice> {
    probe::lsblk::parse(fixture(&format!("lsblk/{name}.json")).as_bytes()).unwrap()
}

fn facts(lsblk_name: &str, byid_name: Option<&str>) -> Facts {
    Facts {
        firmware: Firmware::Uefi,
        block_devices: lsblk(lsblk_name),
        by_id: byid_name.map(|n| probe::byid::parse(&fixture(&format!("byid/{n}.txt")))).unwrap_or_default(),
        commands: BTreeMap::new(),
        pool_devices: Vec::new(),
        nixos_release: None,
        static_blankroot: false,
    }
}

fn names(devs: &[&BlockDevice]) -> Vec<String> {
    devs.iter().map(|d| d.name.clone()).collect()
}

#[test]
fn every_lsblk_fixture_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lsblk");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let devs = probe::lsblk::parse(&std::fs::read(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.render()));
            assert!(!devs.is_empty(), "{}", path.display());
            for d in devs.iter().flat_map(BlockDevice::walk) {
                assert!(d.path.starts_with("/dev/"), "{}: {}", path.display(), d.path);
                assert!(!d.kind.is_empty(), "{}: {} has no type", path.display(), d.name);
            }
            seen += 1;
        }
    }
    assert!(seen >= 9, "only {seen} fixtures");
}

#[test]
fn gpt_with_esp_active_swap_and_a_doubly_mounted_ext4() {
    let devs = lsblk("gpt-esp-swap-ext4");
    assert_eq!(devs.len(), 1);
    let disk = &devs[0];
    assert_eq!((disk.name.as_str(), disk.kind.as_str(), disk.size_bytes), ("loop0", "loop", 256 << 20));
    assert_eq!(disk.pttype.as_deref(), Some("gpt"));
    assert!(disk.mountpoints.is_empty(), "[null] must read as no mount point");
    assert_eq!(names(&disk.partitions()), ["loop0p1", "loop0p2", "loop0p3"]);

    let esp = &disk.children[0];
    assert_eq!(esp.size_bytes, 64 << 20);
    assert_eq!(esp.fstype.as_deref(), Some("vfat"));
    assert_eq!(esp.label.as_deref(), Some("ESP"));
    assert_eq!(esp.partlabel.as_deref(), Some("ESP"));
    assert_eq!(esp.uuid.as_deref(), Some("2E83-BB87"));
    assert_eq!(esp.parttype.as_deref(), Some(ESP_GPT_TYPE));
    assert_eq!(esp.partuuid.as_deref(), Some("adfe1f24-2dc5-ad4f-b815-cc91d52b2590"));
    assert_eq!(esp.pttype.as_deref(), Some("gpt"), "lsblk repeats the table type on partitions");

    let swap = &disk.children[1];
    assert_eq!(swap.size_bytes, 32 << 20);
    assert_eq!(swap.fstype.as_deref(), Some("swap"));
    assert_eq!(swap.mountpoints, ["[SWAP]"]);
    assert!(swap.is_active_swap());

    let data = &disk.children[2];
    // sfdisk leaves 1 MiB before the first partition and aligns the end of the last one down
    // to 1 MiB (the backup GPT needs the last 33 sectors): 256 - 1 - 64 - 32 - 1.
    assert_eq!(data.size_bytes, 158 << 20);
    assert_eq!(data.mountpoints, ["/tmp/probecap/work/data-bind", "/tmp/probecap/work/data"]);

    assert!(disk.is_in_use());
    assert!(!disk.is_blank());
    assert_eq!(
        disk.holders_summary(),
        [
            "loop0 has 3 gpt partitions: loop0p1, loop0p2, loop0p3",
            "loop0p1 contains vfat labelled ESP",
            "loop0p2 is swap, in use",
            "loop0p3 is mounted at /tmp/probecap/work/data-bind, /tmp/probecap/work/data",
        ]
    );
}

#[test]
fn mbr_with_bootable_ext4_and_inactive_swap() {
    let devs = lsblk("mbr-ext4-swap");
    let disk = &devs[0];
    assert_eq!((disk.size_bytes, disk.pttype.as_deref()), (128 << 20, Some("dos")));
    let (root, swap) = (&disk.children[0], &disk.children[1]);
    assert_eq!(root.parttype.as_deref(), Some("0x83"));
    assert_eq!(root.partuuid.as_deref(), Some("6b80893b-01"), "MBR PARTUUID is <disk id>-<number>");
    assert_eq!(root.fstype.as_deref(), Some("ext4"));
    assert_eq!(swap.parttype.as_deref(), Some("0x82"));
    assert_eq!(swap.size_bytes, 63 << 20, "128 MiB - 1 MiB before the first partition - 64 MiB");
    assert!(!swap.is_active_swap());
    assert!(!disk.is_in_use(), "nothing mounted or open");
    assert_eq!(
        disk.holders_summary(),
        [
            "loop1 has 2 dos partitions: loop1p1, loop1p2",
            "loop1p1 contains ext4 labelled mbrroot",
            "loop1p2 is swap (not in use)"
        ]
    );
}

#[test]
fn device_without_table_or_filesystem_is_blank() {
    let devs = lsblk("no-table");
    let d = &devs[0];
    assert_eq!((d.name.as_str(), d.size_bytes), ("loop2", 64 << 20));
    assert_eq!((&d.pttype, &d.fstype), (&None, &None));
    assert!(d.children.is_empty());
    assert!(d.is_blank());
    assert!(d.holders_summary().is_empty());
}

#[test]
fn filesystem_on_the_whole_device_read_only() {
    let devs = lsblk("whole-disk-fs-ro");
    let d = &devs[0];
    assert!(d.ro);
    assert!(!d.rm);
    assert_eq!(d.size_bytes, 32 << 20);
    assert_eq!(d.holders_summary(), ["loop3 contains ext4 labelled wholedisk"]);
}

#[test]
fn whole_host_with_udev_resolves_by_id_names() {
    let f = facts("host-udev", Some("host-udev"));
    let tops: Vec<&str> = f.block_devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(tops, ["loop0", "loop1", "loop2", "loop3", "zram0", "vda"]);
    assert_eq!(f.by_id, [ByIdLink { name: "virtio-overlayblk".into(), target: "vda".into() }]);
    let vda = f.find_disk("/dev/disk/by-id/virtio-overlayblk").unwrap();
    assert_eq!(vda.name, "vda");
    assert_eq!(vda.size_bytes, 256 << 30);
    assert_eq!(vda.serial.as_deref(), Some("overlayblk"));
    assert_eq!(vda.fstype, None, "the sandbox forbids udev's blkid to open vda");
    assert_eq!(vda.holders_summary(), ["vda is mounted at /"]);
    assert_eq!(f.by_id_names("vda"), ["virtio-overlayblk"]);
    assert!(f.by_id_names("loop0").is_empty(), "loop devices have no by-id names");
    assert_eq!(f.find_disk("/dev/loop1").unwrap().pttype.as_deref(), Some("dos"));
    assert_eq!(f.find_device("/dev/loop0p1").unwrap().fstype.as_deref(), Some("vfat"));
    assert!(f.find_disk("/dev/loop0p1").is_none());
    // zram0 is an unused compressed-RAM disk: 0 bytes; unused loop devices are not listed.
    assert_eq!(f.find_disk("/dev/zram0").unwrap().size_bytes, 0);
    assert!(f.find_disk("/dev/loop4").is_none());
}

#[test]
fn whole_host_without_udev_still_sees_the_tree_and_mounts() {
    let with = facts("host-udev", None);
    let without = facts("host-no-udev", None);
    let shape = |f: &Facts| -> Vec<(String, String, u64, Vec<String>, bool)> {
        f.all_devices()
            .iter()
            .map(|d| (d.name.clone(), d.kind.clone(), d.size_bytes, d.mountpoints.clone(), d.ro))
            .collect()
    };
    assert_eq!(shape(&with), shape(&without), "same machine state, captured without and with udev");
    for d in without.all_devices() {
        assert_eq!(
            (&d.fstype, &d.label, &d.uuid, &d.partuuid, &d.parttype, &d.pttype),
            (&None, &None, &None, &None, &None, &None)
        );
        assert_eq!(d.serial, None);
    }
    let loop0 = without.find_disk("/dev/loop0").unwrap();
    assert_eq!(
        loop0.holders_summary(),
        [
            "loop0 has 3 partitions: loop0p1, loop0p2, loop0p3",
            "loop0p2 is swap, in use",
            "loop0p3 is mounted at /tmp/probecap/work/data-bind, /tmp/probecap/work/data",
        ]
    );
    // Without udev a filesystem directly on a device is invisible: this one looks blank.
    assert!(without.find_disk("/dev/loop3").unwrap().is_blank());
}

#[test]
fn old_util_linux_format_reads_like_the_new_one() {
    let old = lsblk("old-format-gpt");
    let new = lsblk("gpt-esp-swap-ext4");
    let (o, n) = (&old[0], &new[0]);
    assert_eq!(o.path, "/dev/loop0", "no PATH column before 2.33: derived from the name");
    assert!(!o.ro && !o.rm);
    for (a, b) in o.walk().iter().zip(n.walk()) {
        assert_eq!((&a.name, &a.kind, a.size_bytes), (&b.name, &b.kind, b.size_bytes));
        assert_eq!(
            (&a.fstype, &a.label, &a.uuid, &a.partuuid, &a.parttype),
            (&b.fstype, &b.label, &b.uuid, &b.partuuid, &b.parttype)
        );
        assert_eq!(a.path, b.path);
    }
    assert_eq!(o.children[1].mountpoints, ["[SWAP]"]);
    assert_eq!(o.children[2].mountpoints, ["/tmp/probecap/work/data-bind"], "one mount point only before 2.37");
    assert_eq!(o.pttype, None);
    assert_eq!(o.holders_summary()[0], "loop0 has 3 partitions: loop0p1, loop0p2, loop0p3");
}

#[test]
fn by_id_fixtures_parse() {
    let host = probe::byid::parse(&fixture("byid/host-udev.txt"));
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].path(), "/dev/disk/by-id/virtio-overlayblk");
}

/// The real probe, on this machine, through the real runner.
#[test]
fn probe_this_machine() {
    let f = probe::probe(&blankroot::infra::host::LocalHost::live(&Local::default()))
        .unwrap_or_else(|e| panic!("{}", e.render()));
    assert!(!f.block_devices.is_empty());
    assert!(f.has_command("lsblk"));
    assert!(f.has_command("mount"));
    assert_eq!(f.commands.len(), probe::TOOLS.len());
    let efi = Path::new("/sys/firmware/efi").is_dir();
    assert_eq!(f.firmware, if efi { Firmware::Uefi } else { Firmware::Bios });
    let root = f.all_devices().into_iter().find(|d| d.mountpoints.iter().any(|m| m == "/"));
    if let Some(root) = root {
        assert!(root.size_bytes > 0);
    }
    for link in &f.by_id {
        assert!(f.find_device(&link.path()).is_some(), "{} points at an unknown device", link.name);
    }
}

#[test]
fn vm_with_the_seed_layout_open() {
    let f = facts("vm-luks-zfs-open", Some("vm-luks-zfs-open"));
    let tops: Vec<(&str, &str)> = f.block_devices.iter().map(|d| (d.name.as_str(), d.kind.as_str())).collect();
    assert_eq!(tops, [("sr0", "rom"), ("vda", "disk"), ("vdb", "disk"), ("vdc", "disk"), ("vdd", "disk")]);

    let vdb = f.find_disk("/dev/disk/by-id/virtio-disk01").unwrap();
    assert_eq!((vdb.name.as_str(), vdb.size_bytes), ("vdb", 4 << 30));
    assert_eq!(vdb.serial.as_deref(), Some("disk01"));
    assert_eq!(f.by_id_names("vdb"), ["virtio-disk01"]);
    assert_eq!(f.by_id_names("vdb2"), ["virtio-disk01-part2"]);
    assert_eq!(f.find_device("/dev/disk/by-id/virtio-disk01-part1").unwrap().name, "vdb1");

    let (esp, luks) = (&vdb.children[0], &vdb.children[1]);
    assert_eq!((esp.size_bytes, esp.fstype.as_deref(), esp.label.as_deref()), (512 << 20, Some("vfat"), Some("BOOT")));
    assert_eq!(esp.parttype.as_deref(), Some(ESP_GPT_TYPE));
    assert_eq!(esp.mountpoints, ["/mnt/boot"]);
    assert_eq!(luks.fstype.as_deref(), Some("crypto_LUKS"));
    assert_eq!(luks.size_bytes, (4 << 30) - (512 << 20) - (2 << 20));

    let crypt = &luks.children[0];
    assert_eq!((crypt.name.as_str(), crypt.kname.as_str(), crypt.kind.as_str()), ("cryptroot", "dm-0", "crypt"));
    assert_eq!(crypt.path, "/dev/mapper/cryptroot");
    assert_eq!(crypt.size_bytes, luks.size_bytes - (16 << 20), "LUKS2 header is 16 MiB");
    assert_eq!((crypt.fstype.as_deref(), crypt.label.as_deref()), (Some("zfs_member"), Some("rpool")));
    assert!(crypt.mountpoints.is_empty(), "ZFS datasets are mounted by name, never show on the device");
    assert_eq!(f.find_device("/dev/disk/by-id/dm-name-cryptroot"), Some(crypt));
    assert_eq!(f.by_id_names("dm-0").len(), 2, "dm-name-… and dm-uuid-CRYPT-LUKS2-…");

    assert!(vdb.is_in_use());
    assert_eq!(
        vdb.holders_summary(),
        [
            "vdb has 2 gpt partitions: vdb1, vdb2",
            "vdb1 is mounted at /mnt/boot",
            "vdb2 is open as /dev/mapper/cryptroot",
            "cryptroot is a member of ZFS pool rpool",
        ]
    );

    // The serial-less virtio disk has no by-id name at all, not even for its partitions.
    let vdc = f.find_disk("/dev/vdc").unwrap();
    assert_eq!(vdc.serial, None);
    assert!(f.by_id_names("vdc").is_empty() && f.by_id_names("vdc1").is_empty());
    assert_eq!(vdc.holders_summary(), ["vdc has 1 dos partition: vdc1", "vdc1 is swap, in use"]);

    let vdd = f.find_disk("/dev/disk/by-id/virtio-disk03").unwrap();
    assert_eq!((vdd.name.as_str(), vdd.size_bytes), ("vdd", 2 << 30));
    assert!(vdd.is_blank());

    let vda = f.find_disk("/dev/vda").unwrap();
    assert_eq!(vda.holders_summary(), ["vda is mounted at /"]);

    let sr0 = f.find_disk("/dev/disk/by-id/ata-QEMU_DVD-ROM_QM00005").unwrap();
    assert!(sr0.ro && sr0.rm);
    assert_eq!(sr0.model.as_deref(), Some("QEMU DVD-ROM"));
}

#[test]
fn vm_with_the_seed_layout_closed_after_install() {
    let f = facts("vm-luks-zfs-closed", Some("vm-luks-zfs-closed"));
    let vdb = f.find_disk("/dev/disk/by-id/virtio-disk01").unwrap();
    assert!(!vdb.is_in_use());
    assert_eq!(
        vdb.holders_summary(),
        [
            "vdb has 2 gpt partitions: vdb1, vdb2",
            "vdb1 contains vfat labelled BOOT",
            "vdb2 is a LUKS container (closed)"
        ]
    );
    assert!(f.find_device("/dev/disk/by-id/dm-name-cryptroot").is_none());
    assert_eq!(f.find_disk("/dev/vdc").unwrap().holders_summary()[1], "vdc1 is swap (not in use)");
}

#[test]
fn facts_survive_a_json_round_trip() {
    let f = facts("vm-luks-zfs-open", Some("vm-luks-zfs-open"));
    let back: Facts = serde_json::from_str(&serde_json::to_string_pretty(&f).unwrap()).unwrap();
    assert_eq!(back, f);
}
