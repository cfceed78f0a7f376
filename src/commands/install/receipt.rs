//! The install receipt: which steps ran, with what result, and how the install ended. Written
//! atomically (`fsutil::write`: temporary file + rename) after every step, beside the plan it executes, so an
//! interrupted install leaves a true record. Never holds a secret.

use crate::error::{Error, Result};
use crate::infra::clock::now;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StepResult {
    /// Its commands ran and its check passed afterwards.
    Done,
    /// Its check already passed: nothing was run.
    Skipped,
    Failed,
    /// Undone after a later failure (closed, exported, unmounted).
    Reverted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Running,
    /// Every step of the plan is done.
    Complete,
    /// Stopped after the phase asked for with --until.
    Stopped,
    /// A step failed; what could be undone was undone.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub id: String,
    pub result: StepResult,
    pub seconds: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub schema: u32,
    pub blankroot_version: String,
    /// The plan file this receipt belongs to.
    pub plan: PathBuf,
    /// The disk, as the plan names it.
    pub disk: String,
    pub started_unix: u64,
    pub updated_unix: u64,
    pub outcome: Outcome,
    pub steps: Vec<StepRecord>,
}

impl Receipt {
    pub fn new(plan: PathBuf, disk: String) -> Receipt {
        let t = now();
        Receipt {
            schema: 1,
            blankroot_version: env!("CARGO_PKG_VERSION").into(),
            plan,
            disk,
            started_unix: t,
            updated_unix: t,
            outcome: Outcome::Running,
            steps: Vec::new(),
        }
    }

    /// Records a step's result (replacing an earlier record of the same step).
    pub fn record(&mut self, id: &str, result: StepResult, seconds: f64, error: Option<String>) {
        self.steps.retain(|s| s.id != id);
        self.steps.push(StepRecord { id: id.into(), result, seconds, error });
    }

    pub fn load(path: &Path) -> Result<Receipt> {
        // A receipt is a few KiB; read no more than this of whatever is at its path.
        const MAX_BYTES: u64 = 16 << 20;
        let bytes = crate::infra::fsutil::read_at_most(path, MAX_BYTES)
            .map_err(|e| {
                Error::input(format!("cannot read the receipt {}", crate::error::excerpt(&path.display().to_string())))
                    .caused_by(e)
            })?
            .ok_or_else(|| {
                Error::input(format!("{} is larger than 16 MiB: not a blankroot receipt", path.display()))
            })?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::input(format!("{} is not a blankroot receipt", path.display())).caused_by(e))
    }

    /// Writes the receipt to `path` atomically.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.updated_unix = now();
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| Error::internal("cannot serialise the receipt").caused_by(e))?;
        write_atomic(path, json.as_bytes())
    }
}

/// Writes `data` to `path`, one of blankroot's own state files (a receipt, a saved plan), its
/// directory made if missing: through `fsutil::write`, so readers see the old or the new
/// content, never a part, and a file that exists keeps its owner and mode. A symbolic link
/// there is refused, not followed: these files are blankroot's alone.
pub(crate) fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let hint = "choose a writable directory with --state-dir";
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::env(format!("cannot create the directory {}", crate::error::excerpt(&dir.display().to_string())))
            .caused_by(e)
            .hint(hint)
    })?;
    crate::infra::fsutil::write(path, data, &crate::infra::fsutil::Opts::new(crate::infra::fsutil::Links::Refuse, hint))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("receipt.json");
        let mut r = Receipt::new("plan.json".into(), "/dev/vda".into());
        r.record("partition", StepResult::Done, 0.5, None);
        r.record("partition", StepResult::Skipped, 0.0, None);
        r.save(&path).unwrap();
        let back = Receipt::load(&path).unwrap();
        assert_eq!(back.steps.len(), 1);
        assert_eq!(back.steps[0].result, StepResult::Skipped);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["receipt.json"], "no temporary file left");
    }

    #[test]
    fn a_link_planted_at_the_receipt_is_refused_and_its_target_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("shadow");
        std::fs::write(&victim, "root:x:0:0\n").unwrap();
        let path = dir.path().join("state/receipt.json");
        std::fs::create_dir(dir.path().join("state")).unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        let e = Receipt::new("plan.json".into(), "/dev/vda".into()).save(&path).unwrap_err();
        assert!(e.message.contains("symbolic link"), "{e}");
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root:x:0:0\n");
    }
}
