//! Executing a plan, against the recording fake runner (our own logic only; the same paths
//! run on real disks in the VM tier: tests/vm_e2e.rs). Which checks are asked when: on a fresh
//! disk nothing is asked after `partition` has run but the `verify` checks; on a resume every
//! check is asked and done steps are skipped; a `verify` check that does not hold after its
//! step ran fails the install.

mod common;

use blankroot::install::receipt::{Outcome, Receipt, StepResult};
use blankroot::install::secrets::Secrets;
use blankroot::install::{Options, Reporter, execute};
use blankroot::plan::{Expect, Phase, Plan};
use blankroot::runner::Recording;
use blankroot::secret::Secret;

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
            r = r.answer(
                &["install", "-D", "-m", &f.mode, "-o", &f.owner, "-g", &f.group, "/proc/self/fd/0", &f.path],
                "",
            );
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

fn secrets() -> Secrets {
    let mut s = Secrets::default();
    s.insert("luks-passphrase", Secret::new("pass phrase".into()));
    s.insert("password:admin", Secret::new("$y$j9T$salt$hash".into()));
    s
}

fn run(r: &Recording, plan: &Plan, known: Vec<(String, bool)>) -> (blankroot::error::Result<Outcome>, Receipt) {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        yes: true,
        until: Some(Phase::Config),
        state_dir: dir.path().to_path_buf(),
        json: true,
        known_done: known,
        ..Default::default()
    };
    let mut out = Vec::new();
    let res =
        execute(r, plan, &dir.path().join("plan.json"), &secrets(), &opts, &mut Reporter { out: &mut out, json: true });
    let receipt = Receipt::load(&dir.path().join("receipt.json")).unwrap();
    (res, receipt)
}

fn called(r: &Recording) -> Vec<String> {
    r.calls.lock().unwrap().iter().map(|c| c.argv.join(" ")).collect()
}

#[test]
fn on_a_fresh_disk_only_the_verify_checks_are_asked() {
    let plan = common::plan_for("seed-defaults");
    let r = with_done(all_commands_succeed(&plan), &plan, &["partition", "luks-format"]);
    // The gate asked the partition step's check already: it did not hold.
    let (res, receipt) = run(&r, &plan, vec![("partition".into(), false)]);
    assert_eq!(res.unwrap(), Outcome::Stopped);
    assert!(receipt.steps.iter().all(|s| s.result == StepResult::Done), "{:?}", receipt.steps);
    let calls = called(&r);
    let checks: Vec<&String> =
        calls.iter().filter(|c| plan.steps.iter().any(|s| s.check.iter().any(|k| k.argv.join(" ") == **c))).collect();
    assert_eq!(
        checks,
        [
            &format!("blkid -p -s PTUUID -o value {}", plan.target.disk.path),
            &format!("cryptsetup luksUUID {}", blankroot::plan::partition_path(&plan.target.disk.path, 2)),
        ],
        "after the fresh partition step, only the verify checks are asked"
    );
    assert!(!calls.iter().any(|c| c.starts_with("zpool import")), "no resume command on a fresh disk");
}

#[test]
fn a_resume_asks_every_check_and_skips_what_is_done() {
    let plan = common::plan_for("seed-defaults");
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
    let plan = common::plan_for("seed-defaults");
    let r = all_commands_succeed(&plan).answer(
        &["blkid", "-p", "-s", "PTUUID", "-o", "value", &plan.target.disk.path],
        "00000000-1111-2222-3333-444444444444\n",
    );
    let (res, receipt) = run(&r, &plan, vec![("partition".into(), false)]);
    let e = res.unwrap_err();
    assert!(e.message.starts_with("install failed at step 1 (partition): Partition /dev/vda"), "{}", e.message);
    assert_eq!(e.causes[0], "step partition ran, but its check does not hold", "{:?}", e.causes);
    assert!(e.causes[1].contains("did not give the output"), "{:?}", e.causes);
    assert_eq!(e.causes.last().unwrap(), "/dev/vda is unchanged");
    assert!(e.hint.unwrap().contains("blankroot install --plan"));
    assert_eq!(receipt.outcome, Outcome::Failed);
    assert!(!called(&r).iter().any(|c| c.starts_with("mkfs.fat")), "nothing after the failed step ran");
}
