//! The hostile corpus (issue 10): several hundred bad inputs, as a hostile or careless user
//! would give them, across configs, flags, saved plans, libvirt XML, `zfs diff` input, state
//! files and output streams, each run against the real binary (saved plans: the library entry
//! point `install --plan` uses) in its own temporary folder. Every refusal must exit with its
//! documented code, say `error:` with a hint and name the offending key or value, never panic
//! or echo a raw terminal escape, and leave every file of its folder byte-identical. Controls
//! (good inputs) prove the harness can pass and sees a change. The last line printed is
//! `hostile inputs: N, panics: P, accepted that should be refused: A, other failures: F`.
//! `HOSTILE_FILTER=substring` runs the cases whose name contains it.

#[path = "hostile/configs.rs"]
mod configs;
#[path = "hostile/flags.rs"]
mod flags;
#[path = "hostile/harness.rs"]
mod harness;
#[path = "hostile/libvirt.rs"]
mod libvirt;
#[path = "hostile/plans.rs"]
mod plans;
#[path = "hostile/state.rs"]
mod state;
#[path = "hostile/streams.rs"]
mod streams;
#[path = "hostile/zdiff.rs"]
mod zdiff;

use harness::{Case, Expect};
use std::path::Path;

/// The reproducers kept as files (tests/fixtures/hostile/configs), each with its
/// expectation in a header line: `# expect: exit=2 contains="…" [contains="…"]`.
fn config_files() -> Vec<Case> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hostile/configs");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let header = text.lines().find_map(|l| l.strip_prefix("# expect: ")).unwrap_or_else(|| {
                panic!("{}: no `# expect:` header", p.display());
            });
            let (exit, any_of) = parse_expect(header);
            let name = format!("config-file/{}", p.file_stem().unwrap().to_string_lossy());
            let expect = Expect::Refused { exits: vec![exit], any_of, position: Some("blankroot.toml".into()) };
            Case::bin(name, &["plan", "--example", "-c", "blankroot.toml"], expect).put("blankroot.toml", text)
        })
        .collect()
}

/// `exit=2 contains="a" contains="b"` → (2, ["a", "b"]).
fn parse_expect(header: &str) -> (i32, Vec<String>) {
    let mut exit = 2;
    let mut any_of = Vec::new();
    let mut rest = header.trim();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("exit=") {
            let end = r.find(' ').unwrap_or(r.len());
            exit = r[..end].parse().expect("exit=N");
            rest = r[end..].trim_start();
        } else if let Some(r) = rest.strip_prefix("contains=\"") {
            let end = r.find('"').expect("a closing quote");
            any_of.push(r[..end].to_string());
            rest = r[end + 1..].trim_start();
        } else {
            panic!("cannot read the expectation {header:?}");
        }
    }
    (exit, any_of)
}

fn all_cases() -> Vec<Case> {
    let mut v = config_files();
    v.extend(configs::cases());
    v.extend(flags::cases());
    v.extend(plans::cases());
    v.extend(libvirt::cases());
    v.extend(zdiff::cases());
    v.extend(state::cases());
    v.extend(streams::cases());
    v
}

#[test]
fn every_hostile_input_is_refused_clearly_and_changes_nothing() {
    let cases = all_cases();
    let n = cases.len();
    assert!(n >= 300 || std::env::var("HOSTILE_FILTER").is_ok(), "the corpus has {n} cases; at least 300");
    let failures = harness::run_all(cases);
    assert_eq!(failures, 0, "{failures} hostile input(s) were not handled as they must be (listed above)");
}

/// The harness itself: a refusal that changes a file, a good input refused, and an accepted
/// bad input are each caught (so a green corpus means something).
#[test]
fn the_harness_detects_changes_refusals_and_acceptance() {
    use harness::{Verdict, judge};
    // `libvirt --xml` of a good domain with --yes changes the file: as a refusal, it must fail.
    let changes = Case::bin("self/changes", &["libvirt", "--xml", "vm.xml", "--yes"], harness::refused(&["x"]))
        .put("vm.xml", include_str!("../fixtures/libvirt/virt-install-q35-bios.xml"));
    assert_eq!(judge(&changes).0, Verdict::Accepted);
    // A good config expected to be refused: accepted.
    let ok = Case::bin("self/ok", &["plan", "--example"], harness::refused(&["x"]));
    assert_eq!(judge(&ok).0, Verdict::Accepted);
    // A bad config expected to be accepted: wrong.
    let bad = Case::bin("self/bad", &["plan", "--example", "--hostname", "bad_host!"], harness::accepted(&[]));
    assert!(matches!(judge(&bad).0, Verdict::Wrong(_)));
    // A refusal naming something else than expected: wrong.
    let other = Case::bin(
        "self/other",
        &["plan", "--example", "--hostname", "bad_host!"],
        harness::refused(&["no such words"]),
    );
    assert!(matches!(judge(&other).0, Verdict::Wrong(_)));
    // The snapshot sees a one-byte change and a mode change.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), "a").unwrap();
    let before = harness::snapshot(dir.path());
    std::fs::write(dir.path().join("f"), "b").unwrap();
    assert_ne!(before, harness::snapshot(dir.path()));
    let before = harness::snapshot(dir.path());
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.path().join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_ne!(before, harness::snapshot(dir.path()));
}
