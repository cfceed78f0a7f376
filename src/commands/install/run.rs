//! `blankroot install`'s flow, from the request to the outcome: the locks, the probe, which
//! plan runs (a saved one, the unfinished one in the state directory, the one a resume record
//! on the disk names, or a new one), the generated files evaluated, the machine checked
//! against the plan, the gate (the preflight policy), the typed confirmation, the secrets, then
//! [`super::execute`].

use super::{Options, lock, receipt, secrets};
use crate::config::{self, Overrides};
use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::prompt::Prompter;
use crate::output::Events;
use crate::plan::{self, Identities, Phase, Plan};
use crate::probe::{self, Facts};
use std::path::{Path, PathBuf};

/// What to install, and how.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// blankroot.toml; without it, the defaults.
    pub config: Option<PathBuf>,
    pub overrides: Overrides,
    /// Execute this saved plan instead of planning now.
    pub plan: Option<PathBuf>,
    /// Do not ask to type the disk's name.
    pub yes: bool,
    /// Overwrite a disk with partitions or signatures (never one in use).
    pub wipe: bool,
    pub until: Option<Phase>,
    pub passphrase_file: Option<PathBuf>,
    pub state_dir: PathBuf,
}

/// Reads a saved plan and verifies it is the one blankroot makes for its config and ids on
/// this machine (`plan::saved`); returns that rebuilt plan, never the file's own steps.
fn read_plan(path: &Path, facts: &Facts) -> Result<Plan> {
    let text = plan::saved::read_file(path)?;
    plan::saved::verify(&text, facts)
        .map_err(|e| e.caused_by(format!("in {}", crate::error::excerpt(&path.display().to_string()))))
}

/// The plan to execute: `--plan FILE`; else the unfinished install in the state directory when
/// it was made from the same config; else the plan a resume record on the disk names; else a
/// new plan, saved there. Also: where it is kept, and whether it resumes.
fn choose_plan(host: &dyn Host, req: &Request, facts: &Facts) -> Result<(Plan, PathBuf, bool)> {
    if let Some(p) = &req.plan {
        return Ok((read_plan(p, facts)?, p.clone(), false));
    }
    let config = config::load(req.config.as_deref(), &req.overrides)?;
    let saved = req.state_dir.join("plan.json");
    let receipt = receipt::Receipt::load(&req.state_dir.join("receipt.json")).ok();
    let unfinished = receipt.is_some_and(|r| r.outcome != receipt::Outcome::Complete);
    if unfinished && saved.exists() {
        // Written by blankroot, but a file anyone with root may have changed: a first look
        // says whether it is this config's install; if so it runs only once verified.
        let shown = crate::error::excerpt(&saved.display().to_string());
        let refused = |e: Error| {
            let fresh =
                format!("to plan anew instead, remove {shown} (the install then starts over on the disk, with --wipe)");
            let hint = e.hint.clone().map_or(fresh.clone(), |h| format!("{h}; or, {fresh}"));
            e.caused_by(format!("in {shown}, the plan of the unfinished install")).hint(hint)
        };
        let text = plan::saved::read_file(&saved).map_err(refused)?;
        let old = plan::saved::parse(&text).map_err(refused)?;
        if plan::record::same_config(&old.config, &config) {
            let ours = plan::saved::verify_plan(&old, facts).map_err(refused)?;
            return Ok((ours, saved, true));
        }
    }
    let target = plan::target::from_facts(facts, &config.disk)?;
    if let Some(ours) = plan::record::resume_plan(host, &config, &target, facts, req.wipe)? {
        receipt::write_atomic(&saved, ours.to_json().as_bytes())?;
        return Ok((ours, saved, true));
    }
    let ids = Identities::for_config(&config)?;
    let plan = plan::build(&config, &target, &ids)?;
    receipt::write_atomic(&saved, plan.to_json().as_bytes())?;
    Ok((plan, saved, false))
}

/// Runs an install on `host`: plan, gate, confirmation (through `prompter`), secrets, steps
/// (progress through `events`). Ends with the receipt's outcome, or the error that stopped it.
pub fn run(
    host: &dyn Host,
    req: &Request,
    prompter: &mut dyn Prompter,
    events: &mut Events,
) -> Result<receipt::Outcome> {
    let clock = std::time::Instant::now();
    // One install per state directory and per disk (install::lock), held to the end: the state
    // directory before its plan is read or saved (with --plan nothing there is touched before
    // the plan is verified: a refused plan leaves no trace), the disk once the plan names it.
    let early = if req.plan.is_none() { Some(lock::RunLocks::state_dir(&req.state_dir)?) } else { None };
    let facts = probe::probe(host)?;
    let t_probe = clock.elapsed().as_secs_f64();
    let (plan, plan_path, resumed) = choose_plan(host, req, &facts)?;
    crate::nixgen::verify::check(host, &plan)?;
    let t_plan = clock.elapsed().as_secs_f64();
    let mut locks = early.map_or_else(|| lock::RunLocks::state_dir(&req.state_dir), Ok)?;
    locks.disk(Path::new(lock::LOCK_DIR), &plan.target.disk)?;
    // What the gate judges is read under the disk's lock: the first look may predate a run
    // that has just ended.
    let facts = probe::probe(host)?;
    let now = super::verify_machine(&plan, &facts)?;
    let none = secrets::Secrets::default();
    let partition = plan.steps.iter().find(|s| s.id == "partition");
    let ours = partition.is_some_and(|s| super::exec::is_done(host, s, &none));
    let opts = Options {
        yes: req.yes,
        wipe: req.wipe,
        until: req.until,
        passphrase_file: req.passphrase_file.clone(),
        state_dir: req.state_dir.clone(),
        known_done: partition.map(|s| (s.id.clone(), ours)).into_iter().collect(),
        disk_lock: Some(PathBuf::from(&plan.target.disk.device)),
        disk_before: facts.find_disk(&plan.target.disk.path).cloned(),
    };
    super::gate(host, &plan, &facts, ours, &opts)?;
    if !ours {
        super::confirm(&plan, &now, &opts, prompter)?;
    }
    let t_gate = clock.elapsed().as_secs_f64();
    let secrets = secrets::gather(&plan, opts.passphrase_file.as_deref(), prompter)?;
    let t_secrets = clock.elapsed().as_secs_f64();
    // What blankroot spent before the first step (the secrets part includes the time a person
    // takes to type them, and the password hashing).
    let how = if ours {
        "resuming on this plan's disk"
    } else if resumed {
        "resuming"
    } else {
        "new"
    };
    events.event(
        serde_json::json!({"event": "prepared", "seconds": {
            "probe": t_probe, "plan": t_plan - t_probe, "gate": t_gate - t_plan, "secrets": t_secrets - t_gate}}),
        &format!("blankroot install: {} ({how}, plan {})", plan.target.disk.path, plan_path.display()),
        false,
    );
    super::execute(host, &plan, &plan_path, &secrets, &opts, events)
}
