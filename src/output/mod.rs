//! The one renderer, and standard output: a command's report is printed here as text for
//! people ([`Render::human`], with colour when asked for) or as JSON ([`Format::Json`]); progress
//! that happens while a command runs (install's steps, `diff --all`'s paths, libvirt's diff
//! before it asks) goes through [`Events`], one line per event in either form. Every write goes
//! through here, so a write that fails is an [`Error`] and never a panic (`print!` panics on a
//! failed write).
//! A reader that closed the pipe (`blankroot plan | head`) becomes [`ErrorKind::Closed`], which
//! `main` ends quietly with exit 141; any other failure (a full disk, an I/O error) becomes
//! [`ErrorKind::Output`], exit 5, with its cause. Rust ignores SIGPIPE, so a closed pipe
//! shows up here as an `EPIPE` write error rather than killing the process.

use crate::error::{Error, ErrorKind, Result};
use std::io::{self, Write};

pub mod style;

pub use style::{ColorChoice, Role, paint};

/// How a report is printed: text for people, or one JSON document (a stream of events: one
/// JSON object per line).
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Human,
    Json,
}

/// How much a human report says: `-q` (the result, and what is wrong), the default, or `-v`
/// (everything, and each command blankroot runs, on standard error).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Detail {
    Quiet,
    #[default]
    Normal,
    Verbose,
}

/// A command's report: serialised as it is for `--format json`, and written for people by
/// [`Render::human`]. [`Render::failure`] is the error the command exits with after its report
/// is printed (doctor's errors, a FAIL, an out-of-date file), when there is one.
pub trait Render: serde::Serialize {
    /// The report for people, at this level of detail.
    fn human(&self, detail: Detail) -> String;
    /// The error the process ends with once the report is out; `None`: success.
    fn failure(&self) -> Option<Error> {
        None
    }
}

/// The report as `format` wants it: text for people, or one pretty-printed JSON document.
pub fn render(report: &dyn RenderDyn, format: Format, detail: Detail) -> Result<String> {
    match format {
        Format::Human => Ok(report.human_text(detail)),
        Format::Json => report.json_text(),
    }
}

/// [`Render`] behind a `dyn` (serde's `Serialize` is not object safe).
pub trait RenderDyn {
    fn human_text(&self, detail: Detail) -> String;
    fn json_text(&self) -> Result<String>;
    fn failure_error(&self) -> Option<Error>;
}

impl<T: Render> RenderDyn for T {
    fn human_text(&self, detail: Detail) -> String {
        self.human(detail)
    }
    fn json_text(&self) -> Result<String> {
        json_pretty(self)
    }
    fn failure_error(&self) -> Option<Error> {
        self.failure()
    }
}

/// Prints `report` on standard output as `format` wants, then ends with its failure, if any.
pub fn emit(report: &dyn RenderDyn, format: Format, detail: Detail) -> Result<()> {
    print(&render(report, format, detail)?)?;
    report.failure_error().map_or(Ok(()), Err)
}

/// What happens while a command runs, as it happens: for people, a line per event (a step's
/// line begun by [`Events::start`] and ended by its result); as JSON, one object per line.
/// A write that fails does not stop the command here (an install is not abandoned half-way
/// because its display went away; the receipt has every step): the first failure is kept
/// ([`Recorder`]), later writes are dropped, and [`Events::finish`] returns it; a reader that
/// can stop early asks [`Events::failed`].
pub struct Events<'a> {
    out: Recorder<&'a mut dyn Write>,
    pub format: Format,
    pub detail: Detail,
    /// Flush after every event (progress a person watches); off for a long listing written
    /// through a buffer (`diff --all`).
    flush_each: bool,
}

impl<'a> Events<'a> {
    pub fn new(out: &'a mut dyn Write, format: Format, detail: Detail) -> Events<'a> {
        Events { out: Recorder::new(out), format, detail, flush_each: true }
    }
    /// Events written without a flush after each (`out` is a buffer; [`Events::finish`]
    /// flushes).
    pub(crate) fn buffered(mut self) -> Events<'a> {
        self.flush_each = false;
        self
    }
    /// Whether a write has failed (nothing more reaches the reader).
    pub fn failed(&self) -> bool {
        self.out.failed()
    }
    /// The first failed write as [`error`]'s, if one failed.
    pub fn error(&self) -> Option<Error> {
        self.out.failed.as_ref().map(|e| error(io::Error::new(e.kind(), e.to_string())))
    }
    /// Flushes, and returns the first failed write as [`error`]'s.
    pub fn finish(self) -> Result<()> {
        self.out.finish()
    }
    pub fn json(&self) -> bool {
        self.format == Format::Json
    }
    /// An event: its JSON, or its text as a line (both as they are; nothing in quiet human
    /// output unless `always`).
    pub fn event(&mut self, value: serde_json::Value, text: &str, always: bool) {
        let line = match self.format {
            Format::Json => value.to_string(),
            Format::Human if always || self.detail > Detail::Quiet => text.to_string(),
            Format::Human => return,
        };
        let _ = writeln!(self.out, "{line}");
        if self.flush_each {
            let _ = self.out.flush();
        }
    }
    /// A step begins: a JSON event, or the step's line without its end, so a person sees what
    /// runs while it runs; the next [`Events::event`] ends the line.
    pub fn start(&mut self, value: serde_json::Value, label: &str) {
        let _ = match self.format {
            Format::Json => writeln!(self.out, "{value}"),
            Format::Human if self.detail > Detail::Quiet => write!(self.out, "{label} … "),
            Format::Human => return,
        };
        let _ = self.out.flush();
    }
    /// Text for people only (nothing in JSON): a preview shown before a question.
    pub fn say(&mut self, text: &str) {
        if self.format == Format::Human {
            let _ = write!(self.out, "{text}");
            let _ = self.out.flush();
        }
    }
}

/// Writes `text` to standard output and flushes it.
pub fn print(text: &str) -> Result<()> {
    write_all(&mut io::stdout().lock(), text)
}

/// Writes `text` to `out` and flushes it; a failure is [`error`]'s.
pub fn write_all(out: &mut dyn Write, text: &str) -> Result<()> {
    out.write_all(text.as_bytes()).and_then(|()| out.flush()).map_err(error)
}

/// A JSON value as one pretty-printed document with a trailing newline.
pub(crate) fn json_pretty(value: &impl serde::Serialize) -> Result<String> {
    json_text(serde_json::to_string_pretty(value))
}

fn json_text(made: serde_json::Result<String>) -> Result<String> {
    made.map(|s| s + "\n").map_err(|e| Error::internal("cannot serialise the report").caused_by(e))
}

/// A failed write to standard output as a blankroot error: a closed pipe is
/// [`ErrorKind::Closed`] (ended quietly), anything else [`ErrorKind::Output`].
pub fn error(e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::BrokenPipe {
        return Error::new(ErrorKind::Closed, "standard output was closed by its reader");
    }
    Error::new(ErrorKind::Output, "cannot write the output")
        .caused_by(e)
        .hint("make room on the file system standard output goes to (or send it elsewhere) and run the command again")
}

/// Standard output for code that writes as it goes and must not stop on the first failed
/// write (install's progress: an install is not abandoned half-way because its display went
/// away; every step is in the receipt). The first failure is kept and later writes are
/// dropped, so nothing after a gap appears; [`Recorder::finish`] returns that failure.
pub struct Recorder<W: Write> {
    inner: W,
    failed: Option<io::Error>,
}

impl Recorder<io::StdoutLock<'static>> {
    pub fn stdout() -> Self {
        Recorder::new(io::stdout().lock())
    }
}

impl<W: Write> Recorder<W> {
    pub fn new(inner: W) -> Self {
        Recorder { inner, failed: None }
    }
    /// Whether a write has failed (later writes are dropped).
    pub fn failed(&self) -> bool {
        self.failed.is_some()
    }
    /// Flushes, and returns the first failure as [`error`]'s.
    pub fn finish(mut self) -> Result<()> {
        let _ = Write::flush(&mut self); // keeps its failure in `failed`
        self.failed.map_or(Ok(()), |e| Err(error(e)))
    }
}

impl<W: Write> Write for Recorder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed.is_none()
            && let Err(e) = self.inner.write_all(buf)
        {
            self.failed = Some(e);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        if self.failed.is_none()
            && let Err(e) = self.inner.flush()
        {
            self.failed = Some(e);
        }
        Ok(())
    }
}

/// A line for a person on standard error (the final error report, a prompt's complaint).
/// A failure to write it is ignored on purpose: stderr is where failures are reported, so
/// there is nowhere left to report this one, and it must not panic as `eprintln!` would.
pub fn note(line: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{line}");
    let _ = err.flush();
}

/// How the process ends on `e`: its report on stderr (nothing for a closed pipe) and the
/// exit code.
pub fn exit_code_after_report(e: &Error) -> i32 {
    if e.kind != ErrorKind::Closed {
        note(&style::error_report(e));
    }
    e.kind.exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails every write with the given kind.
    struct Failing(io::ErrorKind);
    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Err(io::Error::from(self.0))
        }
    }

    #[test]
    fn a_closed_pipe_is_quiet_and_a_full_disk_is_an_output_error() {
        let e = write_all(&mut Failing(io::ErrorKind::BrokenPipe), "x").unwrap_err();
        assert_eq!((e.kind, e.kind.exit_code()), (ErrorKind::Closed, 141));
        let e = write_all(&mut Failing(io::ErrorKind::StorageFull), "x").unwrap_err();
        assert_eq!((e.kind, e.kind.exit_code()), (ErrorKind::Output, 5));
        assert_eq!(e.message, "cannot write the output");
        assert_eq!(e.causes, vec![io::Error::from(io::ErrorKind::StorageFull).to_string()]);
        assert!(e.hint.is_some());
    }

    #[test]
    fn recorder_keeps_the_first_failure_and_drops_later_writes() {
        let mut r = Recorder::new(Failing(io::ErrorKind::StorageFull));
        assert!(!r.failed());
        assert!(writeln!(r, "one").is_ok(), "the writer's user goes on");
        assert!(r.failed());
        assert!(writeln!(r, "two").is_ok());
        assert_eq!(r.finish().unwrap_err().kind, ErrorKind::Output);

        let mut ok = Recorder::new(Vec::new());
        writeln!(ok, "one").unwrap();
        assert!(!ok.failed());
        assert!(ok.finish().is_ok());
    }

    #[test]
    fn recorder_writes_nothing_after_a_gap() {
        /// Accepts `room` bytes, then fails.
        struct Short(Vec<u8>, usize);
        impl Write for Short {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                if self.0.len() + b.len() > self.1 {
                    return Err(io::Error::from(io::ErrorKind::StorageFull));
                }
                self.0.extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let mut r = Recorder::new(Short(Vec::new(), 4));
        let _ = r.write(b"abc");
        let _ = r.write(b"defg");
        let _ = r.write(b"h");
        assert!(r.failed());
        assert_eq!(r.inner.0, b"abc", "h would follow a gap");
    }
}
