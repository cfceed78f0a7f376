//! Writes a resolved [`Config`] back as `blankroot.toml` (the copy kept in /etc/nixos, which
//! later commands read and edit). Loading the output gives the same config back.

use super::{Config, Initrd, PasswordSource};

/// TOML basic strings use the same escapes as Nix strings except `$`, which is literal.
fn s(v: &str) -> String {
    let mut out = String::from("\"");
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        s(k)
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|i| s(i)).collect::<Vec<_>>().join(", "))
}

fn table(props: &[(String, String)]) -> String {
    let inner: Vec<String> = props.iter().map(|(k, v)| format!("{} = {}", key(k), s(v))).collect();
    format!("{{ {} }}", inner.join(", "))
}

fn password(p: &PasswordSource) -> String {
    match p {
        PasswordSource::Prompt => "password = \"prompt\"".into(),
        PasswordSource::Locked => "password = \"locked\"".into(),
        PasswordSource::HashFile { path } => format!("password_hash_file = {}", s(path)),
        PasswordSource::File { path } => format!("password_file = {}", s(path)),
    }
}

/// The config as TOML, with the ids the plan chose recorded: `host_id`, and the LUKS and ESP
/// UUIDs (`[luks] uuid`, `[esp] uuid`), which later commands regenerate blankroot.nix from.
pub fn to_toml(c: &Config, ids: &crate::plan::Identities) -> String {
    let host_id = ids.host_id.as_str();
    let mut o = String::new();
    o.push_str("# blankroot.toml: the layout of this machine, as installed by blankroot.\n");
    o.push_str("# blankroot reads it to regenerate blankroot.nix; edit it, then run blankroot again.\n");
    o.push_str(&format!("disk = {}\n", s(&c.disk)));
    o.push_str(&format!("hostname = {}\n", s(&c.hostname)));
    o.push_str(&format!("host_id = {}\n", s(host_id)));
    if let Some(v) = &c.state_version {
        o.push_str(&format!("state_version = {}\n", s(v)));
    }
    let initrd = match c.initrd {
        Initrd::Systemd => "systemd",
        Initrd::Scripted => "scripted",
    };
    o.push_str(&format!("initrd = {}\n", s(initrd)));
    if c.users.is_empty() {
        // Without this line, loading the file back would bring the default user back.
        o.push_str("users = []\n");
    }
    o.push_str(&format!("\n[esp]\nsize = \"{}MiB\"\nuuid = {}\n", c.esp_size_bytes >> 20, s(&ids.esp_uuid)));
    o.push_str(&format!(
        "\n[luks]\nname = {}\nuuid = {}\nallow_discards = {}\nformat_options = {}\n",
        s(&c.luks.name),
        s(&ids.luks_uuid),
        c.luks.allow_discards,
        list(&c.luks.format_options)
    ));
    o.push_str(&format!(
        "\n[pool]\nname = {}\noptions = {}\nfs_options = {}\ndev_nodes = {}\n",
        s(&c.pool.name),
        table(&c.pool.options),
        table(&c.pool.fs_options),
        s(&c.pool.dev_nodes)
    ));
    for d in &c.datasets {
        o.push_str(&format!("\n[[datasets]]\nname = {}\n", s(&d.name)));
        if let Some(m) = &d.mount {
            o.push_str(&format!("mount = {}\n", s(m)));
        }
        o.push_str(&format!("properties = {}\n", table(&d.properties)));
        if d.blank {
            o.push_str("blank = true\n");
        }
    }
    for u in &c.users {
        o.push_str(&format!(
            "\n[[users]]\nname = {}\ngroups = {}\n{}\n",
            s(&u.name),
            list(&u.groups),
            password(&u.password)
        ));
    }
    o.push_str(&format!("\n[root]\n{}\n", password(&c.root_password)));
    o.push_str(&format!(
        "\n[persist]\ndirectories = {}\nfiles = {}\nssh_host_keys = {}\nblankroot = {}\n",
        list(&c.persist.directories),
        list(&c.persist.files),
        c.persist.ssh_host_keys,
        c.persist.blankroot
    ));
    if !c.diff.is_empty() {
        o.push_str(&format!("\n[diff]\nignore = {}\n", list(&c.diff.ignore)));
    }
    o
}
