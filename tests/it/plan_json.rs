//! The plan's JSON form: it round-trips, a saved plan from the fixtures still parses (schema
//! stability), other schema versions are refused clearly, and no secret value ever appears.

use crate::common;

use blankroot::config::{self, Overrides};
use blankroot::plan::{self, Identities, Plan, Stdin};

#[test]
fn json_round_trips_for_every_config() {
    for name in common::CONFIGS {
        let plan = common::plan_for(name);
        let back = Plan::from_json(&plan.to_json()).unwrap();
        assert_eq!(back, plan, "{name}");
    }
}

#[test]
fn saved_plan_fixture_still_parses() {
    // Written by `blankroot plan --format json` at schema 1; if this fails, the schema changed
    // incompatibly: bump SCHEMA_VERSION and say so in docs/plan-schema.md.
    let text = std::fs::read_to_string(common::fixture("plans/seed-defaults-schema1.json")).unwrap();
    let plan = Plan::from_json(&text).unwrap();
    assert_eq!(plan.schema, 1);
    assert_eq!(plan.config.pool.name, "rpool");
    assert!(plan.steps.iter().any(|s| s.id == "luks-format"));
    // Re-serialising changes nothing but fields added since, compatibly, with their defaults.
    let mut again: serde_json::Value = serde_json::from_str(&plan.to_json()).unwrap();
    assert_eq!(again["target"]["missing_tools"].take(), serde_json::json!([]));
    again["target"].as_object_mut().unwrap().remove("missing_tools");
    // Since issue 12: whether the installing blankroot is static (false in a plan from before:
    // it is not kept), and [persist] blankroot (true unless a config says otherwise).
    assert_eq!(again["target"]["static_blankroot"].take(), serde_json::json!(false));
    again["target"].as_object_mut().unwrap().remove("static_blankroot");
    assert_eq!(again["config"]["persist"]["blankroot"].take(), serde_json::json!(true));
    again["config"]["persist"].as_object_mut().unwrap().remove("blankroot");
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(again, saved, "re-serialising a saved plan changes nothing else");
}

#[test]
fn other_schema_versions_are_refused_with_a_hint() {
    let mut v: serde_json::Value = serde_json::from_str(&common::plan_for("seed-defaults").to_json()).unwrap();
    v["schema"] = 99.into();
    let e = Plan::from_json(&v.to_string()).unwrap_err();
    assert!(e.message.contains("schema 99"), "{}", e.message);
    assert!(e.hint.unwrap().contains("blankroot plan --format json"));
    let e = Plan::from_json("{\"steps\": []}").unwrap_err();
    assert!(e.message.contains("no `schema` field"));
    let e = Plan::from_json("not json").unwrap_err();
    assert!(e.message.contains("not JSON"));
}

#[test]
fn unknown_fields_in_a_plan_are_refused() {
    let mut v: serde_json::Value = serde_json::from_str(&common::plan_for("seed-defaults").to_json()).unwrap();
    v["steps"][0]["surprise"] = true.into();
    assert!(Plan::from_json(&v.to_string()).is_err());
}

#[test]
fn no_secret_value_appears_in_plan_output() {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("alice.pw");
    let hash = dir.path().join("bob.hash");
    let secret_pw = "Correct-Horse-Battery-Staple-4711";
    let secret_hash = "$y$j9T$V1/SECRET.SALT$QFyeN0/0cZq8Vtu3jvQv2ZXzAsBm5mrQNdvDFBhpB29";
    std::fs::write(&pw, secret_pw).unwrap();
    std::fs::write(&hash, secret_hash).unwrap();
    let toml = format!(
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\npassword_file = {:?}\n\n[[users]]\nname = \"bob\"\npassword_hash_file = {:?}\n",
        pw.to_str().unwrap(),
        hash.to_str().unwrap()
    );
    let c = config::parse_str("t.toml", &toml, &Overrides::default()).unwrap();
    let p = plan::build(&c, &common::target("/dev/vda"), &Identities::fixed(1, None)).unwrap();
    for text in [p.to_json(), plan::human(&p)] {
        assert!(!text.contains(secret_pw));
        assert!(!text.contains("SECRET.SALT"));
    }
    // Secrets are referred to by name only.
    let names: Vec<String> = p.secrets.iter().map(|s| s.name.to_string()).collect();
    assert_eq!(names, ["luks-passphrase", "password:alice", "password:bob"]);
    let luks = p.steps.iter().find(|s| s.id == "luks-format").unwrap();
    assert_eq!(luks.commands[0].stdin, Some(Stdin::Secret(plan::SecretName::LuksPassphrase)));
    assert!(luks.commands[0].argv.iter().any(|a| a == "--key-file"), "the passphrase goes on stdin");
}

#[test]
fn a_key_given_twice_or_a_schema_that_is_not_a_number_is_refused() {
    let text = common::plan_for("seed-defaults").to_json();
    // JSON objects keep the last of two equal keys; a plan must not say two things at once.
    let twice = text.replacen('{', "{\"steps\": [],", 1);
    let e = Plan::from_json(&twice).unwrap_err();
    assert!(e.causes.iter().any(|c| c.contains("duplicate field `steps`")), "{}", e.render());
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["schema"] = "1".into();
    let e = Plan::from_json(&v.to_string()).unwrap_err();
    assert!(e.message.contains("schema \"1\" (text, not a number)"), "{}", e.render());
}
