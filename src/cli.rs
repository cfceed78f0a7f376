//! The command line: clap definitions and dispatch. `main` only calls [`run`] and maps the
//! error to an exit code.

use crate::config::{self, Overrides};
use crate::error::{Error, ErrorKind, Result};
use crate::output;
use crate::plan::{self, Identities, Plan};
use crate::probe;
use crate::runner::{Local, Runner};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "blankroot",
    version,
    about = "Install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every boot",
    after_help = crate::error::EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Show every step of the installation, with exact commands and full file contents. Changes nothing.
    Plan(PlanArgs),
    /// Install: partition, encrypt, create the pool and datasets, write the configuration, run
    /// nixos-install, and close everything so the first boot imports cleanly.
    Install(InstallArgs),
    /// Fix a libvirt domain for this layout: a serial on every virtio disk, UEFI firmware.
    /// Shows a diff; writes only after confirmation.
    Libvirt(LibvirtArgs),
    /// Check this machine: the installer before install (live), or an installed system. Each
    /// finding says what is wrong, why it matters and how to fix it; exit 3 on errors.
    Doctor(DoctorArgs),
    /// What the next boot erases: `zfs diff` of the root against @blank, without what is
    /// persisted or made again at every boot, grouped by directory, biggest first.
    Diff(DiffArgs),
    /// Keep paths across the rollback: copy them into /persist (owner, mode, times, ACLs,
    /// xattrs), add them to blankroot.toml and regenerate blankroot.nix.
    Persist(PersistArgs),
    /// Rewrite /etc/nixos/blankroot.nix from blankroot.toml with this blankroot (an install by
    /// an older blankroot gets what doctor asks for); the old file is kept as blankroot.nix.old.
    Regenerate(RegenerateArgs),
    /// Prove the rollback across a reboot: `arm` a canary on the root, reboot, `check`.
    #[command(name = "verify-rollback")]
    VerifyRollback(VerifyArgs),
}

#[derive(Args, Debug)]
pub struct RegenerateArgs {
    /// Only show what would change; exit 3 when blankroot.nix is out of date.
    #[arg(long)]
    pub check: bool,
    /// Work on the installation mounted at DIR instead of this system.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
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
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=32))]
    pub depth: u8,
    /// Show at most this many groups.
    #[arg(long, default_value_t = 25)]
    pub limit: usize,
    /// Leave out this path too (a directory with all below it); repeatable.
    #[arg(long = "ignore", value_name = "PATH")]
    pub ignore: Vec<String>,
    /// Report what the built-in noise list would leave out too (/tmp, /etc/static, …).
    #[arg(long)]
    pub no_default_ignores: bool,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// For the live checks: the config whose disk is the target (and --disk etc.).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Which checks: live (the installer) or installed. Default: installed when / is a ZFS
    /// dataset and /etc/nixos/blankroot.toml exists, else live.
    #[arg(long, value_enum)]
    pub mode: Option<crate::doctor::Mode>,
    /// Examine the installation mounted at DIR (e.g. /mnt) instead of this system.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct LibvirtArgs {
    /// The domain (name, UUID or id): read with `virsh dumpxml`, written with `virsh define`.
    #[arg(required_unless_present = "xml", conflicts_with = "xml")]
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
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
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
    #[arg(long, value_name = "DIR", default_value = crate::install::DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    #[arg(long, value_enum, default_value = "human")]
    pub format: Format,
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
    // A value such as `-1GiB` reaches the size rule, which says what is wrong with it.
    #[arg(long, allow_hyphen_values = true, value_name = "SIZE")]
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
    let plan = plan::build(&config, &target, &ids)?;
    crate::nixgen::verify::check(&Local::default(), &plan)?;
    Ok(plan)
}

/// How the process ends when clap did not take the arguments: help and version go to standard
/// output (exit 0, or the code of the failed write: 5, or 141 for a closed pipe), a usage
/// error to standard error with exit 2, bad input.
pub fn clap_exit(e: &clap::Error) -> i32 {
    use std::io::Write;
    if e.use_stderr() {
        // Deliberately ignored: stderr is where failures are reported; nowhere is left.
        let _ = e.print();
        return ErrorKind::Input.exit_code();
    }
    match e.print().and_then(|()| std::io::stdout().flush()) {
        Ok(()) => 0,
        Err(err) => output::exit_code_after_report(&output::error(err)),
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Install(args) => install(&args),
        Command::Libvirt(args) => libvirt(&args),
        Command::Doctor(args) => doctor(&args),
        Command::Diff(args) => crate::diff::cli::run(&Local::default(), &args),
        Command::Persist(args) => persist(&args),
        Command::Regenerate(args) => regenerate(&args),
        Command::VerifyRollback(args) => verify(&args),
        Command::Plan(args) => {
            let plan = make_plan(&args)?;
            let text = match args.format {
                Format::Human => plan::human(&plan),
                Format::Json => plan.to_json() + "\n",
            };
            match &args.output {
                None => output::print(&text)?,
                // Replaced safely (`fsutil`): a link followed to its file as `>` would, owner
                // and mode kept, never half-written; a pipe or device written to as `>` would.
                Some(p) => crate::fsutil::write(
                    p,
                    text.as_bytes(),
                    &crate::fsutil::Opts {
                        streams: true,
                        ..crate::fsutil::Opts::new(crate::fsutil::Links::Follow, "choose a writable path for --output")
                    },
                )?,
            }
            Ok(())
        }
    }
}

/// Reads a saved plan and verifies it is the one blankroot makes for its config and ids on
/// this machine (`plan::saved`); returns that rebuilt plan, never the file's own steps.
fn read_plan(path: &std::path::Path, facts: &probe::Facts) -> Result<Plan> {
    let text = plan::saved::read_file(path)?;
    plan::saved::verify(&text, facts)
        .map_err(|e| e.caused_by(format!("in {}", crate::error::excerpt(&path.display().to_string()))))
}

/// The plan to execute: `--plan FILE`; else the unfinished install in the state directory when
/// it was made from the same config; else a new plan, saved there.
fn install_plan(runner: &impl Runner, args: &InstallArgs, facts: &probe::Facts) -> Result<(Plan, PathBuf, bool)> {
    if let Some(p) = &args.plan {
        return Ok((read_plan(p, facts)?, p.clone(), false));
    }
    let config = config::load(args.config.config.as_deref(), &args.config.overrides())?;
    let saved = args.state_dir.join("plan.json");
    let receipt = crate::install::receipt::Receipt::load(&args.state_dir.join("receipt.json")).ok();
    let unfinished = receipt.is_some_and(|r| r.outcome != crate::install::receipt::Outcome::Complete);
    if unfinished && saved.exists() {
        // Written by blankroot, but a file anyone with root may have changed: a first look
        // says whether it is this config's install; if so it runs only once verified.
        let shown = crate::error::excerpt(&saved.display().to_string());
        let refused = |e: Error| {
            let fresh =
                format!("to plan anew instead, remove {shown} (the install then starts over on the disk, with --wipe)");
            let hint = e.hint.clone().map_or(fresh.clone(), |h| format!("{h}; or, {fresh}"));
            e.caused_by(format!("in {shown}, the plan of the unfinished install")).hint(hint)
        };
        let text = plan::saved::read_file(&saved).map_err(refused)?;
        let old = plan::saved::parse(&text).map_err(refused)?;
        if plan::record::same_config(&old.config, &config) {
            let ours = plan::saved::verify_plan(&old, facts).map_err(refused)?;
            return Ok((ours, saved, true));
        }
    }
    let target = plan::target::from_facts(facts, &config.disk)?;
    if let Some(ours) = plan::record::resume_plan(runner, &config, &target, facts, args.wipe)? {
        crate::install::receipt::write_atomic(&saved, ours.to_json().as_bytes())?;
        return Ok((ours, saved, true));
    }
    let ids = Identities::random(config.host_id.as_deref())?;
    let plan = plan::build(&config, &target, &ids)?;
    crate::install::receipt::write_atomic(&saved, plan.to_json().as_bytes())?;
    Ok((plan, saved, false))
}

fn install(args: &InstallArgs) -> Result<()> {
    use crate::install::{self, Options, Reporter, lock, secrets};
    let runner = Local::default();
    let clock = std::time::Instant::now();
    // One install per state directory and per disk (install::lock), held to the end: the state
    // directory before its plan is read or saved (with --plan nothing there is touched before
    // the plan is verified: a refused plan leaves no trace), the disk once the plan names it.
    let early = if args.plan.is_none() { Some(lock::RunLocks::state_dir(&args.state_dir)?) } else { None };
    let facts = probe::probe(&runner)?;
    let t_probe = clock.elapsed().as_secs_f64();
    let (plan, plan_path, resumed) = install_plan(&runner, args, &facts)?;
    crate::nixgen::verify::check(&runner, &plan)?;
    let t_plan = clock.elapsed().as_secs_f64();
    let mut locks = early.map_or_else(|| lock::RunLocks::state_dir(&args.state_dir), Ok)?;
    locks.disk(std::path::Path::new(lock::LOCK_DIR), &plan.target.disk)?;
    // What the gate judges is read under the disk's lock: the first look may predate a run
    // that has just ended.
    let facts = probe::probe(&runner)?;
    let now = install::verify_machine(&plan, &facts)?;
    // doctor's live checks first (the disk is the destruction gate's below).
    let doctor_opts = crate::doctor::live::Options {
        config: plan.config.clone(),
        install_phase: args.until.is_none_or(|u| u >= crate::plan::Phase::Install),
        check_disk: false,
        now_unix: None,
    };
    let findings =
        crate::doctor::live::check_with(&crate::doctor::host::LocalHost::live(&runner), &facts, &doctor_opts);
    if let Some(e) = crate::doctor::Report::new(crate::doctor::Mode::Live, findings).as_error() {
        return Err(e);
    }
    let none = secrets::Secrets::default();
    let partition = plan.steps.iter().find(|s| s.id == "partition");
    let ours = partition.is_some_and(|s| install::exec::is_done(&runner, s, &none));
    let opts = Options {
        yes: args.yes,
        wipe: args.wipe,
        until: args.until,
        passphrase_file: args.passphrase_file.clone(),
        state_dir: args.state_dir.clone(),
        json: args.format == Format::Json,
        known_done: partition.map(|s| (s.id.clone(), ours)).into_iter().collect(),
        disk_lock: Some(PathBuf::from(&plan.target.disk.device)),
        disk_before: facts.find_disk(&plan.target.disk.path).cloned(),
    };
    install::gate(&plan, &now, &facts, ours, &opts)?;
    let mut tty = secrets::Tty;
    if !ours {
        install::confirm(&plan, &now, &opts, &mut tty)?;
    }
    let t_gate = clock.elapsed().as_secs_f64();
    let secrets = secrets::gather(&plan, opts.passphrase_file.as_deref(), &mut tty)?;
    let t_secrets = clock.elapsed().as_secs_f64();
    // Progress goes on even when standard output fails (the install is not abandoned half-way
    // because its display went away; the receipt has every step); the failure is the result
    // once the install has ended, unless the install failed itself.
    let mut out = output::Recorder::stdout();
    let mut rep = Reporter { out: &mut out, json: opts.json };
    if opts.json {
        // What blankroot spent before the first step (the secrets part includes the time a
        // person takes to type them, and the password hashing).
        let _ = writeln!(
            rep.out,
            "{}",
            serde_json::json!({"event": "prepared", "seconds": {
                "probe": t_probe, "plan": t_plan - t_probe, "gate": t_gate - t_plan, "secrets": t_secrets - t_gate}})
        );
    } else {
        let how = if ours {
            "resuming on this plan's disk"
        } else if resumed {
            "resuming"
        } else {
            "new"
        };
        let _ = writeln!(rep.out, "blankroot install: {} ({how}, plan {})", plan.target.disk.path, plan_path.display());
    }
    install::execute(&runner, &plan, &plan_path, &secrets, &opts, &mut rep)?;
    out.finish()
}

fn libvirt(args: &LibvirtArgs) -> Result<()> {
    use crate::libvirt::{Request, Source};
    let source = match (&args.xml, &args.domain) {
        (Some(f), _) => Source::File(f.clone()),
        (None, Some(d)) => Source::Domain { name: d.clone(), connect: args.connect.clone() },
        (None, None) => {
            return Err(Error::input("name a domain, or an XML file with --xml").hint("blankroot libvirt DOMAIN"));
        }
    };
    let req = Request {
        source,
        yes: args.yes,
        options: crate::libvirt::fix::Options { secure_boot: args.secure_boot },
        json: args.format == Format::Json,
    };
    // A failed write stops it before anything is asked or written (libvirt::run's `?`s): a
    // diff nobody saw is not applied.
    crate::libvirt::run(&Local::default(), &req, &mut crate::install::secrets::Tty, &mut std::io::stdout().lock())
        .map(|_| ())
}

fn doctor(args: &DoctorArgs) -> Result<()> {
    use crate::doctor::{self, host::LocalHost};
    let runner = Local::default();
    let host = match &args.root {
        Some(dir) => LocalHost::mounted(dir, &runner),
        None => LocalHost::live(&runner),
    };
    let mode = args.mode.or(args.root.as_ref().map(|_| doctor::Mode::Installed));
    let opts = doctor::live::Options {
        config: config::load(args.config.config.as_deref(), &args.config.overrides())?,
        install_phase: true,
        check_disk: true,
        now_unix: None,
    };
    let report = doctor::run(&host, mode, &opts)?;
    output::print(&match args.format {
        Format::Human => report.human(),
        Format::Json => output::json_pretty(&report)?,
    })?;
    if report.errors == 0 {
        return Ok(());
    }
    Err(Error::env(format!("doctor found {} error(s) and {} warning(s), listed above", report.errors, report.warnings))
        .hint("fix each as its finding says, then run `blankroot doctor` again"))
}

fn regenerate(args: &RegenerateArgs) -> Result<()> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let r = crate::regenerate::run(&Local::default(), &root, args.check)?;
    let text = match args.format {
        Format::Json => output::json_line(&r)?,
        Format::Human if !r.changed => format!("{} is what this blankroot generates; nothing to do.\n", r.path),
        Format::Human if r.written => format!(
            "{}Rewrote {} (the previous one is {}); activate it: `sudo nixos-rebuild boot`, then reboot.\n",
            r.diff,
            r.path,
            r.backup.as_deref().unwrap_or_default()
        ),
        Format::Human => r.diff.clone(),
    };
    output::print(&text)?;
    if args.check && r.changed {
        return Err(Error::env(format!("{} is not what this blankroot generates", r.path))
            .hint("`blankroot regenerate` rewrites it (keeping the old one as blankroot.nix.old)"));
    }
    Ok(())
}

fn persist(args: &PersistArgs) -> Result<()> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let req = crate::persist::Request { paths: args.paths.clone(), create: args.create, root: root.clone() };
    let kept = crate::persist::run(&Local::default(), &req)?;
    let activate = if args.root.is_some() {
        format!(
            "it takes effect when the system at {} is built (nixos-install, or nixos-rebuild there) and booted",
            root.display()
        )
    } else {
        "activate it now: `sudo nixos-rebuild switch`".to_string()
    };
    let text = match args.format {
        Format::Json => output::json_line(&serde_json::json!({"kept": kept, "activate": activate}))?,
        Format::Human => {
            let mut s = String::new();
            for k in &kept {
                let what = if k.created {
                    "a new, empty directory".to_string()
                } else {
                    format!("{} entries, {}", k.entries, crate::diff::human_size(k.bytes))
                };
                let list = if k.directory { "directories" } else { "files" };
                s += &format!("Kept {} in /persist{} ({what}); added to [persist] {list}.\n", k.path, k.path);
            }
            s + &format!("blankroot.toml updated and blankroot.nix regenerated; {activate}.\n")
        }
    };
    output::print(&text)
}

fn verify(args: &VerifyArgs) -> Result<()> {
    use crate::doctor::host::LocalHost;
    let runner = Local::default();
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let host = match &args.root {
        Some(dir) => LocalHost::mounted(dir, &runner),
        None => LocalHost::live(&runner),
    };
    let config = config::load(Some(&root.join("etc/nixos/blankroot.toml")), &Default::default()).map_err(|e| {
        e.hint("verify-rollback runs on a system blankroot installed (or with --root on one mounted here)")
    })?;
    match args.action {
        VerifyAction::Arm => {
            let r = crate::verify::arm(&host, &root, &config)?;
            output::print(&match args.format {
                Format::Json => output::json_line(&serde_json::json!({"armed": r}))?,
                Format::Human => format!(
                    "Armed: {} holds token {}… on {}; the record is in {}.\nReboot, then run `blankroot verify-rollback check`.\n",
                    crate::verify::CANARY,
                    r.token.chars().take(8).collect::<String>(),
                    r.dataset,
                    crate::verify::RECORD
                ),
            })
        }
        VerifyAction::Check => {
            let v = crate::verify::check(&host, &root, &config)?;
            output::print(&match args.format {
                Format::Json => output::json_pretty(&v)?,
                Format::Human => {
                    v.causes.iter().fold(format!("{}\n", v.summary), |s, c| s + &format!("  likely cause: {c}\n"))
                }
            })?;
            if v.pass {
                Ok(())
            } else {
                Err(Error::env("the rollback did not erase the canary")
                    .hint("fix the likely cause above, then arm, reboot and check again"))
            }
        }
    }
}
