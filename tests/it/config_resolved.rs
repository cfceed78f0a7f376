//! Flags (`--pool`, `--host-id`, …) are checked like the file and win over it; good
//! `blankroot.toml` input resolves to the expected config and reads back unchanged.

use crate::common;

use blankroot::config::{Config, Initrd, Overrides, PasswordSource, parse_str};

use common::config_check::*;

// ---------------------------------------------------------------- flags

#[test]
fn flag_host_id() {
    let e = flag_fails(Overrides { host_id: Some("xyz".into()), ..Default::default() }, "--host-id", "contains 'x'");
    assert!(!e.message.contains(FILE), "a flag error names the flag, not the file: {}", e.message);
}

#[test]
fn flag_pool_reserved() {
    flag_fails(Overrides { pool: Some("mirror".into()), ..Default::default() }, "--pool", "reserves for vdev types");
}

#[test]
fn flag_pool_too_long_for_the_dataset_names() {
    // 236 characters is a valid pool name, but "<pool>/safe/<25 characters>" no longer fits.
    let pool = "p".repeat(236);
    let text = with_dataset(&format!("name = \"safe/{}\"\n", "d".repeat(20)));
    let e = parse_str(FILE, &text, &Overrides { pool: Some(pool), ..Default::default() }).unwrap_err();
    check(&e, "--pool: ", "ZFS allows 255");
}

#[test]
fn file_pool_too_long_for_the_dataset_names() {
    let text = format!(
        "[pool]\nname = \"{}\"\n\n{}",
        "p".repeat(236),
        with_dataset(&format!("name = \"safe/{}\"\n", "d".repeat(20)))
    );
    fails_at(&text, "18:8", "ZFS allows 255");
}

#[test]
fn pool_name_too_long_for_its_import_unit() {
    // ZFS takes 239 characters, but nixpkgs' zfs-import-<pool>.service would be 258.
    let e = fails_at(&format!("[pool]\nname = \"{}\"\n", "p".repeat(237)), "2:8", "pool.name \"ppp");
    assert!(e.message.contains("zfs-import-<pool>.service 256 characters long; systemd allows 255"), "{}", e.message);
    assert!(e.hint.unwrap().contains("at most 236 characters"));
    flag_fails(Overrides { pool: Some("p".repeat(239)), ..Default::default() }, "--pool", "258 characters long");
}

#[test]
fn flag_esp_size() {
    flag_fails(Overrides { esp_size: Some("10MiB".into()), ..Default::default() }, "--esp-size", "too small");
    flag_fails(Overrides { esp_size: Some("1 gigabyte".into()), ..Default::default() }, "--esp-size", "unknown unit");
}

#[test]
fn flag_hostname_initrd_state_version_luks_disk() {
    flag_fails(Overrides { hostname: Some("a.b".into()), ..Default::default() }, "--hostname", "no domain part");
    flag_fails(Overrides { initrd: Some("busybox".into()), ..Default::default() }, "--initrd", "not a stage-1 flavour");
    flag_fails(
        Overrides { state_version: Some("unstable".into()), ..Default::default() },
        "--state-version",
        "not a NixOS release",
    );
    flag_fails(Overrides { luks_name: Some("a/b".into()), ..Default::default() }, "--luks-name", "contains '/'");
    let e = flag_fails(Overrides { disk: Some("sda".into()), ..Default::default() }, "--disk", "not an absolute path");
    assert!(e.hint.unwrap().contains("/dev/disk/by-id/"));
}

#[test]
fn flag_error_wins_over_a_good_file() {
    let o = Overrides { host_id: Some("00000000".into()), ..Default::default() };
    let e = parse_str(FILE, "host_id = \"deadbeef\"\n", &o).unwrap_err();
    check(&e, "--host-id: ", "no host id");
}

// ---------------------------------------------------------------- good configs

#[test]
fn empty_file_gives_the_defaults() {
    assert_eq!(parse("").unwrap(), Config::default());
    assert_eq!(blankroot::config::load(None, &Overrides::default()).unwrap(), Config::default());
}

#[test]
fn pool_options_merge_in_order_and_override() {
    let c = parse(
        "[pool]\noptions = { autotrim = \"off\", autoexpand = \"on\" }\nfs_options = { compression = \"lz4\", \"com.example:note\" = \"x\", atime = false }\n",
    )
    .unwrap();
    let pairs = |v: &[(String, String)]| v.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
    assert_eq!(pairs(&c.pool.options), ["ashift=12", "autotrim=off", "autoexpand=on"]);
    assert_eq!(
        pairs(&c.pool.fs_options),
        [
            "acltype=posixacl",
            "canmount=off",
            "compression=lz4",
            "normalization=formD",
            "relatime=on",
            "xattr=sa",
            "mountpoint=none",
            "com.example:note=x",
            "atime=off",
        ]
    );
}

#[test]
fn full_fixture_parses() {
    let c = parse(include_str!("../fixtures/configs/full.toml")).unwrap();
    assert_eq!(c.disk, "/dev/disk/by-id/virtio-blankroot0");
    assert_eq!(c.hostname, "web-01");
    assert_eq!(c.host_id.as_deref(), Some("deadbeef"), "host_id is lower-cased");
    assert_eq!(c.state_version.as_deref(), Some("25.05"));
    assert_eq!(c.initrd, Initrd::Scripted);
    assert_eq!(c.esp_size_bytes, 512 << 20);
    assert_eq!(c.luks.name, "cryptpool");
    assert!(!c.luks.allow_discards);
    assert_eq!(c.luks.format_options, ["--pbkdf=argon2id", "--iter-time", "4000"]);
    assert_eq!(c.pool.name, "tank");
    assert_eq!(c.pool.options[0], ("ashift".to_string(), "13".to_string()));
    assert!(c.pool.options.contains(&("feature@large_dnode".to_string(), "enabled".to_string())));
    assert_eq!(c.pool.dev_nodes, "/dev/disk/by-uuid");
    let names: Vec<_> = c.datasets.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["local/root", "local/nix", "safe/persist", "safe/srv", "local/reserved"]);
    let srv = &c.datasets[3];
    assert_eq!(srv.mount.as_deref(), Some("/srv"));
    assert_eq!(
        srv.properties,
        [("recordsize".to_string(), "1M".to_string()), ("mountpoint".to_string(), "legacy".to_string())]
    );
    let reserved = &c.datasets[4];
    assert_eq!(reserved.mount, None);
    assert_eq!(
        reserved.properties,
        [("refreservation".to_string(), "1G".to_string())],
        "no mountpoint added without mount"
    );
    assert_eq!(c.root_dataset().name, "local/root");
    assert_eq!(c.users.len(), 2);
    assert_eq!(c.users[0].groups, ["wheel", "networkmanager"]);
    assert_eq!(c.users[0].password, PasswordSource::HashFile { path: "/root/alice.hash".into() });
    assert_eq!(c.users[1].password, PasswordSource::Locked);
    assert_eq!(c.root_password, PasswordSource::File { path: "/root/root.pw".into() });
    assert_eq!(c.persist.directories, ["/etc/nixos", "/var/lib/nixos", "/var/log", "/var/lib/tailscale"]);
    assert_eq!(c.persist.files, ["/etc/machine-id", "/etc/adjtime"]);
    assert!(!c.persist.ssh_host_keys);
}

#[test]
fn custom_datasets_fixture() {
    let c = parse(include_str!("../fixtures/configs/home-on-root.toml")).unwrap();
    let mounts: Vec<_> = c.datasets.iter().map(|d| d.mount.as_deref().unwrap()).collect();
    assert_eq!(mounts, ["/", "/nix", "/persist", "/var/log"]);
    assert_eq!(
        c.datasets[0].properties,
        [("canmount".to_string(), "noauto".to_string()), ("mountpoint".to_string(), "legacy".to_string())]
    );
    assert_eq!(
        c.datasets[3].properties,
        [("compression".to_string(), "zstd-9".to_string()), ("mountpoint".to_string(), "legacy".to_string())]
    );
    // /home is on the erased root in this layout, so /home/alice may be persisted; /var/log is
    // a dataset of its own, so the default bind mount for it is dropped.
    assert_eq!(c.persist.directories, ["/etc/nixos", "/var/lib/nixos", "/home/alice"]);
}

#[test]
fn flags_override_the_file() {
    let text = "hostname = \"web\"\nhost_id = \"deadbeef\"\ninitrd = \"scripted\"\n[pool]\nname = \"tank\"\n[esp]\nsize = \"2G\"\n";
    let o = Overrides {
        disk: Some("/dev/sdb".into()),
        hostname: Some("db".into()),
        host_id: Some("CAFEF00D".into()),
        esp_size: Some("512M".into()),
        pool: Some("zroot".into()),
        luks_name: Some("cryptdb".into()),
        initrd: Some("systemd".into()),
        state_version: Some("24.11".into()),
    };
    let c = parse_str(FILE, text, &o).unwrap();
    assert_eq!(c.disk, "/dev/sdb");
    assert_eq!(c.hostname, "db");
    assert_eq!(c.host_id.as_deref(), Some("cafef00d"));
    assert_eq!(c.esp_size_bytes, 512 << 20);
    assert_eq!(c.pool.name, "zroot");
    assert_eq!(c.full_name(c.root_dataset()), "zroot/local/root");
    assert_eq!(c.luks.name, "cryptdb");
    assert_eq!(c.initrd, Initrd::Systemd);
    assert_eq!(c.state_version.as_deref(), Some("24.11"));
}

#[test]
fn pool_names_zfs_accepts() {
    // OpenZFS 2.2 dropped the "looks like a Solaris disk" (c0…) rule; the reserved prefixes
    // are matched case-sensitively, as zpool_name_valid() does.
    for name in ["c0t0d0", "Mirror", "tank-01.a:b", "logs"] {
        let c = parse(&format!("[pool]\nname = \"{name}\"\n")).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.pool.name, name);
    }
}

#[test]
fn root_with_password_and_no_users_can_log_in() {
    let c = parse("users = []\n[root]\npassword = \"prompt\"\n").unwrap();
    assert!(c.users.is_empty());
    assert_eq!(c.root_password, PasswordSource::Prompt);
}

#[test]
fn relisting_a_default_persisted_path_is_harmless() {
    let c = parse("[persist]\ndirectories = [\"/etc/nixos\", \"/srv\"]\nfiles = [\"/etc/machine-id\"]\n").unwrap();
    assert_eq!(c.persist.directories, ["/etc/nixos", "/var/lib/nixos", "/var/log", "/srv"]);
    assert_eq!(c.persist.files, ["/etc/machine-id"]);
}

#[test]
fn error_positions_count_characters_not_bytes() {
    // "é" is two bytes; the column must still be the character column.
    fails_at("# café\nhostname = \"é\"\n", "2:12", "hostname \"é\" contains 'é'");
}

#[test]
fn emitted_config_parses_back_unchanged() {
    // The copy of blankroot.toml written to /etc/nixos must load again as the same config.
    for text in
        ["", include_str!("../fixtures/configs/full.toml"), include_str!("../fixtures/configs/home-on-root.toml")]
    {
        // The ids the install chose are recorded with the layout.
        let RoundTrip { emitted, back, expected, ids } = round_trip(text);
        assert_eq!(back, expected, "{emitted}");
        assert_eq!(back.recorded_uuids(), Some((ids.luks_uuid.as_str(), ids.esp_uuid.as_str())));
    }
}

#[test]
fn diff_ignore_paths_are_read_and_checked() {
    let c = parse("[diff]\nignore = [\"/var/cache\", \"/root/.cache\", \"/var/cache\"]\n").unwrap();
    assert_eq!(c.diff.ignore, ["/var/cache", "/root/.cache"], "listed once, in order");
    fails_at("[diff]\nignore = [\"var/cache\"]\n", "2:11", "ignored path");
    fails_at("[diff]\nignored = []\n", "2:1", "unknown key `ignored`");
    // Written back by the emitter, so the installed blankroot.toml keeps it.
    let text = blankroot::config::to_toml(&c, &blankroot::plan::Identities::fixed(5, Some("1234abcd")));
    assert!(text.contains("[diff]\nignore = [\"/var/cache\", \"/root/.cache\"]\n"), "{text}");
    assert_eq!(parse(&text).unwrap().diff, c.diff);
}
