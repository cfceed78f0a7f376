//! Hostile state on disk: `verify-rollback check --root DIR` with a plain directory, records
//! that are empty, of the wrong JSON types, with an empty `boot_id`, short, multibyte or
//! escape-laden tokens (never a PASS, never a panic); `doctor --root` of a missing directory,
//! a file, a garbage blankroot.toml; `regenerate` and `persist` on hostile roots and paths.
//! (install's state directory is not exercised: `install` probes this host's disks.)

use super::harness::{Case, refused, refused_at, refused_with};
use serde_json::json;

const CONFIG: &str = "etc/nixos/blankroot.toml";
const RECORD: &str = "persist/var/lib/blankroot/verify-rollback.json";

fn record(token: serde_json::Value, boot_id: &str) -> String {
    json!({"token": token, "armed_unix": 1_764_600_000u64, "boot_id": boot_id, "dataset": "rpool/local/root"})
        .to_string()
}

fn check(name: &str, record_text: impl Into<Vec<u8>>, any_of: &[&str]) -> Case {
    Case::bin(format!("verify/{name}"), &["verify-rollback", "check", "--root", "{dir}"], refused_with(&[2, 3], any_of))
        .put(CONFIG, "")
        .put(RECORD, record_text)
}

fn verify_cases() -> Vec<Case> {
    let good_token = json!("0123456789abcdef0123456789abcdef");
    vec![
        // A plain directory: nothing was armed on a rolled-back root here; never a PASS.
        check(
            "plain-dir-valid-record",
            record(good_token.clone(), "22222222-aaaa-4bbb-8ccc-000000000002"),
            &["error:"],
        ),
        check("empty-boot-id", record(good_token.clone(), ""), &["boot_id", "boot"]),
        check("short-token", record(json!("ab"), "other-boot"), &["token"]),
        check("empty-token", record(json!(""), "other-boot"), &["token"]),
        check("multibyte-token", record(json!("ééééééééééééééééé"), "other-boot"), &["token"]),
        check(
            "escape-token",
            record(json!("\u{1b}[2J\u{1b}]0;owned\u{7}0123456789abcdef0123"), "other-boot"),
            &["token"],
        ),
        check("token-number", record(json!(5), "other-boot"), &["verify-rollback.json", "record"]),
        check(
            "boot-id-array",
            json!({"token": good_token, "armed_unix": 1, "boot_id": [], "dataset": "x"}).to_string(),
            &["record", "verify-rollback.json"],
        ),
        check(
            "armed-negative",
            json!({"token": good_token, "armed_unix": -1, "boot_id": "x", "dataset": "x"}).to_string(),
            &["record", "verify-rollback.json"],
        ),
        check("missing-fields", "{}", &["record", "verify-rollback.json"]),
        check("garbage", "garbage", &["record", "verify-rollback.json"]),
        check("empty", "", &["record", "verify-rollback.json"]),
        check("null", "null", &["record", "verify-rollback.json"]),
        check("huge", format!("{{\"token\": \"{}\"}}", "a".repeat(20 << 20)), &["record", "verify-rollback.json"]),
        check(
            "dataset-escape",
            json!({"token": good_token, "armed_unix": 1, "boot_id": "x", "dataset": "\u{1b}[2J"}).to_string(),
            &["error:"],
        ),
        Case::bin(
            "verify/no-record",
            &["verify-rollback", "check", "--root", "{dir}"],
            refused_with(&[2, 3], &["record"]),
        )
        .put(CONFIG, ""),
        Case::bin(
            "verify/record-is-dir",
            &["verify-rollback", "check", "--root", "{dir}"],
            refused_with(&[2, 3], &["record", "verify-rollback.json"]),
        )
        .put(CONFIG, "")
        .dir(RECORD),
        Case::bin("verify/no-config", &["verify-rollback", "check", "--root", "{dir}"], refused(&["blankroot.toml"])),
        Case::bin(
            "verify/garbage-config",
            &["verify-rollback", "check", "--root", "{dir}"],
            refused_at("blankroot.toml", &["blankroot.toml"]),
        )
        .put(CONFIG, "[pool]\nname = 5\n"),
        Case::bin("verify/missing-root", &["verify-rollback", "check", "--root", "{dir}/absent"], refused(&["absent"])),
        Case::bin("verify/root-is-file", &["verify-rollback", "check", "--root", "{dir}/f"], refused(&["f"]))
            .put("f", "x"),
        // arm on a plain directory: not the rolled-back dataset; nothing written.
        Case::bin(
            "verify/arm-plain-dir",
            &["verify-rollback", "arm", "--root", "{dir}"],
            refused_with(&[2, 3], &["rpool/local/root"]),
        )
        .put(CONFIG, "")
        .dir("persist"),
    ]
}

fn doctor_cases() -> Vec<Case> {
    vec![
        Case::bin("doctor/missing-root", &["doctor", "--root", "{dir}/absent"], refused_with(&[2, 3], &["absent"])),
        Case::bin("doctor/root-is-file", &["doctor", "--root", "{dir}/f"], refused_with(&[2, 3], &["f"])).put("f", "x"),
        Case::bin("doctor/garbage-config", &["doctor", "--root", "{dir}"], refused_with(&[2, 3], &["blankroot.toml"]))
            .put(CONFIG, "hostname = [\n"),
        Case::bin("doctor/invalid-config", &["doctor", "--root", "{dir}"], refused_with(&[2, 3], &["ashift"]))
            .put(CONFIG, "[pool]\noptions = { ashift = 99 }\n"),
        Case::bin("doctor/binary-config", &["doctor", "--root", "{dir}"], refused_with(&[2, 3], &["blankroot.toml"]))
            .put(CONFIG, vec![0xffu8, 0, 0x1b, b'[', b'2', b'J']),
        Case::bin(
            "doctor/empty-dir",
            &["doctor", "--root", "{dir}"],
            refused_with(&[2, 3], &["blankroot.toml", "error:"]),
        ),
        Case::bin(
            "doctor/missing-config-file",
            &["doctor", "-c", "absent.toml", "--mode", "live"],
            refused(&["absent.toml"]),
        ),
    ]
}

fn other_cases() -> Vec<Case> {
    let mut v = vec![
        Case::bin(
            "regenerate/garbage-config",
            &["regenerate", "--check", "--root", "{dir}"],
            refused_at("blankroot.toml", &["blankroot.toml"]),
        )
        .put(CONFIG, "disk = \n"),
        Case::bin(
            "regenerate/missing-root",
            &["regenerate", "--check", "--root", "{dir}/absent"],
            refused_with(&[2, 3], &["absent"]),
        ),
    ];
    for (n, p, named) in [
        ("hostid", "/etc/hostid", "/etc/hostid"),
        ("percent", "/var/lib/a%b", "a%b"),
        ("relative", "var/lib/x", "var/lib/x"),
        ("dotdot", "/var/../etc", "/var/../etc"),
        ("empty", "", "path"),
        ("inside-persist", "/persist/x", "/persist/x"),
        ("newline", "/var/lib/a\nb", "\\n"),
        ("escape", "/var/lib/\u{1b}[2J", "\\u{1b}"),
    ] {
        v.push(
            Case::bin(format!("persist/{n}"), &["persist", "--create", "--root", "{dir}", p], refused(&[named]))
                .put(CONFIG, installed("blankroot.toml"))
                .put("etc/nixos/blankroot.nix", installed("blankroot.nix"))
                .dir("persist")
                .dir("var/lib"),
        );
    }
    v
}

/// A file of the example machine's installation, as write-config writes it.
fn installed(name: &str) -> String {
    let config = blankroot::config::parse_str("blankroot.toml", "", &Default::default()).unwrap();
    let facts = blankroot::example::facts().unwrap();
    let target = blankroot::plan::target::from_facts(&facts, &config.disk).unwrap();
    let plan = blankroot::plan::build(&config, &target, &blankroot::plan::Identities::fixed(7, None)).unwrap();
    let file = plan.steps.iter().flat_map(|s| &s.files).find(|f| f.path.ends_with(name)).unwrap();
    match &file.content {
        blankroot::plan::Content::Text(t) => t.clone(),
        _ => unreachable!("{name} is text"),
    }
}

pub fn cases() -> Vec<Case> {
    let mut v = verify_cases();
    v.extend(doctor_cases());
    v.extend(other_cases());
    v
}
