//! The `blankroot diff` command's flow: where the lines come from (zfs itself, streamed
//! through the host; a saved file; stdin), sizes from the examined file system where this
//! process can read it, and what it ends with (the grouped report; with `--all`, every erased
//! path as it comes, as events).

use super::{Class, MAX_LINE, ReadError, Report, Rules, Tally, Tree};
use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::Cmd;
use crate::output::Events;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// What to report.
#[derive(Debug, Clone)]
pub struct Request {
    /// Read saved `zfs diff -FHt` output from this file (`-`: standard input) instead of
    /// running zfs.
    pub input: Option<PathBuf>,
    /// The layout; default: the examined root's /etc/nixos/blankroot.toml.
    pub config: Option<PathBuf>,
    /// Every erased path (as events) instead of groups.
    pub all: bool,
    /// Directory levels of a group.
    pub depth: u8,
    /// At most this many groups are shown to people.
    pub limit: usize,
    /// Paths left out too.
    pub ignore: Vec<String>,
    /// Leave out the built-in noise list.
    pub no_default_ignores: bool,
}

/// The examined root on this machine.
struct Live(PathBuf);

impl Live {
    fn path(&self, rel: &[u8]) -> PathBuf {
        self.0.join(Path::new(std::ffi::OsStr::from_bytes(rel.strip_prefix(b"/").unwrap_or(rel))))
    }
}

impl Tree for Live {
    fn size(&self, rel: &[u8]) -> Option<u64> {
        std::fs::symlink_metadata(self.path(rel)).ok().map(|m| m.len())
    }
    fn link(&self, rel: &[u8]) -> Option<Vec<u8>> {
        std::fs::read_link(self.path(rel)).ok().map(|p| p.into_os_string().into_encoded_bytes())
    }
}

fn load_config(req: &Request, root: &Path) -> Result<crate::config::Config> {
    let path = req.config.clone().unwrap_or_else(|| root.join("etc/nixos/blankroot.toml"));
    if !path.exists() && req.config.is_none() {
        return Err(Error::input(format!("no {}: blankroot diff needs the layout it installed", path.display()))
            .hint("run it on a system blankroot installed, or give the layout with --config blankroot.toml"));
    }
    crate::config::load(Some(&path), &Default::default())
}

/// One `--all` entry: as JSON (the change, the type, the path unescaped and as zfs wrote it,
/// where a rename came from), and as a line for people (change, type, the path as zfs wrote it).
fn entry(e: &crate::zdiff::Entry) -> (serde_json::Value, String) {
    let path = e.new_path.unwrap_or(e.path);
    let unescaped = crate::zdiff::unescape(path);
    let json = serde_json::json!({
        "change": e.change,
        "type": e.file_type,
        "path": String::from_utf8_lossy(&unescaped),
        "path_zfs": String::from_utf8_lossy(path),
        "renamed_from": e.new_path.map(|_| String::from_utf8_lossy(&crate::zdiff::unescape(e.path)).into_owned()),
    });
    let t = e.file_type.map_or(' ', |t| match t {
        crate::zdiff::FileType::Directory => '/',
        crate::zdiff::FileType::Symlink => '@',
        crate::zdiff::FileType::File => 'F',
        _ => '?',
    });
    (json, format!("{} {t} {}", e.change.symbol(), String::from_utf8_lossy(path)))
}

/// Where the lines come from, for messages: `FILE`, `standard input`, or zfs's command line.
fn source_name(file: &Path) -> String {
    if file == Path::new("-") { "standard input".into() } else { file.display().to_string().escape_debug().to_string() }
}

/// A reading error as blankroot's: of a saved file (bad input, exit 2) or of zfs's own output
/// (a command that printed what it should not, exit 4).
fn read_error(e: ReadError, source: &str, zfs: bool) -> Error {
    let make = |m: String| if zfs { Error::command(m) } else { Error::input(m) };
    let hint = if zfs {
        "run `zfs diff -FHt <root>@blank` yourself to see what it prints; blankroot reads only that format"
    } else {
        "save it with `zfs diff -FHt POOL/local/root@blank > FILE` and pass that file unedited"
    };
    match e {
        ReadError::Io(e) => make(format!("cannot read {source}")).caused_by(e).hint(hint),
        ReadError::TooLong { line } => {
            make(format!("{source}:{line}: a line longer than {MAX_LINE} bytes is not zfs diff output"))
                .caused_by("zfs diff prints at most two paths on a line, each under 8 KiB before its escapes")
                .hint(hint)
        }
        ReadError::Bad { line, bad, text } => {
            make(format!("{source}:{line}:{}: not zfs diff -FHt output: {}", bad.col, bad.why))
                .caused_by(format!("line {line} is {}", crate::error::excerpt(&text)))
                .hint(hint)
        }
        ReadError::Empty => make(format!("{source} holds no line of zfs diff output"))
            .caused_by("an empty input says nothing about what the next boot erases")
            .hint(hint),
        ReadError::Stopped(e) => e,
    }
}

/// Takes each line: tallied, and with `--all` an erased path sent out as it comes.
struct Each<'a, 'e, 'r> {
    tally: Tally<'r>,
    events: &'a mut Events<'e>,
    all: bool,
}

impl Each<'_, '_, '_> {
    fn line(&mut self, number: u64, line: &[u8]) -> std::result::Result<(), ReadError> {
        if line.len() > MAX_LINE {
            return Err(ReadError::TooLong { line: number });
        }
        match self.tally.add_line(line) {
            Ok((e, Class::Erased)) if self.all => {
                let (json, text) = entry(&e);
                self.events.event(json, &text, true);
                // A reader that went away (`| head`) ends the reading.
                if let Some(e) = self.events.error() {
                    return Err(ReadError::Stopped(e));
                }
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(bad) => Err(ReadError::Bad {
                line: number,
                bad,
                text: String::from_utf8_lossy(line.get(..400).unwrap_or(line)).into_owned(),
            }),
        }
    }
}

/// What `diff` ends with: the grouped report, or (with `--all`) nothing more than the events.
#[derive(Debug)]
pub enum Outcome {
    Groups(Report),
    Listed,
}

/// Runs `blankroot diff` on `host` (its files must be this process's to read: the layout, and
/// the sizes of what is erased); with `--all` every erased path goes to `events` as it comes.
pub fn run(host: &dyn Host, req: &Request, events: &mut Events) -> Result<Outcome> {
    let root = host.local_root().map(Path::to_path_buf).ok_or_else(|| {
        Error::input("blankroot diff reads the examined system's files").hint("run it on that system")
    })?;
    let config = load_config(req, &root)?;
    let mut rules = Rules::new(&config, host.root(), &req.ignore, !req.no_default_ignores);
    rules.depth = usize::from(req.depth);
    let snapshot = config.root_snapshot().to_string();
    // Sizes and link targets come from the file system the diff is about: when zfs runs here,
    // or --root names a tree that is here.
    let tree = Live(root.clone());
    let here = req.input.is_none() || (host.root() != "/" && root.is_dir());
    let tree = here.then_some(&tree as &dyn Tree);
    let mut report = match &req.input {
        // Without --all the order of lines does not matter: tally on every core.
        Some(file) if !req.all => {
            let reader: Box<dyn std::io::Read + Send> =
                if file == Path::new("-") { Box::new(std::io::stdin()) } else { Box::new(open(file)?) };
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
            super::tally_parallel(reader, &rules, &snapshot, tree, threads)
                .map_err(|e| read_error(e, &source_name(file), false))?
        }
        Some(file) => {
            let reader: Box<dyn std::io::Read> =
                if file == Path::new("-") { Box::new(std::io::stdin().lock()) } else { Box::new(open(file)?) };
            let mut each = Each { tally: Tally::new(&rules, &snapshot, tree), events, all: true };
            super::each_line(reader, |n, l| each.line(n, l)).map_err(|e| read_error(e, &source_name(file), false))?;
            each.tally.finish()
        }
        None => from_zfs(host, &snapshot, Tally::new(&rules, &snapshot, tree), req.all, events)?,
    };
    if req.all {
        return Ok(Outcome::Listed);
    }
    report.limit = req.limit;
    Ok(Outcome::Groups(report))
}

/// Runs `zfs diff -FHt` and takes its lines as they come. zfs exiting 0 without a line means
/// the root has not changed since the snapshot: the report says so.
fn from_zfs(host: &dyn Host, snapshot: &str, tally: Tally, all: bool, events: &mut Events) -> Result<Report> {
    let cmd = Cmd::new(["zfs", "diff", "-FHt", snapshot]);
    let mut each = Each { tally, events, all };
    let (mut number, mut failed) = (0u64, None);
    let status = host.stream_lines(&cmd, &mut |line: &[u8]| {
        number += 1;
        if failed.is_none() {
            failed = each.line(number, line).err();
        }
    })?;
    if !status.success() {
        let err = String::from_utf8_lossy(&status.stderr).trim().to_string();
        let hint = if err.contains("unmounted") {
            "zfs diff needs the dataset mounted; mount it (read-only is enough) or run this on the booted system"
        } else {
            "check that the pool is imported and the snapshot exists: `zfs list -t snapshot`"
        };
        return Err(Error::command(format!("`{}` failed", cmd.display())).caused_by(err).hint(hint));
    }
    if let Some(e) = failed {
        return Err(read_error(e, &format!("`{}`", cmd.display()), true));
    }
    Ok(each.tally.finish())
}

fn open(file: &Path) -> Result<std::fs::File> {
    std::fs::File::open(file).map_err(|e| {
        Error::input(format!("cannot read {}", file.display()))
            .caused_by(e)
            .hint("save it with `zfs diff -FHt POOL/local/root@blank > FILE`")
    })
}
