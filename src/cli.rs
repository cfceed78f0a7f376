//! The command line: clap definitions and dispatch. `main` only calls [`run`] and maps the
//! error to an exit code.

use crate::config::{self, Overrides};
use crate::error::{Error, Result};
use crate::plan::{self, Identities, Plan};
use crate::probe;
use crate::runner::Local;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "blankroot",
    version,
    about = "Install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every boot"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every step of the installation, with exact commands and full file contents. Changes nothing.
    Plan(PlanArgs),
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args, Debug, Default, Clone)]
pub struct ConfigArgs {
    /// The config file (blankroot.toml). Without it, the seed's defaults.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The disk to install on (replaces `disk`), e.g. /dev/vda or /dev/disk/by-id/…
    #[arg(long)]
    pub disk: Option<String>,
    #[arg(long)]
    pub hostname: Option<String>,
    /// networking.hostId: 8 hex digits (random when absent).
    #[arg(long)]
    pub host_id: Option<String>,
    /// Size of the EFI system partition, e.g. 1GiB.
    #[arg(long)]
    pub esp_size: Option<String>,
    /// ZFS pool name.
    #[arg(long)]
    pub pool: Option<String>,
    /// LUKS mapping name.
    #[arg(long)]
    pub luks_name: Option<String>,
    /// Stage-1 flavour: systemd (default) or scripted.
    #[arg(long)]
    pub initrd: Option<String>,
    /// system.stateVersion, e.g. 25.11.
    #[arg(long)]
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
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
    /// Write the plan to FILE instead of standard output.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// Makes the plan for the given arguments: the example machine, or this one, probed.
pub fn make_plan(args: &PlanArgs) -> Result<Plan> {
    let config = config::load(args.config.config.as_deref(), &args.config.overrides())?;
    let facts = if args.example { crate::example::facts()? } else { probe::probe(&Local::default())? };
    let target = plan::target::from_facts(&facts, &config.disk)?;
    let ids = Identities::random(config.host_id.as_deref())?;
    plan::build(&config, &target, &ids)
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Plan(args) => {
            let plan = make_plan(&args)?;
            let text = match args.format {
                Format::Human => plan::human(&plan),
                Format::Json => plan.to_json() + "\n",
            };
            match &args.output {
                None => print!("{text}"),
                Some(p) => std::fs::write(p, text).map_err(|e| {
                    Error::input(format!("cannot write the plan to {}", p.display()))
                        .caused_by(e)
                        .hint("choose a writable path for --output")
                })?,
            }
            Ok(())
        }
    }
}
