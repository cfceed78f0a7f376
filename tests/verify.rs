//! `blankroot verify-rollback` on fixture machines (a folder for the root with its mountinfo
//! and boot id): arm writes the canary onto the root dataset and the record into /persist;
//! check refuses the arming boot, passes when the canary is gone, and fails with the likely
//! cause when it is not. The VM tier arms, reboots with and without the rollback, and checks.

mod common;

use blankroot::doctor::host::LocalHost;
use blankroot::plan::Content;
use blankroot::runner::Recording;
use blankroot::verify::{CANARY, RECORD, arm, check};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MOUNTS: &str =
    "22 1 0:21 / / rw - zfs rpool/local/root rw\n24 22 0:23 / /persist rw - zfs rpool/safe/persist rw\n";

fn machine() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let plan = common::plan_for("seed-defaults");
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(rel), Content::Text(t)) = (f.path.strip_prefix("/mnt/"), &f.content) {
            std::fs::create_dir_all(r.join(rel).parent().unwrap()).unwrap();
            std::fs::write(r.join(rel), t).unwrap();
        }
    }
    write(r, "proc/self/mountinfo", MOUNTS);
    write(r, "proc/sys/kernel/random/boot_id", "11111111-aaaa-4bbb-8ccc-000000000001\n");
    std::fs::create_dir_all(r.join("persist")).unwrap();
    dir
}

fn write(r: &Path, rel: &str, text: &str) {
    std::fs::create_dir_all(r.join(rel).parent().unwrap()).unwrap();
    std::fs::write(r.join(rel), text).unwrap();
}

fn reboot(r: &Path) {
    write(r, "proc/sys/kernel/random/boot_id", "22222222-aaaa-4bbb-8ccc-000000000002\n");
}

#[test]
fn arm_reboot_rollback_check_passes() {
    let dir = machine();
    let r = dir.path();
    let fake = Recording::new();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    let rec = arm(&host, r, &config).unwrap();
    assert_eq!(rec.dataset, "rpool/local/root");
    assert_eq!(rec.token.len(), 32);
    let canary = std::fs::read_to_string(r.join(&CANARY[1..])).unwrap();
    assert!(canary.contains(&rec.token));
    let record = r.join(&RECORD[1..]);
    assert_eq!(std::fs::metadata(&record).unwrap().permissions().mode() & 0o777, 0o600);
    // Same boot: nothing to check yet.
    let e = check(&host, r, &config).unwrap_err();
    assert!(e.message.contains("the boot that armed") && e.hint.unwrap().contains("reboot"));
    // The reboot rolls the root back: the canary is gone, the record is in /persist.
    reboot(r);
    std::fs::remove_file(r.join(&CANARY[1..])).unwrap();
    let v = check(&host, r, &config).unwrap();
    assert!(v.pass, "{v:?}");
    assert!(v.summary.starts_with("PASS: /.blankroot-canary"), "{}", v.summary);
    assert!(!record.exists(), "a passed check consumes the record");
}

#[test]
fn a_surviving_canary_fails_with_the_likely_cause() {
    let dir = machine();
    let r = dir.path();
    let fake = Recording::new();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    arm(&host, r, &config).unwrap();
    reboot(r);
    // No rollback: the canary is still there; @blank holds it too (taken after it was written).
    write(r, &format!(".zfs/snapshot/blank{CANARY}"), "x\n");
    let v = check(&host, r, &config).unwrap();
    assert!(!v.pass);
    assert!(v.summary.starts_with("FAIL: /.blankroot-canary is still there"), "{}", v.summary);
    assert!(v.causes.iter().any(|c| c.contains("the snapshot is not blank")), "{:?}", v.causes);
    // doctor's rollback findings come along (here: zfs cannot list @blank on this fixture).
    assert!(v.causes.iter().any(|c| c.contains("rpool/local/root@blank does not exist")), "{:?}", v.causes);
}

#[test]
fn no_record_after_the_reboot_means_persist_was_lost() {
    let dir = machine();
    let r = dir.path();
    let fake = Recording::new();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    arm(&host, r, &config).unwrap();
    reboot(r);
    std::fs::remove_file(r.join(&RECORD[1..])).unwrap();
    let v = check(&host, r, &config).unwrap();
    assert!(!v.pass);
    assert!(v.causes.iter().any(|c| c.contains("/persist lost the record")), "{:?}", v.causes);
}

#[test]
fn arm_refuses_a_root_that_is_not_the_rolled_back_dataset() {
    let dir = machine();
    let r = dir.path();
    write(
        r,
        "proc/self/mountinfo",
        "22 1 0:21 / / rw - tmpfs tmpfs rw\n24 22 0:23 / /persist rw - zfs rpool/safe/persist rw\n",
    );
    let fake = Recording::new();
    let e = arm(&LocalHost::fixture(r, &fake), r, &common::config("seed-defaults")).unwrap_err();
    assert!(e.message.contains("would be on tmpfs, not on rpool/local/root"), "{e}");
    assert!(!r.join(&CANARY[1..]).exists());
    write(r, "proc/self/mountinfo", "22 1 0:21 / / rw - zfs rpool/local/root rw\n");
    let e = arm(&LocalHost::fixture(r, &fake), r, &common::config("seed-defaults")).unwrap_err();
    assert!(e.message.contains("/persist is not mounted"), "{e}");
    assert!(!r.join(&CANARY[1..]).exists(), "nothing written when the record could not be");
}
