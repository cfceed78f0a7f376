//! The error type every module returns: what went wrong, why (a chain of causes), and how to
//! fix it. Rendered in the shape `error: …` / `caused by: …` / `hint: …` and mapped onto
//! exit codes that mean something to scripts.

use std::fmt;

/// What kind of failure this is; decides the process exit code.
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
}

impl ErrorKind {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorKind::Internal => 1,
            ErrorKind::Input => 2,
            ErrorKind::Environment => 3,
            ErrorKind::Command => 4,
        }
    }
}

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
    pub fn caused_by(mut self, cause: impl fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
    /// The full report, as printed on stderr.
    pub fn render(&self) -> String {
        let mut s = format!("error: {}", self.message);
        for c in &self.causes {
            s.push_str(&format!("\n  caused by: {c}"));
        }
        if let Some(h) = &self.hint {
            s.push_str(&format!("\n  hint: {h}"));
        }
        s
    }
}

/// The longest a piece of user input is quoted in a message, in characters.
pub const EXCERPT_CHARS: usize = 80;

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
    fn excerpts_escape_and_cut() {
        assert_eq!(excerpt("a\u{1b}[2Jb"), "\"a\\u{1b}[2Jb\"");
        let long = "é".repeat(200);
        let e = excerpt(&long);
        assert!(e.ends_with("… (200 characters)"), "{e}");
        assert_eq!(e.chars().filter(|&c| c == 'é').count(), EXCERPT_CHARS);
    }
}
