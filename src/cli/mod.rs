//! The command line: clap definitions ([`args`]), and [`run`], which turns the arguments into
//! a command's request, runs the command on the machine it is about, and hands the report to
//! the one renderer (`output`). `main` only calls [`run`] and maps the error to an exit code.
//! Shell completions and man pages come from the same definitions ([`docs`]).

pub mod args;
pub mod docs;

use crate::commands;
use crate::error::{ErrorKind, Result};
use crate::infra::host::LocalHost;
use crate::infra::prompt::Tty;
use crate::infra::runner::Local;
use crate::output::{self, ColorChoice, Detail, Events};
use args::*;
use clap::{Parser, Subcommand};

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
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always, or never.
    #[arg(long, value_enum, default_value = "auto", global = true, value_name = "WHEN")]
    pub color: ColorChoice,
    /// Say less: the result and what is wrong (install: no line per step; plan: no commands
    /// or files; doctor: only the problems).
    #[arg(long, short, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Say more: every command blankroot runs is shown on standard error as it starts.
    #[arg(long, short, global = true)]
    pub verbose: bool,
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
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on standard output.
    Completions(CompletionsArgs),
    /// Write a man page for blankroot and for each of its commands into a directory.
    Manpages(ManpagesArgs),
}

impl Cli {
    fn detail(&self) -> Detail {
        match (self.quiet, self.verbose) {
            (true, _) => Detail::Quiet,
            (_, true) => Detail::Verbose,
            _ => Detail::Normal,
        }
    }
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

/// Runs the command the arguments name.
pub fn run(cli: Cli) -> Result<()> {
    output::style::init(cli.color);
    let detail = cli.detail();
    let runner = Local { verbose: detail == Detail::Verbose };
    let here = LocalHost::live(&runner);
    match &cli.command {
        Command::Plan(a) => plan(&here, a, detail),
        Command::Install(a) => {
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let mut events = Events::new(&mut out, a.format, detail);
            let res = commands::install::run(&here, &a.request(), &mut Tty, &mut events);
            // The install's own failure first; a display that went away is the result only
            // when the install itself ended well.
            res.and(events.finish())
        }
        Command::Libvirt(a) => {
            let req = a.request()?;
            let stdout = std::io::stdout();
            let mut out = stdout.lock();
            let mut events = Events::new(&mut out, a.format, detail);
            let report = commands::libvirt::run(&here, &req, &mut Tty, &mut events)?;
            events.finish()?;
            output::emit(&report, a.format, detail)
        }
        Command::Doctor(a) => {
            let host = LocalHost::at(a.root.as_deref(), &runner);
            let mode = a.mode.or(a.root.as_ref().map(|_| commands::doctor::Mode::Installed));
            let opts = crate::checks::live::Options {
                config: crate::config::load(a.config.config.as_deref(), &a.config.overrides())?,
                until: None,
                disk: crate::checks::live::DiskRule::Report,
                now_unix: None,
            };
            output::emit(&commands::doctor::run(&host, mode, &opts)?, a.format, detail)
        }
        Command::Diff(a) => {
            let host = LocalHost::at(a.root.as_deref(), &runner);
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
            let mut events = Events::new(&mut out, a.format, detail).buffered();
            let outcome = commands::diff::run(&host, &a.request(), &mut events);
            // A failed write while listing is the error (a closed pipe: quiet).
            let listed = events.finish();
            match outcome? {
                commands::diff::Outcome::Listed => listed,
                commands::diff::Outcome::Groups(report) => output::emit(&report, a.format, detail),
            }
        }
        Command::Persist(a) => {
            let host = LocalHost::at(a.root.as_deref(), &runner);
            output::emit(&commands::persist::run(&host, &a.request())?, a.format, detail)
        }
        Command::Regenerate(a) => {
            let host = LocalHost::at(a.root.as_deref(), &runner);
            output::emit(&commands::regenerate::run(&host, a.check)?, a.format, detail)
        }
        Command::VerifyRollback(a) => {
            let host = LocalHost::at(a.root.as_deref(), &runner);
            output::emit(&commands::verify::run(&host, a.action.request())?, a.format, detail)
        }
        Command::Completions(a) => output::print(&docs::completions(a.shell)),
        Command::Manpages(a) => docs::manpages(&a.dir),
    }
}

/// `plan`: made for this machine (or the example), printed or written to `--output`.
fn plan(host: &LocalHost<Local>, a: &PlanArgs, detail: Detail) -> Result<()> {
    let plan = commands::plan::run(host, &a.request())?;
    let text = output::render(&plan, a.format, detail)?;
    match &a.output {
        None => output::print(&text),
        // Replaced safely (`fsutil`): a link followed to its file as `>` would, owner and mode
        // kept, never half-written; a pipe or device written to as `>` would.
        Some(p) => {
            use crate::infra::fsutil::{Links, Opts, write};
            let opts = Opts { streams: true, ..Opts::new(Links::Follow, "choose a writable path for --output") };
            write(p, text.as_bytes(), &opts)
        }
    }
}
