//! `blankroot verify-rollback`: proves the rollback across a real reboot. `arm` writes a canary
//! with a random token onto the root dataset and records the token (and this boot's id) under
//! /persist; `check`, after the reboot, passes when the canary is gone and the record survived,
//! and otherwise says what the likely cause is (doctor's rollback findings, a canary that was
//! not on the rolled-back dataset, a snapshot that is not blank, /persist not kept).

use crate::config::Config;
use crate::doctor::host::{Host, under};
use crate::error::{Error, Result};
use crate::mounts;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The canary, at the top of the root dataset.
pub const CANARY: &str = "/.blankroot-canary";
/// The record, in /persist.
pub const RECORD: &str = "/persist/var/lib/blankroot/verify-rollback.json";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub token: String,
    pub armed_unix: u64,
    /// `/proc/sys/kernel/random/boot_id` when armed: `check` needs a different one.
    pub boot_id: String,
    /// The dataset the canary was written to (the one that is rolled back).
    pub dataset: String,
}

/// The outcome of `check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub pass: bool,
    pub summary: String,
    /// Why it failed, most likely first.
    pub causes: Vec<String>,
}

fn boot_id(host: &dyn Host) -> String {
    host.read_string("/proc/sys/kernel/random/boot_id").unwrap_or_default().trim().to_string()
}

/// Writes the canary and the record. `root`: the examined root on this machine.
pub fn arm(host: &dyn Host, root: &Path, config: &Config) -> Result<Record> {
    let dataset = config.full_name(config.root_dataset());
    let persist = config.datasets.iter().find(|d| d.mount.as_deref() == Some("/persist")).map(|d| config.full_name(d));
    let mountinfo = host.mounts();
    let holder = |p: &str| mounts::holding(&mountinfo, &host.machine_path(p)).map(|m| m.source.clone());
    if holder(CANARY).as_deref() != Some(dataset.as_str()) {
        return Err(Error::env(format!(
            "{CANARY} would be on {}, not on {dataset}, the dataset that is rolled back",
            holder(CANARY).unwrap_or_else(|| "no mounted file system".into())
        ))
        .hint(format!(
            "run this on the booted system (or with --root on the mounted installation) whose / is {dataset}"
        )));
    }
    if persist.is_none() || holder(RECORD) != persist {
        return Err(Error::env(format!("/persist is not mounted from {}", persist.unwrap_or_default()))
            .hint("the record must go where the rollback does not reach: mount /persist first"));
    }
    let mut token = [0u8; 16];
    getrandom::fill(&mut token).map_err(|e| Error::internal("no random bytes for the token").caused_by(e))?;
    let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
    let record =
        Record { token: token.clone(), armed_unix: crate::install::receipt::now(), boot_id: boot_id(host), dataset };
    let fail = |what: &str, e: std::io::Error| Error::env(format!("cannot write {what}")).caused_by(e);
    std::fs::write(under(root, CANARY), format!("blankroot verify-rollback canary {token}\n"))
        .map_err(|e| fail(CANARY, e))?;
    let record_path = under(root, RECORD);
    std::fs::create_dir_all(record_path.parent().expect("the record has a parent")).map_err(|e| fail(RECORD, e))?;
    crate::install::receipt::write_atomic(
        &record_path,
        serde_json::to_string_pretty(&record).expect("serialises").as_bytes(),
    )?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&record_path, std::fs::Permissions::from_mode(0o600)).map_err(|e| fail(RECORD, e))?;
    Ok(record)
}

/// Checks after the reboot. Consumes the record when it passes.
pub fn check(host: &dyn Host, root: &Path, config: &Config) -> Result<Verdict> {
    let record_path = under(root, RECORD);
    let canary = host.read_string(CANARY);
    let Some(text) = host.read_string(RECORD) else {
        let mut causes = vec![format!("there is no record at {RECORD}")];
        if canary.is_some() {
            causes.push(format!("but {CANARY} is there: /persist lost the record while the root kept the canary"));
        } else {
            causes.push(
                "never armed, or /persist did not survive the reboot (is it mounted from its dataset, in stage 1?)"
                    .into(),
            );
        }
        return Ok(Verdict { pass: false, summary: "FAIL: no record of an armed canary".into(), causes });
    };
    let record: Record = serde_json::from_str(&text)
        .map_err(|e| Error::input(format!("{RECORD} is not a verify-rollback record")).caused_by(e))?;
    if !record.boot_id.is_empty() && record.boot_id == boot_id(host) {
        return Err(Error::input("this is the boot that armed the canary; nothing has been rolled back yet")
            .hint("reboot, then run `blankroot verify-rollback check`"));
    }
    match canary {
        None => {
            let _ = std::fs::remove_file(&record_path);
            Ok(Verdict {
                pass: true,
                summary: format!(
                    "PASS: {CANARY} (token {}…) is gone after the reboot: {} was rolled back; the record in /persist survived",
                    &record.token[..8],
                    record.dataset
                ),
                causes: Vec::new(),
            })
        }
        Some(text) => {
            let same = text.contains(&record.token);
            let mut causes = Vec::new();
            if !same {
                causes.push(format!("{CANARY} holds another token than the record: armed twice?"));
            }
            causes.extend(likely_causes(host, config, &record));
            Ok(Verdict {
                pass: false,
                summary: format!(
                    "FAIL: {CANARY} is still there after the reboot: {} was not rolled back",
                    record.dataset
                ),
                causes,
            })
        }
    }
}

/// Why a canary survived: what doctor finds wrong with the rollback, a snapshot that holds
/// the canary, a root that is not the armed dataset.
fn likely_causes(host: &dyn Host, config: &Config, record: &Record) -> Vec<String> {
    let mut causes = Vec::new();
    let root = config.full_name(config.root_dataset());
    if record.dataset != root {
        causes.push(format!(
            "the canary was written to {}, but blankroot.toml's root is {root}: the wrong dataset",
            record.dataset
        ));
    }
    let mountinfo = host.mounts();
    if let Some(m) = mounts::holding(&mountinfo, &host.machine_path(CANARY))
        && m.source != root
    {
        causes.push(format!("/ is {} now, not {root}: the rollback cannot reach what is written here", m.source));
    }
    if host.exists(&format!("/.zfs/snapshot/blank{CANARY}")) {
        causes.push(format!("{root}@blank holds the canary itself: the snapshot is not blank (taken after files were written); rolling back to it brings them back"));
    }
    if let Ok(findings) = crate::doctor::installed::check(host) {
        for f in findings.into_iter().filter(|f| f.severity >= crate::doctor::Severity::Warning) {
            if ["rollback-config", "post-device", "blank-snapshot", "rollback-ran", "hostid"].contains(&f.check) {
                causes.push(match f.fix {
                    Some(fix) => format!("{} (fix: {fix})", f.what),
                    None => f.what,
                });
            }
        }
    }
    if causes.is_empty() {
        causes.push("the rollback unit did not run this boot: `journalctl -b -u blankroot-rollback`; `blankroot doctor` checks the rest".into());
    }
    causes
}
