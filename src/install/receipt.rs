//! The install receipt: which steps ran, with what result, and how the install ended. Written
//! atomically (temporary file + rename) after every step, beside the plan it executes, so an
//! interrupted install leaves a true record. Never holds a secret.

use crate::error::{Error, Result};
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

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
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
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::input(format!("cannot read the receipt {}", path.display())).caused_by(e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::input(format!("{} is not a blankroot receipt", path.display())).caused_by(e))
    }

    /// Writes the receipt to `path` atomically.
    pub fn save(&mut self, path: &Path) -> Result<()> {
        self.updated_unix = now();
        write_atomic(path, serde_json::to_string_pretty(self).expect("a receipt serialises").as_bytes())
    }
}

/// Writes `data` to `path` through a temporary file in the same directory and a rename, so
/// readers see the old or the new content, never a part. A file that exists keeps its
/// permissions (the temporary file has them before it takes the name).
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = path.parent().unwrap_or(Path::new("."));
    let fail = |e: std::io::Error| {
        Error::env(format!("cannot write {}", path.display()))
            .caused_by(e)
            .hint("choose a writable directory with --state-dir")
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let tmp = dir.join(format!(".{}.tmp", path.file_name().and_then(|n| n.to_str()).unwrap_or("receipt")));
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    f.write_all(data).map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        f.set_permissions(meta.permissions()).map_err(fail)?;
    }
    f.sync_all().map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
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
        assert!(!dir.path().join(".receipt.json.tmp").exists());
    }
}
