//! The one command runner every external program goes through. It logs the argv (never stdin),
//! feeds secrets on stdin straight from their zeroing buffer, and puts a stderr tail into
//! errors. `Local` runs on this machine; `Recording` is the one fake, for unit tests of
//! blankroot's own logic (it is also a [`Host`] with no files). Commands reach a runner
//! through a [`Host`], the machine they run on.

use crate::error::{Error, Result};
use crate::infra::host::{Host, Meta};
use crate::infra::secret::Secret;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

/// What a command reads on stdin.
#[derive(Clone)]
pub enum Input {
    Bytes(Vec<u8>),
    /// A secret, written to the child from the [`Secret`]'s own buffer (zeroed when the last
    /// holder drops it), never copied into a plain buffer; never logged or shown.
    Secret(Arc<Secret>),
}

impl Input {
    /// The bytes the child reads.
    pub fn bytes(&self) -> &[u8] {
        match self {
            Input::Bytes(b) => b,
            Input::Secret(s) => s.expose().as_bytes(),
        }
    }
    pub(crate) fn is_secret(&self) -> bool {
        matches!(self, Input::Secret(_))
    }
}

/// One invocation: program, arguments, and optional stdin (which may be secret).
#[derive(Clone)]
pub struct Cmd {
    pub argv: Vec<String>,
    pub stdin: Option<Input>,
}

impl PartialEq for Cmd {
    fn eq(&self, other: &Cmd) -> bool {
        self.argv == other.argv
            && match (&self.stdin, &other.stdin) {
                (None, None) => true,
                (Some(a), Some(b)) => a.is_secret() == b.is_secret() && a.bytes() == b.bytes(),
                _ => false,
            }
    }
}

impl Eq for Cmd {}

impl std::fmt::Debug for Cmd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let stdin = match &self.stdin {
            None => "none".to_string(),
            Some(Input::Secret(_)) => "<secret>".to_string(),
            Some(Input::Bytes(b)) => format!("{} bytes", b.len()),
        };
        write!(f, "Cmd({:?}, stdin: {stdin})", self.argv)
    }
}

impl Cmd {
    pub fn new<I, S>(argv: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Cmd { argv: argv.into_iter().map(Into::into).collect(), stdin: None }
    }
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(Input::Bytes(data.into()));
        self
    }
    /// The secret on stdin, exactly as it is (no newline added).
    pub(crate) fn secret_stdin(mut self, secret: Arc<Secret>) -> Self {
        self.stdin = Some(Input::Secret(secret));
        self
    }
    /// The argv as a shell-quoted line, for logs and messages.
    pub fn display(&self) -> String {
        crate::infra::shell::quote_argv(&self.argv)
    }
}

/// What a finished program left behind.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit status; `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }
    pub(crate) fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    fn stderr_tail(&self) -> String {
        let text = String::from_utf8_lossy(&self.stderr);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let skip = lines.len().saturating_sub(5);
        lines.into_iter().skip(skip).collect::<Vec<_>>().join(" | ")
    }
}

/// Runs commands somewhere (this machine, or over SSH). `Sync`, so independent commands (the
/// probe's) can run at the same time.
pub trait Runner: Sync {
    /// Runs the command and returns its output whatever the exit status; errors only when the
    /// program could not be started.
    fn output(&self, cmd: &Cmd) -> Result<Output>;

    /// Runs the command and fails, with the stderr tail, unless it exits 0.
    fn run(&self, cmd: &Cmd) -> Result<Output> {
        checked(cmd, self.output(cmd)?)
    }

    /// Runs the command and hands each line of its stdout (without the newline) to `line` as
    /// it comes, so memory does not grow with the output; the returned output has the status
    /// and stderr, and no stdout. (This default is for fakes: it runs [`Runner::output`].)
    fn stream_lines(&self, cmd: &Cmd, line: &mut dyn FnMut(&[u8])) -> Result<Output> {
        let mut out = self.output(cmd)?;
        for l in out.stdout.split(|b| *b == b'\n') {
            if !l.is_empty() {
                line(l);
            }
        }
        out.stdout.clear();
        Ok(out)
    }
}

/// `out` of `cmd` when it exited 0; else the error, with the stderr tail.
pub fn checked(cmd: &Cmd, out: Output) -> Result<Output> {
    if out.success() {
        return Ok(out);
    }
    let status = out.status.map_or("was killed by a signal".to_string(), |s| format!("exited with status {s}"));
    let mut e = Error::command(format!("`{}` {status}", cmd.display()));
    let tail = out.stderr_tail();
    if !tail.is_empty() {
        e = e.caused_by(tail);
    }
    Err(e)
}

/// Runs programs on this machine. Logs each argv to stderr when `verbose`.
#[derive(Debug, Default)]
pub struct Local {
    pub verbose: bool,
}

impl Runner for Local {
    fn output(&self, cmd: &Cmd) -> Result<Output> {
        let program = program(cmd)?;
        let mut child = self.spawn(cmd)?;
        let pipe = child.stdin.take();
        // stdin is written on a scoped thread straight from the command's own buffer (for a
        // secret, the Secret's zeroing one), while this thread collects stdout and stderr.
        let out = std::thread::scope(|s| {
            if let (Some(input), Some(mut pipe)) = (&cmd.stdin, pipe) {
                // A program may exit without reading all of stdin; that is its business.
                s.spawn(move || {
                    let _ = pipe.write_all(input.bytes());
                });
            }
            child.wait_with_output()
        })
        .map_err(|e| Error::command(format!("`{program}` failed")).caused_by(e))?;
        Ok(Output { status: out.status.code(), stdout: out.stdout, stderr: out.stderr })
    }

    fn stream_lines(&self, cmd: &Cmd, line: &mut dyn FnMut(&[u8])) -> Result<Output> {
        use std::io::{BufRead, Read};
        if cmd.stdin.is_some() {
            return Err(Error::internal("stream_lines does not feed stdin"));
        }
        let program = program(cmd)?;
        let mut child = self.spawn(cmd)?;
        let piped = || Error::internal(format!("`{program}` was started without its output piped"));
        let mut stderr = child.stderr.take().ok_or_else(piped)?;
        // stderr is drained on its own thread, so a chatty program cannot block on it.
        let err = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = stderr.read_to_end(&mut b);
            b
        });
        let mut reader = std::io::BufReader::with_capacity(1 << 16, child.stdout.take().ok_or_else(piped)?);
        let mut buf = Vec::with_capacity(4096);
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(|e| Error::command(format!("reading the output of `{program}`")).caused_by(e))?;
            if n == 0 {
                break;
            }
            let l = buf.strip_suffix(b"\n").unwrap_or(&buf);
            if !l.is_empty() {
                line(l);
            }
        }
        let status = child.wait().map_err(|e| Error::command(format!("`{program}` failed")).caused_by(e))?;
        Ok(Output { status: status.code(), stdout: Vec::new(), stderr: err.join().unwrap_or_default() })
    }
}

/// The program a command runs: an empty argv is an error, never an index panic. (Plans run
/// only as blankroot builds them, so this is blankroot's bug, not the user's.)
fn program(cmd: &Cmd) -> Result<&str> {
    cmd.argv
        .first()
        .map(String::as_str)
        .ok_or_else(|| Error::internal("a command with an empty argv (no program to run)"))
}

impl Local {
    fn spawn(&self, cmd: &Cmd) -> Result<std::process::Child> {
        let (program, args) = cmd
            .argv
            .split_first()
            .ok_or_else(|| Error::internal("a command with an empty argv (no program to run)"))?;
        if self.verbose {
            crate::output::note(&format!("+ {}", cmd.display()));
        }
        Command::new(program)
            .args(args)
            // util-linux tools (sfdisk, wipefs, mkfs…) would wait for ever for the whole-disk
            // lock blankroot itself holds during destructive steps (install::lock).
            .env_remove("LOCK_BLOCK_DEVICE")
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                Error::env(format!("cannot run `{program}`"))
                    .caused_by(e)
                    .hint(format!("install the program that provides `{program}`, or check PATH"))
            })
    }
}

/// Called with every command a [`Recording`] is asked to run, before it answers.
pub type Hook = Box<dyn Fn(&Cmd) + Send + Sync>;

/// Answers the commands of one program for a [`Recording`].
pub type Responder = Box<dyn Fn(&Cmd) -> Result<Output> + Send + Sync>;

/// The fake runner for unit tests: answers each argv from a table and records every call. An
/// argv given several answers gets them in turn, the last one again once they are used up.
/// Programs named with [`Recording::real`] run for real instead (nix-instantiate, where a test
/// wants the real evaluator), those given to [`Recording::respond`] are answered by a function
/// (a disk image standing for the disk); [`Recording::on_call`] watches every call. As a
/// [`Host`] it is a machine with no files.
#[derive(Default)]
pub struct Recording {
    answers: Vec<(Vec<String>, Output)>,
    responders: Vec<(String, Responder)>,
    hook: Option<Hook>,
    pub calls: Mutex<Vec<Cmd>>,
}

impl Recording {
    pub fn new() -> Self {
        Self::default()
    }
    /// Answer `argv` with exit 0 and this stdout.
    pub fn answer(mut self, argv: &[&str], stdout: impl Into<Vec<u8>>) -> Self {
        let out = Output { status: Some(0), stdout: stdout.into(), stderr: Vec::new() };
        self.answers.push((argv.iter().map(|s| s.to_string()).collect(), out));
        self
    }
    /// Answer `argv` with this exit status and stderr.
    pub fn fail(mut self, argv: &[&str], status: i32, stderr: &str) -> Self {
        let out = Output { status: Some(status), stdout: Vec::new(), stderr: stderr.as_bytes().to_vec() };
        self.answers.push((argv.iter().map(|s| s.to_string()).collect(), out));
        self
    }
    /// Answer `argv` with this exit status and stdout (a later answer for the same argv comes
    /// after this one).
    pub fn status(mut self, argv: &[&str], status: i32, stdout: &str) -> Self {
        let out = Output { status: Some(status), stdout: stdout.as_bytes().to_vec(), stderr: Vec::new() };
        self.answers.push((argv.iter().map(|s| s.to_string()).collect(), out));
        self
    }
    /// Runs `program` for real (through [`Local`]) instead of answering it; still recorded.
    pub fn real(self, program: &str) -> Self {
        self.respond(program, |cmd| Local::default().output(cmd))
    }
    /// Answers every command of `program` with `f`; still recorded.
    pub fn respond(mut self, program: &str, f: impl Fn(&Cmd) -> Result<Output> + Send + Sync + 'static) -> Self {
        self.responders.push((program.to_string(), Box::new(f)));
        self
    }
    /// Calls `hook` with every command before answering it.
    pub fn on_call(mut self, hook: impl Fn(&Cmd) + Send + Sync + 'static) -> Self {
        self.hook = Some(Box::new(hook));
        self
    }
}

impl Runner for Recording {
    fn output(&self, cmd: &Cmd) -> Result<Output> {
        if let Some(h) = &self.hook {
            h(cmd);
        }
        if let Some((_, f)) = self.responders.iter().find(|(p, _)| cmd.argv.first() == Some(p)) {
            self.calls.lock().expect("a test thread panicked").push(cmd.clone());
            return f(cmd);
        }
        let mut calls = self.calls.lock().expect("a test thread panicked");
        let asked_before = calls.iter().filter(|c| c.argv == cmd.argv).count();
        calls.push(cmd.clone());
        let answers: Vec<&Output> = self.answers.iter().filter(|(argv, _)| *argv == cmd.argv).map(|(_, o)| o).collect();
        answers
            .get(asked_before)
            .or(answers.last())
            .map(|o| (*o).clone())
            .ok_or_else(|| Error::env(format!("cannot run `{}`", cmd.display())).caused_by("not in the fake's table"))
    }
}

impl Host for Recording {
    fn output(&self, cmd: &Cmd) -> Result<Output> {
        Runner::output(self, cmd)
    }
    fn stream_lines(&self, cmd: &Cmd, line: &mut dyn FnMut(&[u8])) -> Result<Output> {
        Runner::stream_lines(self, cmd, line)
    }
    fn read(&self, _: &str) -> Option<Vec<u8>> {
        None
    }
    fn read_link(&self, _: &str) -> Option<String> {
        None
    }
    fn meta(&self, _: &str) -> Option<Meta> {
        None
    }
    fn list(&self, _: &str) -> Option<Vec<String>> {
        None
    }
    fn root(&self) -> &str {
        "/"
    }
    fn booted(&self) -> bool {
        true
    }
    fn local_root(&self) -> Option<&Path> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_feeds_stdin_and_reports_stderr_tail() {
        let r = Local::default();
        let out = r.run(&Cmd::new(["cat"]).stdin("hello")).unwrap();
        assert_eq!(out.stdout, b"hello");
        let err = r.run(&Cmd::new(["sh", "-c", "echo one >&2; echo two >&2; exit 3"])).unwrap_err();
        assert_eq!(err.message, "`sh -c 'echo one >&2; echo two >&2; exit 3'` exited with status 3");
        assert_eq!(err.causes, vec!["one | two".to_string()]);
    }

    #[test]
    fn local_streams_lines_as_they_come() {
        let mut got = Vec::new();
        let out = Local::default()
            .stream_lines(&Cmd::new(["sh", "-c", "printf 'a\\nbb\\n\\nc'; echo oops >&2; exit 3"]), &mut |l| {
                got.push(l.to_vec())
            })
            .unwrap();
        assert_eq!(got, [b"a".to_vec(), b"bb".to_vec(), b"c".to_vec()]);
        assert_eq!(out.status, Some(3));
        assert_eq!(out.stderr, b"oops\n");
    }

    #[test]
    fn malformed_commands_are_errors_not_panics() {
        let r = Local::default();
        let empty = Cmd::new(Vec::<String>::new());
        assert_eq!(r.run(&empty).unwrap_err().kind, crate::error::ErrorKind::Internal);
        assert_eq!(r.output(&empty.clone().stdin("x")).unwrap_err().kind, crate::error::ErrorKind::Internal);
        assert!(r.stream_lines(&empty, &mut |_| {}).is_err());
        // A program named "" or with a NUL byte cannot be started: an error, not a panic.
        assert!(r.run(&Cmd::new([""])).is_err());
        assert!(r.run(&Cmd::new(["true", "a\0b"])).is_err());
        assert!(r.run(&Cmd::new(["tr\0ue"])).is_err());
    }

    #[test]
    fn stderr_tail_keeps_the_last_five_lines() {
        let out = Output { status: Some(1), stdout: vec![], stderr: b"1\n2\n\n3\n4\n5\n6\n".to_vec() };
        assert_eq!(out.stderr_tail(), "2 | 3 | 4 | 5 | 6");
        assert_eq!(Output::default().stderr_tail(), "");
    }

    #[test]
    fn secret_stdin_is_not_in_debug() {
        let c = Cmd::new(["cryptsetup", "open"]).secret_stdin(Arc::new(Secret::new("hunter2".into())));
        assert!(!format!("{c:?}").contains("hunter2"));
        let out = Runner::run(&Local::default(), &Cmd::new(["cat"]).secret_stdin(Arc::new(Secret::new("s3".into()))));
        assert_eq!(out.unwrap().stdout, b"s3", "the child reads the secret");
    }

    #[test]
    fn missing_program_is_an_environment_error() {
        let err = Local::default().run(&Cmd::new(["/nonexistent/prog"])).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Environment);
        assert!(err.hint.unwrap().contains("install"));
    }

    #[test]
    fn recording_answers_in_turn() {
        let r = Recording::new().answer(&["x"], "1").answer(&["x"], "2");
        let got: Vec<Vec<u8>> = (0..3).map(|_| Runner::run(&r, &Cmd::new(["x"])).unwrap().stdout).collect();
        assert_eq!(got, [b"1".to_vec(), b"2".to_vec(), b"2".to_vec()]);
    }

    #[test]
    fn recording_records_calls() {
        let r = Recording::new().answer(&["true"], "x");
        assert_eq!(Runner::run(&r, &Cmd::new(["true"])).unwrap().stdout, b"x");
        assert!(Runner::run(&r, &Cmd::new(["false"])).is_err());
        assert_eq!(r.calls.lock().unwrap().len(), 2);
    }
}
