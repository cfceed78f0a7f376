//! The arguments of each command (clap derive), every flag with its help, and how each turns
//! into the command's request. Nothing here does the command's work.

use crate::commands::{diff, install, libvirt, persist, plan, verify};
use crate::config::Overrides;
use crate::output::Format;
use clap::{Args, Subcommand};
use std::path::PathBuf;

/// The config file and the values that replace its keys: what `plan`, `install` and `doctor`
/// read the layout from.
#[derive(Args, Debug, Default, Clone)]
pub struct ConfigArgs {
    /// The config file (blankroot.toml). Without it, blankroot's defaults.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The disk to install on (replaces `disk`), e.g. /dev/vda or /dev/disk/by-id/…
    #[arg(long, value_name = "DISK")]
    pub disk: Option<String>,
    /// networking.hostName of the installed system (replaces `hostname`; default nixos).
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// networking.hostId: 8 hex digits (random when absent).
    #[arg(long, value_name = "HEX")]
    pub host_id: Option<String>,
    /// Size of the EFI system partition, e.g. 1GiB.
    // A value such as `-1GiB` reaches the size rule, which says what is wrong with it.
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
    pub esp_size: Option<String>,
    /// ZFS pool name (default rpool).
    #[arg(long, value_name = "NAME")]
    pub pool: Option<String>,
    /// LUKS mapping name (default cryptroot).
    #[arg(long, value_name = "NAME")]
    pub luks_name: Option<String>,
    /// Stage-1 flavour: systemd (default) or scripted.
    #[arg(long, value_name = "FLAVOUR")]
    pub initrd: Option<String>,
    /// system.stateVersion, e.g. 25.11 (default: the installer's NixOS release).
    #[arg(long, value_name = "YY.MM")]
    pub state_version: Option<String>,
}

impl ConfigArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            disk: self.disk.clone(),
            hostname: self.hostname.clone(),
            host_id: self.host_id.clone(),
            esp_size: self.esp_size.clone(),
            pool: self.pool.clone(),
            luks_name: self.luks_name.clone(),
            initrd: self.initrd.clone(),
            state_version: self.state_version.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Plan for the built-in example machine (a UEFI VM with an empty 20 GiB virtio disk
    /// /dev/vda, serial disk01) instead of probing this one. Needs no root.
    #[arg(long)]
    pub example: bool,
    /// Output: human text, or the plan as JSON (what `install --plan FILE` reads).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Write the plan to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

impl PlanArgs {
    pub(crate) fn request(&self) -> plan::Request {
        plan::Request { config: self.config.config.clone(), overrides: self.config.overrides(), example: self.example }
    }
}

#[derive(Args, Debug)]
pub struct InstallArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Execute this saved plan (`blankroot plan --format json`) instead of planning now.
    #[arg(long, value_name = "FILE")]
    pub plan: Option<PathBuf>,
    /// Do not ask to type the disk's name.
    #[arg(long)]
    pub yes: bool,
    /// Overwrite a disk that has partitions or file-system signatures (never one in use).
    #[arg(long)]
    pub wipe: bool,
    /// Stop after this phase (e.g. `config`: everything but nixos-install; /mnt stays mounted).
    #[arg(long, value_enum, value_name = "PHASE")]
    pub until: Option<crate::plan::Phase>,
    /// Read the LUKS passphrase from FILE (one trailing newline is dropped) instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Where the plan and the receipt of this install are kept.
    #[arg(long, value_name = "DIR", default_value = crate::commands::install::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Progress: human lines, or one JSON event per line.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

impl InstallArgs {
    pub(crate) fn request(&self) -> install::Request {
        install::Request {
            config: self.config.config.clone(),
            overrides: self.config.overrides(),
            plan: self.plan.clone(),
            yes: self.yes,
            wipe: self.wipe,
            until: self.until,
            passphrase_file: self.passphrase_file.clone(),
            state_dir: self.state_dir.clone(),
        }
    }
}

#[derive(Args, Debug)]
pub struct LibvirtArgs {
    /// The domain (name, UUID or id): read with `virsh dumpxml`, written with `virsh define`.
    #[arg(required_unless_present = "xml", conflicts_with = "xml", value_name = "DOMAIN")]
    pub domain: Option<String>,
    /// Fix this domain XML file instead (rewritten in place).
    #[arg(long, value_name = "FILE")]
    pub xml: Option<PathBuf>,
    /// The libvirt connection, e.g. qemu:///system.
    #[arg(long, short = 'c', value_name = "URI", env = "LIBVIRT_DEFAULT_URI", conflicts_with = "xml")]
    pub connect: Option<String>,
    /// Write the changes without asking.
    #[arg(long)]
    pub yes: bool,
    /// Turn UEFI secure boot on (off by default: NixOS's systemd-boot entries are not signed).
    #[arg(long)]
    pub secure_boot: bool,
    /// Output: human text (the diff, then a question), or one JSON report (never asks).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

impl LibvirtArgs {
    pub(crate) fn request(&self) -> crate::error::Result<libvirt::Request> {
        use libvirt::Source;
        let source = match (&self.xml, &self.domain) {
            (Some(f), _) => Source::File(f.clone()),
            (None, Some(d)) => Source::Domain { name: d.clone(), connect: self.connect.clone() },
            (None, None) => {
                return Err(crate::error::Error::input("name a domain, or an XML file with --xml")
                    .hint("blankroot libvirt DOMAIN"));
            }
        };
        Ok(libvirt::Request { source, yes: self.yes, options: libvirt::fix::Options { secure_boot: self.secure_boot } })
    }
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// For the live checks: the config whose disk is the target (and --disk etc.).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Which checks: live (the installer) or installed. Default: installed when / is a ZFS
    /// dataset and /etc/nixos/blankroot.toml exists, else live.
    #[arg(long, value_enum)]
    pub mode: Option<crate::commands::doctor::Mode>,
    /// Examine the installation mounted at DIR (e.g. /mnt) instead of this system.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Output: human text, or the findings as JSON.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// Examine the installation mounted at DIR (its blankroot.toml; zfs's paths lie under DIR).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Read saved `zfs diff -FHt` output from FILE (`-`: standard input) instead of running zfs.
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// The layout (default: /etc/nixos/blankroot.toml of the root).
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// List every path the next boot erases instead of groups.
    #[arg(long)]
    pub all: bool,
    /// Directory levels of a group (`/var/lib` is 2).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=32), value_name = "N")]
    pub depth: u8,
    /// Show at most this many groups.
    #[arg(long, default_value_t = 25, value_name = "N")]
    pub limit: usize,
    /// Leave out this path too (a directory with all below it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Report what the built-in noise list would leave out too (/tmp, /etc/static, …).
    #[arg(long)]
    pub no_default_ignores: bool,
    /// Output: human text, or JSON (with --all: one JSON object per path).
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

impl DiffArgs {
    pub(crate) fn request(&self) -> diff::Request {
        diff::Request {
            input: self.input.clone(),
            config: self.config.clone(),
            all: self.all,
            depth: self.depth,
            limit: self.limit,
            ignore: self.ignore.clone(),
            no_default_ignores: self.no_default_ignores,
        }
    }
}

#[derive(Args, Debug)]
pub struct PersistArgs {
    /// The paths to keep (directories or files on the erased root), e.g. /var/lib/tailscale.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<String>,
    /// A path that does not exist yet is kept as a new, empty directory.
    #[arg(long)]
    pub create: bool,
    /// Work on the installation mounted at DIR instead of this system.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Output: human text, or a JSON report.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

impl PersistArgs {
    pub(crate) fn request(&self) -> persist::Request {
        persist::Request { paths: self.paths.clone(), create: self.create }
    }
}

#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// Only show what would change; exit 3 when blankroot.nix is out of date.
    #[arg(long)]
    pub check: bool,
    /// Work on the installation mounted at DIR instead of this system.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Output: human text (the diff), or a JSON report.
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[command(subcommand)]
    pub action: VerifyAction,
    /// The installation mounted at DIR instead of this system.
    #[arg(long, value_name = "DIR", global = true)]
    pub root: Option<PathBuf>,
    /// Output: human text, or a JSON report.
    #[arg(long, value_enum, default_value = "human", global = true)]
    pub format: Format,
}

#[derive(Subcommand, Debug, Clone, Copy)]
pub enum VerifyAction {
    /// Write a canary with a random token onto the root dataset and record it in /persist.
    Arm,
    /// After a reboot: PASS when the canary is gone and the record survived; FAIL says why.
    Check,
}

impl VerifyAction {
    pub(crate) fn request(self) -> verify::Action {
        match self {
            VerifyAction::Arm => verify::Action::Arm,
            VerifyAction::Check => verify::Action::Check,
        }
    }
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManpagesArgs {
    /// The directory to write the pages into (blankroot.1 and blankroot-COMMAND.1); made if
    /// missing.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}
