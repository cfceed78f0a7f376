//! The error type every module returns: what went wrong, why (a chain of causes), and how to
//! fix it. Rendered in the shape `error: …` / `caused by: …` / `hint: …` and mapped onto
//! exit codes that mean something to scripts.

use std::fmt;

/// What kind of failure this is; decides the process exit code. [`EXIT_CODES`] is the table
/// `blankroot --help` and the README show; a test holds the three together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The user's input (config file, flags, saved plan) is wrong. Exit 2.
    Input,
    /// The machine is not in a state we can work with (missing tool, wrong firmware). Exit 3.
    Environment,
    /// An external program failed. Exit 4.
    Command,
    /// Anything else (I/O on our own files, internal invariants). Exit 1.
    Internal,
    /// Standard output could not be written (disk full, I/O error). Exit 5.
    Output,
    /// Whoever read standard output closed it (`blankroot plan | head`): blankroot stops
    /// quietly, printing nothing more, with the status a shell shows for a process that
    /// SIGPIPE ended, 141 (128 + 13), so a pipeline under `set -o pipefail` still sees it cut.
    Closed,
}

impl ErrorKind {
    /// Every kind, for the exit-code table's test.
    pub const ALL: [ErrorKind; 6] = [
        ErrorKind::Internal,
        ErrorKind::Input,
        ErrorKind::Environment,
        ErrorKind::Command,
        ErrorKind::Output,
        ErrorKind::Closed,
    ];

    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::Input => 2,
            ErrorKind::Environment => 3,
            ErrorKind::Command => 4,
            ErrorKind::Output => 5,
            ErrorKind::Closed => 141,
        }
    }
}

/// The exit codes as `blankroot --help` lists them (after 0, one line per [`ErrorKind`]).
pub(crate) const EXIT_CODES: &str = "\
Exit codes:
    0    success
    1    other failure (I/O on blankroot's own files, an internal error)
    2    bad input (config, flags, saved plan); also clap's usage errors
    3    the machine is not usable (missing disk, too small, tools); doctor found errors;
         verify-rollback FAIL; regenerate --check found blankroot.nix out of date
    4    an external command failed
    5    standard output could not be written (disk full, I/O error)
    141  standard output was closed by its reader (e.g. `| head`); nothing more is printed";

/// A blankroot error: a message, optional causes (outermost first) and an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), causes: Vec::new(), hint: None }
    }
    pub fn input(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Input, message)
    }
    pub fn env(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Environment, message)
    }
    pub fn command(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Command, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Internal, message)
    }
    pub(crate) fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// This error under a new message, which says what was being done: the old message becomes
    /// the first cause, its causes follow; the kind and the hint are kept.
    pub(crate) fn context(self, message: impl Into<String>) -> Self {
        let mut outer = Error::new(self.kind, message).caused_by(&self.message);
        outer.causes.extend(self.causes);
        outer.hint = self.hint;
        outer
    }
    /// The same error as another kind (what it means to the user: bad input, the machine, …).
    pub fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
    /// The full report, as printed on stderr.
    ///
    /// Each part is made safe for a terminal whatever it quotes: control characters other than
    /// newline and tab are escaped (`\u{1b}`), and a part longer than [`PART_CHARS`] is cut,
    /// so a huge input echoed by a parser (ours or a library's) cannot flood the screen.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}", tidy(&self.message));
        for c in &self.causes {
            s.push_str(&format!("\n  caused by: {}", tidy(c)));
        }
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n  hint: {}", tidy(h)));
        }
        s
    }
}

/// The longest one part of a rendered error (message, cause, hint) is shown, in characters.
pub(crate) const PART_CHARS: usize = 1000;

/// A message part as it may reach a terminal: raw control characters escaped, cut to
/// [`PART_CHARS`] characters.
fn tidy(part: &str) -> String {
    let mut out = String::with_capacity(part.len().min(PART_CHARS * 2));
    for (n, c) in part.chars().enumerate() {
        if n == PART_CHARS {
            out.push_str(&format!("… (cut; {} characters in all)", part.chars().count()));
            break;
        }
        if c.is_control() && c != '\n' && c != '\t' {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// The longest a piece of user input is quoted in a message, in characters.
pub(crate) const EXCERPT_CHARS: usize = 80;

/// User input as it may be quoted in a message: Rust-escaped (control characters and terminal
/// escapes become `\u{1b}` etc., never raw), in double quotes, and cut to [`EXCERPT_CHARS`]
/// characters with `…` and the full length when longer. Never panics on any input.
pub fn excerpt(input: &str) -> String {
    let n = input.chars().count();
    if n <= EXCERPT_CHARS {
        return format!("{input:?}");
    }
    let head: String = input.chars().take(EXCERPT_CHARS).collect();
    format!("{head:?}… ({n} characters)")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_error_cause_hint() {
        let e = Error::input("bad disk").caused_by("no such file").hint("pass --disk");
        assert_eq!(e.render(), "error: bad disk\n  caused by: no such file\n  hint: pass --disk");
        assert_eq!(e.kind.exit_code(), 2);
    }

    #[test]
    fn rendered_parts_are_escaped_and_cut() {
        let e = Error::input(format!("bad \u{1b}[2J {}", "x".repeat(5000))).hint("a\u{7}b");
        let r = e.render();
        assert!(!r.contains('\u{1b}') && !r.contains('\u{7}'), "{r}");
        assert!(r.contains("\\u{1b}[2J") && r.contains("a\\u{7}b"), "{r}");
        assert!(r.contains("… (cut; 5009 characters in all)"), "{r}");
        assert!(r.len() < 1200, "{}", r.len());
    }

    #[test]
    fn excerpts_escape_and_cut() {
        assert_eq!(excerpt("a\u{1b}[2Jb"), "\"a\\u{1b}[2Jb\"");
        let long = "é".repeat(200);
        let e = excerpt(&long);
        assert!(e.ends_with("… (200 characters)"), "{e}");
        assert_eq!(e.chars().filter(|&c| c == 'é').count(), EXCERPT_CHARS);
    }
}
