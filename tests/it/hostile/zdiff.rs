//! Hostile `zfs diff` input for `blankroot diff --input FILE --config blankroot.toml`: no
//! newline at all, a 1 MiB line, NUL, invalid UTF-8, terminal escapes in paths (never raw on the
//! terminal), too few or too many fields, bad change types, only garbage, no line at all. A line
//! longer than any real path and an input without one readable line are errors (exit 2); a
//! real capture is reported.

use super::harness::{Case, Expect, accepted, refused};

const ROOT: &str = "/tmp/root";

fn diff_case(name: &str, input: impl Into<Vec<u8>>, extra: &[&str], expect: Expect) -> Case {
    let mut args = vec!["diff", "--input", "in.txt", "--config", "blankroot.toml", "--root", ROOT];
    args.extend_from_slice(extra);
    Case::bin(format!("diff/{name}"), &args, expect).put("in.txt", input).put("blankroot.toml", "")
}

fn line(change: &str, kind: &str, path: &str) -> String {
    format!("1764600000.000000000\t{change}\t{kind}\t{ROOT}{path}\n")
}

pub fn cases() -> Vec<Case> {
    let good = format!("{}{}", line("+", "F", "/etc/app.conf"), line("M", "/", "/var/lib"));
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let escapes = format!("{}{}", line("+", "F", "/etc/\u{1b}[2J\u{1b}]0;owned\u{7}"), line("+", "F", "/etc/ok"));
    let zfs_escaped = format!("{}{}", line("+", "F", "/etc/\\0033[2Jx"), line("+", "F", "/var/lib/\\0033]0;t\\0007"));
    let mut v = vec![
        diff_case("no-newline-1mib", "a".repeat(1 << 20), &[], refused(&["line", "in.txt"])),
        diff_case("no-newline-64mib", "a".repeat(64 << 20), &[], refused(&["line", "in.txt"])),
        diff_case(
            "one-mib-path",
            line("+", "F", &format!("/{}", "p".repeat(1 << 20))),
            &[],
            refused(&["line", "in.txt"]),
        ),
        diff_case("only-garbage", "hello world\n".repeat(100), &[], refused(&["in.txt", "line"])),
        diff_case("binary-garbage", garbage, &[], refused(&["in.txt", "line"])),
        diff_case("only-nul", vec![0u8; 4096], &[], refused(&["in.txt", "line"])),
        diff_case(
            "nul-in-lines",
            b"1764600000.0\t+\tF\t/a\x00b\n\x00\x00\n".to_vec(),
            &[],
            refused(&["in.txt", "line"]),
        ),
        diff_case("invalid-utf8-only", b"\xff\xfe\xfd\n\xc3\x28\n".to_vec(), &[], refused(&["in.txt", "line"])),
        diff_case("only-blank-lines", "\n\n\n\n", &[], refused(&["in.txt", "line"])),
        diff_case("too-few-fields", "+\tF\n+\n-\n".repeat(10), &[], refused(&["in.txt", "line"])),
        diff_case(
            "bad-change-type",
            format!("{}{}", line("X", "F", "/a"), line("?", "F", "/b")),
            &[],
            refused(&["in.txt", "line"]),
        ),
        diff_case("bad-file-type", line("+", "Q", "/a").repeat(3), &[], refused(&["in.txt", "line"])),
        diff_case("relative-paths", "1764600000.0\t+\tF\trelative/path\n".repeat(3), &[], refused(&["in.txt", "line"])),
        diff_case(
            "rename-without-target",
            "1764600000.0\tR\tF\t/tmp/root/a\n".repeat(3),
            &[],
            refused(&["in.txt", "line"]),
        ),
        diff_case("timestamps-only", "1764600000.000000000\n".repeat(10), &[], refused(&["in.txt", "line"])),
        diff_case("escapes-in-path", escapes.clone(), &[], Expect::Either { check: None }),
        diff_case("escapes-in-path-all", escapes.clone(), &["--all"], Expect::Either { check: None }),
        diff_case("escapes-in-path-json", escapes, &["--format", "json"], Expect::Either { check: None }),
        diff_case("zfs-escaped-escapes", zfs_escaped.clone(), &[], Expect::Either { check: None }),
        diff_case("zfs-escaped-escapes-all", zfs_escaped, &["--all"], Expect::Either { check: None }),
        diff_case(
            "too-many-fields",
            "1764600000.0\t+\tF\t/tmp/root/a\t/b\t/c\t(+1)\textra\n".repeat(3),
            &[],
            Expect::Either { check: None },
        ),
        diff_case("good-and-garbage", format!("{good}garbage\n\x00\x01\n"), &[], Expect::Either { check: None }),
        diff_case("crlf", good.replace('\n', "\r\n"), &[], Expect::Either { check: None }),
        diff_case(
            "huge-timestamp",
            "99999999999999999999999.0\t+\tF\t/tmp/root/a\n",
            &[],
            Expect::Either { check: None },
        ),
        diff_case(
            "link-delta-overflow",
            "1764600000.0\tM\tF\t/tmp/root/a\t(+99999999999999999999999)\n",
            &[],
            Expect::Either { check: None },
        ),
        diff_case("empty", "", &[], Expect::Either { check: None }),
        diff_case("many-groups-limit-0", good.clone(), &["--limit", "0"], Expect::Either { check: None }),
    ];
    v.extend(file_cases());
    v
}

/// Inputs that are not readable files, stdin, and the controls.
fn file_cases() -> Vec<Case> {
    let good = format!("{}{}", line("+", "F", "/etc/app.conf"), line("M", "/", "/var/lib"));
    let mut v = vec![
        Case::bin("diff/input-is-directory", &["diff", "--input", "d", "--config", "blankroot.toml"], refused(&["d"]))
            .dir("d")
            .put("blankroot.toml", ""),
        Case::bin(
            "diff/input-missing",
            &["diff", "--input", "absent.txt", "--config", "blankroot.toml"],
            refused(&["absent.txt"]),
        )
        .put("blankroot.toml", ""),
        Case::bin(
            "diff/config-garbage",
            &["diff", "--input", "in.txt", "--config", "blankroot.toml"],
            refused(&["blankroot.toml"]),
        )
        .put("in.txt", good.clone())
        .put("blankroot.toml", "[pool\nname = 1\n"),
        Case::bin(
            "diff/stdin-garbage",
            &["diff", "--input", "-", "--config", "blankroot.toml"],
            refused(&["line", "input"]),
        )
        .put("blankroot.toml", "")
        .stdin("not zfs diff output at all\n".repeat(50)),
        Case::bin(
            "diff/stdin-no-newline",
            &["diff", "--input", "-", "--config", "blankroot.toml"],
            refused(&["line", "input"]),
        )
        .put("blankroot.toml", "")
        .stdin("b".repeat(8 << 20)),
    ];
    // Controls: a real capture, and a small good file, are reported.
    let capture =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zdiff/installed-FHt.txt"))
            .unwrap();
    v.push(diff_case("control/capture", capture, &[], accepted(&["erases", "/root/.cache"])));
    v.push(diff_case("control/good", good, &["--format", "json"], accepted(&["\"groups\""])));
    v
}
