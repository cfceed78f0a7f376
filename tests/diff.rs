//! `zfs diff` parsing and `blankroot diff` against output captured from the real OpenZFS in
//! the VM (tests/fixtures/zdiff, capture.sh there): odd names (spaces, a newline, a tab, a
//! backslash, non-UTF-8 bytes), every change type, renames, a link count, every file type; and
//! an installed-looking root against @blank. The report's memory does not grow with the
//! number of lines.

mod common;

use blankroot::diff::{Class, Rules, Tally};
use blankroot::zdiff::{self, Change, FileType};
use std::process::Command;

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(common::fixture(&format!("zdiff/{name}"))).unwrap()
}

fn lines(text: &[u8]) -> Vec<&[u8]> {
    text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).collect()
}

#[test]
fn every_captured_line_parses_and_names_a_real_file() {
    // The names as the kernel has them after the changes (find -print0).
    let names: Vec<Vec<u8>> =
        fixture("odd-names.bin").split(|b| *b == 0).filter(|n| !n.is_empty()).map(<[u8]>::to_vec).collect();
    assert!(names.iter().any(|n| n.ends_with(b"/new\nline")), "the capture has a newline in a name");
    for file in ["odd-FHt.txt", "odd-FH.txt", "odd-H.txt"] {
        let text = fixture(file);
        let parsed: Vec<zdiff::Entry> = lines(&text)
            .into_iter()
            .map(|l| zdiff::parse_line(l).unwrap_or_else(|e| panic!("{file}: {e:?}")))
            .collect();
        assert!(parsed.len() >= 15, "{file}: {} lines", parsed.len());
        for e in &parsed {
            assert_eq!(e.ctime.is_some(), file == "odd-FHt.txt", "{file}: {e:?}");
            assert_eq!(e.file_type.is_some(), file != "odd-H.txt", "{file}: {e:?}");
            // What exists now is a real name; what was removed or renamed away is not.
            let mut now = zdiff::unescape(e.new_path.unwrap_or(e.path));
            if now.ends_with(b"/") {
                now.pop();
            }
            if e.change != Change::Removed && now != b"/tmp/fs" {
                assert!(names.contains(&now), "{file}: {:?} is not a file there", String::from_utf8_lossy(&now));
            }
        }
        let has = |c: Change, name: &[u8]| {
            parsed.iter().any(|e| e.change == c && zdiff::unescape(e.new_path.unwrap_or(e.path)).ends_with(name))
        };
        assert!(has(Change::Renamed, b"/renamed file"), "{file}");
        assert!(
            parsed.iter().any(|e| e.change == Change::Renamed && zdiff::unescape(e.path).ends_with(b"/a file")),
            "{file}"
        );
        assert!(has(Change::Removed, b"/old"), "{file}");
        assert!(has(Change::Added, b"/new space"), "{file}");
        assert!(has(Change::Added, b"/dir\xe9/in"), "{file}: a non-UTF-8 directory");
        assert!(has(Change::Modified, b"/d/f"), "{file}");
        assert!(parsed.iter().any(|e| e.link_delta == Some(1)), "{file}: the hard link's count change");
        if file != "odd-H.txt" {
            for t in [
                FileType::Block,
                FileType::Char,
                FileType::Directory,
                FileType::File,
                FileType::Pipe,
                FileType::Symlink,
            ] {
                assert!(parsed.iter().any(|e| e.file_type == Some(t)), "{file}: {t:?}");
            }
        }
    }
    println!("checked: {} real names, three output forms, every change type, a rename, a link count", names.len());
}

#[test]
fn the_escaping_is_zfs_own() {
    let text = fixture("odd-FHt.txt");
    let all = String::from_utf8_lossy(&text);
    for escaped in
        ["new\\0012line", "tab\\0011here", "fresh\\0134back", "\\0351t\\0351", "new\\0040space", "\\0377\\0376bytes"]
    {
        assert!(all.contains(escaped), "zfs wrote {escaped}: {all}");
    }
    for l in lines(&text) {
        let e = zdiff::parse_line(l).unwrap();
        let raw = zdiff::unescape(e.path);
        assert_eq!(zdiff::escape(&raw), e.path, "escape(unescape(x)) == x for what zfs wrote");
    }
}

fn report(file: &str, mount: &str) -> blankroot::diff::Report {
    let rules = Rules::new(&common::config("seed-defaults"), mount, &[], true);
    let mut t = Tally::new(&rules, "tank/root@blank", None);
    for l in lines(&fixture(file)) {
        t.add(l);
    }
    t.finish()
}

#[test]
fn an_installed_root_is_reported_by_directory() {
    let r = report("installed-FHt.txt", "/tmp/root");
    assert_eq!(r.unreadable, 0);
    let dirs: Vec<&str> = r.groups.iter().map(|g| g.dir.as_str()).collect();
    for want in ["/root/.cache", "/var/lib", "/root", "/etc"] {
        assert!(dirs.contains(&want), "{want} in {dirs:?}");
    }
    // Persisted (machine-id link, the binds' mount points, /nix, /home …) and noise (/tmp,
    // /etc/static, /etc/.clean, /etc/passwd, /bin/sh …) are left out.
    for gone in ["/tmp", "/nix", "/home", "/persist", "/boot", "/bin", "/usr/bin"] {
        assert!(!dirs.contains(&gone), "{gone} should be left out: {dirs:?}");
    }
    let etc = r.groups.iter().find(|g| g.dir == "/etc").unwrap();
    assert_eq!(etc.files, 2, "the canary and static-link stay; machine-id, .clean, passwd, static go: {etc:?}");
    assert!(!dirs.contains(&"/usr"), "directory-only groups are not listed: {dirs:?}");
    assert!(r.persisted >= 5 && r.noise >= 5, "{r:?}");
    let rules = Rules::new(&common::config("seed-defaults"), "/tmp/root", &[], true);
    assert_eq!(rules.classify(b"/etc/machine-id"), Class::Persisted);
}

fn blankroot(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_blankroot")).args(args).output().unwrap()
}

#[test]
fn the_command_reads_saved_output_for_people_and_scripts() {
    let cfg = tempfile::NamedTempFile::new().unwrap();
    let plan = common::plan_for("seed-defaults");
    let toml = plan.steps.iter().flat_map(|s| &s.files).find(|f| f.path.ends_with("blankroot.toml")).unwrap();
    let blankroot::plan::Content::Text(t) = &toml.content else { unreachable!() };
    std::fs::write(cfg.path(), t).unwrap();
    let input = common::fixture("zdiff/installed-FHt.txt");
    let (input, cfg) = (input.to_str().unwrap(), cfg.path().to_str().unwrap());
    let out = blankroot(&["diff", "--input", input, "--config", cfg, "--root", "/tmp/root"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("The next boot rolls rpool/local/root@blank back and erases:\n"), "{text}");
    assert!(text.contains("/root/.cache") && text.contains("left out:"), "{text}");
    let out = blankroot(&["diff", "--input", input, "--config", cfg, "--root", "/tmp/root", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["groups"].as_array().unwrap().iter().any(|g| g["dir"] == "/var/lib"));
    let out = blankroot(&["diff", "--input", input, "--config", cfg, "--root", "/tmp/root", "--all"]);
    let all = String::from_utf8_lossy(&out.stdout);
    assert!(all.lines().any(|l| l == "+ F /tmp/root/etc/rollback-canary"), "{all}");
    assert!(
        !all.lines().any(|l| l.ends_with("/etc/static") || l.ends_with("/etc/passwd")),
        "noise is not listed: {all}"
    );
    let out = blankroot(&[
        "diff",
        "--input",
        input,
        "--config",
        cfg,
        "--root",
        "/tmp/root",
        "--ignore",
        "/root",
        "--format",
        "json",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["groups"].as_array().unwrap().iter().all(|g| !g["dir"].as_str().unwrap().starts_with("/root")));
    // Errors: no layout; an unreadable input.
    let out = blankroot(&["diff", "--root", "/nonexistent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no /nonexistent/etc/nixos/blankroot.toml"));
    let out = blankroot(&["diff", "--input", "/nonexistent/x", "--config", cfg]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hint: save it with `zfs diff -FHt"));
}

/// Counts the heap bytes this thread has in use, and their peak (other tests run on other
/// threads at the same time and must not count).
struct Counting;

thread_local! {
    static LIVE: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
    static PEAK: std::cell::Cell<isize> = const { std::cell::Cell::new(0) };
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|l| {
        l.set(l.get() + delta);
        let _ = PEAK.try_with(|p| p.set(p.get().max(l.get())));
    });
}

unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: std::alloc::Layout) -> *mut u8 {
        count(l.size() as isize);
        // SAFETY: forwarded to the system allocator with the same layout.
        unsafe { std::alloc::System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: std::alloc::Layout) {
        count(-(l.size() as isize));
        // SAFETY: p came from alloc with this layout.
        unsafe { std::alloc::System.dealloc(p, l) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Synthetic `zfs diff -FHt` lines, made as they are read (nothing held).
struct Lines {
    i: usize,
    n: usize,
    pending: Vec<u8>,
}

impl std::io::Read for Lines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.pending.len() < buf.len() && self.i < self.n {
            let i = self.i;
            self.pending.extend_from_slice(
                format!("1764600000.{:09}\t+\tF\t/var/lib/app{}/data/file{i}.dat\n", i % 1_000_000_000, i % 50)
                    .as_bytes(),
            );
            self.i += 1;
        }
        let k = self.pending.len().min(buf.len());
        buf[..k].copy_from_slice(&self.pending[..k]);
        self.pending.drain(..k);
        Ok(k)
    }
}

/// The peak heap (above what was in use before) of reading `n` lines into a report.
fn peak_bytes(n: usize) -> isize {
    let rules = Rules::new(&blankroot::config::Config::default(), "/", &[], true);
    let base = LIVE.with(|l| l.get());
    PEAK.with(|p| p.set(base));
    let mut t = Tally::new(&rules, "rpool/local/root@blank", None);
    blankroot::diff::each_line(Lines { i: 0, n, pending: Vec::new() }, |l| {
        t.add(l);
    })
    .unwrap();
    let r = t.finish();
    assert_eq!(r.erased_files, n as u64);
    PEAK.with(|p| p.get()) - base
}

#[test]
fn memory_does_not_grow_with_the_number_of_lines() {
    let small = peak_bytes(20_000);
    let big = peak_bytes(1_000_000);
    println!("peak heap: {small} bytes for 20,000 lines, {big} bytes for 1,000,000 lines (50 groups)");
    assert!(big < small + (256 << 10), "memory grew with the input: {small} -> {big} bytes");
}
