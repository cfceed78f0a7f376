//! Asking the person at the terminal: a line (echoed) or a secret (not echoed), through the
//! controlling terminal, so that standard input and output stay free for data. [`Tty`] is the
//! real one; tests script their own [`Prompter`].

use crate::error::{Error, Result};
use crate::infra::secret::Secret;

/// Asks the person at the terminal. `Tty` is the real one; tests script their own.
pub trait Prompter {
    /// Whether someone can answer (a terminal is attached).
    fn interactive(&self) -> bool;
    /// Asks without echo.
    fn secret(&mut self, prompt: &str) -> Result<Secret>;
    /// Asks for a line, echoed.
    fn line(&mut self, prompt: &str) -> Result<String>;
}

/// The controlling terminal (via /dev/tty), without echo for secrets.
pub struct Tty;

impl Prompter for Tty {
    fn interactive(&self) -> bool {
        std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty").is_ok()
    }
    fn secret(&mut self, prompt: &str) -> Result<Secret> {
        rpassword::prompt_password(prompt)
            .map(Secret::new)
            .map_err(|e| Error::env("cannot read from the terminal").caused_by(e))
    }
    fn line(&mut self, prompt: &str) -> Result<String> {
        use std::io::{BufRead, Write};
        let tty = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .map_err(|e| Error::env("cannot open the terminal").caused_by(e))?;
        let mut w = &tty;
        let _ = write!(w, "{prompt}");
        let _ = w.flush();
        let mut s = String::new();
        std::io::BufReader::new(&tty)
            .read_line(&mut s)
            .map_err(|e| Error::env("cannot read from the terminal").caused_by(e))?;
        Ok(s.trim_end_matches(['\n', '\r']).to_string())
    }
}
