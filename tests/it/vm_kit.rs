//! The VM kit's choice of Debian archive (tests/vm/apt-archive.sh): taken from a machine's own
//! apt sources, as apt reads them, never from a host written into the repository. Run here on
//! fixture roots (folders holding an `etc/apt`), with the real bash and awk.

use std::path::Path;
use std::process::Command;

/// `apt-archive.sh SUITE ROOT`: (exit status, stdout, stderr).
fn archive(root: &Path, suite: &str) -> (i32, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/apt-archive.sh");
    let out = Command::new("bash").arg(script).arg(suite).arg(root).output().unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).trim().to_string();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

fn root_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc/apt/sources.list.d")).unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join("etc/apt").join(name), text).unwrap();
    }
    dir
}

#[test]
fn the_archive_comes_from_one_line_sources() {
    let r = root_with(&[(
        "sources.list",
        "# a comment\ndeb-src http://src.example/debian bookworm main\n\
         deb [signed-by=/usr/share/keyrings/k.gpg arch=amd64] http://m.example/debian/ bookworm main contrib # note\n\
         deb http://s.example/debian-security bookworm-security main\n",
    )]);
    assert_eq!(archive(r.path(), "bookworm"), (0, "http://m.example/debian".into(), String::new()));
    assert_eq!(archive(r.path(), "bookworm-security").1, "http://s.example/debian-security");
    let (rc, out, err) = archive(r.path(), "bookworm-backports");
    assert_eq!((rc, out.as_str()), (1, ""), "a suite no source lists");
    assert_eq!(err, "no apt source of this machine serves bookworm-backports");
}

#[test]
fn the_archive_comes_from_deb822_sources_and_disabled_ones_are_skipped() {
    let r = root_with(&[
        (
            "sources.list.d/a-off.sources",
            "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n",
        ),
        (
            "sources.list.d/b.sources",
            "# Debian\nTypes: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\n\n\
             types: deb deb-src\nuris: http://one.example/debian\n  http://two.example/debian\n\
             suites: bookworm\n  bookworm-updates\ncomponents: main\n",
        ),
        ("sources.list.d/c.list.disabled", "deb http://never.example/debian bookworm main\n"),
    ]);
    assert_eq!(
        archive(r.path(), "bookworm").1,
        "http://one.example/debian",
        "the first URI of the first enabled deb stanza"
    );
    assert_eq!(archive(r.path(), "bookworm-updates").1, "http://one.example/debian", "a suite on a continuation line");
    assert_eq!(archive(r.path(), "bookworm-security").0, 1);
}

#[test]
fn no_apt_sources_at_all_is_a_clear_failure() {
    let r = tempfile::tempdir().unwrap();
    let (rc, out, err) = archive(r.path(), "bookworm");
    assert_eq!((rc, out.as_str(), err.as_str()), (1, "", "no apt source of this machine serves bookworm"));
    let usage = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vm/apt-archive.sh"))
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2), "no suite: usage");
}

#[test]
fn no_archive_host_is_written_into_the_kit_scripts() {
    // The kit takes its archive from the machine; a default host in the scripts would be used
    // on machines whose own sources point elsewhere.
    for f in ["tests/vm/kit.sh", "tests/vm/apt-archive.sh", "tests/fixtures/lsblk/capture/vm-kit.sh"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(f)).unwrap();
        for line in text.lines().filter(|l| l.contains("http://") || l.contains("https://")) {
            assert!(line.contains(".example"), "{f}: a URL in the script: {line}");
        }
    }
}
