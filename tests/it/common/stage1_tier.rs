//! Driving the stage-1 tier (tests/it/vm_stage1.rs, benches/stage1_rollback.rs): one disk
//! installed by `blankroot install` in the kit (every phase, stand-ins for the NixOS tools),
//! then boots of it through the systemd initrd that [`super::stage1`] renders from the
//! evaluated configuration, with the passphrase typed on the serial console; and the initrd's
//! journal, read back.

use super::stage1::{self, Evaluated, Shape};
use super::vm::{Console, Vm, tail};
use blankroot::plan::Plan;
use serde_json::Value;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub const PASSPHRASE: &str = "vm-test-passphrase-Zq81";
pub const PROMPT: &str = "passphrase for disk";

pub struct Tier {
    pub v: Vm,
    pub plan: Plan,
    pub ev: Evaluated,
    pub init: String,
    pub base: PathBuf,
}

/// A journal entry of the initrd (journalctl -o json).
pub struct Entry {
    pub mono: u64,
    pub unit: String,
    pub message: String,
    pub message_id: String,
    pub job_result: String,
}

pub fn journal(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|j| {
            let s = |k: &str| j[k].as_str().unwrap_or_default().to_string();
            Entry {
                mono: s("__MONOTONIC_TIMESTAMP").parse().unwrap_or(0),
                unit: s("UNIT"),
                message: s("MESSAGE"),
                message_id: s("MESSAGE_ID"),
                job_result: s("JOB_RESULT"),
            }
        })
        .collect()
}

/// systemd's catalog ids for a unit's job starting and finishing (sd-messages.h).
pub const UNIT_STARTING: &str = "7d4958e842da4a758f6c1cdc7b36dcc5";
pub const UNIT_STARTED: &str = "39f53479d3a045ac8e11786248231fbf";
pub const UNIT_FAILED: &str = "be02cf6855d2428ba40df7e9d022f03d";

pub fn times(j: &[Entry], unit: &str, id: &str) -> Vec<u64> {
    j.iter().filter(|e| e.unit == unit && e.message_id == id).map(|e| e.mono).collect()
}
pub fn one(j: &[Entry], unit: &str, id: &str) -> u64 {
    let t = times(j, unit, id);
    assert_eq!(t.len(), 1, "{unit}: expected one {id} entry, found {}", t.len());
    t[0]
}

/// Where the base initrd is kept between runs: it depends only on the kit and on
/// stage1-initrd.sh, and assembling it under TCG takes minutes.
fn base_cache() -> PathBuf {
    use sha2::Digest;
    let kit = PathBuf::from(super::vm::kit());
    let script = std::fs::read(super::vm::root().join("tests/vm/guest/stage1-initrd.sh")).unwrap();
    let digest: String = sha2::Sha256::digest(&script).iter().take(8).map(|b| format!("{b:02x}")).collect();
    let kit_hash = kit.file_name().unwrap().to_string_lossy().to_string();
    kit.parent().unwrap().join("stage1").join(format!("{kit_hash}-{digest}.cpio"))
}

impl Tier {
    /// Boot 1 (the kit, UEFI): install every phase (with the static blankroot, which the
    /// installed system keeps), then build the base initrd.
    pub fn install() -> Tier {
        let v = Vm::with_blankroot(&[("disk01", 6)], &super::static_binary());
        super::vm::write_config(&v.share());
        let cached = base_cache();
        if cached.exists() {
            std::fs::copy(&cached, v.share().join("stage1-base.cpio")).unwrap();
        }
        let (rc, log) = v.boot("stage1-install.sh", &["--uefi".into()]);
        assert_eq!(rc, 0, "install boot failed:\n{}", tail(&log));
        let plan = Plan::from_json(&std::fs::read_to_string(v.share().join("plan.json")).unwrap()).unwrap();
        let out = |f: &str| v.out(f);
        assert_eq!(out("install.rc").trim(), "0");
        assert_eq!(out("nixos-generate-config.args").trim(), "--no-filesystems --root /mnt");
        assert_eq!(out("nixos-install.args").trim(), "--root /mnt --no-root-passwd");
        assert_eq!(out("mnt-mounts.txt").trim(), "0", "install left /mnt mounted");
        assert_eq!(out("pools-after.txt").trim(), "", "install left the pool imported");
        assert_eq!(out("luks-after.txt").trim(), "closed", "install left LUKS open");
        assert_eq!(out("import-state.txt").trim(), "ONLINE", "the exported pool is importable as it is");
        let done: Vec<String> = out("install.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["event"] == "step" && e["result"] == "done")
            .map(|e| e["id"].as_str().unwrap().to_string())
            .collect();
        for id in ["hardware-config", "nixos-install", "unmount", "pool-export", "luks-close"] {
            assert!(done.iter().any(|d| d == id), "step {id} did not run: {done:?}");
        }
        let etc = v.share().join("out/etc-nixos");
        let configuration = std::fs::read_to_string(etc.join("configuration.nix")).unwrap();
        assert!(
            configuration.contains("system.stateVersion = \"26.05\";"),
            "stateVersion from nixos-version:\n{configuration}"
        );
        println!(
            "checked: install ran every phase (stand-ins for nixos-generate-config/nixos-install); /mnt unmounted, pool exported (importable ONLINE without -f), LUKS closed; stateVersion 26.05 from nixos-version"
        );
        let ev = Evaluated::load(&etc);
        let init = out("system-init-path").trim().to_string();
        let base = v.share().join("stage1-base.cpio");
        assert!(base.exists(), "the guest built no base initrd:\n{}", tail(&log));
        if !cached.exists() {
            std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
            std::fs::copy(&base, cached.with_extension("tmp")).unwrap();
            std::fs::rename(cached.with_extension("tmp"), &cached).unwrap();
        }
        Tier { v, plan, ev, init, base }
    }

    /// One boot through the stage-1 initrd that must complete. `typing`: per passphrase
    /// prompt, the delay after it appears and what to type. Returns the console log.
    pub fn boot(&self, case: &str, shape: Shape, typing: &[(u64, &str)], next: &str) -> String {
        let (rc, typed, log) = self.boot_until(case, shape, typing, next, None, "");
        assert_eq!(typed, typing.len(), "{case}: typed {typed} of {} answers:\n{}", typing.len(), tail(&log));
        assert_eq!(rc, 0, "{case}: the boot did not complete:\n{}", tail(&log));
        log
    }

    /// One boot, stopped (power cut, exit 137) when the console shows `kill_on`, with `append`
    /// added to the kernel command line. Returns the exit status, how many answers were typed
    /// and the console log.
    pub fn boot_until(
        &self,
        case: &str,
        shape: Shape,
        typing: &[(u64, &str)],
        next: &str,
        kill_on: Option<&str>,
        append: &str,
    ) -> (i32, usize, String) {
        let share = self.v.share();
        std::fs::write(share.join("case"), case).unwrap();
        std::fs::write(share.join("next"), next).unwrap();
        let overlay = self.v.dir.path().join(format!("overlay-{case}"));
        let _ = std::fs::remove_dir_all(&overlay);
        stage1::render_overlay(&self.ev, shape, &overlay);
        let initrd = stage1::initrd(&self.base, &overlay, &self.v.dir.path().join(format!("initrd-{case}.img")));
        let mut con = Console::new(self.v.dir.path().join(format!("{case}.sock")));
        let mut extra: Vec<String> = [
            "--initrd",
            initrd.to_str().unwrap(),
            "--cmdline",
            &stage1::cmdline(&self.init),
            "--console-socket",
            con.path().to_str().unwrap(),
            "--boot-timeout",
            "600",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !append.is_empty() {
            extra.extend(["--append".to_string(), append.to_string()]);
        }
        if let Some(text) = kill_on {
            extra.extend(["--kill-on-text".to_string(), text.to_string()]);
        }
        let mut typed = 0;
        let mut prompt_seen: Option<Instant> = None;
        let (rc, log) = self.v.boot_with("stage1-report.sh", &extra, || {
            con.poll();
            let prompts = con.seen.matches(PROMPT).count();
            if typed < typing.len() && prompts > typed {
                let since = *prompt_seen.get_or_insert_with(Instant::now);
                if since.elapsed() >= Duration::from_secs(typing[typed].0) {
                    con.type_line(typing[typed].1);
                    typed += 1;
                    prompt_seen = None;
                }
            }
        });
        (rc, typed, log)
    }

    pub fn out(&self, case: &str, f: &str) -> String {
        self.v.out(&format!("{case}/{f}"))
    }
    pub fn journal(&self, case: &str) -> Vec<Entry> {
        journal(&self.out(case, "journal.json"))
    }
    pub fn doctor(&self, case: &str) -> Vec<Value> {
        let d: Value = serde_json::from_str(&self.out(case, "doctor.json"))
            .unwrap_or_else(|e| panic!("{case}: doctor: {e}: {}", self.out(case, "doctor.err")));
        d["findings"].as_array().unwrap().clone()
    }

    /// What every good boot must show: the rollback ran once, after the import (which came
    /// after LUKS) and before sysroot.mount; the canary and the junk are gone; /persist, /home
    /// and every bind are intact.
    pub fn assert_rolled_back(&self, case: &str) -> Vec<String> {
        let j = self.journal(case);
        let rb = "blankroot-rollback.service";
        let import = blankroot::systemd::zfs_import_unit(&self.plan.config.pool.name);
        let luks = blankroot::systemd::cryptsetup_unit(&self.plan.config.luks.name);
        assert_eq!(times(&j, rb, UNIT_STARTING).len(), 1, "{case}: the rollback must run exactly once");
        let rb_start = one(&j, rb, UNIT_STARTING);
        let rb_done = one(&j, rb, UNIT_STARTED);
        let import_start = one(&j, &import, UNIT_STARTING);
        let import_done = one(&j, &import, UNIT_STARTED);
        let luks_done = one(&j, &luks, UNIT_STARTED);
        let sysroot = one(&j, "sysroot.mount", UNIT_STARTING);
        assert!(luks_done <= import_start, "{case}: the import started before LUKS was open");
        assert!(import_done <= rb_start, "{case}: the rollback started before the import finished");
        assert!(rb_done <= sysroot, "{case}: sysroot.mount started before the rollback finished");
        let missing: Vec<&str> =
            j.iter().filter(|e| e.message.contains("command not found")).map(|e| e.message.as_str()).collect();
        assert!(missing.is_empty(), "{case}: a stage-1 script lacks a tool: {missing:?}");
        let root = self.out(case, "root-ls.txt");
        assert!(!root.lines().any(|l| l == "rollback-canary"), "{case}: the canary survived: {root}");
        let var = self.out(case, "var-ls.txt");
        assert!(!var.contains("junk"), "{case}: /var/lib/junk survived: {var}");
        assert_eq!(self.out(case, "persist-keep.txt"), "keep\n");
        assert_eq!(self.out(case, "home-keep.txt"), "home\n");
        assert!(self.out(case, "etc-nixos.txt").lines().any(|l| l == "blankroot.nix"));
        assert_eq!(self.out(case, "var-log-kept.txt"), "log-kept\n");
        let mi = self.out(case, "mountinfo.txt");
        for m in ["/", "/nix", "/persist", "/etc/nixos", "/var/log", "/var/lib/nixos"] {
            assert!(mi.lines().any(|l| l.split(' ').nth(4) == Some(m)), "{case}: {m} not mounted by stage 1:\n{mi}");
        }
        let ms = |t: u64| t as f64 / 1e6;
        vec![format!(
            "{case}: LUKS open {:.1} s, import {:.1}-{:.1} s, rollback once {:.2}-{:.2} s ({:.0} ms), sysroot.mount {:.2} s; canary and /var/lib/junk gone; /persist, /home, /etc/nixos, /var/log, /var/lib/nixos intact",
            ms(luks_done),
            ms(import_start),
            ms(import_done),
            ms(rb_start),
            ms(rb_done),
            (rb_done - rb_start) as f64 / 1e3,
            ms(sysroot)
        )]
    }
}
