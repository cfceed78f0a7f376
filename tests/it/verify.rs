//! `blankroot verify-rollback` on fixture machines (a folder for the root with its mountinfo
//! and boot id): arm writes the canary onto the root dataset and the record into /persist;
//! check refuses the arming boot, passes only when the canary armed in another boot of this
//! machine is gone from the rolled-back dataset (mounted as the root, with its @blank), and
//! fails with the likely cause otherwise; a record that is not `arm`'s is an error that changes
//! nothing. The VM tier arms, reboots with and without the rollback, and checks.

use crate::common;

use blankroot::commands::verify::{CANARY, RECORD, Record, arm, check};
use blankroot::infra::host::LocalHost;
use blankroot::infra::runner::Recording;
use blankroot::plan::Content;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const MOUNTS: &str =
    "22 1 0:21 / / rw - zfs rpool/local/root rw\n24 22 0:23 / /persist rw - zfs rpool/safe/persist rw\n";
const BOOT1: &str = "11111111-aaaa-4bbb-8ccc-000000000001";
const BOOT2: &str = "22222222-aaaa-4bbb-8ccc-000000000002";

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
    write(r, "proc/sys/kernel/random/boot_id", &format!("{BOOT1}\n"));
    std::fs::create_dir_all(r.join("persist")).unwrap();
    dir
}

fn write(r: &Path, rel: &str, text: &str) {
    std::fs::create_dir_all(r.join(rel).parent().unwrap()).unwrap();
    std::fs::write(r.join(rel), text).unwrap();
}

fn reboot(r: &Path) {
    write(r, "proc/sys/kernel/random/boot_id", &format!("{BOOT2}\n"));
}

/// A runner on which `zfs list` shows the root's @blank.
fn with_blank() -> Recording {
    Recording::new().answer(
        &["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "rpool/local/root@blank"],
        "rpool/local/root@blank\n",
    )
}

/// Every file under `r` with its bytes: what "nothing changed" compares.
fn tree(r: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![r.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.display().to_string(), std::fs::read(&p).unwrap_or_default());
            }
        }
    }
    out
}

fn canary(r: &Path) -> std::path::PathBuf {
    r.join(&CANARY[1..])
}

fn record(r: &Path) -> std::path::PathBuf {
    r.join(&RECORD[1..])
}

/// Armed in boot 1, rebooted into boot 2, the canary gone: the state a rollback leaves.
fn armed_and_rolled_back(r: &Path) -> Record {
    let fake = with_blank();
    let rec = arm(&LocalHost::fixture(r, &fake), &common::config("seed-defaults")).unwrap();
    reboot(r);
    std::fs::remove_file(canary(r)).unwrap();
    rec
}

#[test]
fn arm_reboot_rollback_check_passes() {
    let dir = machine();
    let r = dir.path();
    let fake = with_blank();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    let rec = arm(&host, &config).unwrap();
    assert_eq!(rec.dataset, "rpool/local/root");
    assert_eq!(rec.token.len(), 32);
    assert_eq!(rec.boot_id, BOOT1);
    let kept = std::fs::read_to_string(r.join("persist/etc/machine-id")).unwrap();
    assert_eq!(rec.machine_id.as_deref(), Some(kept.trim()), "the machine's id kept in /persist is recorded");
    let text = std::fs::read_to_string(canary(r)).unwrap();
    assert!(text.contains(&rec.token));
    assert_eq!(std::fs::metadata(record(r)).unwrap().permissions().mode() & 0o777, 0o600);
    // Same boot: nothing to check yet; nothing changes.
    let before = tree(r);
    let e = check(&host, &config).unwrap_err();
    assert_eq!(e.kind.exit_code(), 2);
    assert!(e.message.contains("the boot that armed") && e.hint.clone().unwrap().contains("reboot"), "{e}");
    assert_eq!(tree(r), before);
    // The reboot rolls the root back: the canary is gone, the record is in /persist.
    reboot(r);
    std::fs::remove_file(canary(r)).unwrap();
    let v = check(&host, &config).unwrap();
    assert!(v.pass, "{v:?}");
    assert!(v.causes.is_empty(), "{v:?}");
    assert!(v.summary.starts_with("PASS: /.blankroot-canary"), "{}", v.summary);
    assert!(!record(r).exists(), "a passed check consumes the record");
}

#[test]
fn a_surviving_canary_fails_with_the_likely_cause() {
    let dir = machine();
    let r = dir.path();
    let fake = Recording::new();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    arm(&host, &config).unwrap();
    reboot(r);
    // No rollback: the canary is still there; @blank holds it too (taken after it was written).
    write(r, &format!(".zfs/snapshot/blank{CANARY}"), "x\n");
    let v = check(&host, &config).unwrap();
    assert!(!v.pass);
    assert!(v.summary.starts_with("FAIL: /.blankroot-canary is still there"), "{}", v.summary);
    assert!(v.causes.iter().any(|c| c.contains("the snapshot is not blank")), "{:?}", v.causes);
    // zfs cannot list @blank on this fixture.
    assert!(v.causes.iter().any(|c| c.contains("rpool/local/root@blank does not exist")), "{:?}", v.causes);
    assert!(record(r).exists(), "a failed check keeps the record");
}

#[test]
fn no_record_after_the_reboot_means_persist_was_lost() {
    let dir = machine();
    let r = dir.path();
    let fake = Recording::new();
    let host = LocalHost::fixture(r, &fake);
    let config = common::config("seed-defaults");
    arm(&host, &config).unwrap();
    reboot(r);
    std::fs::remove_file(record(r)).unwrap();
    let v = check(&host, &config).unwrap();
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
    let e = arm(&LocalHost::fixture(r, &fake), &common::config("seed-defaults")).unwrap_err();
    assert!(e.message.contains("would be on tmpfs, not on rpool/local/root"), "{e}");
    assert!(!canary(r).exists());
    write(r, "proc/self/mountinfo", "22 1 0:21 / / rw - zfs rpool/local/root rw\n");
    let e = arm(&LocalHost::fixture(r, &fake), &common::config("seed-defaults")).unwrap_err();
    assert!(e.message.contains("/persist is not mounted"), "{e}");
    assert!(!canary(r).exists(), "nothing written when the record could not be");
}

#[test]
fn a_vanished_canary_is_no_pass_without_the_rolled_back_root() {
    let config = common::config("seed-defaults");
    // Each case: the machine after arm + reboot + canary gone, then one fact broken.
    type Break = fn(&Path);
    let cases: [(&str, Break, &str); 5] = [
        (
            "a plain directory as /",
            |r| write(r, "proc/self/mountinfo", "22 1 0:21 / / rw - ext4 /dev/vda1 rw\n"),
            "/ is \"/dev/vda1\" (\"ext4\") now, not rpool/local/root",
        ),
        (
            "another dataset as /",
            |r| write(r, "proc/self/mountinfo", "22 1 0:21 / / rw - zfs rpool/other rw\n"),
            "not rpool/local/root",
        ),
        (
            "another machine's record",
            |r| write(r, "persist/etc/machine-id", "0123456789abcdef0123456789abcdef\n"),
            "armed on another machine",
        ),
        (
            "a failed rollback",
            |r| write(r, "run/blankroot/rollback-failed", "zfs rollback: dataset is busy\n"),
            "this boot's rollback failed",
        ),
        (
            "no machine-id to compare",
            |r| std::fs::remove_file(r.join("persist/etc/machine-id")).unwrap(),
            "cannot be read",
        ),
    ];
    for (what, breaks, cause) in cases {
        let dir = machine();
        let r = dir.path();
        armed_and_rolled_back(r);
        breaks(r);
        let fake = with_blank();
        let v = check(&LocalHost::fixture(r, &fake), &config).unwrap();
        assert!(!v.pass, "{what}: {v:?}");
        assert!(v.summary.starts_with("FAIL: /.blankroot-canary (token "), "{what}: {}", v.summary);
        assert!(v.causes.iter().any(|c| c.contains(cause)), "{what}: {:?}", v.causes);
        assert!(record(r).exists(), "{what}: the record is kept");
    }
    // No @blank: zfs does not list it.
    let dir = machine();
    let r = dir.path();
    armed_and_rolled_back(r);
    let fake = Recording::new().fail(
        &["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "rpool/local/root@blank"],
        1,
        "cannot open 'rpool/local/root@blank': dataset does not exist",
    );
    let v = check(&LocalHost::fixture(r, &fake), &config).unwrap();
    assert!(!v.pass && v.causes.iter().any(|c| c.contains("@blank does not exist")), "{v:?}");
}

#[test]
fn a_record_that_is_not_arms_is_an_error_and_changes_nothing() {
    let config = common::config("seed-defaults");
    let good = |r: &Path| -> serde_json::Value { serde_json::from_slice(&std::fs::read(record(r)).unwrap()).unwrap() };
    type Make = Box<dyn Fn(&mut serde_json::Value) -> Vec<u8>>;
    // The good record with one field set to `value`.
    let set = |key: &'static str, value: serde_json::Value| -> Make {
        Box::new(move |v| {
            v[key] = value.clone();
            v.to_string().into_bytes()
        })
    };
    let cases: Vec<(&str, Make, &str)> = vec![
        ("empty boot id", set("boot_id", serde_json::json!("")), "boot_id \"\" is not a boot id"),
        ("short token", set("token", serde_json::json!("abc")), "token \"abc\" is not 32 lower-case hex digits"),
        ("multibyte token", set("token", serde_json::json!("é".repeat(16))), "token"),
        (
            "upper-case token",
            Box::new(|v| {
                let t = v["token"].as_str().unwrap().to_uppercase();
                v["token"] = t.into();
                v.to_string().into_bytes()
            }),
            "token",
        ),
        ("escape in the boot id", set("boot_id", serde_json::json!("\u{1b}[2J")), "boot_id \"\\u{1b}[2J\""),
        ("zero machine id", set("machine_id", serde_json::json!("0".repeat(32))), "machine_id"),
        ("empty dataset", set("dataset", serde_json::json!("")), "dataset \"\" is not a ZFS dataset name"),
        (
            "missing field",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("boot_id");
                v.to_string().into_bytes()
            }),
            "missing field `boot_id`",
        ),
        ("unknown field", set("pass", serde_json::json!(true)), "unknown field `pass`"),
        ("negative time", set("armed_unix", serde_json::json!(-1)), "invalid value"),
        ("not JSON", Box::new(|_| b"PASS".to_vec()), "expected value"),
        ("empty file", Box::new(|_| Vec::new()), "EOF"),
        ("not UTF-8", Box::new(|_| b"{\"token\":\"\xff\"}".to_vec()), "not UTF-8"),
        ("huge", Box::new(|_| vec![b' '; 1 << 20]), "a record is a few hundred"),
    ];
    for (what, make, cause) in cases {
        let dir = machine();
        let r = dir.path();
        armed_and_rolled_back(r);
        let mut v = good(r);
        std::fs::write(record(r), make(&mut v)).unwrap();
        let before = tree(r);
        let fake = with_blank();
        let e = check(&LocalHost::fixture(r, &fake), &config).unwrap_err();
        assert_eq!(e.kind.exit_code(), 2, "{what}: {e}");
        assert!(e.message.contains("is not a record `blankroot verify-rollback arm` wrote"), "{what}: {e}");
        assert!(e.causes.iter().any(|c| c.contains(cause)), "{what}: {e}");
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("arm again")), "{what}: {e}");
        assert_eq!(tree(r), before, "{what}: nothing changed");
    }
}

#[test]
fn an_unreadable_boot_id_is_an_error_not_a_verdict() {
    let config = common::config("seed-defaults");
    for bad in ["", "not-a-uuid\n", "11111111-aaaa-4bbb-8ccc-00000000000\n", "\u{1b}[2J\n"] {
        let dir = machine();
        let r = dir.path();
        armed_and_rolled_back(r);
        write(r, "proc/sys/kernel/random/boot_id", bad);
        let before = tree(r);
        let fake = with_blank();
        let e = check(&LocalHost::fixture(r, &fake), &config).unwrap_err();
        assert_eq!(e.kind.exit_code(), 3, "{bad:?}: {e}");
        assert!(e.message.contains("cannot read this boot's id"), "{e}");
        assert!(!e.message.contains('\u{1b}'), "escaped: {e}");
        assert_eq!(tree(r), before);
        // Nor can arm record a boot it cannot name.
        let e = arm(&LocalHost::fixture(r, &fake), &config).unwrap_err();
        assert!(e.message.contains("cannot read this boot's id"), "{e}");
        assert!(!canary(r).exists(), "{bad:?}: nothing armed");
    }
}

fn blankroot(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_blankroot")).args(args).output().unwrap()
}

#[test]
fn the_command_never_passes_a_plain_directory() {
    // A directory with a blankroot.toml and a well-formed record from another boot, no canary:
    // it is not the rolled-back dataset (this machine's mount table says what holds it).
    let dir = machine();
    let r = dir.path();
    let rec = armed_and_rolled_back(r);
    let mut v: serde_json::Value = serde_json::to_value(&rec).unwrap();
    v["boot_id"] = "00000000-0000-4000-8000-000000000000".into();
    std::fs::write(record(r), v.to_string()).unwrap();
    let before = tree(r);
    let out = blankroot(&["verify-rollback", "--root", r.to_str().unwrap(), "check"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.starts_with("FAIL: "), "{stdout}");
    assert!(stdout.contains("not rpool/local/root"), "{stdout}");
    assert_eq!(tree(r), before, "nothing changed");
    // A record with an empty boot id: exit 2, the cause, nothing changed.
    v["boot_id"] = "".into();
    std::fs::write(record(r), v.to_string()).unwrap();
    let before = tree(r);
    let out = blankroot(&["verify-rollback", "--root", r.to_str().unwrap(), "check"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("boot_id \"\" is not a boot id") && stderr.contains("hint: arm again"), "{stderr}");
    assert!(out.stdout.is_empty());
    assert_eq!(tree(r), before, "nothing changed");
}
