//! `blankroot doctor`: checks a machine and says, for each finding, what is wrong, why it
//! matters and how to fix it. Two modes: *live* (the installer, before `install`: firmware, the
//! target disk, tools, the ZFS module, the clock; `install` runs these first) and *installed*
//! (the booted system: the rollback, @blank, host ids, /persist and what must be kept in it).
//! The checks themselves are in [`crate::checks`]; this module picks the mode, runs them and
//! makes the report.

use crate::checks::{Finding, Severity, installed, live};
use crate::error::{Error, Result};
use crate::infra::host;
use crate::output::{Detail, Role, paint, style::Stream};
use serde::Serialize;
use std::fmt::Write as _;

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
}

impl crate::output::Render for Report {
    /// For people: one line per finding, with why and fix under each problem (quiet: the
    /// problems only).
    fn human(&self, detail: Detail) -> String {
        let mut o = String::new();
        let mode = match self.mode {
            Mode::Live => "the installer (live), before install",
            Mode::Installed => "an installed system",
        };
        let _ = writeln!(o, "blankroot doctor: {mode}");
        for f in self.findings.iter().filter(|f| detail > Detail::Quiet || f.severity >= Severity::Warning) {
            let word = paint(Stream::Stdout, role(f.severity), &format!("{:<5}", f.severity.word()));
            let _ = writeln!(o, "  {word} {:<16} {}", f.check, f.what);
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

    /// Exit 3 when a finding is an error.
    fn failure(&self) -> Option<Error> {
        (self.errors > 0).then(|| {
            Error::env(format!("doctor found {} error(s) and {} warning(s), listed above", self.errors, self.warnings))
                .hint("fix each as its finding says, then run `blankroot doctor` again")
        })
    }
}

/// The colour of a severity's word.
fn role(s: Severity) -> Role {
    match s {
        Severity::Ok => Role::Ok,
        Severity::Info => Role::Dim,
        Severity::Warning => Role::Warning,
        Severity::Error => Role::Error,
    }
}

/// Whether `host` looks like an installed blankroot system: `/` is a ZFS dataset and
/// `/etc/nixos/blankroot.toml` exists. Anything else is examined as an installer.
pub fn detect_mode(host: &dyn host::Host) -> Mode {
    let root_is_zfs = crate::infra::mounts::at(&host.mounts(), host.root()).is_some_and(|m| m.fstype == "zfs");
    if root_is_zfs && host.exists("/etc/nixos/blankroot.toml") { Mode::Installed } else { Mode::Live }
}

/// A mounted installation (`--root DIR`) must be a directory: a missing one, or a file, is
/// no machine to report on.
fn check_root(host: &dyn host::Host) -> Result<()> {
    if host.booted() {
        return Ok(());
    }
    let shown = crate::error::excerpt(host.root());
    let hint =
        "give --root the directory an installation is mounted at (e.g. /mnt), or leave it out on the installed system";
    let Some(root) = host.local_root() else { return Ok(()) };
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
