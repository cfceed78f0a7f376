//! `blankroot verify-rollback`: proves the rollback across a real reboot. `arm` writes a canary
//! with a random token onto the root dataset and records the token, this boot's id and the
//! machine's id under /persist; `check`, in a later boot, passes only when everything says the
//! rollback really erased that canary: the record parses strictly, was armed in another boot of
//! this machine on the dataset blankroot.toml rolls back, that dataset is mounted as the root and
//! has its `@blank`, no failure marker is left, and the canary is gone. Anything else is a FAIL
//! with the likely causes (doctor's rollback findings, a canary that was not on the rolled-back
//! dataset, a snapshot that is not blank, /persist not kept), or an error naming the problem.
//!
//! With `--root DIR` the files (canary, record, machine-id, blankroot.toml) are DIR's, while
//! the boot id and the mount table are the running kernel's: "another boot" means the machine
//! running blankroot rebooted since `arm`, whichever root it examines.

use crate::config::Config;
use crate::error::{Error, Result, excerpt};
use crate::infra::host::Host;
use crate::infra::mounts;
use crate::infra::paths::under;
use crate::plan::ids::{is_lower_hex, is_machine_id, is_uuid};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The canary, at the top of the root dataset.
pub const CANARY: &str = "/.blankroot-canary";
/// The record, in /persist.
pub const RECORD: &str = "/persist/var/lib/blankroot/verify-rollback.json";
/// The kernel's id of this boot: a random UUID made at every boot (sd_id128_get_boot(3):
/// "randomly generated early at boot and is unique for every running kernel instance"; Linux
/// drivers/char/random.c `proc_do_uuid` prints it as a 36-character UUID string).
pub(crate) const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
/// A record is a few hundred bytes; anything much larger is not one.
const RECORD_MAX: usize = 64 << 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// 32 lower-case hex digits (16 random bytes).
    pub token: String,
    pub armed_unix: u64,
    /// [`BOOT_ID`] when armed: `check` needs a different one.
    pub boot_id: String,
    /// `/etc/machine-id` when armed, when blankroot.toml keeps it in /persist (otherwise
    /// every boot makes a new one and it names no machine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine_id: Option<String>,
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

/// What `verify-rollback` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Write the canary and the record.
    Arm,
    /// After a reboot: judge.
    Check,
}

/// What `verify-rollback` did: armed (the record), or checked (the verdict).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Report {
    Armed(Record),
    Checked(Verdict),
}

impl crate::output::Render for Report {
    fn human(&self, _: crate::output::Detail) -> String {
        match self {
            Report::Armed(r) => format!(
                "Armed: {CANARY} holds token {}… on {}; the record is in {RECORD}.\nReboot, then run `blankroot verify-rollback check`.\n",
                r.token.chars().take(8).collect::<String>(),
                r.dataset,
            ),
            Report::Checked(v) => {
                v.causes.iter().fold(format!("{}\n", v.summary), |s, c| s + &format!("  likely cause: {c}\n"))
            }
        }
    }
    fn failure(&self) -> Option<Error> {
        match self {
            Report::Checked(v) if !v.pass => Some(
                Error::env("the rollback did not erase the canary")
                    .hint("fix the likely cause above, then arm, reboot and check again"),
            ),
            _ => None,
        }
    }
}

/// Runs `verify-rollback` on `host`, a system blankroot installed (its blankroot.toml is read
/// through the host).
pub fn run(host: &dyn Host, action: Action) -> Result<Report> {
    let config = crate::checks::installed::load_config(host)?;
    Ok(match action {
        Action::Arm => Report::Armed(arm(host, &config)?),
        Action::Check => Report::Checked(check(host, &config)?),
    })
}

impl Record {
    /// Parses a record strictly: every field present and of the shape `arm` writes.
    pub fn parse(bytes: &[u8]) -> std::result::Result<Record, String> {
        if bytes.len() > RECORD_MAX {
            return Err(format!("it is {} bytes long; a record is a few hundred", bytes.len()));
        }
        let text = std::str::from_utf8(bytes).map_err(|e| format!("it is not UTF-8 ({e})"))?;
        let r: Record = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let bad = |field: &str, value: &str, want: &str| Err(format!("{field} {} is not {want}", excerpt(value)));
        if !is_lower_hex(&r.token, 32) {
            return bad("token", &r.token, "32 lower-case hex digits");
        }
        if !is_uuid(&r.boot_id) {
            return bad("boot_id", &r.boot_id, "a boot id (a UUID, as in /proc/sys/kernel/random/boot_id)");
        }
        if let Some(m) = r.machine_id.as_deref().filter(|m| !is_machine_id(m)) {
            return bad("machine_id", m, "a machine id (32 lower-case hex digits, not all zero)");
        }
        if r.dataset.is_empty() || r.dataset.len() > 255 || r.dataset.chars().any(char::is_control) {
            return bad("dataset", &r.dataset, "a ZFS dataset name");
        }
        Ok(r)
    }
}

/// This boot's id (the running kernel's, also under `--root`).
fn boot_id(host: &dyn Host) -> Result<String> {
    let text = host.read_string(BOOT_ID).unwrap_or_default();
    let id = text.trim();
    if is_uuid(id) {
        return Ok(id.to_string());
    }
    Err(Error::env(format!("cannot read this boot's id from {BOOT_ID} (it holds {})", excerpt(id)))
        .hint("run verify-rollback on Linux with /proc mounted: the boot id tells one boot from the next"))
}

/// The examined system's machine id, when blankroot.toml keeps it in /persist (so it is the
/// same in every boot): `/etc/machine-id` as the system resolves it, else the kept file
/// itself (a mounted installation whose /etc was just rolled back).
fn machine_id(host: &dyn Host, config: &Config) -> Option<String> {
    if !config.persist.files.iter().any(|f| f == "/etc/machine-id") {
        return None;
    }
    let etc = host.resolve("/etc/machine-id");
    [etc.as_str(), "/persist/etc/machine-id"]
        .iter()
        .find_map(|p| host.read_string(p))
        .map(|t| t.trim().to_string())
        .filter(|t| is_machine_id(t))
}

/// Where the examined root's files are on this machine (the canary and the record are
/// written there).
fn local_root(host: &dyn Host) -> Result<&Path> {
    host.local_root().ok_or_else(|| {
        Error::input("verify-rollback writes and removes files of the examined system").hint("run it on that system")
    })
}

/// Writes the canary and the record.
pub fn arm(host: &dyn Host, config: &Config) -> Result<Record> {
    let root = local_root(host)?;
    let dataset = config.full_name(config.root_dataset());
    let persist = config.persist_dataset().map(|d| config.full_name(d));
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
    let record = Record {
        token: token.clone(),
        armed_unix: crate::infra::clock::now(),
        boot_id: boot_id(host)?,
        machine_id: machine_id(host, config),
        dataset,
    };
    write_armed(root, &record)?;
    Ok(record)
}

/// Writes the canary, then the record (mode 0600), both through `fsutil::write`: created
/// under a fresh temporary name and renamed into place, never through a symbolic link (one
/// planted at either name is refused, its target untouched); the canary first, so a record
/// never names a canary that was not written.
fn write_armed(root: &Path, record: &Record) -> Result<()> {
    use crate::infra::fsutil::{Links, Opts, write};
    let hint = "run it as root on the booted system (or with --root on the mounted installation)";
    let canary = format!("blankroot verify-rollback canary {}\n", record.token);
    write(&under(root, CANARY), canary.as_bytes(), &Opts { new_mode: 0o644, ..Opts::new(Links::Refuse, hint) })?;
    let record_path = under(root, RECORD);
    if let Some(dir) = record_path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::env(format!("cannot write {RECORD}")).caused_by(e).hint(hint))?;
    }
    let json = serde_json::to_string_pretty(record)
        .map_err(|e| Error::internal("cannot serialise the record").caused_by(e))?;
    write(&record_path, json.as_bytes(), &Opts { mode: Some(0o600), ..Opts::new(Links::Refuse, hint) })
}

/// Checks in a later boot. Consumes the record when it passes.
pub fn check(host: &dyn Host, config: &Config) -> Result<Verdict> {
    let root = local_root(host)?;
    let now = boot_id(host)?;
    let canary = host.meta(CANARY).map(|_| host.read(CANARY).unwrap_or_default());
    let Some(bytes) = host.read(RECORD) else {
        return Ok(no_record(host, config, canary.is_some()));
    };
    let record = Record::parse(&bytes).map_err(|why| {
        Error::input(format!("{RECORD} is not a record `blankroot verify-rollback arm` wrote"))
            .caused_by(why)
            .hint("arm again (`blankroot verify-rollback arm`; it replaces the record), reboot, then check")
    })?;
    if record.boot_id == now {
        return Err(Error::input("this is the boot that armed the canary; nothing has been rolled back yet")
            .caused_by(format!("{BOOT_ID} is {now}, the boot id in {RECORD}"))
            .hint("reboot, then run `blankroot verify-rollback check`"));
    }
    let mut causes = identity(host, config, &record);
    let token = record.token.chars().take(8).collect::<String>();
    match canary {
        None if causes.is_empty() => {
            let _ = std::fs::remove_file(under(root, RECORD));
            Ok(Verdict {
                pass: true,
                summary: format!(
                    "PASS: {CANARY} (token {token}…) is gone after the reboot: {} was rolled back; the record in /persist survived",
                    record.dataset
                ),
                causes,
            })
        }
        None => Ok(Verdict {
            pass: false,
            summary: format!(
                "FAIL: {CANARY} (token {token}…) is gone, but that does not show that {} was rolled back",
                record.dataset
            ),
            causes,
        }),
        Some(text) => {
            if memchr::memmem::find(&text, record.token.as_bytes()).is_none() {
                causes.insert(0, format!("{CANARY} holds another token than the record: armed twice?"));
            }
            causes.extend(likely_causes(host, config));
            causes.dedup();
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

/// No record in /persist: never armed, or /persist lost it.
fn no_record(host: &dyn Host, config: &Config, canary: bool) -> Verdict {
    let mut causes = vec![format!("there is no record at {RECORD}")];
    if canary {
        causes.push(format!("but {CANARY} is there: /persist lost the record while the root kept the canary"));
    } else {
        causes.push(
            "never armed (`blankroot verify-rollback arm`, reboot, check), or /persist did not survive the reboot (is it mounted from its dataset, in stage 1?)"
                .into(),
        );
    }
    causes.extend(root_facts(host, config));
    Verdict { pass: false, summary: "FAIL: no record of an armed canary".into(), causes }
}

/// What must hold for a vanished canary to prove the rollback: the record is this machine's
/// and names the dataset blankroot.toml rolls back, that dataset is the root now and has its
/// @blank, and this boot's rollback left no failure marker. Each miss is a cause.
fn identity(host: &dyn Host, config: &Config, record: &Record) -> Vec<String> {
    let mut causes = Vec::new();
    let root = config.full_name(config.root_dataset());
    if let Some(armed) = &record.machine_id {
        match machine_id(host, config) {
            Some(id) if id == *armed => {}
            Some(id) => causes.push(format!(
                "the record was armed on another machine (machine-id {armed}); this one is {id}: it proves nothing here"
            )),
            None => causes.push(format!(
                "the record was armed on machine {armed}, and this system's /etc/machine-id (kept in /persist/etc/machine-id) cannot be read"
            )),
        }
    }
    if record.dataset != root {
        causes.push(format!(
            "the canary was written to {}, but blankroot.toml's root is {root}: the wrong dataset",
            excerpt(&record.dataset)
        ));
    }
    causes.extend(root_facts(host, config));
    causes
}

/// The examined root is the dataset that is rolled back, mounted, with its `@blank`, and
/// this boot's rollback did not leave its failure marker.
fn root_facts(host: &dyn Host, config: &Config) -> Vec<String> {
    let mut causes = Vec::new();
    let root = config.full_name(config.root_dataset());
    let mountinfo = host.mounts();
    match mounts::holding(&mountinfo, &host.machine_path(CANARY)) {
        Some(m) if m.source == root && m.fstype == "zfs" => {}
        Some(m) => causes.push(format!(
            "/ is {} ({}) now, not {root}: the rollback cannot reach what is written here",
            excerpt(&m.source),
            excerpt(&m.fstype)
        )),
        None => causes.push(format!("nothing is mounted at {}: it is not {root}", host.machine_path("/"))),
    }
    let snap = config.root_snapshot().to_string();
    if !crate::probe::snapshot_exists(host, &snap) {
        causes.push(format!(
            "{snap} does not exist (`zfs list -t snapshot` does not list it): there is no blank state to roll back to"
        ));
    }
    if let Some(text) = host.read_string(crate::nixgen::ROLLBACK_FAILED_MARKER) {
        let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("(empty)");
        causes.push(format!(
            "this boot's rollback failed ({}: {})",
            crate::nixgen::ROLLBACK_FAILED_MARKER,
            excerpt(first)
        ));
    }
    causes
}

/// Why a canary survived: what doctor finds wrong with the rollback, a snapshot that holds
/// the canary.
fn likely_causes(host: &dyn Host, config: &Config) -> Vec<String> {
    let mut causes = Vec::new();
    let root = config.full_name(config.root_dataset());
    if host.exists(&format!("/.zfs/snapshot/blank{CANARY}")) {
        causes.push(format!("{root}@blank holds the canary itself: the snapshot is not blank (taken after files were written); rolling back to it brings them back"));
    }
    if let Ok(findings) = crate::checks::installed::check(host) {
        for f in findings.into_iter().filter(|f| f.severity >= crate::checks::Severity::Warning) {
            // (blank-snapshot and rollback-failed are in the root facts already.)
            if ["rollback-config", "post-device", "rollback-ran", "hostid"].contains(&f.check) {
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
