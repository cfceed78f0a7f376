//! VM tier: blankroot against real cryptsetup and real OpenZFS in a QEMU guest (this host's
//! kernel has neither device-mapper nor ZFS; see tests/vm/README.md). Needs the VM kit, so the
//! tests are `#[ignore]`d in a plain `cargo test`; `scripts/test` runs them with `--ignored`
//! (the kit is built once and cached).
//!
//! Each test prints what it checked.

mod common;

use blankroot::plan::{Content, Plan};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The kit directory, built (or found in the cache) once per test process.
fn kit() -> &'static str {
    static KIT: OnceLock<String> = OnceLock::new();
    KIT.get_or_init(|| {
        if let Ok(k) = std::env::var("BLANKROOT_VM_KIT") {
            return k;
        }
        let out = Command::new("bash").arg(root().join("tests/vm/kit.sh")).output().expect("run tests/vm/kit.sh");
        assert!(out.status.success(), "kit build failed:\n{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).lines().last().expect("kit.sh prints the kit dir").trim().to_string()
    })
}

struct Vm {
    dir: tempfile::TempDir,
    disks: Vec<(PathBuf, &'static str)>,
}

impl Vm {
    /// A share folder with blankroot and the guest scripts, and raw test disks.
    fn new(disks: &[(&'static str, u64)]) -> Vm {
        let mut dir = tempfile::Builder::new().prefix("blankroot-vm-").tempdir_in(std::env::temp_dir()).unwrap();
        if std::env::var_os("BLANKROOT_VM_KEEP").is_some() {
            dir.disable_cleanup(true);
            eprintln!("keeping {}", dir.path().display());
        }
        let share = dir.path().join("share");
        std::fs::create_dir_all(share.join("out")).unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_blankroot"), share.join("blankroot")).unwrap();
        for f in ["common.sh", "install.sh", "rollback.sh", "refusals.sh", "resume.sh"] {
            let src = root().join("tests/vm/guest").join(f);
            if src.exists() {
                std::fs::copy(&src, share.join(f)).unwrap();
            }
        }
        let mut v = Vm { dir, disks: Vec::new() };
        for (serial, gib) in disks {
            let p = v.dir.path().join(format!("{serial}.img"));
            std::fs::File::create(&p).unwrap().set_len(gib << 30).unwrap();
            v.disks.push((p, serial));
        }
        v
    }
    fn share(&self) -> PathBuf {
        self.dir.path().join("share")
    }
    fn out(&self, rel: &str) -> String {
        std::fs::read_to_string(self.share().join("out").join(rel)).unwrap_or_else(|e| panic!("out/{rel}: {e}"))
    }
    /// Boots the kit with `scenario` as the guest's test; returns (exit status, console log).
    fn boot(&self, scenario: &str, extra: &[String]) -> (i32, String) {
        std::fs::write(self.share().join("test.sh"), format!(". /share/{scenario}\n")).unwrap();
        let log = self.dir.path().join(format!("{scenario}.log"));
        let mut cmd = Command::new("bash");
        cmd.arg(root().join("tests/vm/run.sh"))
            .env("BLANKROOT_VM_KIT", kit())
            .arg("--share")
            .arg(self.share())
            .arg("--timeout")
            .arg("600")
            .arg("--log")
            .arg(&log);
        for (p, serial) in &self.disks {
            cmd.arg("--disk").arg(format!("{}:{serial}", p.display()));
        }
        cmd.args(extra);
        let status = cmd.status().expect("run tests/vm/run.sh");
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        (status.code().unwrap_or(-1), text)
    }
}

/// A step id as a console mark name (tests/vm/guest/common.sh `san`).
fn mark_name(id: &str) -> String {
    id.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect()
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}

fn write_config(v: &Vm) {
    std::fs::write(
        v.share().join("cfg.toml"),
        "# The seed's defaults on the first test disk, with a cheap PBKDF for test runs only.\n\
         disk = \"/dev/disk/by-id/virtio-disk01\"\n\
         [luks]\nformat_options = [\"--pbkdf\", \"pbkdf2\", \"--pbkdf-force-iterations\", \"1000\"]\n\
         [[users]]\nname = \"admin\"\ngroups = [\"wheel\"]\npassword_file = \"/tmp/admin.pw\"\n",
    )
    .unwrap();
}

fn props(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f.len() >= 3).then(|| (f[0].to_string(), f[1].to_string(), f[2].to_string()))
        })
        .collect()
}

fn prop<'a>(all: &'a [(String, String, String)], name: &str, key: &str) -> &'a str {
    all.iter()
        .find(|(n, k, _)| n == name && k == key)
        .map(|(_, _, v)| v.as_str())
        .unwrap_or_else(|| panic!("{name} {key}"))
}

/// The rollback command, taken from the generated blankroot.nix by the real Nix evaluator.
fn rollback_command(module: &Path) -> String {
    let expr = format!(
        "(import {} {{ config = {{}}; pkgs = {{}}; lib = {{ mkAfter = x: x; }}; }}).boot.initrd.systemd.services.blankroot-rollback.script",
        module.display()
    );
    let out = Command::new("nix-instantiate").args(["--eval", "--json", "-E", &expr]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<String>(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs the VM kit; run by scripts/test with --ignored"]
fn install_then_rollback_boot() {
    let v = Vm::new(&[("disk01", 6), ("disk02", 1)]);
    write_config(&v);
    // disk02 holds known content throughout; it must never change.
    std::fs::write(&v.disks[1].0, vec![0x5a; 1 << 20]).unwrap();
    let (rc, log) = v.boot("install.sh", &[]);
    assert_eq!(rc, 0, "boot 1 failed:\n{}", tail(&log));
    let plan = Plan::from_json(&std::fs::read_to_string(v.share().join("plan.json")).unwrap()).unwrap();
    let mut checked: Vec<String> = Vec::new();

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
    let module = v.share().join("out/etc-nixos/blankroot.nix");
    let module_text = std::fs::read_to_string(&module).unwrap();
    assert!(module_text.contains(&format!("/dev/disk/by-uuid/{}", plan.ids.luks_uuid)));
    checked.push("LUKS2 header UUID = the UUID in the generated configuration".into());

    let zp = props(&v.out("zpool-get.txt"));
    for (k, want) in &plan.config.pool.options {
        let got = prop(&zp, "rpool", k);
        assert!(blankroot::zfsprops::matches(k, want, got), "pool option {k}: {got} != {want}");
    }
    let zf = props(&v.out("zfs-get.txt"));
    for (k, want) in &plan.config.pool.fs_options {
        let got = prop(&zf, "rpool", k);
        assert!(blankroot::zfsprops::matches(k, want, got), "rpool {k}: {got} != {want}");
    }
    for d in &plan.config.datasets {
        let name = plan.config.full_name(d);
        for (k, want) in &d.properties {
            let got = prop(&zf, &name, k);
            assert!(blankroot::zfsprops::matches(k, want, got), "{name} {k}: {got} != {want}");
        }
    }
    assert_eq!(v.out("snapshots.txt").trim(), "rpool/local/root@blank");
    checked.push("every pool option and dataset property of the plan; @blank exists".into());

    let hostid_dec: u64 = v.out("pool-hostid.txt").trim().parse().unwrap();
    assert_eq!(format!("{hostid_dec:08x}"), plan.ids.host_id);
    assert!(module_text.contains(&format!("networking.hostId = \"{}\";", plan.ids.host_id)));
    checked.push("pool hostid = networking.hostId".into());

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

    assert_eq!(v.out("leak-selftest.txt").trim(), "seen", "the scan must see a process carrying the passphrase");
    assert_eq!(v.out("leaks.txt"), "", "a secret appeared in a process's argv or environment");
    let scans = v.out("scans.txt").lines().count();
    assert!(scans > 10, "the leak scan ran {scans} times");
    for f in ["install.jsonl", "install.stderr"] {
        let t = v.out(f);
        assert!(!t.contains("vm-test-passphrase-Zq81") && !t.contains("admin-pw-Xk27"), "secret in {f}");
    }
    let receipt = std::fs::read_to_string(v.share().join("state/receipt.json")).unwrap();
    let plan_json = std::fs::read_to_string(v.share().join("plan.json")).unwrap();
    for t in [&receipt, &plan_json, &log] {
        assert!(!t.contains("vm-test-passphrase-Zq81") && !t.contains("admin-pw-Xk27"));
    }
    checked.push(format!("no secret in /proc/*/cmdline or environ ({scans} scans), receipt, logs, plan"));

    assert_eq!(v.out("disk02.before"), v.out("disk02.after"));
    checked.push("the other disk is unchanged".into());

    // Boot 2: the rollback, with the command taken from the generated file.
    let cmd = rollback_command(&module);
    assert_eq!(cmd, "zfs rollback -r rpool/local/root@blank");
    std::fs::write(v.share().join("rollback-command.sh"), format!("{cmd}\n")).unwrap();
    let (rc, log) = v.boot("rollback.sh", &[]);
    assert_eq!(rc, 0, "boot 2 failed:\n{}", tail(&log));
    assert_eq!(v.out("boot2/root-after.txt"), "", "root is empty after the rollback (canary gone)");
    assert_eq!(v.out("boot2/persist-keep.txt"), "keep\n");
    assert_eq!(v.out("boot2/home-keep.txt"), "home\n");
    assert!(v.out("boot2/persist-etc-nixos.txt").contains("blankroot.nix"));
    checked.push("boot 2: rollback erased the canary; /persist, /home and /persist/etc/nixos intact".into());
    for c in checked {
        println!("checked: {c}");
    }
}

#[test]
#[ignore = "needs the VM kit; run by scripts/test with --ignored"]
fn busy_disks_are_refused_and_left_byte_identical() {
    let v = Vm::new(&[("disk03", 6)]);
    let (rc, log) = v.boot("refusals.sh", &[]);
    assert_eq!(rc, 0, "refusal boot failed:\n{}", tail(&log));
    let cases = [
        ("partitions", 2, "is not empty: vdb has 1 gpt partition: vdb1", "--wipe"),
        ("mounted", 3, "vdb1 is mounted at /tmp/m", "umount"),
        ("swap", 3, "vdb1 is swap, in use", "swapoff"),
        ("mapping", 3, "vdb1 is open as /dev/mapper/busy", "cryptsetup close"),
        ("pool", 3, "vdb1 is in the imported ZFS pool tpool", "zpool export"),
    ];
    for (name, code, what, hint) in cases {
        let err = v.out(&format!("refuse-{name}.err"));
        assert_eq!(v.out(&format!("refuse-{name}.rc")).trim(), code.to_string(), "{name}: {err}");
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert!(err.contains(what), "{name}: expected {what:?} in {err}");
        assert!(err.contains("hint: ") && err.contains(hint), "{name}: {err}");
        assert_eq!(v.out(&format!("refuse-{name}.disk")).trim(), "same", "{name}: the disk changed");
        println!("checked: {name}: exit {code}, names {what:?}, table and partition byte-identical");
    }
}

/// Cuts power (kills QEMU) after every step up to the config phase, and in the middle of
/// luksFormat and zpool create; each next boot resumes the install. The last boot completes
/// it. The witness disk never changes.
#[test]
#[ignore = "needs the VM kit and ~22 min; passed in full (24 cuts) once after the fixes it led to; joins scripts/test after a second green run"]
fn power_cuts_at_every_step_boundary_resume() {
    let v = Vm::new(&[("disk01", 6), ("disk02", 1)]);
    write_config(&v);
    std::fs::write(&v.disks[1].0, vec![0xa5; 1 << 20]).unwrap();
    let plan = common::plan_for("seed-defaults");
    let ids: Vec<String> =
        plan.steps.iter().filter(|s| s.phase <= blankroot::plan::Phase::Config).map(|s| s.id.clone()).collect();
    let mut cuts: Vec<Vec<String>> =
        ids.iter().map(|id| vec!["--kill-on-mark".into(), format!("done-{}", mark_name(id))]).collect();
    cuts.insert(2, vec!["--kill-after-mark".into(), "start-luks-format:0.3".into()]);
    cuts.insert(6, vec!["--kill-after-mark".into(), "start-pool-create:0.2".into()]);
    // For debugging one cut: BLANKROOT_VM_CUTS=start-pool-create:0.2 (mark[:seconds], comma-separated).
    if let Ok(only) = std::env::var("BLANKROOT_VM_CUTS") {
        cuts = only
            .split(',')
            .map(|c| match c.split_once(':') {
                Some(_) => vec!["--kill-after-mark".into(), c.to_string()],
                None => vec!["--kill-on-mark".into(), c.to_string()],
            })
            .collect();
    }
    for cut in &cuts {
        let (rc, log) = v.boot("resume.sh", cut);
        let mark = cut[1].split(':').next().unwrap().to_string();
        assert!(log.contains(&format!("BLANKROOT-VM-MARK {mark}")), "never reached {mark}:\n{}", tail(&log));
        assert!(!log.contains("BLANKROOT-VM-MARK complete"), "power cut at {mark} came too late");
        assert_ne!(rc, 0, "the boot cut at {mark} must not report success");
        println!("checked: power cut at {mark}");
    }
    let (rc, log) = v.boot("resume.sh", &[]);
    assert_eq!(rc, 0, "the final resume failed:\n{}", tail(&log));
    assert!(log.contains("BLANKROOT-VM-MARK complete"));
    assert_eq!(
        v.out("final-datasets.txt"),
        "rpool\nrpool/local\nrpool/local/nix\nrpool/local/root\nrpool/safe\nrpool/safe/home\nrpool/safe/persist\n"
    );
    assert_eq!(v.out("final-snapshots.txt").trim(), "rpool/local/root@blank");
    assert!(v.out("final-etc-nixos.txt").contains("blankroot.nix"));
    let sums = v.out("disk02.sums");
    let first = sums.lines().next().unwrap();
    assert!(sums.lines().all(|l| l == first), "the witness disk changed: {sums}");
    println!("checked: after {} power cuts the install resumed to completion; witness disk unchanged", cuts.len());
}
