//! The human form of a plan: a summary of what is destroyed, then every step numbered with
//! its exact commands (secrets by name), the full text of every file, its check and its undo.

use super::*;
use crate::infra::shell::quote_argv;
use std::fmt::Write;

fn command_line(c: &PlannedCommand) -> String {
    let line = quote_argv(&c.argv);
    match &c.stdin {
        None => line,
        Some(Stdin::Secret(name)) => format!("{line} < <secret:{name}>"),
        Some(Stdin::Text(text)) => {
            let mut s = format!("{line} <<'EOF'\n");
            for l in text.lines() {
                let _ = writeln!(s, "         {l}");
            }
            s.push_str("         EOF");
            s
        }
    }
}

fn check_line(c: &Check) -> String {
    let mut argv = quote_argv(&c.argv);
    if let Some(Stdin::Secret(name)) = &c.stdin {
        argv.push_str(&format!(" < <secret:{name}>"));
    }
    match &c.expect {
        Expect::Success => format!("`{argv}` succeeds"),
        Expect::Failure => format!("`{argv}` fails"),
        Expect::Stdout(s) => format!("`{argv}` prints {s}"),
    }
}

impl crate::output::Render for Plan {
    fn human(&self, detail: crate::output::Detail) -> String {
        render(self, detail > crate::output::Detail::Quiet)
    }
}

/// Renders the plan for a terminal: everything.
pub fn human(plan: &Plan) -> String {
    render(plan, true)
}

/// The plan for a terminal; without `full`, the summary and one line per step (`-q`).
fn render(plan: &Plan, full: bool) -> String {
    let mut o = summary(plan);
    let mut phase = None;
    for (i, s) in plan.steps.iter().enumerate() {
        if phase != Some(s.phase) {
            phase = Some(s.phase);
            let _ = writeln!(o, "\n== phase {} ==", s.phase.name());
        }
        let destructive = if s.destructive { " (DESTRUCTIVE)" } else { "" };
        if full {
            let _ = writeln!(o, "\n{:>3}. {}{destructive}  [{}]", i + 1, s.title, s.id);
            step(&mut o, s);
        } else {
            let _ = writeln!(o, "{:>3}. {}{destructive}  [{}]", i + 1, s.title, s.id);
        }
    }
    let _ = writeln!(
        o,
        "\n{} steps. Nothing has been changed. Run `blankroot install` with the same options to carry it out.",
        plan.steps.len()
    );
    o
}

/// The plan's head: the machine, the layout, what is destroyed, warnings, secrets by name.
fn summary(plan: &Plan) -> String {
    let mut o = String::new();
    let d = &plan.target.disk;
    let mut about = vec![crate::infra::size::gib(d.size_bytes)];
    about.extend(d.model.clone());
    if let Some(s) = &d.serial {
        about.push(format!("serial {s}"));
    }
    let _ = writeln!(
        o,
        "blankroot {} plan: NixOS on {} ({}), root on ZFS on LUKS, rolled back on every boot",
        plan.blankroot_version,
        d.path,
        about.join(", ")
    );
    let _ = writeln!(
        o,
        "  host {} (hostId {}), pool {}, LUKS {} ({}), {} initrd, firmware {}",
        plan.config.hostname,
        plan.ids.host_id,
        plan.config.pool.name,
        plan.config.luks.name,
        plan.ids.luks_uuid,
        match plan.config.initrd {
            crate::config::Initrd::Systemd => "systemd",
            crate::config::Initrd::Scripted => "scripted",
        },
        plan.target.firmware
    );
    let _ = writeln!(o, "\nThis DESTROYS:");
    for x in &plan.destroys {
        let _ = writeln!(o, "  - {x}");
    }
    if !plan.warnings.is_empty() {
        let _ = writeln!(o, "\nWarnings:");
        for w in &plan.warnings {
            let _ = writeln!(o, "  ! {w}");
        }
    }
    let _ = writeln!(o, "\nSecrets asked for at install (never shown, never on a command line):");
    for s in &plan.secrets {
        let _ = writeln!(o, "  - {}: {}", s.name, s.description);
    }
    o
}

/// One step in full: its commands, files, checks, resume and undo.
fn step(o: &mut String, s: &Step) {
    for c in &s.commands {
        let _ = writeln!(o, "       $ {}", command_line(c));
    }
    for f in &s.files {
        let _ = writeln!(o, "       write {} (mode {}, {}:{})", f.path, f.mode, f.owner, f.group);
        match &f.content {
            Content::Blankroot(kind) => {
                let _ = writeln!(o, "         | <this blankroot's own executable ({kind}), read from /proc/self/exe>");
            }
            Content::Hash(secret) => {
                let _ = writeln!(o, "         | <yescrypt hash of secret:{secret}>");
            }
            Content::Text(t) => {
                for l in t.lines() {
                    let _ = writeln!(o, "         | {l}");
                }
            }
        }
    }
    for c in &s.check {
        let when = if c.verify { " (verified after running)" } else { "" };
        let _ = writeln!(o, "       done when: {}{when}", check_line(c));
    }
    if s.starts_over {
        let _ = writeln!(o, "       once this has run, every later step starts from nothing (not checked first)");
    }
    for c in &s.resume {
        let _ = writeln!(o, "       after a reboot: $ {}", command_line(c));
    }
    for c in &s.revert {
        let _ = writeln!(o, "       undo: $ {}", command_line(c));
    }
}
