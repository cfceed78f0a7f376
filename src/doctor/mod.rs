//! `blankroot doctor`: checks a machine and says, for each finding, what is wrong, why it
//! matters and how to fix it. Two modes: *live* (the installer, before `install`: firmware, the
//! target disk, tools, the ZFS module, the clock; `install` runs these first) and *installed*
//! (the booted system: the rollback, @blank, host ids, /persist and what must be kept in it).
//! The checks read the machine through [`host::Host`]; `live` and `installed` hold them.

pub mod host;
pub mod installed;
pub mod live;
pub mod persisted;

use crate::error::{Error, Result};
use serde::Serialize;
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

impl Severity {
    fn word(self) -> &'static str {
        match self {
            Severity::Ok => "ok",
            Severity::Info => "info",
            Severity::Warning => "WARN",
            Severity::Error => "ERROR",
        }
    }
}

/// One finding: what was checked, what was found, why it matters, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Stable name of the check (`uefi`, `hostid`, …).
    pub check: &'static str,
    pub severity: Severity,
    pub what: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub why: String,
    /// The fix, a command where there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    pub fn ok(check: &'static str, what: impl Into<String>) -> Finding {
        Finding { check, severity: Severity::Ok, what: what.into(), why: String::new(), fix: None }
    }
    pub fn info(check: &'static str, what: impl Into<String>) -> Finding {
        Finding { check, severity: Severity::Info, what: what.into(), why: String::new(), fix: None }
    }
    pub fn problem(
        check: &'static str,
        severity: Severity,
        what: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding { check, severity, what: what.into(), why: why.into(), fix: Some(fix.into()) }
    }
    pub fn error(
        check: &'static str,
        what: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::problem(check, Severity::Error, what, why, fix)
    }
    pub fn warning(
        check: &'static str,
        what: impl Into<String>,
        why: impl Into<String>,
        fix: impl Into<String>,
    ) -> Finding {
        Finding::problem(check, Severity::Warning, what, why, fix)
    }
}

/// Which kind of machine is examined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The installer, before `blankroot install`.
    Live,
    /// A system blankroot installed (booted, or mounted with --root).
    Installed,
}

/// The findings of one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub mode: Mode,
    pub findings: Vec<Finding>,
    pub errors: usize,
    pub warnings: usize,
}

impl Report {
    pub fn new(mode: Mode, findings: Vec<Finding>) -> Report {
        let count = |s| findings.iter().filter(|f| f.severity == s).count();
        let (errors, warnings) = (count(Severity::Error), count(Severity::Warning));
        Report { mode, findings, errors, warnings }
    }

    /// For people: one line per finding, with why and fix under each problem.
    pub fn human(&self) -> String {
        let mut o = String::new();
        let mode = match self.mode {
            Mode::Live => "the installer (live), before install",
            Mode::Installed => "an installed system",
        };
        let _ = writeln!(o, "blankroot doctor: {mode}");
        for f in &self.findings {
            let _ = writeln!(o, "  {:<5} {:<16} {}", f.severity.word(), f.check, f.what);
            if !f.why.is_empty() {
                let _ = writeln!(o, "        {:<16} why: {}", "", f.why);
            }
            if let Some(fix) = &f.fix {
                let _ = writeln!(o, "        {:<16} fix: {fix}", "");
            }
        }
        let ok = self.findings.iter().filter(|f| f.severity == Severity::Ok).count();
        let _ = writeln!(o, "{ok} ok, {} warning(s), {} error(s)", self.warnings, self.errors);
        o
    }

    /// The error `doctor` exits with when a finding is an error.
    pub fn as_error(&self) -> Option<Error> {
        let errors: Vec<&Finding> = self.findings.iter().filter(|f| f.severity == Severity::Error).collect();
        let first = errors.first()?;
        let mut e = Error::env(format!("doctor found {} error(s): {}", errors.len(), first.what));
        for f in errors.iter().skip(1) {
            e = e.caused_by(&f.what);
        }
        Some(e.hint(first.fix.clone().unwrap_or_else(|| "see the findings above".into())))
    }
}

/// Whether `host` looks like an installed blankroot system: `/` is a ZFS dataset and
/// `/etc/nixos/blankroot.toml` exists. Anything else is examined as an installer.
pub fn detect_mode(host: &dyn host::Host) -> Mode {
    let root_is_zfs = crate::mounts::at(&host.mounts(), host.root()).is_some_and(|m| m.fstype == "zfs");
    if root_is_zfs && host.exists("/etc/nixos/blankroot.toml") { Mode::Installed } else { Mode::Live }
}

/// A mounted installation (`--root DIR`) must be a directory: a missing one, or a file, is
/// no machine to report on.
fn check_root(host: &dyn host::Host) -> Result<()> {
    if host.booted() {
        return Ok(());
    }
    let root = host.root();
    let shown = crate::error::excerpt(root);
    let hint =
        "give --root the directory an installation is mounted at (e.g. /mnt), or leave it out on the installed system";
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::input(format!("--root {shown} is not a directory")).hint(hint)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(Error::input(format!("--root {shown}: no such directory")).hint(hint))
        }
        Err(e) => Err(Error::input(format!("--root {shown} cannot be examined")).caused_by(e).hint(hint)),
    }
}

/// Runs doctor in `mode` (or the detected one).
pub fn run(host: &dyn host::Host, mode: Option<Mode>, live_opts: &live::Options) -> Result<Report> {
    check_root(host)?;
    let mode = mode.unwrap_or_else(|| detect_mode(host));
    let findings = match mode {
        Mode::Live => live::check(host, live_opts)?,
        Mode::Installed => installed::check(host)?,
    };
    Ok(Report::new(mode, findings))
}
