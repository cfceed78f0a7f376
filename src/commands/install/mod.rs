//! `blankroot install`: executes a [`Plan`] through the host. Preflight (the machine still
//! matches the plan, firmware, tools), the destruction gate (a busy disk is refused, listing
//! what holds it; a disk with contents needs `--wipe`; a person types the disk's name or passes
//! `--yes`), the secrets, then every step with its check (done steps are skipped, so a re-run
//! resumes), a receipt after each, and on failure the undo of what is active and a statement of
//! the disk's state, read from the disk, with the command that resumes. One install per disk
//! and per state directory runs at a time ([`lock`]).

pub mod exec;
pub mod lock;
pub mod receipt;
mod run;
pub mod secrets;

pub use run::{Request, run};

use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::prompt::Prompter;
use crate::output::{Detail, Events};
use crate::plan::{self, Phase, Plan, Step};
use crate::probe::{BlockDevice, Facts};
use receipt::{Outcome, Receipt, StepResult};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// How to run an install.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Skip the typed confirmation.
    pub yes: bool,
    /// Allow overwriting a disk that has partitions or signatures (never a busy one).
    pub wipe: bool,
    /// Stop after this phase.
    pub until: Option<Phase>,
    pub passphrase_file: Option<PathBuf>,
    /// Where the plan and the receipt are kept.
    pub state_dir: PathBuf,
    /// Steps whose checks were asked just before `execute` (the gate asks the partition
    /// step's): whether they held, so they are not asked twice.
    pub known_done: Vec<(String, bool)>,
    /// The whole disk's device node, locked while a destructive step writes it
    /// ([`lock::DeviceLock`]); `None`: nothing is locked (tests with a fake host).
    pub disk_lock: Option<PathBuf>,
    /// The disk as the gate saw it (its lsblk tree), for [`disk_state`]'s "unchanged"; `None`:
    /// not known, so the disk is never called unchanged.
    pub disk_before: Option<BlockDevice>,
}

fn steps_to_run(plan: &Plan, until: Option<Phase>) -> usize {
    plan.steps.iter().take_while(|s| until.is_none_or(|u| s.phase <= u)).count()
}

/// The machine must still be the one the plan was made for: same disk, same size, same serial.
pub fn verify_machine(plan: &Plan, facts: &Facts) -> Result<plan::Target> {
    let now = plan::target::from_facts(facts, &plan.target.disk.path)
        .map_err(|e| e.caused_by("the machine no longer matches the plan"))?;
    let (a, b) = (&plan.target.disk, &now.disk);
    let mut diffs = Vec::new();
    if a.device != b.device {
        diffs.push(format!("the disk is now {} (the plan has {})", b.device, a.device));
    }
    if a.size_bytes != b.size_bytes {
        diffs.push(format!("its size is now {} bytes (the plan has {})", b.size_bytes, a.size_bytes));
    }
    if a.serial.is_some() && b.serial.is_some() && a.serial != b.serial {
        diffs.push(format!("its serial is now {:?} (the plan has {:?})", b.serial, a.serial));
    }
    if !diffs.is_empty() {
        return Err(Error::input(format!("the plan was made for another machine or disk: {}", diffs.join("; ")))
            .hint("make a new plan on this machine: `blankroot plan --format json > plan.json`"));
    }
    Ok(now)
}

/// Refuses what must not run, by the preflight policy ([`crate::checks::live`], doctor's live
/// checks): firmware and tools for the phases to run, a busy disk, a disk with contents
/// without `--wipe` (none of the disk's checks when `ours`: the install resumes on this plan's
/// own partition table), the ZFS module, the clock. `facts` were probed through `host`.
pub fn gate(host: &dyn Host, plan: &Plan, facts: &Facts, ours: bool, opts: &Options) -> Result<()> {
    use crate::checks::live::{self, DiskRule};
    let disk = if ours { DiskRule::Skip } else { DiskRule::Gate { wipe: opts.wipe } };
    let live = live::Options { config: plan.config.clone(), until: opts.until, disk, now_unix: None };
    live::refusal(&live::check_with(host, facts, &live)).map_or(Ok(()), Err)
}

/// Asks the person to type the disk's name, unless `--yes`.
pub fn confirm(plan: &Plan, now: &plan::Target, opts: &Options, p: &mut dyn Prompter) -> Result<()> {
    if opts.yes {
        return Ok(());
    }
    let d = &now.disk;
    let hint = "type the disk's path at the prompt, or pass --yes";
    if !p.interactive() {
        return Err(
            Error::input(format!("installing destroys everything on {}; confirmation needed", d.path)).hint(hint)
        );
    }
    let answer = p.line(&format!(
        "This destroys everything on {} ({}). Type its path or /dev/disk/by-id name to go on: ",
        d.path,
        crate::infra::size::gib(d.size_bytes)
    ))?;
    let answer = answer.trim();
    let ok = answer == plan.target.disk.path
        || answer == d.device
        || d.by_id.iter().any(|n| answer == n || answer == format!("/dev/disk/by-id/{n}"));
    if ok { Ok(()) } else { Err(Error::input("not confirmed; nothing was changed").hint(hint)) }
}

/// What the disk holds now, in one sentence, for a failure report and the `--until` stop
/// message. Read from the disk, never assumed from what this run did: another run, or a
/// person, may have changed it, and a step this run never ran may be done. Each state-bearing
/// step of the plan is asked whether its checks hold now ([`exec::holds_for_report`]: those
/// that need no secret), and counted only when the one it lies on holds (the ESP and the LUKS
/// container on this plan's GPT, the pool in that container, the configuration and the system
/// on the pool). When none holds, the disk is probed again as the gate probed it and compared
/// with what the gate saw (`before`): it is "unchanged" only when they are equal; otherwise
/// what it holds now is said.
pub fn disk_state(host: &dyn Host, plan: &Plan, before: Option<&BlockDevice>) -> String {
    let held = ask_state_steps(host, plan);
    let done = |id: &str| held.get(id).copied().unwrap_or(false);
    let mut parts = Vec::new();
    if done("partition") {
        parts.push("this plan's GPT (ESP + LUKS partition)".to_string());
        if done("format-esp") {
            parts.push(format!("a FAT32 ESP {}", plan.ids.esp_uuid));
        }
        if done("luks-format") {
            parts.push(format!("a LUKS2 container {}", plan.ids.luks_uuid));
            if done("pool-create") {
                let c = &plan.config;
                let n = held.iter().filter(|(id, h)| id.starts_with("dataset:") && **h).count();
                parts.push(format!("the pool {} with {n} of {} datasets", c.pool.name, c.datasets.len()));
                if done("write-config") {
                    parts.push("the generated configuration in /persist/etc/nixos".to_string());
                }
                if done("nixos-install") {
                    parts.push("an installed NixOS".to_string());
                }
            }
        }
    }
    let path = &plan.target.disk.path;
    if !parts.is_empty() {
        return format!("{path} now holds {}", parts.join(", "));
    }
    let read = crate::probe::probe(host).and_then(|facts| {
        let target = plan::target::from_facts(&facts, path)?;
        Ok((facts.find_disk(path).cloned(), target.disk.contents))
    });
    let (now, contents) = match read {
        Ok(r) => r,
        Err(e) => {
            return format!(
                "what {path} holds now could not be read ({}); none of this plan's work is on it",
                e.message
            );
        }
    };
    if let (Some(b), Some(n)) = (before, &now)
        && same_contents(b, n)
    {
        return format!("{path} is unchanged");
    }
    let what = if contents.is_empty() { "nothing blankroot can see".to_string() } else { contents.join("; ") };
    match before {
        Some(_) => format!("{path} is not as the install found it: it now holds {what}, none of it this plan's"),
        None => format!("{path} now holds {what}, none of it this plan's"),
    }
}

/// Whether each state-bearing step's work is on the disk, by step id; `write-config` by its
/// files. The questions only read and are asked at the same time (one after the other they
/// took about a second under emulation: benches/install_vm.rs).
fn ask_state_steps<'p>(host: &dyn Host, plan: &'p Plan) -> std::collections::BTreeMap<&'p str, bool> {
    const STATE: [&str; 5] = ["partition", "format-esp", "luks-format", "pool-create", "nixos-install"];
    let asked = plan.steps.iter().filter(|s| STATE.contains(&s.id.as_str()) || s.id.starts_with("dataset:"));
    let config = plan.steps.iter().find(|s| s.id == "write-config");
    std::thread::scope(|sc| {
        let mut questions: Vec<_> =
            asked.map(|s| (s.id.as_str(), sc.spawn(move || exec::holds_for_report(host, s)))).collect();
        if let Some(s) = config {
            questions.push((s.id.as_str(), sc.spawn(move || exec::files_hold(host, s))));
        }
        questions.into_iter().map(|(id, q)| (id, q.join().unwrap_or(false))).collect()
    })
}

/// Whether two lsblk views of a disk show the same contents: partitions, signatures, ids and
/// sizes, leaving out what is only in use (mount points, open mappings).
fn same_contents(a: &BlockDevice, b: &BlockDevice) -> bool {
    fn contents(d: &BlockDevice) -> BlockDevice {
        BlockDevice {
            mountpoints: Vec::new(),
            children: d.children.iter().filter(|c| c.kind == "part").map(contents).collect(),
            ..d.clone()
        }
    }
    contents(a) == contents(b)
}

/// Where `install` keeps the plan and the receipt unless `--state-dir` says otherwise.
pub(crate) const DEFAULT_STATE_DIR: &str = "/var/lib/blankroot";

/// The command that picks this install up again: the same plan, passphrase file, phase and
/// state directory.
pub(crate) fn resume_command(plan_path: &Path, opts: &Options) -> String {
    let quote = |p: &Path| crate::infra::shell::quote(&p.display().to_string());
    let mut s = format!("blankroot install --plan {}", quote(plan_path));
    if let Some(f) = &opts.passphrase_file {
        s.push_str(&format!(" --passphrase-file {}", quote(f)));
    }
    if let Some(u) = opts.until {
        s.push_str(&format!(" --until {}", u.name()));
    }
    if opts.state_dir != Path::new(DEFAULT_STATE_DIR) {
        s.push_str(&format!(" --state-dir {}", quote(&opts.state_dir)));
    }
    s
}

/// Runs the plan's steps (up to `--until`), recording each; undoes what is active on failure.
pub fn execute(
    host: &dyn Host,
    plan: &Plan,
    plan_path: &Path,
    secrets: &secrets::Secrets,
    opts: &Options,
    events: &mut Events,
) -> Result<Outcome> {
    let run = Run { host, plan, plan_path, secrets, opts, receipt_path: opts.state_dir.join("receipt.json") };
    let mut receipt = Receipt::new(plan_path.to_path_buf(), plan.target.disk.path.clone());
    receipt.save(&run.receipt_path)?;
    let n = steps_to_run(plan, opts.until);
    let total = plan.steps.len();
    // Set once a `starts_over` step has run: from then on no later step can be done already.
    let mut fresh = false;
    for (i, step) in plan.steps[..n].iter().enumerate() {
        let t = Instant::now();
        let label = format!("[{:>2}/{total}] {}", i + 1, step.title);
        events.start(serde_json::json!({"event": "start", "id": step.id}), &label);
        let known = opts.known_done.iter().find(|(id, _)| *id == step.id).map(|(_, d)| *d);
        match run_one(host, step, secrets, known, fresh, opts.disk_lock.as_deref()) {
            Ok(result) => {
                fresh |= step.starts_over && result == StepResult::Done;
                let secs = t.elapsed().as_secs_f64();
                let word = if result == StepResult::Skipped { "already done" } else { "done" };
                events.event(
                    serde_json::json!({"event": "step", "id": step.id, "result": result, "seconds": secs}),
                    &format!("{word} ({secs:.1} s)"),
                    false,
                );
                receipt.record(&step.id, result, secs, None);
                receipt.save(&run.receipt_path)?;
                pause_if_asked(&step.id);
            }
            Err(e) => {
                let secs = t.elapsed().as_secs_f64();
                // Quiet output began no line for the step: the failure names it.
                let lead = if events.detail == Detail::Quiet { format!("{label} … ") } else { String::new() };
                events.event(
                    serde_json::json!({"event": "step", "id": step.id, "result": "failed", "seconds": secs, "error": e.message}),
                    &format!("{lead}FAILED ({secs:.1} s)"),
                    true,
                );
                receipt.record(&step.id, StepResult::Failed, secs, Some(e.render()));
                return Err(run.failed(i, e, events, &mut receipt)?);
            }
        }
    }
    receipt.outcome = if n < total { Outcome::Stopped } else { Outcome::Complete };
    receipt.save(&run.receipt_path)?;
    let text = if n < total { run.stopped(n) } else { INSTALLED.to_string() };
    events.event(
        serde_json::json!({"event": "end", "outcome": receipt.outcome, "receipt": run.receipt_path}),
        &text,
        true,
    );
    Ok(receipt.outcome)
}

/// What an install says when it has done every step.
const INSTALLED: &str = "Installed. Remove the installer medium and reboot; the passphrase is asked at boot.";

/// One install's run of its plan: what its failure and its stop report need.
struct Run<'a> {
    host: &'a dyn Host,
    plan: &'a Plan,
    plan_path: &'a Path,
    secrets: &'a secrets::Secrets,
    opts: &'a Options,
    receipt_path: PathBuf,
}

impl Run<'_> {
    /// After step `i` failed with `e`: what the disk holds, the undo of what is active, the
    /// receipt saved as failed, and the error that says all of it with the command that resumes.
    fn failed(&self, i: usize, e: Error, events: &mut Events, receipt: &mut Receipt) -> Result<Error> {
        let step = &self.plan.steps[i];
        // Asked before the undo: what the disk holds, with the pool still imported (the undo
        // exports it and closes LUKS; neither changes the disk's contents).
        let state = disk_state(self.host, self.plan, self.opts.disk_before.as_ref());
        let undo_errors = undo(self.host, &self.plan.steps[..=i], self.secrets, events, receipt);
        receipt.outcome = Outcome::Failed;
        receipt.save(&self.receipt_path)?;
        // The step's own error becomes the first cause; its hint (if any) a later one.
        let mut err = e.context(format!("install failed at step {} ({}): {}", i + 1, step.id, step.title));
        err.causes.extend(err.hint.take());
        err.causes.push(state);
        for u in undo_errors {
            err.causes.push(format!("could not undo {u}"));
        }
        Ok(err.hint(format!(
            "fix the cause, then resume (done steps are skipped): {}",
            resume_command(self.plan_path, self.opts)
        )))
    }

    /// The end of an install stopped by `--until` after its first `n` steps.
    fn stopped(&self, n: usize) -> String {
        let (plan, opts) = (self.plan, self.opts);
        format!(
            "Stopped after phase {} as asked; /mnt is still mounted. {}. Continue with: {}",
            // No step ran when --until names a phase before the first step's: say that phase.
            n.checked_sub(1)
                .and_then(|last| plan.steps.get(last))
                .map_or(opts.until.map_or("none", Phase::name), |s| s.phase.name()),
            disk_state(self.host, plan, opts.disk_before.as_ref()),
            resume_command(self.plan_path, &Options { until: None, ..opts.clone() })
        )
    }
}

/// Undoes, in reverse, what `steps` left active (unmount, export, close), recording each;
/// returns what could not be undone.
fn undo(
    host: &dyn Host,
    steps: &[Step],
    secrets: &secrets::Secrets,
    events: &mut Events,
    receipt: &mut Receipt,
) -> Vec<String> {
    let mut errors = Vec::new();
    for s in steps.iter().rev() {
        match exec::revert_step(host, s, secrets) {
            exec::Undo::Inactive => {}
            exec::Undo::Failed(err) => errors.push(format!("{}: {err}", s.id)),
            exec::Undo::Undone => {
                events.event(
                    serde_json::json!({"event": "undo", "id": s.id}),
                    &format!("        undone: {}", s.title),
                    true,
                );
                receipt.record(&s.id, StepResult::Reverted, 0.0, None);
            }
        }
    }
    errors
}

/// Test hook of the VM tier's power-cut test (tests/it/vm_e2e.rs): with
/// `BLANKROOT_TEST_PAUSE_AFTER=<step id>` in the environment, blankroot stops for good right
/// after that step is recorded, so the test cuts the power exactly at a step boundary rather
/// than somewhere in the next step. Nothing else reads it, and it exists only in a binary
/// built with the `test-hooks` feature (scripts/test builds the VM tier with it); a release
/// build has the empty function below and ignores the variable.
#[cfg(feature = "test-hooks")]
fn pause_if_asked(id: &str) {
    if std::env::var_os("BLANKROOT_TEST_PAUSE_AFTER").is_some_and(|v| v == id) {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
}

#[cfg(not(feature = "test-hooks"))]
fn pause_if_asked(_: &str) {}

/// Whether this build honours the test hooks (`BLANKROOT_TEST_PAUSE_AFTER`): only with the
/// `test-hooks` cargo feature, never in a default or release build.
/// (A function, not a constant, so a test can assert it at run time without a lint.)
pub fn test_hooks() -> bool {
    cfg!(feature = "test-hooks")
}

/// Runs one step unless it is done (or can be brought back by its resume commands). `known`:
/// whether its checks held when asked just before; `fresh`: a `starts_over` step ran, so
/// nothing is done yet and nothing is asked; `disk_lock`: see [`exec::run_step`].
fn run_one(
    host: &dyn Host,
    step: &Step,
    secrets: &secrets::Secrets,
    known: Option<bool>,
    fresh: bool,
    disk_lock: Option<&Path>,
) -> Result<StepResult> {
    if !fresh {
        if known.unwrap_or_else(|| exec::is_done(host, step, secrets)) {
            return Ok(StepResult::Skipped);
        }
        if !step.resume.is_empty() {
            for c in &step.resume {
                let _ = host.output(&exec::command(c, secrets)?);
            }
            if exec::is_done(host, step, secrets) {
                return Ok(StepResult::Skipped);
            }
        }
    }
    exec::run_step(host, step, secrets, disk_lock)?;
    Ok(StepResult::Done)
}
