//! Shared checks of the config tests (tests/it/config_errors.rs, config_accounts.rs,
//! config_resolved.rs, config_option_rules.rs): parse a blankroot.toml text and assert where
//! and how it is refused.

use blankroot::config::{Config, Overrides, parse_str};
use blankroot::error::{Error, ErrorKind};

pub const FILE: &str = "blankroot.toml";

pub fn parse(text: &str) -> Result<Config, Error> {
    parse_str(FILE, text, &Overrides::default())
}

/// Asserts that `text` fails at `at` (`line:column`) with a message containing `contains`
/// and a non-empty hint; returns the error for further checks.
#[track_caller]
pub fn fails_at(text: &str, at: &str, contains: &str) -> Error {
    let e = parse(text).expect_err("config should be rejected");
    check(&e, &format!("{FILE}:{at}: "), contains);
    e
}

#[track_caller]
pub fn flag_fails(o: Overrides, flag: &str, contains: &str) -> Error {
    let e = parse_str(FILE, "", &o).expect_err("flag should be rejected");
    check(&e, &format!("{flag}: "), contains);
    e
}

#[track_caller]
pub fn check(e: &Error, prefix: &str, contains: &str) {
    assert!(e.message.starts_with(prefix), "expected the message to start with {prefix:?}, got {:?}", e.message);
    assert!(e.message.contains(contains), "expected {contains:?} in {:?}", e.message);
    assert_eq!(e.kind, ErrorKind::Input, "{e:?}");
    let hint = e.hint.as_deref().unwrap_or_default();
    assert!(hint.len() > 10, "expected a hint saying how to fix it, got {:?} for {:?}", e.hint, e.message);
}

/// Nothing the user can see of `e` contains `secret`.
#[track_caller]
pub fn never_shows(e: &Error, secret: &str) {
    let all = format!("{} {:?} {:?} {}", e.message, e.hint, e.causes, e.render());
    assert!(!all.contains(secret), "the error repeats the secret: {all}");
}

/// The default layout (root, nix, persist) as lines 1–12, so an appended entry's
/// `[[datasets]]` header is line 14 and its first key line 15.
pub const BASE_DATASETS: &str = "[[datasets]]
name = \"local/root\"
mount = \"/\"
blank = true

[[datasets]]
name = \"local/nix\"
mount = \"/nix\"

[[datasets]]
name = \"safe/persist\"
mount = \"/persist\"
";

pub fn with_dataset(entry: &str) -> String {
    format!("{BASE_DATASETS}\n[[datasets]]\n{entry}")
}

/// A config emitted as the installed blankroot.toml (with fixed ids) and read back: the
/// emitted text, what it read back as, and what it must read back as (the config with the
/// install's ids recorded: host id, LUKS UUID, ESP volume id).
pub struct RoundTrip {
    pub emitted: String,
    pub back: Config,
    pub expected: Config,
    pub ids: blankroot::plan::Identities,
}

pub fn round_trip(text: &str) -> RoundTrip {
    let mut expected = parse(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let ids = blankroot::plan::Identities::fixed(5, Some("0badc0de"));
    let emitted = blankroot::config::to_toml(&expected, &ids);
    let back = parse(&emitted).unwrap_or_else(|e| panic!("{e}\n{emitted}"));
    expected.host_id = Some("0badc0de".into());
    expected.luks.uuid = Some(ids.luks_uuid.clone());
    expected.esp_uuid = Some(ids.esp_uuid.clone());
    RoundTrip { emitted, back, expected, ids }
}
