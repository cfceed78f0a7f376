//! The VM tier's install and rollback, and the demo (`scripts/demo` runs this test and shows
//! what it says): in a QEMU guest with real cryptsetup and OpenZFS, the static blankroot plans
//! and installs onto a blank virtio disk (every phase up to the NixOS tools, which the guest
//! does not have), the host reads everything back against the plan, then a second boot opens
//! LUKS, imports the pool and rolls the root back with the command taken from the generated
//! blankroot.nix, as NixOS's stage 1 would (a faithful stand-in for stage 1, not a NixOS boot;
//! the stage-1 tier boots a real systemd initrd). It prints what it did and what it checked.

use crate::common;

use blankroot::plan::{Content, Plan};
use common::vm::{SECRETS, Vm, assert_set_here, prop, props, tail};
use std::path::Path;

/// A line of the story, for whoever watches (`scripts/demo`).
fn say(line: &str) {
    println!("{line}");
}

/// The sha256 of a file, as sha256sum writes it.
fn sha256(path: &Path) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(path).unwrap()).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
#[ignore = "needs the VM kit and the static build; run by scripts/demo (from scripts/test)"]
fn install_then_rollback_boot() {
    // The static binary users copy onto the installer does the install (and is kept).
    let static_bin = common::static_binary();
    let v = Vm::with_blankroot(&[("disk01", 6), ("disk02", 1)], &static_bin);
    common::vm::write_config(&v.share());
    // disk02 holds known content throughout; it must never change.
    std::fs::write(&v.disks[1].0, vec![0x5a; 1 << 20]).unwrap();
    say("\n== boot 1: `blankroot plan` and `blankroot install` onto a blank 6 GiB virtio disk (serial disk01)");
    say(
        "   (the static binary; LUKS2 + ZFS for real; the NixOS tools are not in this guest, so the install stops before them)",
    );
    let (rc, log) = v.boot("install.sh", &[]);
    assert_eq!(rc, 0, "boot 1 failed:\n{}", tail(&log));
    let plan = Plan::from_json(&std::fs::read_to_string(v.share().join("plan.json")).unwrap()).unwrap();
    show_install(&v, &plan);
    let mut checked = check_layout(&v, &plan);
    checked.extend(check_files(&v, &plan));
    checked.extend(check_secrets(&v, &plan, &log));

    say("\n== boot 2: open LUKS, import the pool from /dev/disk/by-id, roll back, look");
    let module = v.share().join("out/etc-nixos/blankroot.nix");
    let cmd = common::vm::rollback_command(&module);
    say(&format!(
        "   the rollback, taken from the generated blankroot.nix by nix-instantiate: {}",
        cmd.lines().next().unwrap_or_default()
    ));
    assert_eq!(cmd, blankroot::nixgen::rollback_script(&plan.config));
    assert!(cmd.contains("zfs rollback -r rpool/local/root@blank"));
    std::fs::write(v.share().join("rollback-command.sh"), format!("{cmd}\n")).unwrap();
    std::fs::write(v.share().join("hostid"), &plan.ids.host_id).unwrap();
    let (rc, log) = v.boot("rollback.sh", &[]);
    assert_eq!(rc, 0, "boot 2 failed:\n{}", tail(&log));
    checked.extend(check_rollback(&v, &plan, &static_bin));
    checked.extend(check_doctor(&v));
    say("\n== what was checked");
    for c in checked {
        say(&format!("checked: {c}"));
    }
    say("\n== done: the root was rolled back to @blank; /persist and /home survived, and so did blankroot itself");
}

/// What boot 1 did, for people: the steps that ran, their times, the pool, the files.
fn show_install(v: &Vm, plan: &Plan) {
    say("   steps (`blankroot plan` shows each with its exact commands and files), as the install reported them:");
    for line in v.out("install.jsonl").lines() {
        let Ok(e) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if e["event"] == "step" {
            let id = e["id"].as_str().unwrap_or_default();
            let title = plan.steps.iter().find(|s| s.id == id).map_or("", |s| s.title.as_str());
            say(&format!(
                "     {:<7} {:>5.1} s  {title}",
                e["result"].as_str().unwrap_or_default(),
                e["seconds"].as_f64().unwrap_or(0.0)
            ));
        }
    }
    for l in v.out("zfs-get.txt").lines().filter(|l| l.split('\t').nth(1) == Some("mountpoint")) {
        let f: Vec<&str> = l.split('\t').collect();
        say(&format!("   dataset {} mountpoint={}", f[0], f[2]));
    }
    say(&format!("   snapshot {}", v.out("snapshots.txt").trim()));
    let files: Vec<String> = std::fs::read_dir(v.share().join("out/etc-nixos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    say(&format!("   /mnt/etc/nixos (a bind of /persist/etc/nixos): {}", files.join(" ")));
    say("   before closing: a canary written into the root, /persist/keep.txt and /home/keep.txt");
}

/// The disk as the tools read it back: GPT, ESP, LUKS, pool and dataset properties, host id.
fn check_layout(v: &Vm, plan: &Plan) -> Vec<String> {
    let mut checked = Vec::new();
    // The GPT, as sfdisk reads it back.
    let sf: serde_json::Value = serde_json::from_str(&v.out("sfdisk.json")).unwrap();
    let t = &sf["partitiontable"];
    assert_eq!(t["label"], "gpt");
    assert_eq!(t["id"].as_str().unwrap().to_lowercase(), plan.ids.disk_guid);
    assert_eq!(t["partitions"][0]["type"], "C12A7328-F81F-11D2-BA4B-00A0C93EC93B");
    assert_eq!(t["partitions"][1]["type"], "CA7D7CCB-63ED-4C53-861C-1742536059CC");
    checked.push("GPT: label-id, ESP and LUKS partition types as planned".into());

    let esp = v.out("esp.blkid");
    assert!(esp.contains("TYPE=vfat") && esp.contains("VERSION=FAT32"), "{esp}");
    assert!(esp.contains(&format!("UUID={}", plan.ids.esp_uuid)), "{esp}");
    checked.push("ESP: FAT32 with the planned volume id".into());

    let dump = v.out("luksdump.txt");
    assert!(dump.contains("Version:       \t2") || dump.contains("Version:\t2"), "{dump}");
    assert!(dump.contains(&plan.ids.luks_uuid), "{dump}");
    let module_text = v.out("etc-nixos/blankroot.nix");
    assert!(module_text.contains(&format!("/dev/disk/by-uuid/{}", plan.ids.luks_uuid)));
    checked.push("LUKS2 header UUID = the UUID in the generated configuration".into());

    let zp = props(&v.out("zpool-get.txt"));
    let zf = props(&v.out("zfs-get.txt"));
    assert!(zp.len() > 20 && zf.len() > 100, "zpool/zfs get printed too few rows");
    let mut n = 0;
    for (k, want) in &plan.config.pool.options {
        assert_set_here(&zp, "rpool", k, want);
        n += 1;
    }
    for (k, want) in &plan.config.pool.fs_options {
        assert_set_here(&zf, "rpool", k, want);
        n += 1;
    }
    for d in &plan.config.datasets {
        for (k, want) in &d.properties {
            assert_set_here(&zf, &plan.config.full_name(d), k, want);
            n += 1;
        }
    }
    // The source column is read, not assumed: what blankroot left alone says so.
    assert_eq!(prop(&zf, "rpool", "checksum").1, "default");
    assert_eq!(prop(&zf, "rpool/local/root", "compression").1, "inherited from rpool");
    assert_eq!(v.out("snapshots.txt").trim(), "rpool/local/root@blank");
    checked.push(format!(
        "all {n} pool options and dataset properties of the plan: value, and source `local` (`-` for create-time-only normalization); @blank exists"
    ));

    assert_eq!(v.out("zgenhostid-on-link.txt").trim(), "refused", "zgenhostid cannot write through the read-only link");
    assert!(v.out("zgenhostid-on-link.err").contains("Read-only file system"));
    let hostid_dec: u64 = v.out("pool-hostid.txt").trim().parse().unwrap();
    assert_eq!(format!("{hostid_dec:08x}"), plan.ids.host_id);
    assert!(module_text.contains(&format!("networking.hostId = \"{}\";", plan.ids.host_id)));
    checked.push("pool hostid = networking.hostId, with /etc/hostid a read-only link as on the NixOS installer".into());

    checked
}

/// The generated files where NixOS reads them, and the password hash.
fn check_files(v: &Vm, plan: &Plan) -> Vec<String> {
    let mut checked = Vec::new();
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(rel), Content::Text(text)) = (f.path.strip_prefix("/mnt/etc/nixos/"), &f.content) {
            for copy in ["etc-nixos", "persist-etc-nixos"] {
                let got = std::fs::read_to_string(v.share().join("out").join(copy).join(rel)).unwrap();
                assert_eq!(&got, text, "{copy}/{rel}");
            }
        }
    }
    checked.push("generated files under /mnt/etc/nixos and /mnt/persist/etc/nixos equal the plan's".into());

    let modes = v.out("modes.txt");
    assert!(modes.contains("700 root root /mnt/persist/etc/nixos-secrets/passwords\n"), "{modes}");
    assert!(modes.contains("600 root root /mnt/persist/etc/nixos-secrets/passwords/admin"), "{modes}");
    assert!(blankroot::hash::verify("admin-pw-Xk27", v.out("admin.hash").trim()));
    checked.push("password hash file 0600 root, verifies the password".into());

    checked
}

/// No secret anywhere it must not be, and the other disk untouched.
fn check_secrets(v: &Vm, plan: &Plan, log: &str) -> Vec<String> {
    let mut checked = Vec::new();
    assert_eq!(v.out("leak-selftest.txt").trim(), "seen", "the scan must see a process carrying the passphrase");
    assert_eq!(v.out("leaks.txt"), "", "a secret appeared in a process's argv or environment");
    let scans = v.out("scans.txt").lines().count();
    assert!(scans > 10, "the leak scan ran {scans} times");
    let standins = common::vm::assert_standins_saw_no_secret(v, plan);
    for f in ["install.jsonl", "install.stderr"] {
        let t = v.out(f);
        assert!(!SECRETS.iter().any(|s| t.contains(s)), "secret in {f}");
    }
    let receipt = std::fs::read_to_string(v.share().join("state/receipt.json")).unwrap();
    let plan_json = std::fs::read_to_string(v.share().join("plan.json")).unwrap();
    for t in [receipt.as_str(), plan_json.as_str(), log] {
        assert!(!SECRETS.iter().any(|s| t.contains(s)));
    }
    checked.push(format!(
        "no secret in the argv or environment of {standins}, nor in /proc/*/cmdline or environ ({scans} scans), receipt, logs, plan"
    ));

    let before = common::vm::digest(&v.out("disk02.before"));
    assert_eq!(before, common::vm::digest(&v.out("disk02.after")), "the other disk changed");
    checked.push(format!("the other disk is unchanged (sha256 {before} before and after)"));

    checked
}

/// After the rollback: the canary gone, what is kept intact, blankroot itself among it.
fn check_rollback(v: &Vm, plan: &Plan, static_bin: &Path) -> Vec<String> {
    let mut checked = Vec::new();
    say(&format!(
        "   root after the rollback: {}",
        if v.out("boot2/root-after.txt").is_empty() { "empty (the canary is gone)" } else { "NOT empty" }
    ));
    say(&format!(
        "   /persist/keep.txt: {}   /home/keep.txt: {}",
        v.out("boot2/persist-keep.txt").trim(),
        v.out("boot2/home-keep.txt").trim()
    ));
    say(&format!("   {}: {}", blankroot::nixgen::KEPT_BLANKROOT, v.out("boot2/kept-version.txt").trim()));
    assert_eq!(v.out("boot2/root-after.txt"), "", "root is empty after the rollback (canary gone)");
    assert_eq!(v.out("boot2/persist-keep.txt"), "keep\n");
    assert_eq!(v.out("boot2/home-keep.txt"), "home\n");
    assert!(v.out("boot2/persist-etc-nixos.txt").contains("blankroot.nix"));
    checked.push("boot 2: rollback erased the canary; /persist, /home and /persist/etc/nixos intact".into());
    assert!(plan.steps.iter().any(|s| s.id == "keep-blankroot"), "the static blankroot plans to keep itself");
    let installer = sha256(static_bin);
    assert_eq!(common::vm::digest(&v.out("boot2/kept.sha256")), installer, "the kept blankroot is the installer's");
    assert_eq!(v.out("boot2/kept-mode.txt").trim(), "755 root root");
    assert_eq!(v.out("boot2/kept-version.txt").trim(), format!("blankroot {}", env!("CARGO_PKG_VERSION")));
    checked.push(format!(
        "the static blankroot did the install and is kept across the rollback in {} (0755 root, sha256 {installer}), and runs",
        blankroot::nixgen::KEPT_BLANKROOT
    ));

    checked
}

/// doctor's installed-mode checks on the rolled-back tree, mounted as stage 1 would.
fn check_doctor(v: &Vm) -> Vec<String> {
    let mut checked = Vec::new();
    let report: serde_json::Value = serde_json::from_str(&v.out("boot2/doctor-installed.json"))
        .unwrap_or_else(|e| panic!("{e}: {}", v.out("boot2/doctor-installed.err")));
    let findings = report["findings"].as_array().unwrap();
    let severity = |check: &str| -> Vec<String> {
        findings.iter().filter(|f| f["check"] == check).map(|f| f["severity"].as_str().unwrap().to_string()).collect()
    };
    for check in [
        "config",
        "blank-snapshot",
        "rollback-ran",
        "hostid",
        "persist-mounted",
        "machine-id",
        "password-hash",
        "blankroot-kept",
    ] {
        assert!(
            severity(check).iter().all(|s| s == "ok") && findings.iter().any(|f| f["check"] == check),
            "{check}: {findings:#?}"
        );
    }
    assert_eq!(severity("persisted"), ["ok", "ok", "ok"], "{findings:#?}");
    assert_eq!(severity("rollback-config"), ["warning"], "no nix-instantiate in the VM: said, not hidden");
    assert_eq!(v.out("boot2/doctor-installed.rc").trim(), "0", "{}", v.out("boot2/doctor-installed.err"));
    checked.push(
        "doctor --root: @blank, nothing written since, one host id (config = pool label), /persist and its binds, machine-id, hash 0600"
            .into(),
    );
    checked
}
