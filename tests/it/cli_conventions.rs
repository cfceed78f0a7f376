//! What a NixOS user expects of a packaged command-line tool, checked on the real binary:
//! help on every flag of every command, shell completions the real bash, zsh and fish accept,
//! a man page per command that mandoc and man(1) read without error, colour only when wanted
//! (`--color`, `NO_COLOR`, a terminal, tested through a real pseudo-terminal made by
//! `script(1)`), `-q` and `-v`. Completions and one man page are snapshots.

use clap::CommandFactory;
use std::process::{Command, Output};

fn blankroot(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_blankroot"));
    c.args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A tool the test needs: present (scripts/test installs it), else the test fails saying so.
fn need(tool: &str, package: &str) {
    let found = Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().unwrap().status.success();
    assert!(found, "{tool} is missing: install the Debian package {package} (scripts/test does)");
}

#[test]
fn every_flag_and_argument_of_every_command_has_help() {
    fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>, seen: &mut usize) {
        for a in cmd.get_arguments() {
            let id = a.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            *seen += 1;
            let help = a.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().len() < 8 {
                missing.push(format!("{path} {id}"));
            }
        }
        for s in cmd.get_subcommands() {
            if s.get_about().is_none() {
                missing.push(format!("{path} {} (no about)", s.get_name()));
            }
            walk(s, &format!("{path} {}", s.get_name()), missing, seen);
        }
    }
    let mut cmd = blankroot::cli::Cli::command();
    cmd.build();
    let (mut missing, mut seen) = (Vec::new(), 0);
    walk(&cmd, "blankroot", &mut missing, &mut seen);
    assert!(missing.is_empty(), "without help: {missing:?}");
    assert!(seen > 60, "only {seen} arguments walked");
    // --hostname had none before; the help text reaches the user.
    let out = blankroot(&["plan", "--help"], &[]);
    assert!(text(&out.stdout).contains("networking.hostName of the installed system"), "{}", text(&out.stdout));
}

#[test]
fn completions_are_accepted_by_the_real_shells() {
    let checks: [(&str, &str, &[&str]); 3] =
        [("bash", "bash", &["-n"]), ("zsh", "zsh", &["-n"]), ("fish", "fish", &["--no-execute"])];
    let dir = tempfile::tempdir().unwrap();
    for (shell, package, flags) in checks {
        need(shell, package);
        let out = blankroot(&["completions", shell], &[]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in ["plan", "install", "doctor", "diff", "persist", "verify-rollback", "libvirt", "passphrase-file"] {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
        let file = dir.path().join(format!("blankroot.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let check = Command::new(shell).args(flags).arg(&file).output().unwrap();
        assert!(check.status.success(), "{shell} refuses its completion: {}", text(&check.stderr));
        insta::assert_snapshot!(format!("completions-{shell}"), script);
    }
    let out = blankroot(&["completions", "tcsh"], &[]);
    assert_eq!(out.status.code(), Some(2), "an unknown shell is bad input");
    assert!(text(&out.stderr).contains("tcsh"));
}

#[test]
fn a_man_page_per_command_that_mandoc_and_man_read() {
    need("mandoc", "mandoc");
    need("man", "man-db");
    let dir = tempfile::tempdir().unwrap();
    let out = blankroot(&["manpages", dir.path().join("man1").to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut pages: Vec<String> = std::fs::read_dir(dir.path().join("man1"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    let mut want: Vec<String> =
        ["", "-completions", "-diff", "-doctor", "-install", "-libvirt", "-manpages", "-persist"]
            .iter()
            .chain(&["-plan", "-regenerate", "-verify-rollback", "-verify-rollback-arm", "-verify-rollback-check"])
            .map(|s| format!("blankroot{s}.1"))
            .collect();
    want.sort();
    assert_eq!(pages, want);
    for p in &pages {
        let path = dir.path().join("man1").join(p);
        let lint = Command::new("mandoc").args(["-T", "lint", "-W", "error"]).arg(&path).output().unwrap();
        assert!(lint.status.success(), "{p}: {}{}", text(&lint.stdout), text(&lint.stderr));
        let shown = Command::new("man").arg("-l").arg(&path).env("MANWIDTH", "100").output().unwrap();
        assert!(shown.status.success(), "{p}: {}", text(&shown.stderr));
        assert!(text(&shown.stdout).contains("OPTIONS") || p.contains("verify-rollback-"), "{p}");
    }
    let plan = std::fs::read_to_string(dir.path().join("man1/blankroot-plan.1")).unwrap();
    for flag in ["example", "format", "output", "state\\-version", "hostname"] {
        assert!(plan.contains(flag), "blankroot-plan.1 lacks --{flag}");
    }
    insta::assert_snapshot!("manpage-plan", plan);
    // A directory that cannot be made is an error with a hint, not a panic.
    let out = blankroot(&["manpages", "/proc/blankroot-test/man1"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("hint:"));
}

#[test]
fn man_pages_are_not_written_through_a_link_or_into_a_file() {
    let dir = tempfile::tempdir().unwrap();
    // A page's name planted as a link to a file elsewhere: refused, the file untouched.
    let (man1, victim) = (dir.path().join("man1"), dir.path().join("victim"));
    std::fs::create_dir(&man1).unwrap();
    std::fs::write(&victim, "keep me\n").unwrap();
    std::os::unix::fs::symlink(&victim, man1.join("blankroot-plan.1")).unwrap();
    let out = blankroot(&["manpages", man1.to_str().unwrap()], &[]);
    let err = text(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.starts_with("error: ") && err.contains("blankroot-plan.1") && err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
    assert!(std::fs::symlink_metadata(man1.join("blankroot-plan.1")).unwrap().file_type().is_symlink());
    // DIR is a file: an error naming it, the file unchanged.
    let out = blankroot(&["manpages", victim.to_str().unwrap()], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains(&format!("error: \"{}\" is not a directory", victim.display())), "{err}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "keep me\n");
}

/// Runs `blankroot ARGS` on a pseudo-terminal (script(1)), so standard output and error are a
/// terminal; returns what the terminal showed.
fn on_a_terminal(args: &str, env: &[(&str, &str)]) -> String {
    need("script", "bsdutils");
    let line = format!("{} {args}", env!("CARGO_BIN_EXE_blankroot"));
    let mut c = Command::new("script");
    c.args(["-qec", &line, "/dev/null"]).env_remove("NO_COLOR").env("TERM", "xterm");
    for (k, v) in env {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    text(&out.stdout)
}

#[test]
fn colour_only_on_a_terminal_unless_asked_and_never_with_no_color() {
    let esc = '\u{1b}';
    let bad = ["plan", "--example", "--host-id", "xyz"];
    // Not a terminal: plain, unless --color always.
    assert!(!text(&blankroot(&bad, &[]).stderr).contains(esc));
    let always = text(&blankroot(&[&["--color", "always"], &bad[..]].concat(), &[]).stderr);
    assert!(always.contains("\u{1b}[1;31merror:\u{1b}[0m"), "{always:?}");
    assert!(always.contains("\u{1b}[1;36m  hint:\u{1b}[0m"), "{always:?}");
    // --color always wins over NO_COLOR (no-color.org: a flag may override it).
    assert!(text(&blankroot(&[&["--color", "always"], &bad[..]].concat(), &[("NO_COLOR", "1")]).stderr).contains(esc));
    // On a terminal: coloured by default, not with NO_COLOR (any value but empty), not with
    // --color never, not on a dumb terminal.
    let args = "plan --example --host-id xyz";
    assert!(on_a_terminal(args, &[]).contains("\u{1b}[1;31merror:"), "{:?}", on_a_terminal(args, &[]));
    assert!(!on_a_terminal(args, &[("NO_COLOR", "1")]).contains(esc));
    assert!(on_a_terminal(args, &[("NO_COLOR", "")]).contains(esc), "an empty NO_COLOR does not count");
    assert!(!on_a_terminal(&format!("--color never {args}"), &[]).contains(esc));
    assert!(!on_a_terminal(args, &[("TERM", "dumb")]).contains(esc));
    // doctor's severities, on a terminal.
    let doctor = on_a_terminal("doctor --mode live --disk /dev/blankroot-no-such-disk", &[]);
    assert!(doctor.contains("\u{1b}[1;31mERROR\u{1b}[0m"), "{doctor:?}");
    // JSON is never coloured.
    let json = on_a_terminal("--color always plan --example --format json", &[]);
    assert!(!json.contains(esc) && json.contains("\"schema\": 1"), "{json:?}");
}

#[test]
fn quiet_and_verbose() {
    let full = text(&blankroot(&["plan", "--example"], &[]).stdout);
    let quiet = text(&blankroot(&["plan", "--example", "-q"], &[]).stdout);
    assert!(full.contains("       $ sfdisk") && full.contains("         | "), "commands and files in full");
    assert!(!quiet.contains("       $ ") && !quiet.contains("         | "), "{quiet}");
    for id in ["[partition]", "[luks-format]", "[pool-create]", "[forget-resume]", "This DESTROYS"] {
        assert!(quiet.contains(id), "quiet still lists {id}: {quiet}");
    }
    assert!(quiet.lines().count() * 5 < full.lines().count(), "quiet is short");
    // -v: every command blankroot runs, on standard error, as it starts (the probe's lsblk).
    let v = blankroot(&["-v", "doctor", "--mode", "live"], &[]);
    let err = text(&v.stderr);
    assert!(err.contains("+ lsblk --json --bytes --output-all"), "{err}");
    assert!(!text(&blankroot(&["doctor", "--mode", "live"], &[]).stderr).contains("+ lsblk"));
    // -q and -v together is a usage error.
    assert_eq!(blankroot(&["-q", "-v", "plan", "--example"], &[]).status.code(), Some(2));
}
