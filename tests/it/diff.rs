//! `zfs diff` parsing and `blankroot diff` against output captured from the real OpenZFS in
//! the VM (tests/fixtures/zdiff, capture.sh there): odd names (spaces, a newline, a tab, a
//! backslash, non-UTF-8 bytes), every change type, renames, a link count, every file type; and
//! an installed-looking root against @blank. The report's memory does not grow with the
//! number of lines.

use crate::common;

use blankroot::commands::diff::{Class, Rules, Tally};
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

fn report(file: &str, mount: &str) -> blankroot::commands::diff::Report {
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
    blankroot::commands::diff::each_line(Lines { i: 0, n, pending: Vec::new() }, |_, l| {
        t.add(l);
        Ok(())
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

/// A layout (the example install's blankroot.toml) in a temporary folder.
fn layout() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let plan = common::plan_for("seed-defaults");
    let toml = plan.steps.iter().flat_map(|s| &s.files).find(|f| f.path.ends_with("blankroot.toml")).unwrap();
    let blankroot::plan::Content::Text(t) = &toml.content else { unreachable!() };
    let cfg = dir.path().join("blankroot.toml");
    std::fs::write(&cfg, t).unwrap();
    let cfg = cfg.to_str().unwrap().to_string();
    (dir, cfg)
}

/// `blankroot diff --input FILE` (FILE holding `input`) with `extra` flags; the input is
/// checked unchanged afterwards.
fn diff_file(input: &[u8], extra: &[&str]) -> (std::process::Output, String) {
    let (dir, cfg) = layout();
    let file = dir.path().join("saved.txt");
    std::fs::write(&file, input).unwrap();
    let file = file.to_str().unwrap().to_string();
    let mut args = vec!["diff", "--input", &file, "--config", &cfg, "--root", "/nonexistent/root"];
    args.extend(extra);
    let out = blankroot(&args);
    assert_eq!(std::fs::read(&file).unwrap(), input, "the input is never changed");
    (out, file)
}

/// The same through standard input (`--input -`).
fn diff_stdin(input: Vec<u8>, extra: &[&str]) -> std::process::Output {
    use std::io::Write;
    let (_dir, cfg) = layout();
    let mut child = Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .args(["diff", "--input", "-", "--config", &cfg, "--root", "/nonexistent/root"])
        .args(extra)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // blankroot may stop reading early (that is the point): a closed pipe is fine here.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

const GOOD: &str = "1764600000.000000001\t+\tF\t/root/a\n1764600000.000000002\tM\t/\t/var/lib\n";

#[test]
fn input_that_is_not_zfs_diff_output_is_refused_with_its_line_and_column() {
    let esc = "1764600000.000000003\t+\tF\t/root/\u{1b}]0;owned\u{7}\u{1b}[2J\n";
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "holds no line of zfs diff output"),
        ("one garbage line", b"garbage\n".to_vec(), ":1:1: not zfs diff -FHt output: no change type"),
        ("blank lines only", b"\n\n".to_vec(), ":1:1: not zfs diff -FHt output"),
        (
            "a bad line among good ones",
            format!("{GOOD}+\tF\tetc/x\n{GOOD}").into_bytes(),
            ":3:5: not zfs diff -FHt output: no path",
        ),
        ("a terminal escape in a path", esc.as_bytes().to_vec(), ":1:32: not zfs diff -FHt output: a raw byte"),
        ("invalid UTF-8", b"+\tF\t/root/\xff\xfe\n".to_vec(), ":1:11: not zfs diff -FHt output: a raw byte"),
        ("a lone backslash", b"+\tF\t/root/a\\b\n".to_vec(), ":1:12: not zfs diff -FHt output: a backslash"),
        ("a NUL", b"+\tF\t/root/a\0b\n".to_vec(), ":1:12:"),
        ("an unknown type", b"+\tX\t/root/a\n".to_vec(), ":1:3: not zfs diff -FHt output: an unknown file type"),
        ("a rename with one path", b"R\tF\t/root/a\n".to_vec(), "a rename needs exactly two paths"),
        (
            "an extra field",
            b"+\tF\t/root/a\textra\n".to_vec(),
            ":1:13: not zfs diff -FHt output: the wrong number of fields",
        ),
        ("no newline at all", vec![b'x'; 4 << 20], ":1: a line longer than 98304 bytes is not zfs diff output"),
        (
            "a long line after good ones",
            [GOOD.as_bytes(), &vec![b'/'; 200_000], b"\n"].concat(),
            ":3: a line longer than",
        ),
        ("CR only line endings", GOOD.replace('\n', "\r").into_bytes(), ":1:33: not zfs diff -FHt output: a raw byte"),
    ];
    for (what, input, want) in &cases {
        for extra in [&[][..], &["--all"], &["--format", "json"]] {
            let (out, file) = diff_file(input, extra);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{what} {extra:?}: {stderr}");
            assert!(stderr.starts_with(&format!("error: {file}")), "{what}: names the file: {stderr}");
            assert!(stderr.contains(want), "{what} {extra:?}: {want} in {stderr}");
            assert!(stderr.contains("hint: save it with `zfs diff -FHt"), "{what}: {stderr}");
            assert!(stderr.lines().count() <= 4 && stderr.len() < 600, "{what}: cut to a readable length: {stderr}");
            for stream in [&out.stdout, &out.stderr] {
                assert!(!stream.iter().any(|b| *b == 0x1b || *b == 0x07 || *b == 0), "{what}: no raw control byte");
            }
            if extra.is_empty() {
                assert!(out.stdout.is_empty(), "{what}: no report");
            }
        }
        let out = diff_stdin(input.clone(), &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what} on stdin: {stderr}");
        assert!(stderr.starts_with("error: standard input") && stderr.contains(want), "{what}: {stderr}");
    }
    println!("checked: {} bad inputs × (file: groups, --all, json; stdin)", cases.len());
}

#[test]
fn an_endless_line_is_an_error_not_an_allocation() {
    // An input with no newline that never ends: reading stops at the cap.
    let err = blankroot::commands::diff::each_line(std::io::repeat(b'x'), |_, _| Ok(())).unwrap_err();
    assert!(matches!(err, blankroot::commands::diff::ReadError::TooLong { line: 1 }), "{err:?}");
    let rules = Rules::new(&common::config("seed-defaults"), "/", &[], true);
    let err = blankroot::commands::diff::tally_parallel(std::io::repeat(b'/'), &rules, "s", None, 2).unwrap_err();
    assert!(matches!(err, blankroot::commands::diff::ReadError::TooLong { line: 1 }), "{err:?}");
    // Through the command, 64 MiB on stdin: refused at once, with the line named.
    let out = diff_stdin(vec![b'x'; 64 << 20], &["--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("standard input:1: a line longer than"), "{stderr}");
}

#[test]
fn odd_names_reach_the_terminal_escaped() {
    // zfs's escapes stand for control bytes; people see them escaped, JSON carries them as
    // JSON escapes; CRLF saved output reads the same.
    let input = "1764600000.000000001\t+\tF\t/root/\\0033[2Jx\\0007\\0377\r\n1764600000.000000002\t+\tF\t/root/ok\r\n";
    let (out, _) = diff_file(input.as_bytes(), &["--all"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("+ F /root/\\0033[2Jx\\0007\\0377\n"), "{text}");
    let (out, _) = diff_file(input.as_bytes(), &["--all", "--format", "json"]);
    assert!(!out.stdout.contains(&0x1b), "no raw escape in JSON");
    let first: serde_json::Value = serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
    assert_eq!(first["path"], "/root/\u{1b}[2Jx\u{7}\u{fffd}");
    assert_eq!(first["path_zfs"], "/root/\\0033[2Jx\\0007\\0377");
    let (out, _) = diff_file(input.as_bytes(), &[]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("2 files and 0 directories") && !text.contains('\u{1b}'), "{text}");
}

#[test]
fn zfs_output_is_held_to_the_same_rule() {
    use blankroot::commands::diff::{Request, run};
    use blankroot::infra::host::LocalHost;
    use blankroot::infra::runner::Recording;
    use blankroot::output::{Detail, Events, Format};
    let (dir, cfg) = layout();
    let root = dir.path().join("root");
    let args = |all: bool| Request {
        input: None,
        config: Some(cfg.clone().into()),
        all,
        depth: 2,
        limit: 25,
        ignore: Vec::new(),
        no_default_ignores: false,
    };
    let diff = |fake: &Recording, req: &Request| {
        let mut out = Vec::new();
        let mut events = Events::new(&mut out, Format::Json, Detail::Normal);
        run(&LocalHost::mounted(&root, fake), req, &mut events)
    };
    let argv = ["zfs", "diff", "-FHt", "rpool/local/root@blank"];
    // zfs exiting 0 with no line: nothing changed since @blank (zfs says so, not an empty file).
    diff(&Recording::new().answer(&argv, ""), &args(false)).unwrap();
    // A line zfs would never print: a command that misbehaved, exit 4, its line named.
    let fake = Recording::new().answer(&argv, format!("{GOOD}+\tF\t/a\u{1b}[2J\n"));
    for all in [false, true] {
        let e = diff(&fake, &args(all)).unwrap_err();
        assert_eq!(e.kind.exit_code(), 4, "{e}");
        assert!(e.message.starts_with("`zfs diff -FHt rpool/local/root@blank`:3:7: not zfs diff -FHt output"), "{e}");
        assert!(!e.to_string().contains('\u{1b}'), "{e}");
    }
    // zfs failing wins over what it printed.
    let fake = Recording::new().fail(&argv, 1, "Cannot diff an unmounted snapshot");
    let e = diff(&fake, &args(false)).unwrap_err();
    assert!(e.message.contains("failed") && e.hint.as_deref().unwrap_or_default().contains("mounted"), "{e}");
}

#[test]
fn a_report_of_no_change_says_so() {
    let rules = Rules::new(&common::config("seed-defaults"), "/", &[], true);
    let r = Tally::new(&rules, "rpool/local/root@blank", None).finish();
    assert_eq!(r.lines, 0);
    assert!(
        r.groups_text(10).contains("nothing: zfs diff lists no change since the snapshot"),
        "{}",
        r.groups_text(10)
    );
}
