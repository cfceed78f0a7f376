//! Reading `blankroot.toml` and flags into a validated [`Config`]. Every error names the file,
//! line and column of the offending value and says how to fix it; flags are named by flag.
//! A password value is never repeated in an error, not even a wrongly typed one.

use super::rules::{self, Problem};
use super::{Config, Dataset, Initrd, PasswordSource, User};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

mod keep;
mod layout;

/// ZFS properties in file order. Values may be written `ashift = 12` or `ashift = "12"`.
type Props = IndexMap<Spanned<String>, Spanned<toml::Value>>;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    disk: Option<Spanned<String>>,
    hostname: Option<Spanned<String>>,
    host_id: Option<Spanned<String>>,
    state_version: Option<Spanned<String>>,
    initrd: Option<Spanned<String>>,
    esp: Option<RawEsp>,
    luks: Option<RawLuks>,
    pool: Option<RawPool>,
    datasets: Option<Spanned<Vec<Spanned<layout::RawDataset>>>>,
    users: Option<Vec<Spanned<RawUser>>>,
    root: Option<Spanned<RawRoot>>,
    persist: Option<keep::RawPersist>,
    diff: Option<keep::RawDiff>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEsp {
    size: Option<Spanned<String>>,
    uuid: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLuks {
    name: Option<Spanned<String>>,
    allow_discards: Option<bool>,
    format_options: Option<Vec<Spanned<String>>>,
    uuid: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Option<Spanned<String>>,
    options: Option<Props>,
    fs_options: Option<Props>,
    dev_nodes: Option<Spanned<String>>,
}

// The password keys are spelled out in both tables rather than `#[serde(flatten)]`ed: flatten
// loses the spans and makes serde quote the value in its errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    /// The password keys take any TOML value, so that a password typed into one of them (even
    /// with the wrong type) never reaches serde's error text, which quotes values.
    password: Option<Spanned<toml::Value>>,
    password_hash_file: Option<Spanned<toml::Value>>,
    password_file: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoot {
    password: Option<Spanned<toml::Value>>,
    password_hash_file: Option<Spanned<toml::Value>>,
    password_file: Option<Spanned<toml::Value>>,
}

/// Values given on the command line; each replaces the file's value.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub disk: Option<String>,
    pub hostname: Option<String>,
    pub host_id: Option<String>,
    pub esp_size: Option<String>,
    pub pool: Option<String>,
    pub luks_name: Option<String>,
    pub initrd: Option<String>,
    pub state_version: Option<String>,
}

/// Maps byte offsets of the source text to `file:line:column`.
struct Source<'a> {
    name: &'a str,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, offset: usize) -> usize {
        self.text[..offset.min(self.text.len())].matches('\n').count() + 1
    }
    fn position(&self, offset: usize) -> String {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = self.text.get(..offset).unwrap_or_default();
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{}:{col}", self.name, self.line(offset))
    }
    fn err(&self, span: Range<usize>, p: Problem) -> Error {
        Error::input(format!("{}: {}", self.position(span.start), p.message)).hint(p.hint)
    }
    fn at<T>(&self, v: &Spanned<T>, p: Problem) -> Error {
        self.err(v.span(), p)
    }
    /// For whole-config rules with no better place: the file itself.
    fn whole(&self, p: Problem) -> Error {
        Error::input(format!("{}: {}", self.name, p.message)).hint(p.hint)
    }
}

/// Where values that later rules need to point at were written.
#[derive(Default)]
struct Spans {
    pool: Option<Range<usize>>,
    /// The `name` of each `[[datasets]]` entry, in order, when the file lists them.
    datasets: Vec<Range<usize>>,
    /// The first `[[users]]` header.
    users: Option<Range<usize>>,
    /// The `[root]` header.
    root: Option<Range<usize>>,
}

fn flag_err(flag: &str, p: Problem) -> Error {
    Error::input(format!("{flag}: {}", p.message)).hint(p.hint)
}

fn problem(message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem { message: message.into(), hint: hint.into() }
}

/// Reads and validates a config file, then applies the flags.
pub fn load(path: Option<&std::path::Path>, overrides: &Overrides) -> Result<Config> {
    match path {
        None => parse_str("<defaults>", "", overrides),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                Error::input(format!("cannot read config file {}", p.display()))
                    .caused_by(e)
                    .hint("check the path given to --config, or leave --config out to use the defaults")
            })?;
            parse_str(&p.display().to_string(), &text, overrides)
        }
    }
}

/// Parses config text (named `name` in errors), applies the flags and validates the result.
pub fn parse_str(name: &str, text: &str, overrides: &Overrides) -> Result<Config> {
    let src = Source { name, text };
    let raw: RawConfig = toml::from_str(text).map_err(|e| toml_error(&src, &e))?;
    let mut c = Config::default();
    let mut spans = Spans::default();
    apply_raw(&src, raw, &mut c, &mut spans)?;
    apply_overrides(overrides, &mut c)?;
    check_whole(&src, &c, &spans, overrides)?;
    Ok(c)
}

/// Turns the TOML parser's and serde's errors into ours. Their messages never contain a
/// password: the password keys accept any value (see [`RawUser`]) and syntax errors do not
/// quote the text.
fn toml_error(src: &Source, e: &toml::de::Error) -> Error {
    let at = e.span().map_or_else(|| src.name.to_string(), |s| src.position(s.start));
    let key = e.span().and_then(|s| key_at(src.text, s.start));
    let msg = &plain_types(e.message().trim());
    let (message, hint) = if let Some(rest) = msg.strip_prefix("unknown field ") {
        let hint = match closest_key(rest) {
            Some(k) => format!("did you mean `{k}`? Otherwise remove the key"),
            None => "remove or rename the key".to_string(),
        };
        // serde quotes the key whole: cut it (the list of expected keys is ours, short).
        let unknown = rest.split('`').nth(1).unwrap_or_default();
        let expected = rest.split_once(", expected").map_or("", |(_, e)| e);
        let n = unknown.chars().count();
        let mut shown: String =
            unknown.chars().take(crate::error::EXCERPT_CHARS).flat_map(char::escape_debug).collect();
        if n > crate::error::EXCERPT_CHARS {
            shown.push_str(&format!("… ({n} characters)"));
        }
        (format!("unknown key `{shown}`, expected{expected}"), hint)
    } else if let Some(rest) = msg.strip_prefix("missing field ") {
        (format!("missing key {rest} in this table"), format!("add {} = … to this table", rest.trim_matches('`')))
    } else if msg == "duplicate key" {
        (
            "this key or table is already defined above".to_string(),
            "TOML allows each key, and each [table], only once: merge the two".to_string(),
        )
    } else if msg.starts_with("invalid type") || msg.starts_with("invalid value") {
        // serde's words for TOML's arrays and tables.
        let msg = msg.replace("expected a sequence", "expected a list").replace("expected a map", "expected a table");
        (
            msg,
            "write the value as the type named above: text in quotes, numbers and true/false bare, lists in [ ]"
                .to_string(),
        )
    } else {
        (
            format!("invalid TOML: {msg}"),
            "fix the TOML syntax at that position: text values need quotes, and each key = value goes on its own line"
                .to_string(),
        )
    };
    let message = match key {
        Some(k) if !message.contains(&k) && !message.starts_with("unknown key") => format!("{message} (at `{k}`)"),
        _ => message,
    };
    Error::input(format!("{at}: {message}")).hint(hint)
}

/// The key (or `[table]`) written on the line holding `offset`, so a TOML error names what it is
/// about, cut to a readable length. `None` when the line holds neither.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let start = text.get(..offset)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(start..)?.lines().next()?.trim();
    let key = if let Some(t) = line.strip_prefix('[') {
        t.trim_start_matches('[').split(']').next()?.trim()
    } else {
        line.split('=').next()?.trim()
    };
    let key = key.trim_matches('"').trim_matches('\'');
    let cut: String = key.chars().take(crate::error::EXCERPT_CHARS).flat_map(char::escape_debug).collect();
    (!cut.is_empty()).then_some(cut)
}

/// serde's messages name blankroot's own types (`struct RawEsp with 3 elements`); a user wrote
/// a TOML value, so say "a table" instead.
fn plain_types(msg: &str) -> String {
    match msg.find("expected struct ") {
        Some(i) => {
            let head = msg.get(..i).unwrap_or_default();
            let head = if head.starts_with("invalid length") { "invalid type, " } else { head };
            format!("{head}expected a table")
        }
        None => msg.to_string(),
    }
}

/// From serde's "`x`, expected one of `a`, `b`", the expected key closest to `x`, if close.
fn closest_key(rest: &str) -> Option<String> {
    let mut words = rest.split('`').skip(1).step_by(2);
    let unknown = words.next()?;
    words
        .map(|k| (edit_distance(unknown, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.to_string())
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn prop_text(kind: &str, key: &str, v: &Spanned<toml::Value>) -> rules::Checked<String> {
    match v.get_ref() {
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Integer(i) => Ok(i.to_string()),
        toml::Value::Boolean(b) => Ok(if *b { "on" } else { "off" }.to_string()),
        other => Err(problem(
            format!(
                "{kind} property {key} is a {}; ZFS property values are text, whole numbers or true/false",
                other.type_str()
            ),
            format!("write it like {key} = \"value\""),
        )),
    }
}

/// Merges the file's properties over `defaults`: a known key keeps its place, a new one is added.
fn props(
    src: &Source,
    kind: &str,
    defaults: &[(String, String)],
    given: Option<Props>,
) -> Result<Vec<(String, String)>> {
    let mut out = defaults.to_vec();
    for (k, v) in given.unwrap_or_default() {
        rules::zfs_property_name(kind, k.get_ref()).map_err(|p| src.at(&k, p))?;
        let value = prop_text(kind, k.get_ref(), &v).map_err(|p| src.at(&v, p))?;
        rules::zfs_property(kind, k.get_ref(), &value).map_err(|p| src.at(&v, p))?;
        let k = k.into_inner();
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = value,
            None => out.push((k, value)),
        }
    }
    Ok(out)
}

/// A password path key's value is not repeated in its error: a user who confused the keys may
/// have typed the password there.
fn password_path(src: &Source, key: &str, v: &Spanned<toml::Value>) -> Result<String> {
    match v.get_ref() {
        toml::Value::String(path) if rules::absolute_path(key, path).is_ok() => Ok(path.clone()),
        _ => Err(src.at(
            v,
            problem(
                format!("{key} is not an absolute, normalised path (the value is not shown, in case it is a password)"),
                format!(
                    "{key} names a file on the installing machine, e.g. {key} = \"/root/alice.{}\"",
                    if key == "password_hash_file" { "hash" } else { "pw" }
                ),
            ),
        )),
    }
}

fn password(
    src: &Source,
    password: Option<Spanned<toml::Value>>,
    hash_file: Option<Spanned<toml::Value>>,
    file: Option<Spanned<toml::Value>>,
    default: PasswordSource,
) -> Result<PasswordSource> {
    let mut given: Vec<(&str, Range<usize>)> = Vec::new();
    if let Some(p) = &password {
        given.push(("password", p.span()));
    }
    if let Some(p) = &hash_file {
        given.push(("password_hash_file", p.span()));
    }
    if let Some(p) = &file {
        given.push(("password_file", p.span()));
    }
    given.sort_by_key(|(_, s)| s.start);
    if let [(first, first_span), (second, second_span), ..] = given.as_slice() {
        return Err(src.err(
            second_span.clone(),
            problem(
                format!(
                    "{second} conflicts with {first} on line {}: give one password source",
                    src.line(first_span.start)
                ),
                "keep the one key this account's password should come from",
            ),
        ));
    }
    if let Some(p) = password {
        return match p.get_ref() {
            toml::Value::String(s) if s == "prompt" => Ok(PasswordSource::Prompt),
            toml::Value::String(s) if s == "locked" => Ok(PasswordSource::Locked),
            _ => Err(src.at(
                &p,
                problem(
                    "password must be \"prompt\" or \"locked\"; a password is never written in the config (the value is not shown)",
                    "use password = \"prompt\" to be asked at install time, or password_hash_file = \"/path\" for a ready `mkpasswd -m yescrypt` hash",
                ),
            )),
        };
    }
    if let Some(v) = hash_file {
        return Ok(PasswordSource::HashFile { path: password_path(src, "password_hash_file", &v)? });
    }
    if let Some(v) = file {
        return Ok(PasswordSource::File { path: password_path(src, "password_file", &v)? });
    }
    Ok(default)
}

/// `[esp]`: its size and its recorded volume id.
fn apply_esp(src: &Source, esp: Option<RawEsp>, c: &mut Config) -> Result<()> {
    let Some(esp) = esp else { return Ok(()) };
    if let Some(size) = esp.size {
        let bytes = rules::size(size.get_ref()).map_err(|p| src.at(&size, p))?;
        rules::esp_size(bytes).map_err(|p| src.at(&size, p))?;
        c.esp_size_bytes = bytes;
    }
    if let Some(u) = esp.uuid {
        c.esp_uuid = Some(rules::esp_uuid(u.get_ref()).map_err(|p| src.at(&u, p))?);
    }
    Ok(())
}

fn apply_raw(src: &Source, raw: RawConfig, c: &mut Config, spans: &mut Spans) -> Result<()> {
    if let Some(d) = raw.disk {
        rules::disk(d.get_ref()).map_err(|p| src.at(&d, p))?;
        c.disk = d.into_inner();
    }
    if let Some(h) = raw.hostname {
        rules::hostname(h.get_ref()).map_err(|p| src.at(&h, p))?;
        c.hostname = h.into_inner();
    }
    if let Some(h) = raw.host_id {
        c.host_id = Some(rules::host_id(h.get_ref()).map_err(|p| src.at(&h, p))?);
    }
    if let Some(v) = raw.state_version {
        rules::state_version(v.get_ref()).map_err(|p| src.at(&v, p))?;
        c.state_version = Some(v.into_inner());
    }
    if let Some(i) = raw.initrd {
        c.initrd = initrd(i.get_ref()).map_err(|p| src.at(&i, p))?;
    }
    apply_esp(src, raw.esp, c)?;
    if let Some(l) = raw.luks {
        apply_luks(src, l, c)?;
    }
    if let Some(p) = raw.pool {
        apply_pool(src, p, c, spans)?;
    }
    if let Some(ds) = raw.datasets {
        let list_span = ds.span();
        let (list, names) = layout::datasets(src, ds.into_inner())?;
        layout::check_dataset_roles(src, &list, &names, list_span)?;
        c.datasets = list;
        spans.datasets = names;
        // A default persisted path on a dataset of its own survives reboots already.
        let mounts: Vec<String> = c.datasets.iter().filter_map(|d| d.mount.clone()).filter(|m| m != "/").collect();
        let kept = |p: &String| !mounts.iter().any(|m| rules::is_within(p, m));
        c.persist.directories.retain(kept);
        c.persist.files.retain(kept);
    }
    if let Some(users) = raw.users {
        spans.users = users.first().map(Spanned::span);
        c.users = apply_users(src, users)?;
    }
    if let Some(r) = raw.root {
        spans.root = Some(r.span());
        let r = r.into_inner();
        c.root_password = password(src, r.password, r.password_hash_file, r.password_file, PasswordSource::Locked)?;
    }
    if let Some(p) = raw.persist {
        keep::persist(src, p, c)?;
    }
    if let Some(d) = raw.diff {
        keep::diff(src, d, c)?;
    }
    Ok(())
}

/// `[luks]`.
fn apply_luks(src: &Source, l: RawLuks, c: &mut Config) -> Result<()> {
    if let Some(u) = l.uuid {
        c.luks.uuid = Some(rules::luks_uuid(u.get_ref()).map_err(|p| src.at(&u, p))?);
    }
    if let Some(n) = l.name {
        rules::luks_name(n.get_ref()).map_err(|p| src.at(&n, p))?;
        c.luks.name = n.into_inner();
    }
    if let Some(a) = l.allow_discards {
        c.luks.allow_discards = a;
    }
    let opts = l.format_options.unwrap_or_default();
    let texts: Vec<&str> = opts.iter().map(|o| o.get_ref().as_str()).collect();
    if let Err((i, p)) = rules::luks_format_options(&texts) {
        return Err(match opts.get(i) {
            Some(o) => src.at(o, p),
            None => src.whole(p),
        });
    }
    c.luks.format_options = opts.into_iter().map(Spanned::into_inner).collect();
    Ok(())
}

/// `[pool]`.
fn apply_pool(src: &Source, p: RawPool, c: &mut Config, spans: &mut Spans) -> Result<()> {
    if let Some(n) = p.name {
        rules::pool_name(n.get_ref()).map_err(|e| src.at(&n, e))?;
        spans.pool = Some(n.span());
        c.pool.name = n.into_inner();
    }
    c.pool.options = props(src, "pool", &c.pool.options, p.options)?;
    c.pool.fs_options = props(src, "pool fs", &c.pool.fs_options, p.fs_options)?;
    if let Some(d) = p.dev_nodes {
        rules::absolute_path("dev_nodes", d.get_ref()).map_err(|e| src.at(&d, e))?;
        rules::dev_nodes(d.get_ref()).map_err(|e| src.at(&d, e))?;
        c.pool.dev_nodes = d.into_inner();
    }
    Ok(())
}

/// `[[users]]`: each name once, its groups once each, its password source.
fn apply_users(src: &Source, users: Vec<Spanned<RawUser>>) -> Result<Vec<User>> {
    let mut out: Vec<User> = Vec::new();
    let mut seen: Vec<Range<usize>> = Vec::new();
    for u in users {
        let u = u.into_inner();
        rules::user_name(u.name.get_ref()).map_err(|p| src.at(&u.name, p))?;
        if let Some(i) = out.iter().position(|o| o.name == *u.name.get_ref()) {
            return Err(src.at(
                &u.name,
                problem(
                    format!("user {:?} is listed twice (first on line {})", u.name.get_ref(), src.line(seen[i].start)),
                    "merge the two [[users]] entries",
                ),
            ));
        }
        seen.push(u.name.span());
        let mut groups = Vec::new();
        for g in u.groups {
            rules::group_name(g.get_ref()).map_err(|p| src.at(&g, p))?;
            if groups.contains(g.get_ref()) {
                return Err(src.at(&g, problem(format!("group {:?} is listed twice", g.get_ref()), "list it once")));
            }
            groups.push(g.into_inner());
        }
        let password = password(src, u.password, u.password_hash_file, u.password_file, PasswordSource::Prompt)?;
        out.push(User { name: u.name.into_inner(), groups, password });
    }
    Ok(out)
}

fn initrd(v: &str) -> rules::Checked<Initrd> {
    match v {
        "systemd" => Ok(Initrd::Systemd),
        "scripted" => Ok(Initrd::Scripted),
        _ => Err(problem(
            format!("initrd {v:?} is not a stage-1 flavour blankroot knows"),
            "use \"systemd\" (the NixOS default) or \"scripted\"",
        )),
    }
}

/// The `[[datasets]]` list, and where each entry's `name` is.
fn apply_overrides(o: &Overrides, c: &mut Config) -> Result<()> {
    if let Some(d) = &o.disk {
        rules::disk(d).map_err(|p| flag_err("--disk", p))?;
        c.disk = d.clone();
    }
    if let Some(h) = &o.hostname {
        rules::hostname(h).map_err(|p| flag_err("--hostname", p))?;
        c.hostname = h.clone();
    }
    if let Some(h) = &o.host_id {
        c.host_id = Some(rules::host_id(h).map_err(|p| flag_err("--host-id", p))?);
    }
    if let Some(s) = &o.esp_size {
        let bytes = rules::size(s).map_err(|p| flag_err("--esp-size", p))?;
        rules::esp_size(bytes).map_err(|p| flag_err("--esp-size", p))?;
        c.esp_size_bytes = bytes;
    }
    if let Some(p) = &o.pool {
        rules::pool_name(p).map_err(|e| flag_err("--pool", e))?;
        c.pool.name = p.clone();
    }
    if let Some(n) = &o.luks_name {
        rules::luks_name(n).map_err(|e| flag_err("--luks-name", e))?;
        c.luks.name = n.clone();
    }
    if let Some(i) = &o.initrd {
        c.initrd = initrd(i).map_err(|e| flag_err("--initrd", e))?;
    }
    if let Some(v) = &o.state_version {
        rules::state_version(v).map_err(|e| flag_err("--state-version", e))?;
        c.state_version = Some(v.clone());
    }
    Ok(())
}

/// Rules over the whole config, after flags.
fn check_whole(src: &Source, c: &Config, spans: &Spans, o: &Overrides) -> Result<()> {
    for (i, d) in c.datasets.iter().enumerate() {
        let full = c.full_name(d);
        let checked = rules::full_name_length(&full)
            .and_then(|()| if d.blank { rules::full_name_length(&format!("{full}@blank")) } else { Ok(()) });
        if let Err(p) = checked {
            return Err(match (spans.datasets.get(i), &o.pool, &spans.pool) {
                (_, Some(_), _) => flag_err("--pool", p),
                (Some(span), None, _) => src.err(span.clone(), p),
                (None, None, Some(span)) => src.err(span.clone(), p),
                (None, None, None) => src.whole(p),
            });
        }
    }
    let has_password = |p: &PasswordSource| !matches!(p, PasswordSource::Locked);
    let admin = c.users.iter().any(|u| u.groups.iter().any(|g| g == "wheel") && has_password(&u.password));
    if !admin && !has_password(&c.root_password) {
        let p = problem(
            "no account could log in: root is locked and no user in group wheel has a password",
            "give a [[users]] entry groups = [\"wheel\"] and password = \"prompt\" (the default), or set [root] password = \"prompt\"",
        );
        return Err(match spans.users.clone().or_else(|| spans.root.clone()) {
            Some(span) => src.err(span, p),
            None => src.whole(p),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_the_closest_key() {
        assert_eq!(
            closest_key("`hostnam`, expected one of `disk`, `hostname`, `host_id`").as_deref(),
            Some("hostname")
        );
        assert_eq!(closest_key("`zzzzzz`, expected one of `disk`, `hostname`"), None);
    }
}
