//! The checks blankroot makes of a machine, each a [`Finding`]: what was checked, what was
//! found, why it matters and the fix. `live`: the installer before an install (firmware, the
//! target disk, the ZFS module and tools, the clock: the preflight policy `install` gates on);
//! `installed`: a system blankroot installed (the rollback, host ids, `/persist`; what is kept
//! across the rollback is in `persisted`). `doctor` reports them; `install` refuses on an error;
//! `verify-rollback` names them as likely causes. They read the machine through
//! [`crate::infra::host::Host`].

pub mod installed;
pub mod live;
pub mod persisted;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn word(self) -> &'static str {
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
    pub(crate) fn info(check: &'static str, what: impl Into<String>) -> Finding {
        Finding { check, severity: Severity::Info, what: what.into(), why: String::new(), fix: None }
    }
    pub(crate) fn problem(
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
    /// The finding as one of a plan's warnings: what, and the fix (an error: install refuses
    /// until it is fixed).
    pub(crate) fn as_warning(&self) -> String {
        let fix = self.fix.as_deref().unwrap_or("see `blankroot doctor`");
        match self.severity {
            Severity::Error => format!("{}; install will refuse: {fix}", self.what),
            _ => format!("{}; {fix}", self.what),
        }
    }
}
