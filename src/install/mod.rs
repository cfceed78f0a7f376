//! `blankroot install`: executes a [`Plan`] through the runner. Preflight (the machine still
//! matches the plan, firmware, tools), the destruction gate (a busy disk is refused, listing
//! what holds it; a disk with contents needs `--wipe`; a person types the disk's name or passes
//! `--yes`), the secrets, then every step with its check (done steps are skipped, so a re-run
//! resumes), a receipt after each, and on failure the undo of what is active and a statement of
//! the disk's state with the command that resumes.

pub mod exec;
pub mod receipt;
pub mod secrets;

use crate::error::{Error, Result};
use crate::plan::{self, Phase, Plan, Step};
use crate::probe::Facts;
use crate::runner::Runner;
use receipt::{Outcome, Receipt, StepResult};
use secrets::Prompter;
use std::io::Write;
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
    /// Progress as JSON lines instead of text.
    pub json: bool,
    /// Steps whose checks were asked just before `execute` (the gate asks the partition
    /// step's): whether they held, so they are not asked twice.
    pub known_done: Vec<(String, bool)>,
}

/// Progress output: one line per event, text or JSON.
pub struct Reporter<'a> {
    pub out: &'a mut dyn Write,
    pub json: bool,
}

// Write failures are ignored here on purpose: `cli` passes an `output::Recorder`, which keeps
// the first failure for after the install and drops later writes (an install is not
// abandoned half-way because its progress display went away).
impl Reporter<'_> {
    fn event(&mut self, value: serde_json::Value, text: &str) {
        let line = if self.json { value.to_string() } else { text.to_string() };
        let _ = writeln!(self.out, "{line}");
        let _ = self.out.flush();
    }
    /// A step begins: a JSON event, or the step's line without its end, so a person sees
    /// what runs while it runs; [`Reporter::event`] finishes the line.
    fn start(&mut self, id: &str, label: &str) {
        let _ = if self.json {
            writeln!(self.out, "{}", serde_json::json!({"event": "start", "id": id}))
        } else {
            write!(self.out, "{label} … ")
        };
        let _ = self.out.flush();
    }
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

/// Refuses what must not run: wrong firmware, missing tools, a busy or non-empty disk.
pub fn gate(plan: &Plan, now: &plan::Target, facts: &Facts, ours: bool, opts: &Options) -> Result<()> {
    let n = steps_to_run(plan, opts.until);
    if plan.steps[..n].iter().any(|s| s.phase >= Phase::Install) && now.firmware != "uefi" {
        return Err(Error::env("this machine booted with BIOS firmware; systemd-boot and the installed system need UEFI")
            .hint("boot the installer with UEFI firmware (for libvirt: `blankroot libvirt DOMAIN`), or stop before the install phase with --until config"));
    }
    let mut missing: Vec<&str> = plan.steps[..n]
        .iter()
        .flat_map(|s| s.commands.iter().chain(&s.resume))
        .filter_map(|c| c.argv.first().map(String::as_str))
        .filter(|p| crate::probe::TOOLS.contains(p) && !facts.has_command(p))
        .collect();
    missing.sort();
    missing.dedup();
    if !missing.is_empty() {
        return Err(Error::env(format!("this machine lacks {}", missing.join(", ")))
            .hint("run blankroot on the NixOS installer (minimal ISO), which has them"));
    }
    if ours {
        return Ok(()); // this plan's own partition table: resume
    }
    let d = &now.disk;
    if !d.holders.is_empty() {
        return Err(Error::env(format!("{} is in use: {}", d.path, d.holders.join("; "))).hint(
            "release it first (umount, swapoff, zpool export, cryptsetup close), or choose another disk with --disk; nothing was changed",
        ));
    }
    if !d.contents.is_empty() && !opts.wipe {
        return Err(Error::input(format!("{} is not empty: {}", d.path, d.contents.join("; "))).hint(
            "pass --wipe to overwrite it (everything on it is lost), or choose another disk; nothing was changed",
        ));
    }
    Ok(())
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
        "This destroys everything on {} ({:.1} GiB). Type its path or /dev/disk/by-id name to go on: ",
        d.path,
        d.size_bytes as f64 / (1u64 << 30) as f64
    ))?;
    let answer = answer.trim();
    let ok = answer == plan.target.disk.path
        || answer == d.device
        || d.by_id.iter().any(|n| answer == n || answer == format!("/dev/disk/by-id/{n}"));
    if ok { Ok(()) } else { Err(Error::input("not confirmed; nothing was changed").hint(hint)) }
}

/// What is on the disk after the steps in `done`, in one sentence, for failure reports.
pub fn disk_state(plan: &Plan, done: &[String]) -> String {
    let has = |id: &str| done.iter().any(|d| d == id);
    let c = &plan.config;
    let mut parts = Vec::new();
    if has("partition") {
        parts.push("this plan's GPT (ESP + LUKS partition)".to_string());
    }
    if has("format-esp") {
        parts.push(format!("a FAT32 ESP {}", plan.ids.esp_uuid));
    }
    if has("luks-format") {
        parts.push(format!("a LUKS2 container {}", plan.ids.luks_uuid));
    }
    if has("pool-create") {
        let n = plan.steps.iter().filter(|s| s.id.starts_with("dataset:") && has(&s.id)).count();
        parts.push(format!("the pool {} with {n} of {} datasets", c.pool.name, c.datasets.len()));
    }
    if has("write-config") {
        parts.push("the generated configuration in /persist/etc/nixos".to_string());
    }
    if has("nixos-install") {
        parts.push("an installed NixOS".to_string());
    }
    if parts.is_empty() {
        format!("{} is unchanged", plan.target.disk.path)
    } else {
        format!("{} now holds {}", plan.target.disk.path, parts.join(", "))
    }
}

/// Where `install` keeps the plan and the receipt unless `--state-dir` says otherwise.
pub const DEFAULT_STATE_DIR: &str = "/var/lib/blankroot";

/// The command that picks this install up again: the same plan, passphrase file, phase and
/// state directory.
pub fn resume_command(plan_path: &Path, opts: &Options) -> String {
    let quote = |p: &Path| crate::shell::quote(&p.display().to_string());
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
    runner: &impl Runner,
    plan: &Plan,
    plan_path: &Path,
    secrets: &secrets::Secrets,
    opts: &Options,
    rep: &mut Reporter,
) -> Result<Outcome> {
    let receipt_path = opts.state_dir.join("receipt.json");
    let mut receipt = Receipt::new(plan_path.to_path_buf(), plan.target.disk.path.clone());
    receipt.save(&receipt_path)?;
    let n = steps_to_run(plan, opts.until);
    let total = plan.steps.len();
    let mut reached: Vec<String> = Vec::new();
    // Set once a `starts_over` step has run: from then on no later step can be done already.
    let mut fresh = false;
    for (i, step) in plan.steps[..n].iter().enumerate() {
        let t = Instant::now();
        let label = format!("[{:>2}/{total}] {}", i + 1, step.title);
        rep.start(&step.id, &label);
        let known = opts.known_done.iter().find(|(id, _)| *id == step.id).map(|(_, d)| *d);
        match run_one(runner, step, secrets, known, fresh) {
            Ok(result) => {
                fresh |= step.starts_over && result == StepResult::Done;
                let secs = t.elapsed().as_secs_f64();
                let word = if result == StepResult::Skipped { "already done" } else { "done" };
                rep.event(
                    serde_json::json!({"event": "step", "id": step.id, "result": result, "seconds": secs}),
                    &format!("{word} ({secs:.1} s)"),
                );
                receipt.record(&step.id, result, secs, None);
                receipt.save(&receipt_path)?;
                reached.push(step.id.clone());
                pause_if_asked(&step.id);
            }
            Err(e) => {
                let secs = t.elapsed().as_secs_f64();
                rep.event(
                    serde_json::json!({"event": "step", "id": step.id, "result": "failed", "seconds": secs, "error": e.message}),
                    &format!("FAILED ({secs:.1} s)"),
                );
                receipt.record(&step.id, StepResult::Failed, secs, Some(e.render()));
                let mut undo_errors = Vec::new();
                for s in plan.steps[..=i].iter().rev() {
                    match exec::revert_step(runner, s, secrets) {
                        exec::Undo::Inactive => {}
                        exec::Undo::Failed(err) => undo_errors.push(format!("{}: {err}", s.id)),
                        exec::Undo::Undone => {
                            rep.event(
                                serde_json::json!({"event": "undo", "id": s.id}),
                                &format!("        undone: {}", s.title),
                            );
                            receipt.record(&s.id, StepResult::Reverted, 0.0, None);
                        }
                    }
                }
                receipt.outcome = Outcome::Failed;
                receipt.save(&receipt_path)?;
                // The step's own error becomes the first cause; its hint (if any) a later one.
                let mut err =
                    Error::new(e.kind, format!("install failed at step {} ({}): {}", i + 1, step.id, step.title))
                        .caused_by(&e.message);
                err.causes.extend(e.causes);
                err.causes.extend(e.hint);
                err.causes.push(disk_state(plan, &reached));
                for u in undo_errors {
                    err.causes.push(format!("could not undo {u}"));
                }
                return Err(err.hint(format!(
                    "fix the cause, then resume (done steps are skipped): {}",
                    resume_command(plan_path, opts)
                )));
            }
        }
    }
    receipt.outcome = if n < total { Outcome::Stopped } else { Outcome::Complete };
    receipt.save(&receipt_path)?;
    let text = if n < total {
        format!(
            "Stopped after phase {} as asked; /mnt is still mounted. {}. Continue with: {}",
            // No step ran when --until names a phase before the first step's: say that phase.
            n.checked_sub(1)
                .and_then(|last| plan.steps.get(last))
                .map_or(opts.until.map_or("none", Phase::name), |s| s.phase.name()),
            disk_state(plan, &reached),
            resume_command(plan_path, &Options { until: None, ..opts.clone() })
        )
    } else {
        "Installed. Remove the installer medium and reboot; the passphrase is asked at boot.".to_string()
    };
    rep.event(serde_json::json!({"event": "end", "outcome": receipt.outcome, "receipt": receipt_path}), &text);
    Ok(receipt.outcome)
}

/// Test hook of the VM tier's power-cut test (tests/vm_e2e.rs): with
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
/// nothing is done yet and nothing is asked.
fn run_one(
    runner: &impl Runner,
    step: &Step,
    secrets: &secrets::Secrets,
    known: Option<bool>,
    fresh: bool,
) -> Result<StepResult> {
    if !fresh {
        if known.unwrap_or_else(|| exec::is_done(runner, step, secrets)) {
            return Ok(StepResult::Skipped);
        }
        if !step.resume.is_empty() {
            for c in &step.resume {
                let _ = runner.output(&exec::command(c, secrets)?);
            }
            if exec::is_done(runner, step, secrets) {
                return Ok(StepResult::Skipped);
            }
        }
    }
    exec::run_step(runner, step, secrets)?;
    Ok(StepResult::Done)
}
