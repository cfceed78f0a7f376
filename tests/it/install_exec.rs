//! Executing a plan, against the recording fake runner (our own logic only; the same paths
//! run on real disks in the VM tier: tests/it/vm_e2e.rs). Which checks are asked when: on a fresh
//! disk nothing is asked after `partition` has run but the `verify` checks; on a resume every
//! check is asked and done steps are skipped; a `verify` check that does not hold after its
//! step ran fails the install. What a failure or a stop says the disk holds is asked of the
//! disk (a step another run did counts; "unchanged" only when the disk is as the gate saw it).
//! Destructive steps hold the whole disk's lock while their commands run, and only then
//! (tested with util-linux's flock(1) against a file standing in for the disk).

use crate::common;

use blankroot::commands::install::receipt::{Outcome, Receipt, StepResult};
use blankroot::commands::install::secrets::Secrets;
use blankroot::commands::install::{Options, execute};
use blankroot::config::Account;
use blankroot::infra::host::Host;
use blankroot::infra::runner::Recording;
use blankroot::infra::secret::Secret;
use blankroot::output::{Detail, Events, Format};
use blankroot::plan::{Expect, Phase, Plan, SecretName};
use blankroot::probe::BlockDevice;
use std::sync::{Arc, Mutex};

/// The example machine's lsblk: an empty 20 GiB /dev/vda.
const LSBLK: &str = include_str!("../../src/example/lsblk.json");

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// A fake machine on which every command and file write of the plan (up to `config`) succeeds.
fn all_commands_succeed(plan: &Plan) -> Recording {
    let mut r = Recording::new();
    for s in plan.steps.iter().filter(|s| s.phase <= Phase::Config) {
        for c in s.commands.iter().chain(&s.revert) {
            r = r.answer(&argv(&c.argv), "");
        }
        for f in &s.files {
            // Written beside the path, then renamed over it.
            let (dir, name) = f.path.rsplit_once('/').unwrap();
            let new = format!("{dir}/.{name}.blankroot-new");
            r = r
                .answer(&["install", "-D", "-m", &f.mode, "-o", &f.owner, "-g", &f.group, "/proc/self/fd/0", &new], "");
            r = r.answer(&["mv", "-f", "-T", &new, &f.path], "");
        }
    }
    r
}

/// The same machine where the given step's checks all hold (it is done), answered first.
fn with_done(mut r: Recording, plan: &Plan, ids: &[&str]) -> Recording {
    for s in plan.steps.iter().filter(|s| ids.contains(&s.id.as_str())) {
        for c in &s.check {
            r = match &c.expect {
                Expect::Stdout(out) => r.answer(&argv(&c.argv), out.as_bytes()),
                Expect::Success => r.answer(&argv(&c.argv), ""),
                Expect::Failure => r.fail(&argv(&c.argv), 1, ""),
            };
        }
    }
    r
}

/// The plan of a config on the example target, installed by a blankroot like this test binary:
/// a dynamic one, which is not kept on the installed system (no keep-blankroot step; the step
/// itself is tested below and, with the static binary, in the VM tier).
fn plan_for(name: &str) -> Plan {
    common::plan_by(name, false)
}

#[test]
fn a_blankroot_that_needs_a_loader_is_not_kept_even_when_the_plan_says_so() {
    // A plan made by the static blankroot, run by a dynamic one (this test binary).
    let plan = common::plan_for("seed-defaults");
    let keep = plan.steps.iter().find(|s| s.id == "keep-blankroot").expect("a static blankroot is kept");
    assert_eq!(keep.files[0].path, format!("/mnt{}", blankroot::nixgen::KEPT_BLANKROOT));
    assert_eq!((keep.files[0].mode.as_str(), keep.files[0].owner.as_str()), ("0755", "root"));
    let r = probed_as(with_done(all_commands_succeed(&plan), &plan, &["partition", "luks-format"]), LSBLK);
    let (res, receipt) = run(&r, &plan, vec![("partition".into(), false)]);
    let e = res.unwrap_err();
    assert!(e.message.contains("(keep-blankroot)"), "{e}");
    assert!(e.causes[0].contains("needs a dynamic loader"), "{e}");
    assert!(e.causes[1].contains("scripts/build-static"), "{e}");
    assert_eq!(receipt.outcome, Outcome::Failed);
    assert!(!called(&r).iter().any(|c| c.ends_with(blankroot::nixgen::KEPT_BLANKROOT)), "nothing was written");
    // And a plan for a dynamic blankroot has no such step, and says so.
    let p = plan_for("seed-defaults");
    assert!(!p.steps.iter().any(|s| s.id == "keep-blankroot"));
    assert!(
        p.warnings.iter().any(|w| w.contains("needs a dynamic loader") && w.contains("[persist] blankroot = false"))
    );
}

fn secrets() -> Secrets {
    let mut s = Secrets::default();
    s.insert(SecretName::LuksPassphrase, Secret::new("pass phrase".into()));
    s.insert(SecretName::Password(Account::named("admin")), Secret::new("$y$j9T$salt$hash".into()));
    s
}

fn run(r: &Recording, plan: &Plan, known: Vec<(String, bool)>) -> (blankroot::error::Result<Outcome>, Receipt) {
    let (res, receipt, _) = run_as(r, plan, Options { known_done: known, ..Default::default() }, Format::Json);
    (res, receipt)
}

/// Runs `plan` up to `config` (unless `opts` says otherwise) with a state directory of its own;
/// returns the result, the receipt and the progress output.
fn run_with(r: &dyn Host, plan: &Plan, opts: Options) -> (blankroot::error::Result<Outcome>, Receipt, String) {
    run_as(r, plan, opts, Format::Human)
}

fn run_as(
    r: &dyn Host,
    plan: &Plan,
    opts: Options,
    format: Format,
) -> (blankroot::error::Result<Outcome>, Receipt, String) {
    let dir = tempfile::tempdir().unwrap();
    let opts =
        Options { yes: true, until: opts.until.or(Some(Phase::Config)), state_dir: dir.path().to_path_buf(), ..opts };
    let mut out = Vec::new();
    let mut events = Events::new(&mut out, format, Detail::Normal);
    let res = execute(r, plan, &dir.path().join("plan.json"), &secrets(), &opts, &mut events);
    events.finish().unwrap();
    let receipt = Receipt::load(&dir.path().join("receipt.json")).unwrap();
    (res, receipt, String::from_utf8(out).unwrap())
}

fn called(r: &Recording) -> Vec<String> {
    r.calls.lock().unwrap().iter().map(|c| c.argv.join(" ")).collect()
}

#[test]
fn on_a_fresh_disk_only_the_verify_checks_are_asked() {
    let plan = plan_for("seed-defaults");
    let r = with_done(all_commands_succeed(&plan), &plan, &["partition", "luks-format"]);
    // The gate asked the partition step's check already: it did not hold.
    let opts = Options { known_done: vec![("partition".into(), false)], ..Default::default() };
    let (res, receipt, out) = run_with(&r, &plan, opts);
    assert_eq!(res.unwrap(), Outcome::Stopped);
    assert!(receipt.steps.iter().all(|s| s.result == StepResult::Done), "{:?}", receipt.steps);
    let calls = called(&r);
    let checks: Vec<&String> =
        calls.iter().filter(|c| plan.steps.iter().any(|s| s.check.iter().any(|k| k.argv.join(" ") == **c))).collect();
    let (disk, luks) = (&plan.target.disk.path, blankroot::plan::partition_path(&plan.target.disk.path, 2));
    let ptuuid = format!("blkid -p -s PTUUID -o value {disk}");
    let luks_uuid = format!("cryptsetup luksUUID {luks}");
    assert_eq!(checks[..2], [&ptuuid, &luks_uuid], "after the fresh partition step, only the verify checks are asked");
    // Then the stop message asks the disk what it holds: every state-bearing step's checks at
    // once, but not the passphrase test (a key derivation to say what the UUID says).
    let esp_uuid = format!("blkid -p -s UUID -o value {}", blankroot::plan::partition_path(disk, 1));
    let test_passphrase = format!("cryptsetup open --test-passphrase --type luks2 --key-file - {luks}");
    let mut asked: Vec<String> = checks[2..].iter().map(|c| c.to_string()).collect();
    asked.sort();
    let mut want = vec![ptuuid.clone(), esp_uuid, luks_uuid.clone(), "zpool list -H -o name rpool".to_string()];
    for ds in ["local/root", "local/nix", "safe/home", "safe/persist"] {
        want.push(format!("zfs list -H -o name rpool/{ds}"));
    }
    want.push("test -e /mnt/nix/var/nix/profiles/system".to_string());
    want.sort();
    assert_eq!(asked, want, "{checks:#?}");
    assert!(!calls.contains(&test_passphrase), "{calls:#?}");
    // This fake holds the plan's GPT and LUKS container, no ESP, no pool.
    let holds =
        format!("/dev/vda now holds this plan's GPT (ESP + LUKS partition), a LUKS2 container {}.", plan.ids.luks_uuid);
    assert!(out.contains(&holds), "{out}");
    assert!(!calls.iter().any(|c| c.starts_with("zpool import")), "no resume command on a fresh disk");
}

#[test]
fn a_resume_asks_every_check_and_skips_what_is_done() {
    let plan = plan_for("seed-defaults");
    let done = ["partition", "format-esp", "luks-format"];
    let r = with_done(all_commands_succeed(&plan), &plan, &done);
    let (res, receipt) = run(&r, &plan, vec![]);
    assert_eq!(res.unwrap(), Outcome::Stopped);
    for s in &receipt.steps {
        let want = if done.contains(&s.id.as_str()) { StepResult::Skipped } else { StepResult::Done };
        assert_eq!(s.result, want, "{}", s.id);
    }
    let calls = called(&r);
    assert!(!calls.iter().any(|c| c.starts_with("sfdisk") || c.starts_with("mkfs.fat")), "{calls:?}");
    assert!(!calls.iter().any(|c| c.starts_with("cryptsetup luksFormat")), "{calls:?}");
    assert!(calls.iter().any(|c| c.starts_with("cryptsetup open --test-passphrase")), "the keyslot is tested");
    assert!(calls.iter().any(|c| c.starts_with("zpool import -N")), "the pool's resume command is tried");
}

#[test]
fn a_verify_check_that_does_not_hold_fails_the_step() {
    let plan = plan_for("seed-defaults");
    let r = all_commands_succeed(&plan).answer(
        &["blkid", "-p", "-s", "PTUUID", "-o", "value", &plan.target.disk.path],
        "00000000-1111-2222-3333-444444444444\n",
    );
    let r = probed_as(r, LSBLK);
    let opts =
        Options { known_done: vec![("partition".into(), false)], disk_before: Some(vda(LSBLK)), ..Default::default() };
    let (res, receipt, _) = run_with(&r, &plan, opts);
    let e = res.unwrap_err();
    assert!(e.message.starts_with("install failed at step 1 (partition): Partition /dev/vda"), "{}", e.message);
    assert_eq!(e.causes[0], "step partition ran, but its check does not hold", "{:?}", e.causes);
    assert!(e.causes[1].contains("did not give the output"), "{:?}", e.causes);
    // (A fake: the disk reads back as the gate saw it, so it is called unchanged.)
    assert_eq!(e.causes.last().unwrap(), "/dev/vda is unchanged");
    assert!(e.hint.unwrap().contains("blankroot install --plan"));
    assert_eq!(receipt.outcome, Outcome::Failed);
    assert!(!called(&r).iter().any(|c| c.starts_with("mkfs.fat")), "nothing after the failed step ran");
}

/// `r` also answering the probe's questions as the example machine, with `lsblk` as its
/// block devices.
fn probed_as(r: Recording, lsblk: &str) -> Recording {
    use blankroot::probe;
    let tools: String = probe::TOOLS.iter().map(|t| format!("{t}\n")).collect();
    r.answer(&argv(&probe::lsblk_cmd().argv), lsblk)
        .answer(&argv(&probe::firmware_cmd().argv), "")
        .answer(&argv(&probe::by_id_cmd().argv), "virtio-disk01\t../../vda\n")
        .answer(&argv(&probe::tools_cmd().argv), tools)
}

/// /dev/vda as this lsblk output shows it.
fn vda(lsblk: &str) -> BlockDevice {
    blankroot::probe::lsblk::parse(lsblk.as_bytes()).unwrap().into_iter().find(|d| d.name == "vda").unwrap()
}

/// The example's lsblk with /dev/vda changed by `f` (its JSON object).
fn lsblk_with(f: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v: serde_json::Value = serde_json::from_str(LSBLK).unwrap();
    let disk = v["blockdevices"].as_array_mut().unwrap().iter_mut().find(|d| d["name"] == "vda").unwrap();
    f(disk);
    v.to_string()
}

/// /dev/vda with a GPT and two partitions (another run's, not this plan's), vda1 mounted at `mnt`.
fn partitioned(mnt: Option<&str>) -> String {
    lsblk_with(|d| {
        d["pttype"] = "gpt".into();
        d["children"] = serde_json::json!([
            {"name": "vda1", "kname": "vda1", "path": "/dev/vda1", "type": "part", "size": 1u64 << 30, "fstype": "vfat",
             "uuid": "1234-ABCD", "partuuid": "0e6c6d2b-01", "mountpoints": [mnt]},
            {"name": "vda2", "kname": "vda2", "path": "/dev/vda2", "type": "part", "size": 19u64 << 30,
             "fstype": "crypto_LUKS", "uuid": "5c1b0f3e-7d8e-4a51-9c1e-2f0a9b8c7d6e", "partuuid": "0e6c6d2b-02"}
        ]);
    })
}

/// Every command of the plan (up to `config`) succeeds but those of `failing`, which exit 1.
fn all_succeed_but(plan: &Plan, failing: &str) -> Recording {
    let mut r = Recording::new();
    for s in plan.steps.iter().filter(|s| s.phase <= Phase::Config) {
        for c in s.commands.iter().chain(&s.revert) {
            r = if c.argv[0] == failing {
                r.fail(&argv(&c.argv), 1, &format!("{failing}: failed"))
            } else {
                r.answer(&argv(&c.argv), "")
            };
        }
    }
    r
}

#[test]
fn a_step_another_run_did_is_reported_as_on_the_disk() {
    let plan = plan_for("seed-defaults");
    // sfdisk fails in this run, yet the disk carries this plan's GPT: another run (with the
    // same plan) made it. The report says so, read from the disk, never "unchanged".
    let r = with_done(all_succeed_but(&plan, "sfdisk"), &plan, &["partition"]);
    let r = probed_as(r, LSBLK);
    let opts =
        Options { known_done: vec![("partition".into(), false)], disk_before: Some(vda(LSBLK)), ..Default::default() };
    let (res, receipt, _) = run_with(&r, &plan, opts);
    let e = res.unwrap_err();
    assert!(e.message.starts_with("install failed at step 1 (partition)"), "{e}");
    assert_eq!(e.causes.last().unwrap(), "/dev/vda now holds this plan's GPT (ESP + LUKS partition)", "{e}");
    assert!(!e.render().contains("unchanged"), "{e}");
    assert_eq!(receipt.steps[0].result, StepResult::Failed);
    assert!(!called(&r).iter().any(|c| c.starts_with("lsblk")), "a step of this plan holds: no second probe");
}

#[test]
fn the_disk_is_unchanged_only_when_it_reads_back_as_the_gate_saw_it() {
    let plan = plan_for("seed-defaults");
    let state = |lsblk: &str, before: Option<BlockDevice>| {
        let r = probed_as(all_succeed_but(&plan, "sfdisk"), lsblk);
        blankroot::commands::install::disk_state(&r, &plan, before.as_ref())
    };
    assert_eq!(state(LSBLK, Some(vda(LSBLK))), "/dev/vda is unchanged");
    // Partitioned since the gate looked (by another run: none of it is this plan's).
    let s = state(&partitioned(None), Some(vda(LSBLK)));
    assert_eq!(
        s,
        "/dev/vda is not as the install found it: it now holds vda has 2 gpt partitions: vda1, vda2; \
         vda1 contains vfat; vda2 is a LUKS container (closed), none of it this plan's"
    );
    // Emptied since the gate looked.
    let s = state(LSBLK, Some(vda(&partitioned(None))));
    assert_eq!(
        s,
        "/dev/vda is not as the install found it: it now holds nothing blankroot can see, none of it this plan's"
    );
    // A partition of it mounted or unmounted since: the contents are the same.
    assert_eq!(state(&partitioned(Some("/x")), Some(vda(&partitioned(None)))), "/dev/vda is unchanged");
    // One id differs (a new GPT of the same shape): not unchanged.
    let other = partitioned(None).replace("0e6c6d2b-02", "7a1f0c9d-02");
    assert!(state(&other, Some(vda(&partitioned(None)))).starts_with("/dev/vda is not as the install found it"));
    // What the gate saw is not known: never called unchanged.
    assert_eq!(state(LSBLK, None), "/dev/vda now holds nothing blankroot can see, none of it this plan's");
    // The disk cannot be read: said so, not guessed.
    let r = all_succeed_but(&plan, "sfdisk");
    let s = blankroot::commands::install::disk_state(&r, &plan, Some(&vda(LSBLK)));
    assert!(s.starts_with("what /dev/vda holds now could not be read (cannot list the block devices)"), "{s}");
}

/// A command as the fake machine saw it, and whether the disk's lock was free then.
type Seen = (Vec<String>, bool);

#[test]
fn destructive_steps_hold_the_disk_lock_while_their_commands_run() {
    let plan = plan_for("seed-defaults");
    let dir = tempfile::tempdir().unwrap();
    let dev = dir.path().join("vda");
    std::fs::write(&dev, "").unwrap();
    // The fake machine also looks at the whole disk's lock: before every command it asks
    // util-linux's `flock -n DEV true` whether the lock is free, and notes the answer.
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let (watch, lock_dev) = (Arc::clone(&seen), dev.clone());
    // The notes' mutex is held around the look, so that looks from commands run at the same
    // time (the stop report's questions) do not see each other's flock as the install's.
    let w = with_done(all_commands_succeed(&plan), &plan, &["partition", "luks-format"]).on_call(move |cmd| {
        let mut notes = watch.lock().unwrap();
        let free = std::process::Command::new("flock").arg("-n").arg(&lock_dev).arg("true").status().unwrap().success();
        notes.push((cmd.argv.clone(), free));
    });
    let opts = Options {
        known_done: vec![("partition".into(), false)],
        until: Some(Phase::Pool),
        disk_lock: Some(dev.clone()),
        ..Default::default()
    };
    let (res, _, out) = run_with(&w, &plan, opts);
    assert_eq!(res.unwrap(), Outcome::Stopped, "{out}");
    let seen = seen.lock().unwrap();
    let mut locked_runs = 0;
    for (argv, free) in seen.iter() {
        let of: Vec<_> = plan.steps.iter().filter(|s| s.commands.iter().any(|c| c.argv == *argv)).collect();
        let locked = of.iter().any(|s| s.destructive) && argv[0] != "udevadm";
        assert_eq!(!free, locked, "{argv:?} (of {:?})", of.iter().map(|s| &s.id).collect::<Vec<_>>());
        locked_runs += usize::from(locked);
    }
    let programs: Vec<&str> = seen.iter().filter(|(_, free)| !free).map(|(a, _)| a[0].as_str()).collect();
    for p in ["sfdisk", "mkfs.fat", "cryptsetup", "zpool"] {
        assert!(programs.contains(&p), "{p} ran under the lock: {programs:?}");
    }
    assert!(seen.iter().any(|(a, free)| a[0] == "udevadm" && *free), "udevadm settle runs with the lock released");
    assert!(locked_runs >= 6, "{locked_runs}");
    assert!(std::process::Command::new("flock").arg("-n").arg(&dev).arg("true").status().unwrap().success());
    assert!(out.contains("Stopped after phase pool as asked"), "{out}");
    assert!(out.contains("/dev/vda now holds this plan's GPT (ESP + LUKS partition), a LUKS2 container"), "{out}");
}

#[test]
fn a_planned_file_is_written_beside_its_path_and_renamed_over_it() {
    // The real install(1) and mv(1) on a temporary directory.
    use blankroot::plan::{Content, PlannedFile};
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("etc/nixos/configuration.nix");
    let file = |text: &str| PlannedFile {
        path: path.display().to_string(),
        mode: "0640".into(),
        owner: "root".into(),
        group: "root".into(),
        content: Content::Text(text.into()),
    };
    let runner = blankroot::infra::runner::Local::default();
    let host = blankroot::infra::host::LocalHost::live(&runner);
    let write = |f: &PlannedFile| blankroot::commands::install::exec::write_file(&host, f, &secrets());
    write(&file("{ }\n")).unwrap();
    // Over an existing file: the whole new content, its mode, and nothing left beside it.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    write(&file("{ old = false; }\n")).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "{ old = false; }\n");
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o7777, 0o640);
    let names = |d: &std::path::Path| -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(d).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    assert_eq!(names(path.parent().unwrap()), ["configuration.nix"]);
    // A directory at the path is an error naming the path; it is left as it was and the new
    // file beside it is removed.
    let busy = dir.path().join("etc/nixos/hardware-configuration.nix");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("inside"), "kept").unwrap();
    let e = write(&PlannedFile { path: busy.display().to_string(), ..file("x") }).unwrap_err();
    assert!(
        e.hint.as_deref().is_some_and(|h| h.contains("could not write") && h.contains("hardware-configuration.nix")),
        "{e}"
    );
    assert_eq!(names(&busy), ["inside"]);
    assert_eq!(names(path.parent().unwrap()), ["configuration.nix", "hardware-configuration.nix"]);
}
