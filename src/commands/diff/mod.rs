//! `blankroot diff`: what the next boot erases. Reads `zfs diff -FHt <root>@blank` line by line
//! (from zfs itself, a saved file or stdin), leaves out what is persisted (the `[persist]`
//! paths of blankroot.toml, the mount points of other file systems) and what is noise (paths
//! NixOS makes again at every boot, and `[diff] ignore`), and groups the rest by directory with
//! counts and sizes, biggest first. Memory grows with the number of groups, never with the
//! number of lines: paths are compared in zfs's escaped form, and only a group's name is kept.

mod read;
mod run;

pub use read::{MAX_LINE, ReadError, each_line, tally_parallel};
pub use run::{Outcome, Request, run};

use crate::zdiff::{self, Change, FileType};
use serde::Serialize;
use std::collections::HashMap;

/// Paths NixOS makes again at every boot (activation, stage 1, systemd), so that their loss
/// means nothing: directories count with everything below them.
pub(crate) const DEFAULT_NOISE: &[&str] = &[
    "/tmp",
    "/etc/static",
    "/etc/.clean",
    "/etc/.updated",
    "/var/.updated",
    "/etc/NIXOS",
    "/etc/mtab",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/subuid",
    "/etc/subgid",
    "/etc/resolv.conf",
    "/etc/hostid",
    "/bin/sh",
    "/usr/bin/env",
    "/run",
    "/proc",
    "/sys",
    "/dev",
];

/// What the report leaves out, and how it groups.
#[derive(Debug, Clone)]
pub struct Rules {
    /// Where the examined root is mounted (zfs prints paths below its mount point): `/`, `/mnt`.
    mount_point: Vec<u8>,
    /// Persisted directories and files, exact mount points (of datasets, persisted binds,
    /// /boot) and noise, escaped as zfs writes them, by the first component of their path.
    index: Index,
    /// Directory levels a group keeps (`/var/lib` is 2).
    pub depth: usize,
}

fn esc(p: &str) -> Vec<u8> {
    zdiff::escape(p.trim_end_matches('/').as_bytes())
}

impl Rules {
    /// The rules for a root mounted at `mount_point` with this config's persistence; `extra`
    /// noise from the command line; `defaults`: the built-in noise list.
    pub fn new(config: &crate::config::Config, mount_point: &str, extra: &[String], defaults: bool) -> Rules {
        let mut persisted: Vec<Vec<u8>> = Vec::new();
        persisted.extend(config.persist.directories.iter().chain(&config.persist.files).map(|p| esc(p)));
        let mut mount_points: Vec<Vec<u8>> =
            config.datasets.iter().filter_map(|d| d.mount.as_deref()).filter(|m| *m != "/").map(esc).collect();
        mount_points.push(esc("/boot"));
        mount_points.extend(config.persist.directories.iter().map(|d| esc(d)));
        let mut noise: Vec<Vec<u8>> =
            if defaults { DEFAULT_NOISE.iter().map(|p| esc(p)).collect() } else { Vec::new() };
        noise.extend(config.diff.ignore.iter().chain(extra).map(|p| esc(p)));
        let mp = mount_point.trim_end_matches('/');
        let all: Vec<(&Vec<u8>, Rule)> = mount_points
            .iter()
            .map(|p| (p, Rule::MountPoint))
            .chain(persisted.iter().map(|p| (p, Rule::Persisted)))
            .chain(noise.iter().map(|p| (p, Rule::Noise)))
            .collect();
        let index = index(&all);
        Rules { mount_point: zdiff::escape(mp.as_bytes()), index, depth: 2 }
    }

    /// The path as seen from the examined root (`/mnt/etc/x` → `/etc/x`; zfs writes `//x` for a
    /// file system mounted at `/`).
    pub fn relative<'p>(&self, path: &'p [u8]) -> &'p [u8] {
        let p = path
            .strip_prefix(self.mount_point.as_slice())
            .filter(|r| r.is_empty() || r.starts_with(b"/"))
            .unwrap_or(path);
        let p = if p.starts_with(b"//") { p.get(1..).unwrap_or(p) } else { p };
        if p.is_empty() { b"/" } else { p }
    }

    pub fn classify(&self, rel: &[u8]) -> Class {
        // Only the rules that share the path's first component can match it.
        let first = first_component(rel);
        let Some((_, bucket)) = self.index.iter().find(|(c, _)| c.first() == first.first() && c.as_slice() == first)
        else {
            return if rel == b"/" { Class::Noise } else { Class::Erased };
        };
        if bucket.iter().any(|(p, kind)| match kind {
            Rule::MountPoint => p.as_slice() == rel,
            Rule::Persisted => within(rel, p),
            Rule::Noise => false,
        }) {
            Class::Persisted
        } else if bucket.iter().any(|(p, kind)| *kind == Rule::Noise && within(rel, p)) {
            Class::Noise
        } else {
            Class::Erased
        }
    }

    /// The group of a path: its directory (a directory is its own), cut to `depth` levels.
    pub fn group<'p>(&self, rel: &'p [u8], is_dir: bool) -> &'p [u8] {
        let dir = if is_dir {
            rel
        } else {
            match memchr::memrchr(b'/', rel) {
                Some(0) | None => b"/",
                Some(i) => rel.get(..i).unwrap_or(rel),
            }
        };
        let mut seen = 0;
        for (i, b) in dir.iter().enumerate().skip(1) {
            if *b == b'/' {
                seen += 1;
                if seen == self.depth {
                    return dir.get(..i).unwrap_or(dir);
                }
            }
        }
        dir
    }
}

/// `/var/lib/x` → `var`.
fn first_component(path: &[u8]) -> &[u8] {
    let p = path.strip_prefix(b"/").unwrap_or(path);
    // A first component is short: a plain scan beats memchr's setup.
    match p.iter().position(|b| *b == b'/') {
        Some(i) => p.get(..i).unwrap_or(p),
        None => p,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    MountPoint,
    Persisted,
    Noise,
}

/// The rules by the first component of their path.
/// Rules (escaped path, kind) by the first component of their path.
type Index = Vec<(Vec<u8>, Vec<(Vec<u8>, Rule)>)>;

fn index(rules: &[(&Vec<u8>, Rule)]) -> Index {
    let mut out: Index = Vec::new();
    for (p, kind) in rules {
        let first = first_component(p).to_vec();
        match out.iter_mut().find(|(c, _)| *c == first) {
            Some((_, b)) => b.push(((*p).clone(), *kind)),
            None => out.push((first, vec![((*p).clone(), *kind)])),
        }
    }
    out
}

/// `path` is `prefix` or lies below it.
fn within(path: &[u8], prefix: &[u8]) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with(b"/") || prefix == b"/",
        None => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// The next boot erases it, and it is not kept anywhere.
    Erased,
    /// Kept in /persist (or on another dataset): nothing is lost.
    Persisted,
    /// Made again at every boot.
    Noise,
}

/// What one directory group loses.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Group {
    /// The directory, readable (zfs's escapes resolved; not UTF-8 bytes shown as U+FFFD).
    pub dir: String,
    /// The directory exactly as zfs wrote it (escaped).
    pub dir_zfs: String,
    /// Files, links and other non-directories.
    pub files: u64,
    pub dirs: u64,
    /// Their size now (what the rollback frees), where it could be read.
    pub bytes: u64,
    pub added: u64,
    pub modified: u64,
    pub removed: u64,
    pub renamed: u64,
}

/// The whole report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub snapshot: String,
    /// The `zfs diff` lines read (0: the root has not changed since the snapshot).
    pub lines: u64,
    /// Biggest first (bytes, then files).
    pub groups: Vec<Group>,
    pub erased_files: u64,
    pub erased_dirs: u64,
    pub erased_bytes: u64,
    pub persisted: u64,
    pub noise: u64,
    /// Lines that are not `zfs diff -H` output, and the first of them.
    pub unreadable: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_unreadable: Option<String>,
    /// Whether sizes were read (from the live file system).
    pub sizes: bool,
    /// At most this many groups are shown to people (`--limit`; the JSON has them all).
    #[serde(skip)]
    pub limit: usize,
}

/// FNV-1a: group names are short and few; SipHash's protection is not needed here and cost
/// a fifth of the time on a million lines.
#[derive(Default)]
struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 { 0xcbf2_9ce4_8422_2325 } else { self.0 };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<Fnv>>;

/// The file system the diff is about, when it is here to look at (paths unescaped, relative
/// to the root): sizes, and link targets (NixOS's links into /etc/static are noise).
pub trait Tree: Sync {
    fn size(&self, rel: &[u8]) -> Option<u64>;
    fn link(&self, rel: &[u8]) -> Option<Vec<u8>>;
}

/// Counts lines into groups as they come.
pub struct Tally<'r> {
    rules: &'r Rules,
    groups: FastMap<Box<[u8]>, Group>,
    report: Report,
    tree: Option<&'r dyn Tree>,
}

impl<'r> Tally<'r> {
    pub fn new(rules: &'r Rules, snapshot: &str, tree: Option<&'r dyn Tree>) -> Tally<'r> {
        let report = Report { snapshot: snapshot.to_string(), sizes: tree.is_some(), ..Default::default() };
        Tally { rules, groups: FastMap::default(), report, tree }
    }

    /// Takes one line of `zfs diff -H` output; returns its parse and class when it is
    /// readable (for `--all`). An unreadable line is counted in the report (the command
    /// refuses it instead: [`Tally::add_line`]).
    pub fn add<'l>(&mut self, line: &'l [u8]) -> Option<(zdiff::Entry<'l>, Class)> {
        match self.add_line(line) {
            Ok(x) => Some(x),
            Err(bad) => {
                self.report.unreadable += 1;
                self.report
                    .first_unreadable
                    .get_or_insert_with(|| format!("{bad}: {}", crate::error::excerpt(&String::from_utf8_lossy(line))));
                None
            }
        }
    }

    /// Takes one line of `zfs diff -H` output: its parse and class, or why it is not such a
    /// line (nothing is counted then).
    pub(crate) fn add_line<'l>(&mut self, line: &'l [u8]) -> Result<(zdiff::Entry<'l>, Class), zdiff::BadLine> {
        let entry = zdiff::parse_line(line)?;
        self.report.lines += 1;
        // A rename's new name is what exists now, and what the rollback removes.
        let rel = self.rules.relative(entry.new_path.unwrap_or(entry.path));
        let mut class = self.rules.classify(rel);
        if class == Class::Erased
            && entry.file_type == Some(FileType::Symlink)
            && rel.starts_with(b"/etc/")
            && entry.change != Change::Removed
            && self.tree.and_then(|t| t.link(&zdiff::unescape(rel))).is_some_and(|l| l.starts_with(b"/etc/static/"))
        {
            class = Class::Noise; // a link NixOS's activation makes at every boot
        }
        match class {
            Class::Persisted => self.report.persisted += 1,
            Class::Noise => self.report.noise += 1,
            Class::Erased => self.count(&entry, rel),
        }
        Ok((entry, class))
    }

    fn count(&mut self, entry: &zdiff::Entry, rel: &[u8]) {
        let is_dir = entry.file_type == Some(FileType::Directory);
        let key = self.rules.group(rel, is_dir);
        let bytes = match (self.tree, entry.change) {
            (Some(t), Change::Added | Change::Modified | Change::Renamed) if !is_dir => {
                t.size(&zdiff::unescape(rel)).unwrap_or(0)
            }
            _ => 0,
        };
        let g = match self.groups.get_mut(key) {
            Some(g) => g,
            None => self.groups.entry(key.into()).or_default(),
        };
        if is_dir {
            g.dirs += 1;
            self.report.erased_dirs += 1;
        } else {
            g.files += 1;
            self.report.erased_files += 1;
        }
        g.bytes += bytes;
        self.report.erased_bytes += bytes;
        match entry.change {
            Change::Added => g.added += 1,
            Change::Modified => g.modified += 1,
            Change::Removed => g.removed += 1,
            Change::Renamed => g.renamed += 1,
        }
    }

    /// Adds another tally's counts (of other lines of the same input) to this one.
    pub fn merge(&mut self, other: Tally) {
        for (k, g) in other.groups {
            let m = self.groups.entry(k).or_default();
            m.files += g.files;
            m.dirs += g.dirs;
            m.bytes += g.bytes;
            m.added += g.added;
            m.modified += g.modified;
            m.removed += g.removed;
            m.renamed += g.renamed;
        }
        let (r, o) = (&mut self.report, other.report);
        r.lines += o.lines;
        r.erased_files += o.erased_files;
        r.erased_dirs += o.erased_dirs;
        r.erased_bytes += o.erased_bytes;
        r.persisted += o.persisted;
        r.noise += o.noise;
        r.unreadable += o.unreadable;
        if r.first_unreadable.is_none() {
            r.first_unreadable = o.first_unreadable;
        }
    }

    pub fn finish(mut self) -> Report {
        // A group of directories only (the containers activation makes: /usr, /bin …) says
        // nothing; they are counted in erased_dirs.
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .filter(|(_, g)| g.files > 0)
            .map(|(k, mut g)| {
                g.dir = String::from_utf8_lossy(&zdiff::unescape(&k)).into_owned();
                g.dir_zfs = String::from_utf8_lossy(&k).into_owned();
                g
            })
            .collect();
        groups.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(b.files.cmp(&a.files)).then(a.dir_zfs.cmp(&b.dir_zfs)));
        self.report.groups = groups;
        self.report
    }
}

impl crate::output::Render for Report {
    fn human(&self, _: crate::output::Detail) -> String {
        self.groups_text(self.limit)
    }
}

impl Report {
    /// For people: at most `limit` groups, then what was left out.
    pub fn groups_text(&self, limit: usize) -> String {
        use std::fmt::Write;
        let mut o = String::new();
        let _ = writeln!(o, "The next boot rolls {} back and erases:", self.snapshot);
        if self.lines == 0 {
            let _ = writeln!(o, "  nothing: zfs diff lists no change since the snapshot");
        } else if self.groups.is_empty() {
            let _ = writeln!(o, "  nothing that is not persisted or made again at boot");
        }
        for g in self.groups.iter().take(limit) {
            let size =
                if self.sizes { format!("{:>10}", crate::infra::size::human(g.bytes)) } else { format!("{:>10}", "-") };
            let mut what = format!("{} file{}", g.files, if g.files == 1 { "" } else { "s" });
            if g.dirs > 0 {
                what.push_str(&format!(", {} dir{}", g.dirs, if g.dirs == 1 { "" } else { "s" }));
            }
            let _ = writeln!(o, "  {size}  {what:<22} {}", g.dir_zfs.replace("\\0040", " "));
        }
        if self.groups.len() > limit {
            let _ = writeln!(
                o,
                "  … and {} more directories (`--limit`, or `--all` for every path)",
                self.groups.len() - limit
            );
        }
        let total = if self.sizes { crate::infra::size::human(self.erased_bytes) } else { "size not read".into() };
        let _ = writeln!(
            o,
            "In all: {} files and {} directories ({total}); left out: {} persisted, {} made again at boot.",
            self.erased_files, self.erased_dirs, self.persisted, self.noise
        );
        if self.unreadable > 0 {
            let _ = writeln!(
                o,
                "warning: {} lines were not zfs diff output, e.g. {}",
                self.unreadable,
                self.first_unreadable.as_deref().unwrap_or("")
            );
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules::new(&crate::config::Config::default(), "/", &["/var/cache".into()], true)
    }

    #[test]
    fn persisted_noise_and_erased() {
        let r = rules();
        assert_eq!(r.classify(b"/etc/nixos"), Class::Persisted);
        assert_eq!(r.classify(b"/etc/nixos/configuration.nix"), Class::Persisted);
        assert_eq!(r.classify(b"/etc/machine-id"), Class::Persisted);
        assert_eq!(r.classify(b"/home"), Class::Persisted, "a dataset's mount point");
        assert_eq!(r.classify(b"/etc/nixosx"), Class::Erased, "a prefix is not a parent");
        assert_eq!(r.classify(b"/tmp/x"), Class::Noise);
        assert_eq!(r.classify(b"/var/cache/foo"), Class::Noise, "an extra ignore");
        assert_eq!(r.classify(b"/root/.bash_history"), Class::Erased);
    }

    #[test]
    fn groups_are_directories_cut_to_depth() {
        let r = rules();
        assert_eq!(r.group(b"/root/.bash_history", false), b"/root");
        assert_eq!(r.group(b"/root/.cache/a/b", false), b"/root/.cache");
        assert_eq!(r.group(b"/var/lib/foo", true), b"/var/lib");
        assert_eq!(r.group(b"/x", false), b"/");
        assert_eq!(r.relative(b"/mnt/etc/x"), b"/mnt/etc/x", "root at /: nothing to strip");
        let m = Rules::new(&crate::config::Config::default(), "/mnt", &[], true);
        assert_eq!(m.relative(b"/mnt/etc/x"), b"/etc/x");
        assert_eq!(m.relative(b"/mnt"), b"/");
        assert_eq!(m.relative(b"/mntx/y"), b"/mntx/y");
        assert_eq!(rules().relative(b"//etc/x"), b"/etc/x");
    }

    #[test]
    fn lines_are_split_across_reads() {
        struct Slow<'a>(&'a [u8]);
        impl std::io::Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(3).min(buf.len());
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut got = Vec::new();
        let n = each_line(Slow(b"ab\n\ncdefgh\nij"), |n, l| {
            got.push((n, l.to_vec()));
            Ok(())
        })
        .unwrap();
        assert_eq!(n, 4);
        let want = [(1, &b"ab"[..]), (2, b""), (3, b"cdefgh"), (4, b"ij")];
        assert_eq!(got, want.map(|(n, l)| (n, l.to_vec())), "every line, an empty one too, with its number");
        // The longest line is read whole; one byte more is an error naming it, not a bigger buffer.
        for (len, ok) in [(MAX_LINE, true), (MAX_LINE + 1, false), (5 << 20, false)] {
            let mut text = b"x\n".to_vec();
            text.resize(2 + len, b'y');
            text.push(b'\n');
            let r = each_line(&text[..], |_, _| Ok(()));
            match r {
                Ok(2) if ok => {}
                Err(ReadError::TooLong { line: 2 }) if !ok => {}
                other => panic!("{len}: {other:?}"),
            }
            let r = tally_parallel(&text[..], &rules(), "s", None, 2);
            assert!(matches!(r, Err(ReadError::Bad { line: 1, .. })), "{len}: line 1 is bad first: {r:?}");
        }
        assert!(matches!(each_line(&b""[..], |_, _| Ok(())), Err(ReadError::Empty)));
        assert!(matches!(tally_parallel(&b""[..], &rules(), "s", None, 2), Err(ReadError::Empty)));
    }

    #[test]
    fn parallel_tallies_add_up_to_one_and_stop_at_the_first_bad_line() {
        let mut text = Vec::new();
        for i in 0..50_000 {
            text.extend_from_slice(format!("1.000000000\t+\tF\t/var/lib/a{}/f{i}\n", i % 7).as_bytes());
            if i % 1000 == 0 {
                text.extend_from_slice(b"1.000000000\t+\tF\t/tmp/x\n1.000000000\t+\tF\t/etc/nixos/y\n");
            }
        }
        let r = rules();
        let mut one = Tally::new(&r, "s", None);
        let lines = each_line(&text[..], |_, l| {
            one.add_line(l).map(|_| ()).map_err(|b| ReadError::Bad { line: 0, bad: b, text: String::new() })
        })
        .unwrap();
        let one = one.finish();
        assert_eq!(one.lines, lines);
        for threads in [1, 2, 3] {
            let many = tally_parallel(&text[..], &r, "s", None, threads).unwrap();
            assert_eq!(many.groups, one.groups, "{threads} threads");
            assert_eq!(
                (many.lines, many.erased_files, many.persisted, many.noise, many.unreadable),
                (one.lines, one.erased_files, one.persisted, one.noise, 0)
            );
        }
        assert_eq!(one.erased_files, 50_000);
        // Bad lines far into the input, in several blocks: the first one is named, whatever
        // the thread that met it.
        let mut bad = text.clone();
        let at = |t: &[u8], n: usize| t.iter().enumerate().filter(|(_, b)| **b == b'\n').nth(n - 2).unwrap().0 + 1;
        let second = at(&bad, 40_001);
        bad.splice(second..second, b"late\tgarbage\n".iter().copied());
        let first = at(&bad, 30_001);
        bad.splice(first..first, b"1.000000000\t+\tF\t/a\x1b[2Jb\n".iter().copied());
        for threads in [1, 2, 3, 8] {
            match tally_parallel(&bad[..], &r, "s", None, threads) {
                Err(ReadError::Bad { line: 30_001, bad, text }) => {
                    assert_eq!(bad.col, 19, "the raw escape byte");
                    assert!(text.contains("/a\u{1b}[2Jb"), "{text}");
                }
                other => panic!("{threads}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_tally_counts_groups_and_leaves_out_the_rest() {
        let r = rules();
        struct Fake;
        impl Tree for Fake {
            fn size(&self, p: &[u8]) -> Option<u64> {
                Some(if p == b"/root/.cache/a b" { 1000 } else { 10 })
            }
            fn link(&self, p: &[u8]) -> Option<Vec<u8>> {
                (p == b"/etc/ssh/sshd_config").then(|| b"/etc/static/ssh/sshd_config".to_vec())
            }
        }
        let mut t = Tally::new(&r, "rpool/local/root@blank", Some(&Fake));
        for l in [
            &b"1.000000000\t+\tF\t/root/.bash_history"[..],
            b"1.000000000\t+\t/\t/root/.cache",
            b"1.000000000\t+\tF\t/root/.cache/a\\0040b",
            b"1.000000000\tM\tF\t/etc/nixos/configuration.nix",
            b"1.000000000\t+\t@\t/etc/static",
            b"1.000000000\tR\tF\t/tmp/a\t/var/lib/b",
            b"1.000000000\t+\t@\t/etc/ssh/sshd_config",
            b"1.000000000\t+\t/\t/usr/bin",
            b"garbage",
        ] {
            t.add(l);
        }
        let rep = t.finish();
        assert_eq!((rep.erased_files, rep.erased_dirs, rep.persisted, rep.noise, rep.unreadable), (3, 2, 1, 2, 1));
        let dirs: Vec<&str> = rep.groups.iter().map(|g| g.dir.as_str()).collect();
        assert_eq!(dirs, ["/root/.cache", "/root", "/var/lib"], "biggest first");
        assert_eq!(rep.groups[0].bytes, 1000, "the unescaped name was sized");
        assert_eq!(rep.groups[2].renamed, 1);
        assert!(rep.groups_text(10).contains("/root/.cache"));
    }
}
