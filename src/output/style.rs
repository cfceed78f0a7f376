//! Colour, decided once for the process: `--color always|never|auto` (auto: only on a
//! terminal, and never when `NO_COLOR` is set to anything but the empty string, or `TERM` is
//! `dumb`; see no-color.org: a command-line flag may override `NO_COLOR`). Until the binary
//! sets it, nothing is coloured, so library output (tests, snapshots) is always plain text.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// The `--color` flag.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set or TERM is dumb.
    #[default]
    Auto,
    /// Colour even when the output is no terminal (and whatever NO_COLOR says).
    Always,
    /// Never colour.
    Never,
}

/// Which stream a text is for (each is a terminal or not on its own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// What a piece of text is, which decides its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Error,
    Warning,
    Ok,
    Hint,
    Heading,
    Dim,
}

/// Whether each stream is coloured; unset: neither.
static CHOSEN: OnceLock<(bool, bool)> = OnceLock::new();

/// Decides colour for this process from the flag, the environment and the terminals. Only the
/// first call counts.
pub fn init(choice: ColorChoice) {
    let env = |k: &str| std::env::var_os(k);
    let decide = |tty: bool| match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            tty && env("NO_COLOR").is_none_or(|v| v.is_empty()) && env("TERM").is_none_or(|t| t != "dumb")
        }
    };
    let _ = CHOSEN.set((decide(std::io::stdout().is_terminal()), decide(std::io::stderr().is_terminal())));
}

fn on(stream: Stream) -> bool {
    CHOSEN.get().is_some_and(|&(out, err)| if stream == Stream::Stdout { out } else { err })
}

/// The SGR sequence of a role.
fn code(role: Role) -> &'static str {
    match role {
        Role::Error => "1;31",
        Role::Warning => "1;33",
        Role::Ok => "32",
        Role::Hint => "1;36",
        Role::Heading => "1",
        Role::Dim => "2",
    }
}

/// `text` in the colour of `role` when `stream` is coloured; else `text` as it is.
pub fn paint(stream: Stream, role: Role, text: &str) -> String {
    if on(stream) { format!("\u{1b}[{}m{text}\u{1b}[0m", code(role)) } else { text.to_string() }
}

/// An error's report for standard error (`error:`, `caused by:`, `hint:`), coloured when
/// standard error is.
pub(crate) fn error_report(e: &crate::error::Error) -> String {
    let plain = e.render();
    if !on(Stream::Stderr) {
        return plain;
    }
    plain
        .lines()
        .map(|l| {
            for (prefix, role) in [("error:", Role::Error), ("  caused by:", Role::Dim), ("  hint:", Role::Hint)] {
                if let Some(rest) = l.strip_prefix(prefix) {
                    return format!("{}{rest}", paint(Stream::Stderr, role, prefix));
                }
            }
            l.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_coloured_until_the_binary_decides() {
        // Unit tests never call init: library output stays plain.
        assert_eq!(paint(Stream::Stdout, Role::Error, "ERROR"), "ERROR");
        let e = crate::error::Error::input("x").hint("y");
        assert_eq!(error_report(&e), e.render());
    }
}
