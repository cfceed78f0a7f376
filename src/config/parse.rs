//! Reading `blankroot.toml` and flags into a validated [`Config`]. Every error names the file,
//! line and column of the offending value and says how to fix it; flags are named by flag.

use super::rules::{self, Problem};
use super::{Config, Dataset, Initrd, PasswordSource, User};
use crate::error::{Error, Result};
use indexmap::IndexMap;
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// A property value: TOML lets people write `ashift = 12` or `ashift = "12"`.
#[derive(Deserialize, Debug)]
#[serde(untagged)]
enum PropValue {
    Str(String),
    Int(i64),
    Bool(bool),
}

impl PropValue {
    fn text(&self) -> String {
        match self {
            PropValue::Str(s) => s.clone(),
            PropValue::Int(i) => i.to_string(),
            PropValue::Bool(b) => if *b { "on" } else { "off" }.to_string(),
        }
    }
}

type Props = IndexMap<String, Spanned<PropValue>>;

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
    datasets: Option<Spanned<Vec<Spanned<RawDataset>>>>,
    users: Option<Vec<Spanned<RawUser>>>,
    root: Option<Spanned<RawRoot>>,
    persist: Option<RawPersist>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEsp {
    size: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLuks {
    name: Option<Spanned<String>>,
    allow_discards: Option<bool>,
    format_options: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPool {
    name: Option<Spanned<String>>,
    options: Option<Props>,
    fs_options: Option<Props>,
    dev_nodes: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataset {
    name: Spanned<String>,
    mount: Option<Spanned<String>>,
    properties: Option<Props>,
    #[serde(default)]
    blank: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPassword {
    password: Option<Spanned<String>>,
    password_hash_file: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    #[serde(default)]
    groups: Vec<Spanned<String>>,
    #[serde(flatten)]
    password: RawPassword,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRoot {
    #[serde(flatten)]
    password: RawPassword,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPersist {
    #[serde(default)]
    directories: Vec<Spanned<String>>,
    #[serde(default)]
    files: Vec<Spanned<String>>,
    ssh_host_keys: Option<bool>,
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
    fn position(&self, offset: usize) -> String {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}:{line}:{col}", self.name)
    }
    fn err(&self, span: Range<usize>, p: Problem) -> Error {
        Error::input(format!("{}: {}", self.position(span.start), p.message)).hint(p.hint)
    }
    fn at<T>(&self, v: &Spanned<T>, p: Problem) -> Error {
        self.err(v.span(), p)
    }
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
    let raw: RawConfig = toml::from_str(text).map_err(|e| {
        let at = e.span().map(|s| src.position(s.start)).unwrap_or_else(|| name.to_string());
        let msg = e.message().trim().to_string();
        let hint = if msg.starts_with("unknown field") {
            "remove or rename the key; see the README's config reference for every key"
        } else {
            "fix the TOML at that position; see the README's config reference"
        };
        Error::input(format!("{at}: {msg}")).hint(hint)
    })?;
    let mut c = Config::default();
    apply_raw(&src, raw, &mut c)?;
    apply_overrides(overrides, &mut c)?;
    check_whole(&src, &c)?;
    Ok(c)
}

fn props(src: &Source, kind: &str, defaults: &[(String, String)], given: Option<Props>) -> Result<Vec<(String, String)>> {
    let mut out = defaults.to_vec();
    for (k, v) in given.unwrap_or_default() {
        let value = v.get_ref().text();
        rules::zfs_property(kind, &k, &value).map_err(|p| src.at(&v, p))?;
        match out.iter_mut().find(|(ok, _)| *ok == k) {
            Some(slot) => slot.1 = value,
            None => out.push((k, value)),
        }
    }
    Ok(out)
}

fn password(src: &Source, raw: RawPassword, default: PasswordSource, at: Range<usize>) -> Result<PasswordSource> {
    let given = [raw.password.is_some(), raw.password_hash_file.is_some(), raw.password_file.is_some()];
    if given.iter().filter(|g| **g).count() > 1 {
        return Err(src.err(
            at,
            problem(
                "give only one of password, password_hash_file and password_file",
                "keep the one source this account's password should come from",
            ),
        ));
    }
    if let Some(p) = raw.password {
        return match p.get_ref().as_str() {
            "prompt" => Ok(PasswordSource::Prompt),
            "locked" => Ok(PasswordSource::Locked),
            _ => Err(src.at(
                &p,
                problem(
                    "password must be \"prompt\" or \"locked\"; a password is never written in the config",
                    "use password = \"prompt\" to be asked at install time, or password_hash_file = \"/path\" for a ready `mkpasswd -m yescrypt` hash",
                ),
            )),
        };
    }
    for (v, hashed) in [(raw.password_hash_file, true), (raw.password_file, false)] {
        if let Some(v) = v {
            let key = if hashed { "password_hash_file" } else { "password_file" };
            rules::absolute_path(key, v.get_ref()).map_err(|p| src.at(&v, p))?;
            let path = v.into_inner();
            return Ok(if hashed { PasswordSource::HashFile { path } } else { PasswordSource::File { path } });
        }
    }
    Ok(default)
}

fn apply_raw(src: &Source, raw: RawConfig, c: &mut Config) -> Result<()> {
    if let Some(d) = raw.disk {
        rules::absolute_path("disk", d.get_ref()).map_err(|p| src.at(&d, p))?;
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
        c.state_version = v.into_inner();
    }
    if let Some(i) = raw.initrd {
        c.initrd = initrd(i.get_ref()).map_err(|p| src.at(&i, p))?;
    }
    if let Some(size) = raw.esp.and_then(|e| e.size) {
        let bytes = rules::size(size.get_ref()).map_err(|p| src.at(&size, p))?;
        rules::esp_size(bytes).map_err(|p| src.at(&size, p))?;
        c.esp_size_bytes = bytes;
    }
    if let Some(l) = raw.luks {
        if let Some(n) = l.name {
            rules::luks_name(n.get_ref()).map_err(|p| src.at(&n, p))?;
            c.luks.name = n.into_inner();
        }
        if let Some(a) = l.allow_discards {
            c.luks.allow_discards = a;
        }
        for o in l.format_options.unwrap_or_default() {
            rules::luks_format_option(o.get_ref()).map_err(|p| src.at(&o, p))?;
            c.luks.format_options.push(o.into_inner());
        }
    }
    if let Some(p) = raw.pool {
        if let Some(n) = p.name {
            rules::pool_name(n.get_ref()).map_err(|e| src.at(&n, e))?;
            c.pool.name = n.into_inner();
        }
        c.pool.options = props(src, "pool", &c.pool.options, p.options)?;
        c.pool.fs_options = props(src, "pool fs", &c.pool.fs_options, p.fs_options)?;
        if let Some(d) = p.dev_nodes {
            rules::absolute_path("dev_nodes", d.get_ref()).map_err(|e| src.at(&d, e))?;
            c.pool.dev_nodes = d.into_inner();
        }
    }
    if let Some(ds) = raw.datasets {
        let list_span = ds.span();
        c.datasets = datasets(src, ds.into_inner())?;
        check_dataset_roles(&c.datasets).map_err(|p| src.err(list_span, p))?;
    }
    if let Some(users) = raw.users {
        c.users.clear();
        for u in users {
            let span = u.span();
            let u = u.into_inner();
            rules::user_name(u.name.get_ref()).map_err(|p| src.at(&u.name, p))?;
            if c.users.iter().any(|o| o.name == *u.name.get_ref()) {
                return Err(src.at(
                    &u.name,
                    problem(format!("user {:?} is listed twice", u.name.get_ref()), "merge the two [[users]] entries"),
                ));
            }
            let mut groups = Vec::new();
            for g in u.groups {
                rules::group_name(g.get_ref()).map_err(|p| src.at(&g, p))?;
                if groups.contains(g.get_ref()) {
                    return Err(src.at(&g, problem(format!("group {:?} is listed twice", g.get_ref()), "list it once")));
                }
                groups.push(g.into_inner());
            }
            let password = password(src, u.password, PasswordSource::Prompt, span)?;
            c.users.push(User { name: u.name.into_inner(), groups, password });
        }
    }
    if let Some(r) = raw.root {
        let span = r.span();
        c.root_password = password(src, r.into_inner().password, PasswordSource::Locked, span)?;
    }
    if let Some(p) = raw.persist {
        let mounts: Vec<String> = c.datasets.iter().filter_map(|d| d.mount.clone()).collect();
        let mounts: Vec<&str> = mounts.iter().map(String::as_str).collect();
        for (list, is_dir) in [(p.directories, true), (p.files, false)] {
            for path in list {
                rules::persisted_path(path.get_ref(), &mounts).map_err(|e| src.at(&path, e))?;
                let all: Vec<&String> = c.persist.directories.iter().chain(&c.persist.files).collect();
                let default = super::default_persist();
                let is_default = default.directories.contains(path.get_ref()) || default.files.contains(path.get_ref());
                if let Some(other) = all.iter().find(|o| ***o == *path.get_ref()) {
                    if is_default {
                        continue; // re-listing a default is harmless
                    }
                    return Err(src.at(
                        &path,
                        problem(format!("{other:?} is listed twice under [persist]"), "list each path once"),
                    ));
                }
                if let Some(dir) = c.persist.directories.iter().find(|d| rules::is_within(path.get_ref(), d)) {
                    return Err(src.at(
                        &path,
                        problem(
                            format!("{:?} is inside the persisted directory {dir:?}, which keeps it already", path.get_ref()),
                            "remove the inner path",
                        ),
                    ));
                }
                if is_dir {
                    if let Some(inner) = all.iter().find(|o| rules::is_within(o, path.get_ref())) {
                        return Err(src.at(
                            &path,
                            problem(
                                format!("{:?} contains the persisted path {inner:?}", path.get_ref()),
                                "persist either the directory or the paths inside it, not both",
                            ),
                        ));
                    }
                    c.persist.directories.push(path.into_inner());
                } else {
                    c.persist.files.push(path.into_inner());
                }
            }
        }
        if let Some(k) = p.ssh_host_keys {
            c.persist.ssh_host_keys = k;
        }
    }
    Ok(())
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

fn datasets(src: &Source, raw: Vec<Spanned<RawDataset>>) -> Result<Vec<Dataset>> {
    let mut out: Vec<Dataset> = Vec::new();
    for d in raw {
        let d = d.into_inner();
        rules::dataset_name(d.name.get_ref()).map_err(|p| src.at(&d.name, p))?;
        if out.iter().any(|o| o.name == *d.name.get_ref()) {
            return Err(src.at(
                &d.name,
                problem(format!("dataset {:?} is listed twice", d.name.get_ref()), "merge the two [[datasets]] entries"),
            ));
        }
        let mut properties = props(src, "dataset", &[], d.properties)?;
        if let Some(m) = &d.mount {
            rules::absolute_path("mount point", m.get_ref()).map_err(|p| src.at(m, p))?;
            if let Some(o) = out.iter().find(|o| o.mount.as_deref() == Some(m.get_ref())) {
                return Err(src.at(
                    m,
                    problem(
                        format!("datasets {:?} and {:?} both mount at {:?}", o.name, d.name.get_ref(), m.get_ref()),
                        "give each dataset its own mount point, or leave `mount` out of one",
                    ),
                ));
            }
            match properties.iter().find(|(k, _)| k == "mountpoint") {
                Some((_, v)) if v != "legacy" => {
                    return Err(src.at(
                        m,
                        problem(
                            format!("dataset {:?} has both mount = {:?} and mountpoint={v}", d.name.get_ref(), m.get_ref()),
                            "blankroot mounts datasets itself (mountpoint=legacy); remove the mountpoint property",
                        ),
                    ));
                }
                Some(_) => {}
                None => properties.push(("mountpoint".into(), "legacy".into())),
            }
        }
        if d.blank && d.mount.as_ref().map(|m| m.get_ref().as_str()) != Some("/") {
            return Err(src.at(
                &d.name,
                problem(
                    format!("dataset {:?} has blank = true but is not mounted at /", d.name.get_ref()),
                    "only the root dataset (mount = \"/\") is rolled back to @blank",
                ),
            ));
        }
        out.push(Dataset {
            name: d.name.into_inner(),
            mount: d.mount.map(Spanned::into_inner),
            properties,
            blank: d.blank,
        });
    }
    Ok(out)
}

fn check_dataset_roles(ds: &[Dataset]) -> rules::Checked {
    let at = |m: &str| ds.iter().find(|d| d.mount.as_deref() == Some(m));
    match at("/") {
        None => {
            return Err(problem(
                "no dataset mounts at /",
                "add [[datasets]] name = \"local/root\", mount = \"/\", blank = true, properties = { canmount = \"noauto\" }",
            ));
        }
        Some(r) if !r.blank => {
            return Err(problem(
                format!("the root dataset {:?} has no blank = true, so nothing would be rolled back", r.name),
                "set blank = true on the dataset mounted at /",
            ));
        }
        _ => {}
    }
    for (m, name) in [("/nix", "local/nix"), ("/persist", "safe/persist")] {
        if at(m).is_none() {
            return Err(problem(
                format!("no dataset mounts at {m}; the erased root cannot hold it"),
                format!("add [[datasets]] name = \"{name}\", mount = \"{m}\""),
            ));
        }
    }
    for d in ds {
        if let Some(parent) = ds.iter().find(|p| d.name.starts_with(&format!("{}/", p.name)))
            && parent.blank
        {
            return Err(problem(
                format!("dataset {:?} is inside the rolled-back root dataset {:?}", d.name, parent.name),
                "`zfs rollback -r` would destroy its snapshots; put it beside the root dataset",
            ));
        }
    }
    Ok(())
}

fn apply_overrides(o: &Overrides, c: &mut Config) -> Result<()> {
    if let Some(d) = &o.disk {
        rules::absolute_path("disk", d).map_err(|p| flag_err("--disk", p))?;
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
        c.state_version = v.clone();
    }
    Ok(())
}

/// Rules over the whole config, after flags.
fn check_whole(src: &Source, c: &Config) -> Result<()> {
    let has_password = |p: &PasswordSource| !matches!(p, PasswordSource::Locked);
    let admin = c.users.iter().any(|u| u.groups.iter().any(|g| g == "wheel") && has_password(&u.password));
    if !admin && !has_password(&c.root_password) {
        return Err(Error::input(format!(
            "{}: no account could log in: root is locked and no user in group wheel has a password",
            src.name
        ))
        .hint("add a [[users]] entry with groups = [\"wheel\"] (password prompted at install), or set [root] password = \"prompt\""));
    }
    Ok(())
}
