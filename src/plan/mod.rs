//! The Plan: the whole installation as data. `build` turns a config and the target's facts
//! into a Plan (pure); `render` prints it for people; serde gives the JSON form that
//! `install --plan FILE` reads back. Printing, executing, resuming and testing all use it.
//!
//! Schema (JSON, `schema` = 1): see `docs/plan-schema.md`. Secrets never appear in a Plan:
//! stdin and file contents that need one name it (`{"secret": "luks-passphrase"}`).

mod build;
pub mod ids;
pub mod record;
mod render;
pub mod saved;
mod steps;
pub mod target;

pub use build::{MIN_LUKS_BYTES, build, partition_path};
pub use ids::Identities;
pub use render::human;

use crate::config::Config;
use serde::{Deserialize, Serialize};

/// The version of the plan's JSON layout. Bumped on incompatible changes.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub schema: u32,
    pub blankroot_version: String,
    /// The resolved config the plan was made from (no secrets in it).
    pub config: Config,
    /// Values chosen at plan time (host id, UUIDs) so the plan shows the final files.
    pub ids: Identities,
    /// The facts about the machine the plan relies on; install refuses if they changed.
    pub target: Target,
    /// What is lost, in words, for the summary.
    pub destroys: Vec<String>,
    /// Things the user should know before installing (e.g. the disk is in use).
    pub warnings: Vec<String>,
    /// The secrets the install asks for, by name.
    pub secrets: Vec<SecretSpec>,
    pub steps: Vec<Step>,
}

/// The machine facts a plan depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `uefi` or `bios`.
    pub firmware: String,
    pub disk: TargetDisk,
    /// Programs the install runs that this machine lacks.
    #[serde(default)]
    pub missing_tools: Vec<String>,
    /// The NixOS release the machine runs (`nixos-version`, as `YY.MM`): the installer's, which
    /// `system.stateVersion` is unless the config sets it. Absent off NixOS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nixos_release: Option<String>,
    /// Whether the blankroot that installs is a static executable (then it is kept on the
    /// installed system, `[persist] blankroot`).
    #[serde(default)]
    pub static_blankroot: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetDisk {
    /// As the user named it (`/dev/vda`, `/dev/disk/by-id/virtio-disk01`).
    pub path: String,
    /// The kernel device (`/dev/vda`).
    pub device: String,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    /// `/dev/disk/by-id` names of the whole disk.
    pub by_id: Vec<String>,
    /// What is on the disk now (partitions, signatures), one line each.
    pub contents: Vec<String>,
    /// What holds the disk now (mounts, swap, open mappings, pools); empty when unused.
    pub holders: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub name: SecretName,
    pub description: String,
}

/// A secret an install needs, by name: what plans, receipts and messages say instead of its
/// value. In JSON, `luks-passphrase` or `password:<account>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretName {
    /// The LUKS passphrase, typed at every boot.
    LuksPassphrase,
    /// An account's login password (its file holds the yescrypt hash).
    Password(crate::config::Account),
}

impl std::fmt::Display for SecretName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretName::LuksPassphrase => f.write_str("luks-passphrase"),
            SecretName::Password(a) => write!(f, "password:{a}"),
        }
    }
}

impl std::str::FromStr for SecretName {
    type Err = String;
    fn from_str(s: &str) -> Result<SecretName, String> {
        match s.strip_prefix("password:") {
            _ if s == "luks-passphrase" => Ok(SecretName::LuksPassphrase),
            Some(name) if !name.is_empty() => Ok(SecretName::Password(crate::config::Account::named(name))),
            _ => Err(format!(
                "{} is none of blankroot's secrets (luks-passphrase, password:ACCOUNT)",
                crate::error::excerpt(s)
            )),
        }
    }
}

impl Serialize for SecretName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SecretName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<SecretName, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Install phases, in order; `install --until PHASE` stops after one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Disk,
    Pool,
    Mount,
    Config,
    Install,
    Finish,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Disk => "disk",
            Phase::Pool => "pool",
            Phase::Mount => "mount",
            Phase::Config => "config",
            Phase::Install => "install",
            Phase::Finish => "finish",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Stable identifier (`partition`, `dataset:local/root`, …), used by receipts.
    pub id: String,
    pub phase: Phase,
    pub title: String,
    /// True when the step destroys data that was there before.
    pub destructive: bool,
    pub commands: Vec<PlannedCommand>,
    pub files: Vec<PlannedFile>,
    /// The step is done when every check passes (and every file is in place).
    pub check: Vec<Check>,
    /// Commands that undo the step's effect on the running system, run in reverse on failure.
    pub revert: Vec<PlannedCommand>,
    /// Commands that bring back a state an interrupted install already reached but a reboot
    /// lost (e.g. import the exported pool), tried before the commands when the check fails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resume: Vec<PlannedCommand>,
    /// Running this step starts the install over: every later step works on what it has
    /// just made (a new partition table on the whole disk), so their checks are not asked
    /// before they run in the same install: they cannot hold.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub starts_over: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedCommand {
    pub argv: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Stdin>,
}

/// What a command reads on stdin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Stdin {
    /// Literal text (e.g. an sfdisk script).
    Text(String),
    /// The named secret, exactly as given (no trailing newline).
    Secret(SecretName),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedFile {
    pub path: String,
    /// Octal, as text: `"0644"`.
    pub mode: String,
    pub owner: String,
    pub group: String,
    pub content: Content,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Content {
    Text(String),
    /// Computed at install time from the named secret (a yescrypt hash of a password).
    Hash(SecretName),
    /// The installing blankroot's own executable (`static`: it needs no loader), read from
    /// /proc/self/exe at install time.
    Blankroot(String),
}

/// A command whose outcome tells whether a step is done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub argv: Vec<String>,
    /// What the check command reads on stdin (e.g. the passphrase it tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Stdin>,
    pub expect: Expect,
    /// Asked again right after the step's commands succeeded. Every check is asked before a
    /// step runs (is it done already?); after it ran, the commands' success says it is done.
    /// A `verify` check is the one a later resume relies on never to destroy again what this
    /// run made, so it is proven once on the real result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verify: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", deny_unknown_fields)]
pub enum Expect {
    /// Exit status 0.
    Success,
    /// Non-zero exit status.
    Failure,
    /// Exit status 0 and this stdout, compared after trimming white space.
    Stdout(String),
}

impl Plan {
    /// Parses a saved plan, refusing other schema versions with a clear message.
    pub fn from_json(text: &str) -> crate::error::Result<Plan> {
        use crate::error::Error;
        let v: serde_json::Value = serde_json::from_str(text).map_err(|e| {
            Error::input("the plan file is not JSON")
                .caused_by(e)
                .hint("save a plan with `blankroot plan --format json > plan.json`")
        })?;
        match v.get("schema") {
            Some(s) if s.as_u64() == Some(u64::from(SCHEMA_VERSION)) => {}
            Some(s) => {
                return Err(Error::input(format!(
                    "the plan file has schema {}; this blankroot reads schema {SCHEMA_VERSION}",
                    match s {
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::String(t) => format!("{} (text, not a number)", crate::error::excerpt(t)),
                        other => crate::error::excerpt(&other.to_string()),
                    }
                ))
                .hint("make the plan again with this blankroot: `blankroot plan --format json`"));
            }
            None => {
                return Err(Error::input("the plan file has no `schema` field; it is not a blankroot plan")
                    .hint("save a plan with `blankroot plan --format json > plan.json`"));
            }
        }
        // Read again straight into the Plan (not from `v`): a key given twice is refused, where
        // a JSON object value would keep the last one silently.
        serde_json::from_str(text).map_err(|e| {
            Error::input("the plan file does not match blankroot's plan schema")
                .caused_by(e)
                .hint("make the plan again with `blankroot plan --format json`")
        })
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a plan always serialises")
    }
}
