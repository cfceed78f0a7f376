//! Hostile flags: `plan --example` with disks that are partitions or mappings, bad hostnames,
//! ESP sizes, host ids, pool and LUKS names, stage-1 flavours and NixOS releases; `diff`'s
//! numbers out of range; unknown subcommands and options. Exit 2 with `error:` and a hint
//! (clap's own refusals point to `--help`), naming the flag or the value.

use super::harness::{BAD_DISKS, Case, accepted, refused};

fn plan_flag(name: &str, flag: &str, value: &str, any_of: &[&str]) -> Case {
    Case::bin(format!("flag/{name}"), &["plan", "--example", flag, value], refused(any_of))
}

fn value_cases() -> Vec<Case> {
    let mut v = Vec::new();
    for (n, d) in BAD_DISKS.into_iter().chain([("newline", "/dev/vda\n"), ("escape", "/dev/\u{1b}[2J")]) {
        v.push(plan_flag(&format!("disk-{n}"), "--disk", d, &["--disk"]));
    }
    let long_host = "h".repeat(100_000);
    for (n, h) in [
        ("empty", ""),
        ("bang", "bad_host!"),
        ("too-long", "h".repeat(64).as_str()),
        ("huge", long_host.as_str()),
        ("escape", "\u{1b}[2J"),
        ("domain", "a.example.com"),
    ] {
        v.push(plan_flag(&format!("hostname-{n}"), "--hostname", h, &["--hostname"]));
    }
    for (n, s) in [
        ("zero", "0"),
        ("negative", "-1GiB"),
        ("exbi", "1EiB"),
        ("overflow", "99999999999999999999999MiB"),
        ("text", "lots"),
        ("fraction", "1.5.5GiB"),
        ("empty", ""),
    ] {
        v.push(plan_flag(&format!("esp-size-{n}"), "--esp-size", s, &["--esp-size", s]));
    }
    for (n, h) in [("not-hex", "xyzxyzxy"), ("example", "a1b2c3d4"), ("empty", ""), ("long", "0123456789abcdef")] {
        v.push(plan_flag(&format!("host-id-{n}"), "--host-id", h, &["--host-id"]));
    }
    v
}

fn name_and_number_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let long_pool = "p".repeat(300);
    for (n, p) in [("mirror", "mirror"), ("empty", ""), ("too-long", long_pool.as_str()), ("slash", "a/b")] {
        v.push(plan_flag(&format!("pool-{n}"), "--pool", p, &["--pool"]));
    }
    for (n, l) in [("slash", "a/b"), ("empty", ""), ("control", "control")] {
        v.push(plan_flag(&format!("luks-name-{n}"), "--luks-name", l, &["--luks-name"]));
    }
    v.push(plan_flag("initrd-bogus", "--initrd", "bogus", &["--initrd", "bogus"]));
    for sv in ["99.11", "1.0", "25.13"] {
        v.push(plan_flag(&format!("state-version-{sv}"), "--state-version", sv, &["--state-version", sv]));
    }
    v.push(Case::bin("flag/plan-format-xml", &["plan", "--example", "--format", "xml"], refused(&["xml", "--format"])));
    v.push(Case::bin("flag/plan-disk-missing-value", &["plan", "--example", "--disk"], refused(&["--disk"])));
    for (n, d) in [("zero", "0"), ("33", "33"), ("negative", "-1"), ("text", "abc"), ("huge", "99999999999")] {
        v.push(
            Case::bin(
                format!("flag/diff-depth-{n}"),
                &["diff", "--input", "in.txt", "--depth", d],
                refused(&["--depth", d]),
            )
            .put("in.txt", "1764600000.000000000\t+\tF\t/etc/x\n"),
        );
    }
    for (n, l) in [("negative", "-1"), ("text", "abc"), ("float", "1e3"), ("overflow", "99999999999999999999999")] {
        v.push(
            Case::bin(
                format!("flag/diff-limit-{n}"),
                &["diff", "--input", "in.txt", "--limit", l],
                refused(&["--limit", l]),
            )
            .put("in.txt", "1764600000.000000000\t+\tF\t/etc/x\n"),
        );
    }
    v.push(Case::bin("flag/unknown-subcommand", &["frobnicate"], refused(&["frobnicate"])));
    v.push(Case::bin("flag/empty-subcommand", &[""], refused(&["error:"])));
    v.push(Case::bin("flag/unknown-option", &["plan", "--bogus-flag"], refused(&["--bogus-flag"])));
    v.push(Case::bin("flag/verify-unknown-action", &["verify-rollback", "disarm"], refused(&["disarm"])));
    v.push(Case::bin("flag/doctor-mode-bogus", &["doctor", "--mode", "bogus"], refused(&["bogus"])));
    v.push(Case::bin("flag/install-until-bogus", &["install", "--until", "bogus"], refused(&["bogus"])));
    // Controls.
    v.push(Case::bin(
        "control/flag-hostname",
        &["plan", "--example", "--hostname", "web-03"],
        accepted(&["host web-03"]),
    ));
    v.push(Case::bin(
        "control/flag-disk-by-id",
        &["plan", "--example", "--disk", "/dev/disk/by-id/virtio-disk01"],
        accepted(&["/dev/disk/by-id/virtio-disk01"]),
    ));
    v
}

pub fn cases() -> Vec<Case> {
    let mut v = value_cases();
    v.extend(name_and_number_cases());
    v
}
