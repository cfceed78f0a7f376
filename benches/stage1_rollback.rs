//! Benchmark P4: the boot time the rollback adds, in the stage-1 tier (the installed disk
//! booted through a real systemd initrd holding the generated units; tests/it/vm_stage1.rs says
//! what that tier is and is not). Prints figures; asserts nothing about time.
//!
//! One install, then boots in order: the root nearly empty; after 10,000 files were written
//! to it; after 100,000; and once without the rollback unit (same disk, the root as the last
//! boot left it). From each boot's initrd journal: the rollback unit's own duration (its job
//! started -> finished), and the time from the passphrase reaching systemd-cryptsetup ("Set
//! cipher …") to "Switching root.". Target: under 1 s added at 100,000 files.
//!
//! Each boot's figures count only when the boot did what it stands for (else the benchmark
//! panics, exit 101): the install ran every phase (`Tier::install`), each boot completed with
//! the passphrase typed once, a boot with the rollback rolled back exactly once and in order
//! with everything persisted intact (`Tier::assert_rolled_back`) and without the files the
//! boot before wrote, the files were written as asked, and the boot without the rollback unit
//! ran no rollback and kept the root as the boot before left it.
//!
//! Run: `cargo bench --bench stage1_rollback` (root, the VM kit: tests/vm/kit.sh).

#[path = "../tests/it/common/mod.rs"]
mod common;

use common::stage1::Shape;
use common::stage1_tier::{Entry, PASSPHRASE, Tier, UNIT_STARTED, UNIT_STARTING, times};

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// (rollback seconds if it ran, passphrase -> switch-root seconds)
fn figures(j: &[Entry]) -> (Option<f64>, f64) {
    let rb = "blankroot-rollback.service";
    let rollback = match (times(j, rb, UNIT_STARTING).first(), times(j, rb, UNIT_STARTED).first()) {
        (Some(a), Some(b)) => Some(secs(b - a)),
        _ => None,
    };
    let pass = j
        .iter()
        .find(|e| e.message.starts_with("Set cipher"))
        .map(|e| e.mono)
        .expect("systemd-cryptsetup got no passphrase");
    let switch =
        j.iter().find(|e| e.message == "Switching root.").map(|e| e.mono).expect("no switch-root in the journal");
    (rollback, secs(switch - pass))
}

/// The boot `case` did what it stands for (see the module's doc); panics otherwise.
fn check_boot(t: &Tier, case: &str, shape: Shape, rollback: Option<f64>) {
    let root = t.out(case, "root-ls.txt");
    let canary = root.lines().any(|l| l == "rollback-canary");
    if shape == Shape::NoRollback {
        assert!(rollback.is_none(), "{case}: the rollback ran without its unit");
        assert!(canary, "{case}: without the rollback unit the root must keep the last boot's canary:\n{root}");
    } else {
        t.assert_rolled_back(case);
        let var = t.out(case, "var-ls.txt");
        assert!(!var.lines().any(|l| l == "bench"), "{case}: the files the boot before wrote survived:\n{var}");
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return; // `cargo test --all-targets` builds benches; run only under `cargo bench`
    }
    let t = Tier::install();
    let boots = [
        ("p4-empty", Shape::AsGenerated, "files=10000", "root nearly empty"),
        ("p4-10k", Shape::AsGenerated, "files=100000", "10,000 files written to the root"),
        ("p4-100k", Shape::AsGenerated, "", "100,000 files written to the root"),
        ("p4-none", Shape::NoRollback, "", "no rollback unit"),
    ];
    println!("stage1_rollback: the rollback's share of a boot, QEMU TCG, systemd 252 initrd, OpenZFS 2.3");
    println!("{:<34} {:>12} {:>26}", "boot", "rollback s", "passphrase -> switch-root s");
    for (case, shape, next, what) in boots {
        t.boot(case, shape, &[(0, PASSPHRASE)], next);
        let (rollback, total) = figures(&t.journal(case));
        check_boot(&t, case, shape, rollback);
        if let Some(n) = next.strip_prefix("files=") {
            let f = t.out(case, "files.txt");
            assert!(f.starts_with(&format!("{n} files written")), "{case}: asked for {n} files, wrote: {f:?}");
        }
        let rb = rollback.map_or("-".to_string(), |r| format!("{r:.3}"));
        println!("{what:<34} {rb:>12} {total:>26.2}");
        if let Ok(f) = std::fs::read_to_string(t.v.share().join(format!("out/{case}/files.txt"))) {
            println!("  (then, in that boot: {})", f.trim());
        }
    }
}
