//! The `blankroot diff` command: where the lines come from (zfs itself, streamed through the
//! runner; a saved file; stdin), sizes from the live file system, and the output (groups for
//! people or JSON; with `--all`, every erased path as it comes).

use super::{Class, Rules, Tally, Tree};
use crate::cli::{DiffArgs, Format};
use crate::error::{Error, Result};
use crate::runner::{Cmd, Runner};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

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

fn load_config(args: &DiffArgs, root: &Path) -> Result<crate::config::Config> {
    let path = args.config.clone().unwrap_or_else(|| root.join("etc/nixos/blankroot.toml"));
    if !path.exists() && args.config.is_none() {
        return Err(Error::input(format!("no {}: blankroot diff needs the layout it installed", path.display()))
            .hint("run it on a system blankroot installed, or give the layout with --config blankroot.toml"));
    }
    crate::config::load(Some(&path), &Default::default())
}

/// One `--all` line: the change, the type, the path as zfs wrote it.
fn entry_line(e: &crate::zdiff::Entry, json: bool) -> String {
    let path = e.new_path.unwrap_or(e.path);
    if json {
        let unescaped = crate::zdiff::unescape(path);
        serde_json::json!({
            "change": e.change,
            "type": e.file_type,
            "path": String::from_utf8_lossy(&unescaped),
            "path_zfs": String::from_utf8_lossy(path),
            "renamed_from": e.new_path.map(|_| String::from_utf8_lossy(&crate::zdiff::unescape(e.path)).into_owned()),
        })
        .to_string()
    } else {
        let t = e.file_type.map_or(' ', |t| match t {
            crate::zdiff::FileType::Directory => '/',
            crate::zdiff::FileType::Symlink => '@',
            crate::zdiff::FileType::File => 'F',
            _ => '?',
        });
        format!("{} {t} {}", e.change.symbol(), String::from_utf8_lossy(path))
    }
}

pub fn run(runner: &impl Runner, args: &DiffArgs) -> Result<()> {
    let root = args.root.clone().unwrap_or_else(|| PathBuf::from("/"));
    let config = load_config(args, &root)?;
    let mut rules = Rules::new(&config, &root.display().to_string(), &args.ignore, !args.no_default_ignores);
    rules.depth = usize::from(args.depth);
    let snapshot = format!("{}@blank", config.full_name(config.root_dataset()));
    // Sizes and link targets come from the file system the diff is about: when zfs runs here,
    // or --root names a tree that is here.
    let tree = Live(root.clone());
    let here = args.input.is_none() || (args.root.is_some() && root.is_dir());
    let mut tally = Tally::new(&rules, &snapshot, here.then_some(&tree as &dyn Tree));
    let json = args.format == Format::Json;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut each = |line: &[u8]| {
        if let Some((e, Class::Erased)) = tally.add(line)
            && args.all
        {
            let _ = writeln!(out, "{}", entry_line(&e, json));
        }
    };
    match &args.input {
        // Without --all the order of lines does not matter: tally on every core.
        Some(file) if !args.all => {
            let reader: Box<dyn std::io::Read + Send> =
                if file == Path::new("-") { Box::new(std::io::stdin()) } else { Box::new(open(file)?) };
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
            let tree = here.then_some(&tree as &dyn Tree);
            let report = super::tally_parallel(reader, &rules, &snapshot, tree, threads)
                .map_err(|e| Error::input("cannot read the input").caused_by(e))?;
            return print(&report, args, &mut out);
        }
        Some(file) => {
            let reader: Box<dyn std::io::Read> =
                if file == Path::new("-") { Box::new(std::io::stdin().lock()) } else { Box::new(open(file)?) };
            super::each_line(reader, &mut each).map_err(|e| Error::input("cannot read the input").caused_by(e))?;
        }
        None => {
            let cmd = Cmd::new(["zfs", "diff", "-FHt", &snapshot]);
            let status = runner.stream_lines(&cmd, &mut each)?;
            if !status.success() {
                let err = String::from_utf8_lossy(&status.stderr).trim().to_string();
                let hint = if err.contains("unmounted") {
                    "zfs diff needs the dataset mounted; mount it (read-only is enough) or run this on the booted system"
                } else {
                    "check that the pool is imported and the snapshot exists: `zfs list -t snapshot`"
                };
                return Err(Error::command(format!("`{}` failed", cmd.display())).caused_by(err).hint(hint));
            }
        }
    }
    let report = tally.finish();
    if args.all {
        return out.flush().map_err(|e| Error::env("cannot write the report").caused_by(e));
    }
    print(&report, args, &mut out)
}

fn open(file: &Path) -> Result<std::fs::File> {
    std::fs::File::open(file).map_err(|e| {
        Error::input(format!("cannot read {}", file.display()))
            .caused_by(e)
            .hint("save it with `zfs diff -FHt POOL/local/root@blank > FILE`")
    })
}

fn print(report: &super::Report, args: &DiffArgs, out: &mut impl Write) -> Result<()> {
    match args.format {
        Format::Human => {
            let _ = write!(out, "{}", report.human(args.limit));
        }
        Format::Json => {
            let _ = writeln!(out, "{}", serde_json::to_string_pretty(report).expect("a report serialises"));
        }
    }
    out.flush().map_err(|e| Error::env("cannot write the report").caused_by(e))
}
