//! The resolved, validated installation config (`blankroot.toml` + flags), with the seed's
//! defaults. Parsing with file:line:column errors lives in `parse`, the value rules in `rules`.

mod emit;
mod parse;
pub mod rules;

pub use emit::to_toml;
pub use parse::{Overrides, load, parse_str};

use serde::{Deserialize, Serialize};

/// Which NixOS stage 1 runs the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Initrd {
    /// `boot.initrd.systemd.enable = true` (the NixOS default) and a
    /// `boot.initrd.systemd.services` unit ordered after the pool import.
    Systemd,
    /// The scripted stage 1: rollback in `boot.initrd.postResumeCommands` with `lib.mkAfter`.
    Scripted,
}

/// Where a user's password comes from. Never holds a password value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum PasswordSource {
    /// Asked for (twice) when installing, hashed in-process with yescrypt.
    Prompt,
    /// No password: the account cannot log in with one.
    Locked,
    /// A file on the installing machine holding a ready crypt(5) hash (e.g. `mkpasswd -m yescrypt`).
    HashFile { path: String },
    /// A file on the installing machine holding the plain password (first line), hashed in-process.
    File { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
    pub password: PasswordSource,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    /// Name below the pool, e.g. `local/root`.
    pub name: String,
    /// Where it is mounted in the installed system (legacy mount), if anywhere.
    pub mount: Option<String>,
    /// `zfs create -o` properties, in order.
    pub properties: Vec<(String, String)>,
    /// Whether `@blank` is taken right after creation and rolled back to on every boot.
    pub blank: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Luks {
    pub name: String,
    pub allow_discards: bool,
    /// Extra `cryptsetup luksFormat` options (e.g. a PBKDF choice). Never a key.
    pub format_options: Vec<String>,
    /// The LUKS2 header's UUID (lower case). Recorded in the blankroot.toml an install writes
    /// (later commands regenerate blankroot.nix from it); chosen at random when planning
    /// unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub name: String,
    /// `zpool create -o` pool properties, in order.
    pub options: Vec<(String, String)>,
    /// `zpool create -O` root dataset properties, in order.
    pub fs_options: Vec<(String, String)>,
    /// `boot.zfs.devNodes`: where stage 1 looks for the pool's devices.
    pub dev_nodes: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persist {
    /// Directories bind-mounted from `/persist`.
    pub directories: Vec<String>,
    /// Files linked from `/persist`.
    pub files: Vec<String>,
    /// Keep the SSH host keys in `/persist/etc/ssh`.
    pub ssh_host_keys: bool,
    /// Keep blankroot itself on the installed system: the installer's static executable in
    /// /persist, on PATH as `blankroot` (for doctor, diff, persist, verify-rollback there).
    #[serde(default = "yes")]
    pub blankroot: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The target disk, as the user named it (`/dev/vda`, `/dev/disk/by-id/…`).
    pub disk: String,
    pub esp_size_bytes: u64,
    pub luks: Luks,
    pub pool: Pool,
    pub datasets: Vec<Dataset>,
    pub hostname: String,
    /// `networking.hostId`; `None` means "draw a random one when planning".
    pub host_id: Option<String>,
    /// The ESP's FAT volume id (`1A2B-3C4D`, as blkid prints it): recorded like the LUKS UUID
    /// (`[esp] uuid`), random unless given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub esp_uuid: Option<String>,
    pub users: Vec<User>,
    pub root_password: PasswordSource,
    pub persist: Persist,
    /// What `blankroot diff` leaves out besides its built-in noise list.
    #[serde(default, skip_serializing_if = "Diff::is_empty")]
    pub diff: Diff,
    pub initrd: Initrd,
    /// `system.stateVersion`; `None` means "the release of the installer NixOS runs on" (or
    /// [`DEFAULT_STATE_VERSION`] without one), resolved when planning. A plan's config always
    /// holds the resolved value.
    pub state_version: Option<String>,
}

/// The seed's default disk (the first virtio disk of a libvirt VM).
pub(crate) const DEFAULT_DISK: &str = "/dev/vda";
pub(crate) const DEFAULT_ESP_SIZE: u64 = 1 << 30;
/// `system.stateVersion` when neither the config nor the installer says which release it is.
pub const DEFAULT_STATE_VERSION: &str = "25.11";
/// The hostId the seed prints as an example; refused, since every reader copies it.
pub(crate) const SEED_EXAMPLE_HOST_ID: &str = "a1b2c3d4";

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

pub(crate) fn default_pool_options() -> Vec<(String, String)> {
    pairs(&[("ashift", "12"), ("autotrim", "on")])
}

pub(crate) fn default_pool_fs_options() -> Vec<(String, String)> {
    pairs(&[
        ("acltype", "posixacl"),
        ("canmount", "off"),
        ("compression", "zstd"),
        ("normalization", "formD"),
        ("relatime", "on"),
        ("xattr", "sa"),
        ("mountpoint", "none"),
    ])
}

pub(crate) fn default_datasets() -> Vec<Dataset> {
    let legacy = |extra: &[(&str, &str)]| {
        let mut p = pairs(extra);
        p.push(("mountpoint".into(), "legacy".into()));
        p
    };
    vec![
        Dataset {
            name: "local/root".into(),
            mount: Some("/".into()),
            properties: legacy(&[("canmount", "noauto")]),
            blank: true,
        },
        Dataset { name: "local/nix".into(), mount: Some("/nix".into()), properties: legacy(&[]), blank: false },
        Dataset { name: "safe/home".into(), mount: Some("/home".into()), properties: legacy(&[]), blank: false },
        Dataset { name: "safe/persist".into(), mount: Some("/persist".into()), properties: legacy(&[]), blank: false },
    ]
}

/// `[diff]` of blankroot.toml.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Diff {
    /// Paths (a directory counts with everything below it) not reported as erased.
    pub ignore: Vec<String>,
}

impl Diff {
    pub fn is_empty(&self) -> bool {
        self.ignore.is_empty()
    }
}

pub(crate) fn default_persist() -> Persist {
    Persist {
        directories: vec!["/etc/nixos".into(), "/var/lib/nixos".into(), "/var/log".into()],
        files: vec!["/etc/machine-id".into()],
        ssh_host_keys: true,
        blankroot: true,
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            disk: DEFAULT_DISK.into(),
            esp_size_bytes: DEFAULT_ESP_SIZE,
            luks: Luks { name: "cryptroot".into(), allow_discards: true, format_options: Vec::new(), uuid: None },
            pool: Pool {
                name: "rpool".into(),
                options: default_pool_options(),
                fs_options: default_pool_fs_options(),
                dev_nodes: "/dev/disk/by-id".into(),
            },
            datasets: default_datasets(),
            hostname: "nixos".into(),
            host_id: None,
            esp_uuid: None,
            users: vec![User { name: "admin".into(), groups: vec!["wheel".into()], password: PasswordSource::Prompt }],
            root_password: PasswordSource::Locked,
            persist: default_persist(),
            diff: Diff::default(),
            initrd: Initrd::Systemd,
            state_version: None,
        }
    }
}

impl Config {
    /// The dataset rolled back on every boot (validated to exist exactly once).
    pub fn root_dataset(&self) -> &Dataset {
        self.datasets.iter().find(|d| d.mount.as_deref() == Some("/")).expect("validated: a dataset mounts at /")
    }
    /// Full ZFS name of a dataset.
    pub fn full_name(&self, d: &Dataset) -> String {
        format!("{}/{}", self.pool.name, d.name)
    }
    /// The snapshot the root is rolled back to on every boot.
    pub(crate) fn root_snapshot(&self) -> Snapshot {
        Snapshot { dataset: self.full_name(self.root_dataset()) }
    }
    /// The dataset mounted at `/persist`, where everything kept across the rollback lives
    /// (`None` only in a config the rules would refuse).
    pub(crate) fn persist_dataset(&self) -> Option<&Dataset> {
        self.datasets.iter().find(|d| d.mount.as_deref() == Some(PERSIST))
    }
    /// The LUKS UUID and the ESP's volume id an install recorded in blankroot.toml, when both
    /// are there (an install by blankroot 0.1 recorded neither).
    pub fn recorded_uuids(&self) -> Option<(&str, &str)> {
        Some((self.luks.uuid.as_deref()?, self.esp_uuid.as_deref()?))
    }
    /// Every account with its password source, root first.
    pub(crate) fn accounts(&self) -> Vec<(Account, &PasswordSource)> {
        std::iter::once((Account::root(), &self.root_password))
            .chain(self.users.iter().map(|u| (Account(u.name.clone()), &u.password)))
            .collect()
    }
}

/// Where the persistent dataset is mounted.
pub(crate) const PERSIST: &str = "/persist";

/// The snapshot a dataset is rolled back to: `<dataset>@blank`, taken right after creation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The full name of the dataset (`rpool/local/root`).
    pub dataset: String,
}

impl Snapshot {
    /// The snapshot's own name, after the `@`.
    pub(crate) const NAME: &str = "blank";
    pub fn of(dataset: impl Into<String>) -> Snapshot {
        Snapshot { dataset: dataset.into() }
    }
}

impl std::fmt::Display for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.dataset, Snapshot::NAME)
    }
}

/// A login account of the installed system: `root` or one of `[[users]]` (names checked by the
/// config rules).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Account(String);

impl Account {
    pub fn root() -> Account {
        Account("root".into())
    }
    /// An account of this name (a saved plan's; the plan is rebuilt and compared before use).
    pub fn named(name: impl Into<String>) -> Account {
        Account(name.into())
    }
    pub fn name(&self) -> &str {
        &self.0
    }
    /// Where its password hash lives on the installed system (0600 root).
    pub fn hash_path(&self) -> String {
        format!("{PERSIST}/etc/nixos-secrets/passwords/{}", self.0)
    }
}

impl std::fmt::Display for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
