//! The hostile-corpus harness: a [`Case`] is one bad (or, for controls, good) input run against
//! the real `blankroot` binary in its own temporary folder (or, for saved plans, against the
//! library entry point, panics caught); [`run_all`] runs them on parallel threads and judges
//! each: the exit code, `error:`/`hint:` and a fragment naming the offending value, no panic,
//! no raw terminal escape echoed, and every file of the folder byte-identical afterwards
//! (hashed before and after) when the input was refused.

use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The longest a refusal's stderr may be: echoed input is cut to a readable length.
pub const MAX_STDERR: usize = 4096;

/// Disk paths that name no whole disk, given in a config file and as `--disk` alike (each adds
/// its own on top): a mapping, partitions, a bare or relative name, nothing.
pub const BAD_DISKS: [(&str, &str); 8] = [
    ("mapper", "/dev/mapper/vda"),
    ("partition", "/dev/vda1"),
    ("nvme-partition", "/dev/nvme0n1p2"),
    ("dm", "/dev/dm-0"),
    ("bare-name", "vda"),
    ("relative", "../dev/vda"),
    ("empty", ""),
    ("by-id-partition", "/dev/disk/by-id/virtio-disk01-part1"),
];
/// How long one run of the binary may take (a debug build; the slowest real case is < 2 s).
const TIMEOUT: Duration = Duration::from_secs(30);
/// The address space a run may use: an unbounded allocation aborts instead of eating the host.
const MEMORY_LIMIT: u64 = 2 << 30;

/// A look at the case's folder after the run: why it is wrong, if it is.
pub type Check = fn(&Path) -> Result<(), String>;

/// A file the case puts into its folder before the run.
#[derive(Clone)]
pub enum Put {
    File(String, Vec<u8>),
    Dir(String),
    Link(String, String),
}

/// Where the binary's standard output goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sink {
    Captured,
    /// A pipe whose reading end is closed before the run (`blankroot … | head -0`).
    ClosedPipe,
    /// `/dev/full`: every write fails with ENOSPC.
    Full,
}

/// What the case must do.
#[derive(Clone)]
pub enum Expect {
    /// Refused with one of these exit codes, `error:` and a hint, a message containing at least
    /// one fragment, optionally `FILE:LINE:COL:` of `file`; nothing on disk changed.
    Refused { exits: Vec<i32>, any_of: Vec<String>, position: Option<String> },
    /// A good input (a control): exit 0, stdout contains every fragment; `changes` says whether
    /// the folder must change (proves the harness sees a change) or stay the same.
    Accepted { stdout_has: Vec<String>, changes: bool },
    /// Either a correct result (exit 0) or a clear refusal (exit 2, `error:` and a hint, nothing
    /// changed); `check` judges the folder after an exit 0.
    Either { check: Option<Check> },
    /// Output to a closed pipe: ends quietly (no panic, nothing on stderr).
    Quiet,
    /// Output to a full disk: a clear error (`error:`) with a documented exit code, not 0.
    OutputError,
}

/// How the case is run: the binary with arguments (`{dir}` is the case's folder), or a library
/// call returning what `main` would print and exit with.
pub enum How {
    Bin { args: Vec<String>, stdin: Option<Vec<u8>>, sink: Sink },
    Lib(Box<dyn Fn() -> Result<(), blankroot::error::Error> + Send + Sync>),
}

pub struct Case {
    pub name: String,
    pub puts: Vec<Put>,
    pub how: How,
    pub expect: Expect,
    /// Checked after the run in addition to `expect` (e.g. a link is still a link).
    pub after: Option<Check>,
}

impl Case {
    pub fn bin(name: impl Into<String>, args: &[&str], expect: Expect) -> Case {
        Case {
            name: name.into(),
            puts: Vec::new(),
            how: How::Bin { args: args.iter().map(|a| a.to_string()).collect(), stdin: None, sink: Sink::Captured },
            expect,
            after: None,
        }
    }
    pub fn lib(
        name: impl Into<String>,
        f: impl Fn() -> Result<(), blankroot::error::Error> + Send + Sync + 'static,
        expect: Expect,
    ) -> Case {
        Case { name: name.into(), puts: Vec::new(), how: How::Lib(Box::new(f)), expect, after: None }
    }
    pub fn put(mut self, rel: &str, bytes: impl Into<Vec<u8>>) -> Case {
        self.puts.push(Put::File(rel.into(), bytes.into()));
        self
    }
    pub fn dir(mut self, rel: &str) -> Case {
        self.puts.push(Put::Dir(rel.into()));
        self
    }
    pub fn link(mut self, rel: &str, to: &str) -> Case {
        self.puts.push(Put::Link(rel.into(), to.into()));
        self
    }
    pub fn sink(mut self, s: Sink) -> Case {
        if let How::Bin { sink, .. } = &mut self.how {
            *sink = s;
        }
        self
    }
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Case {
        if let How::Bin { stdin, .. } = &mut self.how {
            *stdin = Some(bytes.into());
        }
        self
    }
    pub fn after(mut self, f: Check) -> Case {
        self.after = Some(f);
        self
    }
}

/// Refused with exit 2 and a message naming one of `any_of`.
pub fn refused(any_of: &[&str]) -> Expect {
    Expect::Refused { exits: vec![2], any_of: any_of.iter().map(|s| s.to_string()).collect(), position: None }
}

/// Refused with exit 2, naming one of `any_of`, at `FILE:LINE:COL:`.
pub fn refused_at(file: &str, any_of: &[&str]) -> Expect {
    Expect::Refused {
        exits: vec![2],
        any_of: any_of.iter().map(|s| s.to_string()).collect(),
        position: Some(file.to_string()),
    }
}

/// Refused with one of `exits`.
pub fn refused_with(exits: &[i32], any_of: &[&str]) -> Expect {
    Expect::Refused { exits: exits.to_vec(), any_of: any_of.iter().map(|s| s.to_string()).collect(), position: None }
}

pub fn accepted(stdout_has: &[&str]) -> Expect {
    Expect::Accepted { stdout_has: stdout_has.iter().map(|s| s.to_string()).collect(), changes: false }
}

/// What a run produced.
#[derive(Default, Debug)]
pub struct Outcome {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub panicked: bool,
    pub timed_out: bool,
}

/// The judgement of one case.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Panic(String),
    /// Exit 0 for an input that must be refused.
    Accepted,
    Wrong(String),
}

/// Every file under `dir` (not following links): its relative path → a hash of its kind,
/// mode, owner and bytes (a link: its target).
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(base).unwrap_or(&p).to_path_buf();
        let Ok(m) = std::fs::symlink_metadata(&p) else { continue };
        use std::os::unix::fs::MetadataExt;
        let head = format!("{:o} {}:{}", m.mode(), m.uid(), m.gid());
        if m.file_type().is_symlink() {
            let to = std::fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default();
            out.insert(rel, format!("{head} -> {to}"));
        } else if m.is_dir() {
            out.insert(rel, format!("{head} dir"));
            walk(base, &p, out);
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            let hex: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
            out.insert(rel, format!("{head} {hex}"));
        }
    }
}

fn prepare(dir: &Path, puts: &[Put]) {
    for p in puts {
        match p {
            Put::File(rel, bytes) => {
                let f = dir.join(rel);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(f, bytes).unwrap();
            }
            Put::Dir(rel) => std::fs::create_dir_all(dir.join(rel)).unwrap(),
            Put::Link(rel, to) => {
                let f = dir.join(rel);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::os::unix::fs::symlink(to, f).unwrap();
            }
        }
    }
}

fn run_bin(dir: &Path, args: &[String], stdin: Option<&[u8]>, sink: Sink) -> Outcome {
    let args: Vec<String> = args.iter().map(|a| a.replace("{dir}", &dir.display().to_string())).collect();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankroot"));
    cmd.args(&args).current_dir(dir).env_remove("LIBVIRT_DEFAULT_URI").stderr(Stdio::piped());
    cmd.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    match sink {
        Sink::Captured => cmd.stdout(Stdio::piped()),
        Sink::ClosedPipe => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            cmd.stdout(Stdio::from(writer))
        }
        Sink::Full => cmd.stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap()),
    };
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: MEMORY_LIMIT, rlim_max: MEMORY_LIMIT };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = cmd.spawn().unwrap();
    if let (Some(bytes), Some(mut w)) = (stdin, child.stdin.take()) {
        let bytes = bytes.to_vec();
        std::thread::spawn(move || {
            use std::io::Write;
            let _ = w.write_all(&bytes);
        });
    }
    let out_thread = child.stdout.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = s.read_to_end(&mut v);
            v
        })
    });
    let mut err = child.stderr.take().unwrap();
    let err_thread = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIMEOUT {
            let _ = child.kill();
            timed_out = true;
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = out_thread.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
    let stderr = String::from_utf8_lossy(&err_thread.join().unwrap_or_default()).into_owned();
    let crash = matches!(status.signal(), Some(libc::SIGABRT | libc::SIGSEGV | libc::SIGBUS | libc::SIGILL));
    Outcome {
        code: status.code(),
        signal: status.signal(),
        panicked: status.code() == Some(101) || stderr.contains("panicked") || crash,
        stdout,
        stderr,
        timed_out,
    }
}

fn run_lib(f: &(dyn Fn() -> Result<(), blankroot::error::Error> + Send + Sync)) -> Outcome {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(())) => Outcome { code: Some(0), ..Outcome::default() },
        Ok(Err(e)) => Outcome { code: Some(e.kind.exit_code()), stderr: e.render(), ..Outcome::default() },
        Err(p) => {
            let what = p.downcast_ref::<String>().cloned().or(p.downcast_ref::<&str>().map(|s| s.to_string()));
            Outcome { panicked: true, stderr: format!("panicked: {}", what.unwrap_or_default()), ..Outcome::default() }
        }
    }
}

/// Runs one case in a fresh folder and judges it.
pub fn judge(case: &Case) -> (Verdict, Outcome) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    prepare(dir, &case.puts);
    let before = snapshot(dir);
    let out = match &case.how {
        How::Bin { args, stdin, sink } => run_bin(dir, args, stdin.as_deref(), *sink),
        How::Lib(f) => run_lib(f.as_ref()),
    };
    let changed = snapshot(dir) != before;
    let mut v = verdict(case, &out, changed, dir);
    if v == Verdict::Pass
        && let Some(f) = case.after
        && let Err(why) = f(dir)
    {
        v = Verdict::Wrong(why);
    }
    (v, out)
}

fn excerpt(s: &str) -> String {
    let s: String = s.chars().take(300).collect();
    format!("{s:?}")
}

fn verdict(case: &Case, out: &Outcome, changed: bool, dir: &Path) -> Verdict {
    if out.panicked {
        return Verdict::Panic(excerpt(&out.stderr));
    }
    if out.timed_out {
        return Verdict::Wrong("did not finish in 30 s".into());
    }
    // No raw terminal escape ever reaches the terminal, whatever the input held.
    if out.stderr.contains('\u{1b}') || out.stdout.contains(&0x1b) {
        return Verdict::Wrong("a raw terminal escape (ESC) reached the output".into());
    }
    let code = out.code;
    let refusal = |exits: &[i32], any_of: &[String], position: &Option<String>| -> Verdict {
        if code == Some(0) {
            return Verdict::Accepted;
        }
        if !code.is_some_and(|c| exits.contains(&c)) {
            return Verdict::Wrong(format!(
                "exit {code:?} (signal {:?}), want {exits:?}: {}",
                out.signal,
                excerpt(&out.stderr)
            ));
        }
        if let Some(why) = refusal_text_problem(&out.stderr, &String::from_utf8_lossy(&out.stdout), any_of, position) {
            return Verdict::Wrong(why);
        }
        if changed {
            return Verdict::Wrong("refused, but files in its folder changed".into());
        }
        Verdict::Pass
    };
    match &case.expect {
        Expect::Refused { exits, any_of, position } => refusal(exits, any_of, position),
        Expect::Accepted { stdout_has, changes } => {
            if code != Some(0) {
                return Verdict::Wrong(format!("a good input was refused (exit {code:?}): {}", excerpt(&out.stderr)));
            }
            let stdout = String::from_utf8_lossy(&out.stdout);
            if let Some(f) = stdout_has.iter().find(|f| !stdout.contains(f.as_str())) {
                return Verdict::Wrong(format!("stdout lacks {f:?}"));
            }
            if changed != *changes {
                return Verdict::Wrong(format!("files changed: {changed}, expected {changes}"));
            }
            Verdict::Pass
        }
        Expect::Either { check } => {
            if code == Some(0) {
                return match check.map(|c| c(dir)) {
                    Some(Err(why)) => Verdict::Wrong(format!("accepted, but: {why}")),
                    _ => Verdict::Pass,
                };
            }
            refusal(&[2], &[], &None)
        }
        Expect::Quiet => {
            if out.stderr.trim().is_empty() && code != Some(101) {
                Verdict::Pass
            } else {
                Verdict::Wrong(format!("not quiet on a closed pipe (exit {code:?}): {}", excerpt(&out.stderr)))
            }
        }
        Expect::OutputError => {
            // 1 to 5 are the failures `blankroot --help` documents (5: output not written).
            if code.is_some_and(|c| (1..=5).contains(&c))
                && out.stderr.contains("error:")
                && out.stderr.contains("hint:")
            {
                Verdict::Pass
            } else {
                Verdict::Wrong(format!(
                    "a full disk must be a clear error, got exit {code:?}: {}",
                    excerpt(&out.stderr)
                ))
            }
        }
    }
}

/// Why a refusal's stderr is not what every refusal must be, if it is not.
/// The fragments may be on stdout (a verdict's reasons, doctor's findings) or stderr.
fn refusal_text_problem(stderr: &str, stdout: &str, any_of: &[String], position: &Option<String>) -> Option<String> {
    if !stderr.contains("error:") {
        return Some(format!("no `error:` in {}", excerpt(stderr)));
    }
    // clap's own refusals point to --help instead of a `hint:`.
    if !stderr.contains("hint:") && !stderr.contains("try '--help'") {
        return Some(format!("no hint in {}", excerpt(stderr)));
    }
    if stderr.len() > MAX_STDERR {
        return Some(format!("stderr is {} bytes: echoed input is not cut", stderr.len()));
    }
    // serde's names for blankroot's internal types are not for users.
    if stderr.contains("struct Raw") {
        return Some(format!("an internal type name in {}", excerpt(stderr)));
    }
    if !any_of.is_empty() && !any_of.iter().any(|f| stderr.contains(f.as_str()) || stdout.contains(f.as_str())) {
        return Some(format!("names none of {any_of:?}: {}", excerpt(stderr)));
    }
    if let Some(file) = position {
        let Some(at) = stderr.find(&format!("{file}:")) else {
            return Some(format!("no {file}:LINE:COL: position in {}", excerpt(stderr)));
        };
        let rest = &stderr[at + file.len() + 1..];
        let mut parts = rest.splitn(3, ':');
        let (l, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        if l.is_empty()
            || c.is_empty()
            || !l.bytes().all(|b| b.is_ascii_digit())
            || !c.bytes().all(|b| b.is_ascii_digit())
        {
            return Some(format!("no {file}:LINE:COL: position in {}", excerpt(stderr)));
        }
    }
    None
}

/// Runs every case on parallel threads; prints each failure and the summary line; returns the
/// failures' count.
pub fn run_all(cases: Vec<Case>) -> usize {
    let filter = std::env::var("HOSTILE_FILTER").unwrap_or_default();
    let cases: Vec<Case> = cases.into_iter().filter(|c| c.name.contains(&filter)).collect();
    let mut names = std::collections::HashSet::new();
    for c in &cases {
        assert!(names.insert(c.name.clone()), "two cases are named {}", c.name);
    }
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) * 3;
    let results: Vec<(usize, Verdict, Outcome)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        let Some(c) = cases.get(i) else { break };
                        let (v, o) = judge(c);
                        mine.push((i, v, o));
                    }
                    mine
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    report(&cases, results)
}

fn report(cases: &[Case], mut results: Vec<(usize, Verdict, Outcome)>) -> usize {
    results.sort_by_key(|r| r.0);
    let (mut panics, mut accepted, mut wrong) = (0, 0, 0);
    for (i, v, _) in &results {
        let name = &cases[*i].name;
        match v {
            Verdict::Pass => {}
            Verdict::Panic(why) => {
                panics += 1;
                println!("PANIC     {name}: {why}");
            }
            Verdict::Accepted => {
                accepted += 1;
                println!("ACCEPTED  {name}: exit 0 for an input that must be refused");
            }
            Verdict::Wrong(why) => {
                wrong += 1;
                println!("WRONG     {name}: {why}");
            }
        }
    }
    println!(
        "hostile inputs: {}, panics: {panics}, accepted that should be refused: {accepted}, other failures: {wrong}",
        results.len()
    );
    panics + accepted + wrong
}
