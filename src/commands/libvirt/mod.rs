//! `blankroot libvirt`: fixes a libvirt domain for this layout before install, the two traps of
//! the seed that lie outside the disk: a `<serial>` on every virtio disk (without one a virtio
//! disk has no /dev/disk/by-id name, where NixOS imports pools from) and UEFI firmware (the
//! seed: "you will waste a bunch of time if you forget this"). Works on a domain through
//! `virsh` (refusing a running one) or on an XML file; shows a unified diff and writes only
//! after confirmation; a second run has nothing to change. The edits themselves are in `fix`,
//! the lossless XML view they work on in `xml`.

pub mod fix;
pub mod xml;

use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::prompt::Prompter;
use crate::infra::runner::Cmd;
use crate::output::Events;
use serde::Serialize;
use std::path::PathBuf;

/// Where the domain XML comes from and goes back to.
#[derive(Debug, Clone)]
pub enum Source {
    /// A libvirt domain (name, UUID or id), on `connect` (else virsh's default connection).
    Domain { name: String, connect: Option<String> },
    /// A domain XML file, rewritten in place.
    File(PathBuf),
}

#[derive(Debug, Clone)]
pub struct Request {
    pub source: Source,
    /// Write without asking.
    pub yes: bool,
    pub options: fix::Options,
}

/// What was found and done.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// `domain NAME` or `file PATH`.
    pub target: String,
    pub changes: Vec<fix::Change>,
    pub notes: Vec<String>,
    /// The unified diff of the XML (empty when nothing changes).
    pub diff: String,
    pub applied: bool,
    /// For people: what to do next (or that nothing changes).
    #[serde(skip)]
    pub next: String,
    /// Why the changes were not applied (no confirmation): the command's failure.
    #[serde(skip)]
    pub refused: Option<Error>,
}

impl crate::output::Render for Report {
    fn human(&self, _: crate::output::Detail) -> String {
        if self.next.is_empty() { String::new() } else { format!("{}\n", self.next) }
    }
    fn failure(&self) -> Option<Error> {
        self.refused.clone()
    }
}

fn virsh(connect: &Option<String>, args: &[&str]) -> Cmd {
    let mut argv = vec!["virsh".to_string()];
    if let Some(uri) = connect {
        argv.extend(["-c".to_string(), uri.clone()]);
    }
    argv.extend(args.iter().map(|a| a.to_string()));
    Cmd::new(argv)
}

fn on(connect: &Option<String>) -> String {
    connect.as_ref().map(|c| format!(" on {c}")).unwrap_or_default()
}

/// The domain's persistent XML, refusing a domain that is not shut off.
fn read_domain(host: &dyn Host, name: &str, connect: &Option<String>) -> Result<String> {
    let uuid = host.run(&virsh(connect, &["domuuid", name])).map_err(|e| {
        e.context(format!("no libvirt domain {name}{}", on(connect))).kind(crate::error::ErrorKind::Input).hint("list the domains with `virsh list --all` (and pick the connection with --connect or LIBVIRT_DEFAULT_URI, e.g. qemu:///system)")
    })?;
    let uuid = uuid.stdout_str().trim().to_string();
    // The shut-off list by UUID, not `virsh domstate`, whose words are translated.
    let off = host.run(&virsh(connect, &["list", "--all", "--uuid", "--state-shutoff"]))?;
    if !off.stdout_str().lines().any(|l| l.trim() == uuid) {
        return Err(Error::env(format!("the domain {name} is running; blankroot changes only a powered-off domain"))
            .hint(format!(
                "power it off first (`virsh shutdown {name}`, or `virsh destroy {name}` to pull the plug), then run this again"
            )));
    }
    Ok(host.run(&virsh(connect, &["dumpxml", "--inactive", name]))?.stdout_str())
}

/// The unified diff between two versions of a document.
pub fn unified_diff(old: &str, new: &str, old_name: &str, new_name: &str) -> String {
    similar::TextDiff::from_lines(old, new).unified_diff().context_radius(3).header(old_name, new_name).to_string()
}

fn ask(req: &Request, label: &str, p: &mut dyn Prompter, json: bool) -> Result<()> {
    if req.yes {
        return Ok(());
    }
    let hint = "run again with --yes to write it";
    if json || !p.interactive() {
        return Err(Error::input(format!("not applied: {label} is unchanged; confirmation needed")).hint(hint));
    }
    let answer = p.line(&format!("Apply these changes to {label}? [y/N] "))?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(Error::input(format!("not applied: {label} is unchanged")).hint(hint))
    }
}

/// The largest domain XML file read: virsh's own limit for one (libvirt tools/vsh.h,
/// `VSH_MAX_XML_FILE (10*1024*1024)`).
const XML_MAX: u64 = 10 << 20;

/// The domain XML file `path`, after `fsutil` has agreed to rewrite it later (so a fifo or a
/// device is refused before it is opened), at most [`XML_MAX`] bytes of UTF-8.
fn read_file(path: &std::path::Path) -> Result<String> {
    crate::infra::fsutil::target(path, &file_opts())?;
    let shown = crate::error::excerpt(&path.display().to_string());
    let hint = "give the path of a domain XML file (`virsh dumpxml DOMAIN > FILE`)";
    let bytes = crate::infra::fsutil::read_at_most(path, XML_MAX)
        .map_err(|e| Error::input(format!("cannot read {shown}")).caused_by(e).hint(hint))?
        .ok_or_else(|| {
            Error::input(format!("{shown} is larger than {} MiB: not a domain XML", XML_MAX >> 20)).hint(hint)
        })?;
    String::from_utf8(bytes)
        .map_err(|e| Error::input(format!("{shown} is not UTF-8 text")).caused_by(e.utf8_error()).hint(hint))
}

/// Rewrites the domain XML file `path` with `fsutil::write`: a symbolic link is followed and
/// the file it names replaced in place (the link stays a link; `virsh define` reads through it
/// anyway), keeping that file's owner, group and mode; a file with other hard links, or not a
/// regular file, is refused and left as it is.
fn write_file(path: &std::path::Path, text: &str) -> Result<()> {
    crate::infra::fsutil::write(path, text.as_bytes(), &file_opts())
}

fn file_opts() -> crate::infra::fsutil::Opts {
    crate::infra::fsutil::Opts::new(
        crate::infra::fsutil::Links::Follow,
        "copy the XML somewhere writable and run this on the copy, or run as a user who may write its directory",
    )
}

/// Runs `blankroot libvirt`: the changes and their diff shown through `events` (to people;
/// JSON mode shows only the report, and never asks), the confirmation asked through `p`, then
/// the domain defined or the file written and read back.
pub fn run(host: &dyn Host, req: &Request, p: &mut dyn Prompter, events: &mut Events) -> Result<Report> {
    let (label, target, text) = match &req.source {
        Source::Domain { name, connect } => {
            (name.clone(), format!("domain {name}{}", on(connect)), read_domain(host, name, connect)?)
        }
        Source::File(path) => {
            let text = read_file(path)?;
            (path.display().to_string(), format!("file {}", path.display()), text)
        }
    };
    let mut fixed = fix::fix(&text, &label, req.options)?;
    // The inserted lines take the file's line endings (a CRLF file stays CRLF).
    fixed.text = crate::infra::fsutil::keep_line_endings(&text, &fixed.text);
    let mut report = Report {
        target: target.clone(),
        changes: fixed.changes.clone(),
        notes: fixed.notes.clone(),
        diff: unified_diff(&text, &fixed.text, &format!("{label} (now)"), &format!("{label} (after)")),
        applied: false,
        next: String::new(),
        refused: None,
    };
    let mut preview = format!("blankroot libvirt: {target}\n");
    for n in &report.notes {
        preview += &format!("  note: {n}\n");
    }
    if report.changes.is_empty() {
        events.say(&preview);
        report.next = format!(
            "nothing to change: {label} has UEFI firmware and a serial on every virtio disk that can carry one"
        );
        return Ok(report);
    }
    for c in &report.changes {
        preview += &format!("  + {}\n", c.describe());
    }
    events.say(&(preview + &report.diff));
    // A diff nobody saw is not applied.
    if let Some(e) = events.error() {
        return Err(e);
    }
    if let Err(e) = ask(req, &label, p, events.json()) {
        report.refused = Some(e);
        return Ok(report);
    }
    match &req.source {
        Source::Domain { name, connect } => {
            host.run(&virsh(connect, &["define", "/proc/self/fd/0"]).stdin(fixed.text.as_bytes())).map_err(|e| {
                e.hint(format!(
                    "libvirt refused the changed definition; {name} is as it was (the diff above shows what was tried)"
                ))
            })?;
            let now = read_domain(host, name, connect)?;
            let left = fix::fix(&now, name, req.options)?;
            if !left.changes.is_empty() {
                return Err(Error::command(format!("libvirt did not keep the changes to {name}"))
                    .caused_by(left.changes.iter().map(fix::Change::describe).collect::<Vec<_>>().join("; "))
                    .hint(format!("look at `virsh dumpxml {name}`; edit it with `virsh edit {name}`")));
            }
        }
        Source::File(path) => write_file(path, &fixed.text)?,
    }
    report.applied = true;
    report.next = match &req.source {
        Source::Domain { name, connect } => {
            let c = connect.as_ref().map(|c| format!(" -c {}", crate::infra::shell::quote(c))).unwrap_or_default();
            format!("Defined {name}. Start it with `virsh{c} start {}`.", crate::infra::shell::quote(name))
        }
        Source::File(path) => {
            let q = crate::infra::shell::quote(&path.display().to_string());
            format!("Wrote {}. Load it with `virsh define {q}` (with the domain powered off).", path.display())
        }
    };
    Ok(report)
}
