//! The `blankroot` binary as users run it: exit codes, error shape, output formats.

use crate::common;

use blankroot::commands::install::receipt::{Receipt, StepResult};
use blankroot::commands::install::{Options, execute};
use blankroot::error::ErrorKind;
use blankroot::infra::runner::Recording;
use blankroot::output::{Detail, Events, Format};
use blankroot::plan::{Content, Expect, Plan};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn blankroot(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_blankroot")).args(args).output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn plan_example_prints_the_whole_plan() {
    let out = blankroot(&["plan", "--example"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("This DESTROYS:"));
    assert!(s.contains("cryptsetup luksFormat --type luks2"));
    assert!(s.contains("< <secret:luks-passphrase>"));
    assert!(s.contains("zpool create -f -R /mnt -o ashift=12 -o autotrim=on"));
    assert!(s.contains("boot.initrd.systemd.services.blankroot-rollback"));
    assert!(s.contains("Nothing has been changed."));
}

#[test]
fn plan_json_is_a_plan_and_host_id_is_random_each_time() {
    let a = blankroot(&["plan", "--example", "--format", "json"]);
    let b = blankroot(&["plan", "--example", "--format", "json"]);
    let pa = Plan::from_json(&text(&a.stdout)).unwrap();
    let pb = Plan::from_json(&text(&b.stdout)).unwrap();
    assert_ne!(pa.ids.host_id, pb.ids.host_id, "hostId is drawn at random per plan");
    assert_ne!(pa.ids.luks_uuid, pb.ids.luks_uuid);
    assert_eq!(pa.target.disk.device, "/dev/vda");
    assert_eq!(pa.target.disk.serial.as_deref(), Some("disk01"));
}

#[test]
fn flags_override_and_output_file_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    let out = blankroot(&[
        "plan",
        "--example",
        "--host-id",
        "CAFEF00D",
        "--pool",
        "tank",
        "--initrd",
        "scripted",
        "--format",
        "json",
        "-o",
        path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(out.stdout.is_empty());
    let p = Plan::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(p.ids.host_id, "cafef00d");
    assert_eq!(p.config.pool.name, "tank");
    assert!(p.steps.iter().any(|s| s.id == "pool-create" && s.commands[0].argv.contains(&"tank".to_string())));
}

#[test]
fn bad_config_exits_2_with_position_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("blankroot.toml");
    std::fs::write(&cfg, "disk = \"/dev/vda\"\nhost_id = \"xyz\"\n").unwrap();
    let out = blankroot(&["plan", "--example", "--config", cfg.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("blankroot.toml:2:11"), "{err}");
    assert!(err.contains("hint: "), "{err}");
}

#[test]
fn missing_disk_exits_3_and_lists_the_disks() {
    let out = blankroot(&["plan", "--example", "--disk", "/dev/sdz"]);
    assert_eq!(out.status.code(), Some(3));
    let err = text(&out.stderr);
    assert!(err.contains("error: disk \"/dev/sdz\" does not exist on this machine"), "{err}");
    assert!(err.contains("hint: pick one of this machine's disks with --disk: /dev/vda (20.0 GiB)"), "{err}");
}

#[test]
fn a_partition_is_not_a_disk() {
    let out = blankroot(&["plan", "--example", "--disk", "/dev/sr0"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("is a rom device, not a whole disk"));
}

#[test]
fn bad_flag_value_names_the_flag() {
    let out = blankroot(&["plan", "--example", "--esp-size", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("error: --esp-size: "));
}

#[test]
fn plan_probes_this_machine_without_example() {
    // The real probe (lsblk, /sys/firmware/efi, /dev/disk/by-id) on the machine running the
    // tests; whatever its disks, the answer is a plan or a clear error naming the disks.
    let out = blankroot(&["plan", "--format", "json"]);
    match out.status.code() {
        Some(0) => {
            let p = Plan::from_json(&text(&out.stdout)).unwrap();
            assert_eq!(p.target.disk.path, "/dev/vda");
        }
        Some(2) | Some(3) => assert!(text(&out.stderr).starts_with("error: "), "{}", text(&out.stderr)),
        other => panic!("unexpected exit {other:?}: {}", text(&out.stderr)),
    }
}

// ---- Exit codes: `--help`, the README and `ErrorKind` agree. ----

/// The exit codes a text lists: the leading number of each line of `blankroot --help`'s
/// "Exit codes:" table.
fn help_codes(help: &str) -> BTreeSet<i32> {
    let table = help.split_once("Exit codes:").map(|(_, t)| t).unwrap_or_default();
    table.lines().filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect()
}

/// The exit codes of the README's sentence "Exit codes: 0 ok, 2 bad input (…), …, 1 other."
/// (the number that starts each comma-separated item outside parentheses).
fn readme_codes(readme: &str) -> BTreeSet<i32> {
    let sentence = readme.split_once("Exit codes: ").map(|(_, s)| s).unwrap_or_default();
    let (mut depth, mut items, mut item) = (0, Vec::new(), String::new());
    for c in sentence.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => items.push(std::mem::take(&mut item)),
            '.' if depth == 0 => break,
            _ => item.push(c),
        }
    }
    items.push(item);
    items.iter().filter_map(|i| i.split_whitespace().next()?.parse().ok()).collect()
}

fn kind_codes() -> BTreeSet<i32> {
    std::iter::once(0).chain(ErrorKind::ALL.iter().map(|k| k.exit_code())).collect()
}

#[test]
fn help_lists_exactly_the_exit_codes_error_kinds_map_to() {
    let out = blankroot(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    assert_eq!(help_codes(&help), kind_codes(), "{help}");
    assert_eq!(kind_codes(), [0, 1, 2, 3, 4, 5, 141].into(), "a new code must reach the help and the README");
    let kinds: BTreeSet<i32> = ErrorKind::ALL.iter().map(|k| k.exit_code()).collect();
    assert_eq!(kinds.len(), ErrorKind::ALL.len(), "two kinds share an exit code");
}

#[test]
fn readme_lists_exactly_the_exit_codes_error_kinds_map_to() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    assert_eq!(readme_codes(&readme), kind_codes());
    // The parser itself: a code inside parentheses does not count.
    assert_eq!(readme_codes("Exit codes: 0 ok, 2 bad (3 x, 4 y), 1 other. 9 not"), [0, 1, 2].into());
}

#[test]
fn usage_errors_exit_2_and_help_of_a_subcommand_exits_0() {
    let out = blankroot(&["plan", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("unexpected argument '--no-such-flag'"), "{}", text(&out.stderr));
    let out = blankroot(&["plan", "--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("--example"));
    assert_eq!(blankroot(&[]).status.code(), Some(2), "no subcommand is a usage error");
}

// ---- Output streams: a closed pipe ends quietly, a full disk is a clear error. ----

/// Where the binary's standard output goes.
#[derive(Clone, Copy, Debug)]
enum Sink {
    /// A pipe whose read end is already closed: every write is EPIPE.
    Closed,
    /// /dev/full: every write is ENOSPC.
    Full,
}

fn run_into(sink: Sink, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankroot"));
    cmd.args(args).stdin(Stdio::null()).stderr(Stdio::piped());
    match sink {
        Sink::Closed => {
            let (reader, writer) = std::io::pipe().unwrap();
            drop(reader);
            cmd.stdout(writer);
        }
        Sink::Full => {
            cmd.stdout(std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full"));
        }
    }
    cmd.output().unwrap()
}

/// The exit code and message each sink must give, and never a panic.
fn assert_output_failure(sink: Sink, args: &[&str]) {
    let out = run_into(sink, args);
    let err = text(&out.stderr);
    assert!(!err.contains("panicked"), "{args:?} into {sink:?} panicked: {err}");
    match sink {
        Sink::Closed => {
            assert_eq!(out.status.code(), Some(141), "{args:?} into a closed pipe: {err}");
            assert_eq!(err, "", "{args:?}: a closed pipe ends quietly");
        }
        Sink::Full => {
            assert_eq!(out.status.code(), Some(5), "{args:?} into /dev/full: {err}");
            assert!(err.starts_with("error: cannot write the output\n"), "{args:?}: {err}");
            assert!(err.contains("caused by: No space left on device"), "{args:?}: {err}");
            assert!(err.contains("\n  hint: "), "{args:?}: {err}");
        }
    }
}

const SINKS: [Sink; 2] = [Sink::Closed, Sink::Full];

#[test]
fn plan_help_and_version_into_a_closed_pipe_or_a_full_disk() {
    for sink in SINKS {
        for args in [
            &["plan", "--example"][..],
            &["plan", "--example", "--format", "json"],
            &["--help"],
            &["--version"],
            &["plan", "--help"],
        ] {
            assert_output_failure(sink, args);
        }
    }
}

/// The example machine's installed blankroot.toml, as `diff --config` reads it.
fn installed_config(dir: &Path) -> PathBuf {
    let out = blankroot(&["plan", "--example", "--format", "json"]);
    let plan = Plan::from_json(&text(&out.stdout)).unwrap();
    let file = plan.steps.iter().flat_map(|s| &s.files).find(|f| f.path.ends_with("/blankroot.toml")).unwrap();
    let Content::Text(toml) = &file.content else { panic!("blankroot.toml is text") };
    let path = dir.join("blankroot.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

#[test]
fn diff_into_a_closed_pipe_or_a_full_disk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = installed_config(dir.path());
    let input = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/zdiff/installed-FHt.txt");
    let base = ["diff", "--input", input, "--config", cfg.to_str().unwrap(), "--root", "/tmp/root"];
    // The run works at all (so the failures below are the output's).
    assert!(blankroot(&base).status.success(), "{}", text(&blankroot(&base).stderr));
    for sink in SINKS {
        for extra in [&[][..], &["--format", "json"], &["--all"], &["--all", "--format", "json"]] {
            assert_output_failure(sink, &[&base[..], extra].concat());
        }
    }
}

#[test]
fn libvirt_into_a_closed_pipe_or_a_full_disk_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let xml = dir.path().join("domain.xml");
    let original =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/libvirt/dumpxml-q35-bios.xml")).unwrap();
    let x = xml.to_str().unwrap();
    for sink in SINKS {
        for args in [&["libvirt", "--xml", x][..], &["libvirt", "--xml", x, "--yes"]] {
            std::fs::write(&xml, &original).unwrap();
            assert_output_failure(sink, args);
            assert!(std::fs::read(&xml).unwrap() == original, "{args:?} into {sink:?}: a diff nobody saw was applied");
        }
    }
    // With its output readable the same run does change the file (so the above is not vacuous).
    std::fs::write(&xml, &original).unwrap();
    let out = blankroot(&["libvirt", "--xml", x, "--yes"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(std::fs::read(&xml).unwrap() != original);
}

#[test]
fn an_error_report_into_a_full_or_closed_stderr_keeps_its_exit_code() {
    for sink in SINKS {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankroot"));
        cmd.args(["plan", "--example", "--disk", "/dev/sdz"]).stdout(Stdio::null());
        match sink {
            Sink::Closed => {
                let (reader, writer) = std::io::pipe().unwrap();
                drop(reader);
                cmd.stderr(writer);
            }
            Sink::Full => {
                cmd.stderr(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
            }
        }
        assert_eq!(cmd.status().unwrap().code(), Some(3), "{sink:?}");
        // A usage error too.
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_blankroot"));
        cmd.args(["plan", "--bogus"]).stdout(Stdio::null());
        cmd.stderr(std::fs::OpenOptions::new().write(true).open("/dev/full").unwrap());
        assert_eq!(cmd.status().unwrap().code(), Some(2), "{sink:?}");
    }
}

// ---- Test hooks exist only in a build with the `test-hooks` feature. ----

/// The child half of the test below (it runs only in the process that test starts, with
/// `BLANKROOT_TEST_PAUSE_AFTER=partition`): an install on a fake machine whose `partition`
/// step succeeds. Without the hook it comes back with `partition` recorded as done.
#[test]
fn pause_hook_child() {
    fn argv(v: &[String]) -> Vec<&str> {
        v.iter().map(String::as_str).collect()
    }
    if std::env::var_os("BLANKROOT_TEST_PAUSE_AFTER").is_none() {
        return;
    }
    let plan = common::plan_for("seed-defaults");
    let mut r = Recording::new();
    for s in plan.steps.iter().filter(|s| s.id == "partition") {
        for c in &s.commands {
            r = r.answer(&argv(&c.argv), "");
        }
        for c in &s.check {
            r = match &c.expect {
                Expect::Stdout(out) => r.answer(&argv(&c.argv), out.as_bytes()),
                Expect::Success => r.answer(&argv(&c.argv), ""),
                Expect::Failure => r.fail(&argv(&c.argv), 1, ""),
            };
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        yes: true,
        state_dir: dir.path().to_path_buf(),
        known_done: vec![("partition".into(), false)],
        ..Default::default()
    };
    let mut out = Vec::new();
    let _ = execute(
        &r,
        &plan,
        &dir.path().join("plan.json"),
        &Default::default(),
        &opts,
        &mut Events::new(&mut out, Format::Json, Detail::Normal),
    );
    let receipt = Receipt::load(&dir.path().join("receipt.json")).unwrap();
    let partition = receipt.steps.iter().find(|s| s.id == "partition").map(|s| s.result);
    assert_eq!(partition, Some(StepResult::Done), "{}", text(&out));
}

#[test]
fn the_pause_hook_works_only_with_the_test_hooks_feature() {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "cli::pause_hook_child", "--test-threads=1"])
        .env("BLANKROOT_TEST_PAUSE_AFTER", "partition")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let ended = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if start.elapsed() > std::time::Duration::from_secs(20) {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    if blankroot::commands::install::test_hooks() {
        assert!(ended.is_none(), "with the feature the install must stop for good after partition: {ended:?}");
    } else {
        let status = ended.expect("a default build must ignore BLANKROOT_TEST_PAUSE_AFTER, not stop");
        let mut log = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut log).unwrap();
        assert!(status.success(), "{log}");
        assert!(log.contains("test cli::pause_hook_child ... ok"), "the child ran the install: {log}");
    }
}
