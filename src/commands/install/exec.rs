//! Running plan steps through the runner: checks, commands with secrets on stdin, files
//! written with their mode and owner (a destructive step with the whole disk locked from udev:
//! `super::lock`), and undo of what is active after a failure.

use super::lock::DeviceLock;
use super::secrets::Secrets;
use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::Cmd;
use crate::plan::{Check, Content, Expect, PlannedCommand, PlannedFile, Stdin, Step};
use std::path::Path;

/// Whether a command is udevadm's (by name or path).
fn is_udevadm(c: &PlannedCommand) -> bool {
    c.argv.first().is_some_and(|p| Path::new(p).file_name().is_some_and(|n| n == "udevadm"))
}

/// Turns a planned command into a runnable one, resolving a secret stdin by name.
pub fn command(c: &PlannedCommand, secrets: &Secrets) -> Result<Cmd> {
    let cmd = Cmd::new(c.argv.clone());
    Ok(match &c.stdin {
        None => cmd,
        Some(Stdin::Text(t)) => cmd.stdin(t.as_bytes()),
        Some(Stdin::Secret(name)) => cmd.secret_stdin(secrets.get(name)?),
    })
}

/// Whether one check holds now. A program that cannot be started, or a check that needs a
/// secret not gathered yet, counts as "does not hold".
pub(crate) fn check_holds(host: &dyn Host, c: &Check, secrets: &Secrets) -> bool {
    let planned = PlannedCommand { argv: c.argv.clone(), stdin: c.stdin.clone() };
    let Ok(cmd) = command(&planned, secrets) else { return false };
    let Ok(out) = host.output(&cmd) else { return false };
    match &c.expect {
        Expect::Success => out.success(),
        Expect::Failure => !out.success(),
        Expect::Stdout(want) => out.success() && out.stdout_str().trim() == want.trim(),
    }
}

/// A step is done when it has checks and they all hold. (Steps that only write files have no
/// check and always run: writing a file again is harmless.)
pub(crate) fn is_done(host: &dyn Host, step: &Step, secrets: &Secrets) -> bool {
    !step.check.is_empty() && step.check.iter().all(|c| check_holds(host, c, secrets))
}

/// Whether what a step made is on the disk now, for a report: its checks that need no secret
/// all hold (and it has one). The LUKS container's passphrase test is left out: a full key
/// derivation (seconds under emulation) to say what its UUID already says is there.
pub(crate) fn holds_for_report(host: &dyn Host, step: &Step) -> bool {
    let asked: Vec<&Check> = step.check.iter().filter(|c| !matches!(c.stdin, Some(Stdin::Secret(_)))).collect();
    let none = Secrets::default();
    !asked.is_empty() && asked.iter().all(|c| check_holds(host, c, &none))
}

/// Writes one planned file with its mode and owner, content on stdin (never on argv): into a
/// new file beside it, then renamed over it, so that the path holds the old file or the whole
/// new one, never a part (GNU `install` writes its destination in place).
pub fn write_file(host: &dyn Host, f: &PlannedFile, secrets: &Secrets) -> Result<()> {
    let fail = |e: Error| e.hint(format!("blankroot could not write {}", f.path));
    let new = new_beside(&f.path);
    // /proc/self/fd/0 rather than /dev/stdin: the latter is a symlink made by systemd or udev
    // rules, absent on minimal systems.
    let argv = ["install", "-D", "-m", &f.mode, "-o", &f.owner, "-g", &f.group, "/proc/self/fd/0", &new];
    let cmd = Cmd::new(argv);
    let cmd = match &f.content {
        Content::Text(t) => cmd.stdin(t.as_bytes()),
        Content::Hash(name) => cmd.secret_stdin(std::sync::Arc::new(secrets.get(name)?.with_newline())),
        Content::Blankroot(_) => cmd.stdin(own_static_executable()?),
    };
    // -T: a directory at the path is an error, not a place to move the file into.
    let renamed = host.run(&cmd).and_then(|_| host.run(&Cmd::new(["mv", "-f", "-T", &new, &f.path])));
    if let Err(e) = renamed {
        let _ = host.output(&Cmd::new(["rm", "-f", &new]));
        return Err(fail(e));
    }
    Ok(())
}

/// `DIR/.NAME.blankroot-new` for `DIR/NAME`: in the same directory, so the rename is atomic.
fn new_beside(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/.{name}.blankroot-new"),
        None => format!(".{path}.blankroot-new"),
    }
}

/// This blankroot's own executable, which the installed system keeps: refused unless it is
/// static (the plan keeps it only then; a changed binary is caught here).
fn own_static_executable() -> Result<Vec<u8>> {
    let bytes = crate::infra::elf::own_executable()
        .map_err(|e| Error::env("cannot read blankroot's own executable (/proc/self/exe)").caused_by(e))?;
    match crate::infra::elf::is_static(&bytes) {
        Ok(true) => Ok(bytes),
        Ok(false) => Err(Error::env("this blankroot needs a dynamic loader: it cannot be kept on the installed system")
            .hint("install with the static blankroot (`scripts/build-static`, or the flake's packages.static), or set [persist] blankroot = false")),
        Err(why) => Err(Error::env(format!("blankroot's own executable cannot be read as ELF: {why}"))),
    }
}

/// Whether every file a step writes is on disk now with the planned content (`cmp` against
/// the text on stdin). For steps that only write files and have no check (`write-config`),
/// when the question is what the disk holds. A file made from a secret (a password hash,
/// salted anew at every run) never counts.
pub(crate) fn files_hold(host: &dyn Host, step: &Step) -> bool {
    !step.files.is_empty()
        && step.files.iter().all(|f| match &f.content {
            Content::Text(t) => host
                .output(&Cmd::new(["cmp", "-s", "-", f.path.as_str()]).stdin(t.as_bytes()))
                .is_ok_and(|o| o.success()),
            Content::Blankroot(_) => own_static_executable().is_ok_and(|b| {
                host.output(&Cmd::new(["cmp", "-s", "-", f.path.as_str()]).stdin(b)).is_ok_and(|o| o.success())
            }),
            Content::Hash(_) => false,
        })
}

/// Runs a step's commands and files. The step is done when they all succeed and its `verify`
/// checks hold: those are what a resume relies on never to destroy again what this run made,
/// so they are proven here, once, on the real result. (Asking every check again would cost a
/// process or two per step for what the commands' exit status already says; under emulation
/// that was most of blankroot's overhead: see benches/install_vm.rs.)
///
/// `disk_lock`: the whole disk's device node, locked while a destructive step's commands run
/// (released around `udevadm`, and before the checks): see [`super::lock`]. `None` locks
/// nothing (tests with a fake host).
pub fn run_step(host: &dyn Host, step: &Step, secrets: &Secrets, disk_lock: Option<&Path>) -> Result<()> {
    let mut lock = disk_lock.filter(|_| step.destructive).map(DeviceLock::new);
    for c in &step.commands {
        if let Some(l) = lock.as_mut() {
            // udevadm waits for udevd, which waits for this lock to go.
            if is_udevadm(c) { l.release() } else { l.acquire()? }
        }
        host.run(&command(c, secrets)?)?;
    }
    if let Some(l) = lock.as_mut().filter(|_| !step.files.is_empty()) {
        l.acquire()?;
    }
    for f in &step.files {
        write_file(host, f, secrets)?;
    }
    drop(lock);
    if let Some(c) = step.check.iter().filter(|c| c.verify).find(|c| !check_holds(host, c, secrets)) {
        return Err(Error::command(format!("step {} ran, but its check does not hold", step.id)).caused_by(format!(
            "`{}` did not give {}",
            crate::infra::shell::quote_argv(&c.argv),
            match &c.expect {
                Expect::Success => "success".to_string(),
                Expect::Failure => "failure".to_string(),
                Expect::Stdout(s) => format!("the output {s:?}"),
            }
        )));
    }
    Ok(())
}

/// What undoing one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Undo {
    /// Nothing to undo: no revert commands, or the step's effect is not active.
    Inactive,
    Undone,
    /// What went wrong (the remaining revert commands still ran).
    Failed(String),
}

/// Undoes a step's effect on the running system if it is active (its check holds): closes,
/// exports, unmounts. Never stops on an error; it reports it.
pub(crate) fn revert_step(host: &dyn Host, step: &Step, secrets: &Secrets) -> Undo {
    if step.revert.is_empty() || !is_done(host, step, secrets) {
        return Undo::Inactive;
    }
    let errors: Vec<String> =
        step.revert.iter().filter_map(|c| host.run(&Cmd::new(c.argv.clone())).err().map(|e| e.message)).collect();
    if errors.is_empty() { Undo::Undone } else { Undo::Failed(errors.join("; ")) }
}
