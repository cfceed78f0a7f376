//! A saved plan is blankroot's own: `install --plan FILE`, and the unfinished install's plan in
//! the state directory, run only what blankroot itself builds. [`verify`] reads the file
//! (bounded), refuses another blankroot version, validates its config (written as the
//! blankroot.toml it would install and read back through every config rule) and its ids, then
//! builds the plan again from them and this machine's facts, and refuses on the first step,
//! secret or config field that differs, naming it (theirs vs ours). What runs is the rebuilt
//! plan, never the file's.
//!
//! Not compared: `destroys`, `warnings` and the disk's `contents`/`holders` (they describe the
//! disk as it is now, which an interrupted install changed) and `firmware`, `missing_tools`,
//! `nixos_release` (warnings only; the gate asks the machine itself). The disk must be the
//! same one (path, kernel device, size, serial), as `install::verify_machine` asks.

use super::{Plan, Target, build, target};
use crate::config::{Config, Overrides};
use crate::error::{Error, Result, excerpt};
use crate::probe::Facts;
use serde_json::Value;
use std::path::Path;

/// The largest plan file read: blankroot's own plans are tens of KiB.
pub const MAX_BYTES: usize = 16 << 20;

const HINT: &str = "blankroot runs only the plan it makes itself: make a new plan on this machine with `blankroot plan --format json -o plan.json`, review it, and install that";

/// Reads a plan file, at most [`MAX_BYTES`] of it (a bigger file, or an endless one such as a
/// device, is refused without being read whole), as UTF-8 text.
pub fn read_file(path: &Path) -> Result<String> {
    let cannot = |e: std::io::Error| {
        Error::input(format!("cannot read the plan {}", excerpt(&path.display().to_string())))
            .caused_by(e)
            .hint("save one with `blankroot plan --format json -o plan.json`")
    };
    let bytes = crate::infra::fsutil::read_at_most(path, MAX_BYTES as u64).map_err(cannot)?.ok_or_else(too_big)?;
    String::from_utf8(bytes).map_err(|e| {
        Error::input("the plan file is not UTF-8 text, so not a blankroot plan")
            .caused_by(e)
            .hint("save a plan with `blankroot plan --format json -o plan.json`")
    })
}

fn too_big() -> Error {
    Error::input(format!("the plan file is larger than {} MiB; blankroot's plans are a few KiB", MAX_BYTES >> 20))
        .hint("save a plan with `blankroot plan --format json -o plan.json`")
}

/// Parses a saved plan (schema, layout, size) without judging its content: for a first look
/// (is it the unfinished install's config?). Never run what this returns; run [`verify`]'s.
/// Nesting is bounded by serde_json's recursion limit ("nesting of JSON maps and arrays more
/// than 128 layers deep" is `RecursionLimitExceeded`, serde-rs/json src/error.rs; this crate
/// does not enable its `unbounded_depth`), so no input overflows the stack.
pub fn parse(text: &str) -> Result<Plan> {
    if text.len() > MAX_BYTES {
        return Err(too_big());
    }
    Plan::from_json(text)
}

/// Parses and verifies a saved plan against this machine's facts; returns blankroot's own
/// plan, equal to the file's in every step.
pub fn verify(text: &str, facts: &Facts) -> Result<Plan> {
    verify_plan(&parse(text)?, facts)
}

/// [`verify`] for a plan already parsed. The file alone is judged first (version, ids, config,
/// and its steps against the plan built from them for the disk it names), so a changed plan is
/// refused the same way on any machine; then the disk must be this machine's, and what is
/// returned is built from this machine's facts.
pub(crate) fn verify_plan(theirs: &Plan, facts: &Facts) -> Result<Plan> {
    let version = env!("CARGO_PKG_VERSION");
    if theirs.blankroot_version != version {
        return Err(Error::input(format!(
            "the plan was made by blankroot {}; this is blankroot {version}",
            excerpt(&theirs.blankroot_version)
        ))
        .hint("a plan runs only with the blankroot that made it: make it again with this one, `blankroot plan --format json -o plan.json`"));
    }
    theirs.ids.validate()?;
    let config = config_of(theirs)?;
    if theirs.target.disk.path != config.disk {
        return Err(differs(&format!(
            "its target.disk.path {} is not its config.disk {}",
            excerpt(&theirs.target.disk.path),
            excerpt(&config.disk)
        )));
    }
    let rebuilt = build(&config, &theirs.target, &theirs.ids)?;
    compare(theirs, &rebuilt)?;
    let now = target::from_facts(facts, &config.disk)?;
    same_disk(&theirs.target, &now)?;
    same_kind_of_blankroot(&theirs.target, &now)?;
    let ours = build(&config, &now, &theirs.ids)?;
    // The steps depend on the disk's path only, never on what it holds now.
    if ours.steps != rebuilt.steps || ours.config != rebuilt.config || ours.secrets != rebuilt.secrets {
        return Err(Error::internal("the plan built for this machine's disk differs from the saved plan's")
            .hint("this is a bug in blankroot; make a new plan with `blankroot plan --format json -o plan.json`"));
    }
    Ok(ours)
}

/// A plan made by a static blankroot keeps that blankroot on the installed system (its
/// keep-blankroot step); a dynamic one cannot be kept and its plan has no such step. Run by
/// the other kind, the plan is not what this blankroot would make: bad input, not a bug.
fn same_kind_of_blankroot(theirs: &Target, now: &Target) -> Result<()> {
    let kind = |s: bool| if s { "a static blankroot" } else { "a blankroot that needs a dynamic loader" };
    if theirs.static_blankroot == now.static_blankroot {
        return Ok(());
    }
    let (kept, this) = if theirs.static_blankroot { ("keeps", "cannot be") } else { ("does not keep", "would be") };
    Err(Error::input(format!(
        "the plan was made by {}, which it {kept} on the installed system; this is {}, which {this} kept",
        kind(theirs.static_blankroot),
        kind(now.static_blankroot)
    ))
    .hint(
        "run the plan with the blankroot that made it, or make it again with this one: \
         `blankroot plan --format json -o plan.json` (the static build: scripts/build-static, or the flake's packages.static)",
    ))
}

/// The saved plan and the one rebuilt from its config and ids: same config, secrets and steps.
fn compare(theirs: &Plan, ours: &Plan) -> Result<()> {
    if let Some((field, a, b)) = first_difference("config", &json(&theirs.config), &json(&ours.config)) {
        return Err(differs(&format!("its {field} is {a}; blankroot's is {b}")));
    }
    if let Some((field, a, b)) = first_difference("secrets", &json(&theirs.secrets), &json(&ours.secrets)) {
        return Err(differs(&format!("its {field} is {a}; blankroot's is {b}")));
    }
    compare_steps(theirs, ours)
}

/// The plan's config, validated: written as the blankroot.toml the plan installs and read back
/// through every config rule, it must come back the same.
fn config_of(plan: &Plan) -> Result<Config> {
    let c = &plan.config;
    if c.host_id.as_ref().is_some_and(|h| *h != plan.ids.host_id) {
        return Err(differs(&format!(
            "its config.host_id {} is not its ids.host_id {}",
            excerpt(c.host_id.as_deref().unwrap_or_default()),
            excerpt(&plan.ids.host_id)
        )));
    }
    for (field, config, id) in
        [("luks.uuid", &c.luks.uuid, &plan.ids.luks_uuid), ("esp_uuid", &c.esp_uuid, &plan.ids.esp_uuid)]
    {
        if config.as_ref().is_some_and(|u| u != id) {
            return Err(differs(&format!(
                "its config.{field} {} is not its ids' {}",
                excerpt(config.as_deref().unwrap_or_default()),
                excerpt(id)
            )));
        }
    }
    let text = crate::config::to_toml(c, &plan.ids);
    let mut again =
        crate::config::parse_str("the plan's blankroot.toml", &text, &Overrides::default()).map_err(|e| {
            let mut out = Error::input(format!("the saved plan's config is refused: {}", e.message))
                .caused_by("the position is in the blankroot.toml the plan installs (its write-config step shows it)");
            out.causes.extend(e.causes);
            out.hint(match e.hint {
                Some(h) => format!("{h}; then make the plan again: `blankroot plan --format json -o plan.json`"),
                None => HINT.to_string(),
            })
        })?;
    again.host_id = c.host_id.clone();
    again.luks.uuid = c.luks.uuid.clone();
    again.esp_uuid = c.esp_uuid.clone();
    if let Some((field, a, b)) = first_difference("config", &json(c), &json(&again)) {
        return Err(differs(&format!("its {field} is {a}; written as blankroot.toml and read back it is {b}")));
    }
    Ok(again)
}

/// The plan's disk is this machine's disk of the same name: same kernel device, size and
/// serial (when both have one), as `install::verify_machine` asks.
fn same_disk(theirs: &Target, now: &Target) -> Result<()> {
    let (a, b) = (&theirs.disk, &now.disk);
    let serial = |s: &Option<String>| excerpt(s.as_deref().unwrap_or_default());
    let diff = if a.device != b.device {
        Some(format!("its disk is {}; on this machine {} is {}", excerpt(&a.device), b.path, excerpt(&b.device)))
    } else if a.size_bytes != b.size_bytes {
        Some(format!("its disk has {} bytes; {} has {} bytes", a.size_bytes, b.path, b.size_bytes))
    } else if a.serial.is_some() && b.serial.is_some() && a.serial != b.serial {
        Some(format!("its disk's serial is {}; {}'s is {}", serial(&a.serial), b.path, serial(&b.serial)))
    } else {
        None
    };
    match diff {
        None => Ok(()),
        Some(d) => Err(Error::input(format!("the plan was made for another machine or disk: {d}"))
            .hint("make a new plan on this machine: `blankroot plan --format json -o plan.json`")),
    }
}

/// Same steps, in the same order, identical in every field.
fn compare_steps(theirs: &Plan, ours: &Plan) -> Result<()> {
    for (i, (t, o)) in theirs.steps.iter().zip(&ours.steps).enumerate() {
        let n = i + 1;
        if t.id != o.id {
            return Err(differs(&format!(
                "its step {n} is {}; blankroot's step {n} is {} (a step changed, added, removed or moved)",
                excerpt(&t.id),
                excerpt(&o.id)
            )));
        }
        if let Some((field, a, b)) = first_difference("", &json(t), &json(o)) {
            let field = field.trim_start_matches('.');
            if let Some(inner) = record_difference(t, o) {
                return Err(differs(&format!("in step {n} ({}), its {inner}", excerpt(&o.id))));
            }
            return Err(differs(&format!("in step {n} ({}), its {field} is {a}; blankroot's is {b}", excerpt(&o.id))));
        }
    }
    let (t, o) = (theirs.steps.len(), ours.steps.len());
    if t > o {
        let extra = theirs.steps.get(o).map_or_else(String::new, |s| excerpt(&s.id));
        return Err(differs(&format!(
            "it has {t} steps; blankroot's has {o}: its step {} {extra} is not blankroot's",
            o + 1
        )));
    }
    if t < o {
        let missing = ours.steps.get(t).map_or_else(String::new, |s| excerpt(&s.id));
        return Err(differs(&format!(
            "it has {t} steps; blankroot's has {o}: its step {} {missing} is missing",
            t + 1
        )));
    }
    Ok(())
}

/// Where two steps' resume records (plan::record: the partition step's stdin) differ, when
/// they do: the config or id inside, rather than a long line of JSON.
fn record_difference(theirs: &super::Step, ours: &super::Step) -> Option<String> {
    let record = |s: &super::Step| -> Option<super::record::Record> {
        s.commands.iter().find_map(|c| match &c.stdin {
            Some(super::Stdin::Text(t)) => super::record::parse(t.as_bytes()).ok(),
            _ => None,
        })
    };
    let (a, b) = (record(theirs)?, record(ours)?);
    let (field, a, b) = first_difference("resume record's", &json(&a), &json(&b))?;
    Some(format!("{} is {a}; blankroot's is {b}", field.replacen("resume record's.", "resume record's ", 1)))
}

fn differs(what: &str) -> Error {
    Error::input(format!("the saved plan is not the plan blankroot makes from its config and ids: {what}")).hint(HINT)
}

fn json<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// A value as a message shows it: a string or list as an escaped, cut excerpt; a number, bool
/// or null as JSON.
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => excerpt(s),
        Value::Null | Value::Bool(_) | Value::Number(_) => v.to_string(),
        other => excerpt(&other.to_string()),
    }
}

/// The first place (`path`) where two JSON values differ, with each side shown; `None` when
/// equal. (The values are serialised plans, as deep as the Plan type, never the input's
/// nesting.)
pub(crate) fn first_difference(path: &str, a: &Value, b: &Value) -> Option<(String, String, String)> {
    if a == b {
        return None;
    }
    let absent = || "absent".to_string();
    // A field left out is its default (`skip_serializing_if`): compare it as one.
    let empty = Value::Array(Vec::new());
    let no = Value::Bool(false);
    let (a, b) = match (a, b) {
        (Value::Null, Value::Array(_)) => (&empty, b),
        (Value::Array(_), Value::Null) => (a, &empty),
        (Value::Null, Value::Bool(_)) => (&no, b),
        (Value::Bool(_), Value::Null) => (a, &no),
        _ => (a, b),
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, vb) in y {
                let p = format!("{path}.{k}");
                if let Some(d) = first_difference(&p, x.get(k).unwrap_or(&Value::Null), vb) {
                    return Some(d);
                }
            }
            x.iter()
                .filter(|(k, _)| !y.contains_key(*k))
                .find_map(|(k, va)| first_difference(&format!("{path}.{k}"), va, &Value::Null))
        }
        (Value::Array(x), Value::Array(y)) => {
            for (i, (va, vb)) in x.iter().zip(y).enumerate() {
                if let Some(d) = first_difference(&format!("{path}[{i}]"), va, vb) {
                    return Some(d);
                }
            }
            let i = x.len().min(y.len());
            let side = |v: &Vec<Value>| v.get(i).map_or_else(absent, show);
            Some((format!("{path}[{i}]"), side(x), side(y)))
        }
        _ => Some((path.to_string(), show(a), show(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_difference_names_the_path_and_both_sides() {
        let a = json!({"argv": ["sfdisk", "/dev/sdb"], "stdin": null});
        let b = json!({"argv": ["sfdisk", "/dev/vda"], "stdin": null});
        let (p, x, y) = first_difference("commands[0]", &a, &b).unwrap();
        assert_eq!((p.as_str(), x.as_str(), y.as_str()), ("commands[0].argv[1]", "\"/dev/sdb\"", "\"/dev/vda\""));
        let (p, x, y) = first_difference("", &json!({"a": [1]}), &json!({"a": [1, 2]})).unwrap();
        assert_eq!((p.as_str(), x.as_str(), y.as_str()), (".a[1]", "absent", "2"));
        let (p, x, _) = first_difference("", &json!({"a": 1, "z": 2}), &json!({"a": 1})).unwrap();
        assert_eq!((p.as_str(), x.as_str()), (".z", "2"));
        assert!(first_difference("", &json!({"a": 1}), &json!({"a": 1})).is_none());
    }

    #[test]
    fn values_are_shown_escaped_and_cut() {
        let long = format!("\u{1b}[2J{}", "x".repeat(500));
        let (_, x, _) = first_difference("", &json!(long), &json!("y")).unwrap();
        assert!(x.starts_with("\"\\u{1b}[2J") && x.ends_with("(504 characters)"), "{x}");
    }
}
