//! Shell completions (clap_complete) and man pages (clap_mangen), made from the same clap
//! definitions as the command line itself, so they can never disagree with it. Packagers call
//! `blankroot completions SHELL` and `blankroot manpages DIR` at build time (the flake does).

use crate::error::{Error, Result};
use clap::CommandFactory;
use std::path::Path;

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> String {
    let mut cmd = super::Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "blankroot", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Every man page: `blankroot.1`, then `blankroot-<command>.1` for each command (and
/// `blankroot-<command>-<sub>.1` below it), as (file name, roff text).
pub fn pages() -> Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = super::Cli::command();
    cmd.build();
    let mut out = Vec::new();
    page(&cmd, "blankroot", &mut out)?;
    Ok(out)
}

fn page(cmd: &clap::Command, name: &str, out: &mut Vec<(String, Vec<u8>)>) -> Result<()> {
    let cmd = cmd.clone().name(name.to_string());
    let mut roff = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .title(name.to_uppercase())
        .source(format!("blankroot {}", env!("CARGO_PKG_VERSION")))
        .manual("blankroot")
        .render(&mut roff)
        .map_err(|e| Error::internal(format!("cannot render the man page of {name}")).caused_by(e))?;
    out.push((format!("{name}.1"), roff));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        page(sub, &format!("{name}-{}", sub.get_name()), out)?;
    }
    Ok(())
}

/// Writes every man page into `dir` (made if missing), each through `fsutil`.
pub fn manpages(dir: &Path) -> Result<()> {
    let shown = crate::error::excerpt(&dir.display().to_string());
    if dir.exists() && !dir.is_dir() {
        return Err(Error::env(format!("{shown} is not a directory"))
            .hint("give a directory for the pages (it is made if missing)"));
    }
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::env(format!("cannot create {shown}")).caused_by(e).hint("give a directory you may write")
    })?;
    for (name, text) in pages()? {
        let opts =
            crate::infra::fsutil::Opts::new(crate::infra::fsutil::Links::Refuse, "give a directory you may write");
        crate::infra::fsutil::write(&dir.join(&name), &text, &opts)?;
    }
    Ok(())
}
