//! Bad `blankroot.toml` input (TOML shape, pool, datasets, host, sizes, LUKS) must fail with
//! `file:line:column`, a specific message and a hint. Positions are 1-based; the column is
//! where the offending value (or key, or table header) starts. Users, passwords and persist:
//! config_accounts.rs; flags and good configs: config_resolved.rs.

use crate::common;

use blankroot::config::Overrides;

use common::config_check::*;

// ---------------------------------------------------------------- TOML shape

#[test]
fn unknown_top_level_key_suggests_the_right_one() {
    let e = fails_at("hostnam = \"web\"\n", "1:1", "unknown key `hostnam`");
    assert!(e.hint.unwrap().contains("did you mean `hostname`"));
}

#[test]
fn unknown_key_in_pool_table() {
    let e = fails_at("[pool]\nname = \"tank\"\nashfit = 12\n", "3:1", "unknown key `ashfit`");
    assert!(e.message.contains("`options`"), "lists the keys [pool] accepts: {}", e.message);
}

#[test]
fn unknown_key_in_users_entry() {
    fails_at("[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\nshell = \"zsh\"\n", "4:1", "unknown key `shell`");
}

#[test]
fn misspelt_key_in_persist_suggests_the_right_one() {
    let e = fails_at("[persist]\ndirectory = [\"/srv\"]\n", "2:1", "unknown key `directory`");
    assert!(e.hint.unwrap().contains("`directories`"));
}

#[test]
fn wrong_type_string_expected() {
    fails_at("hostname = 42\n", "1:12", "invalid type: integer `42`, expected a string");
}

#[test]
fn wrong_type_boolean_expected() {
    fails_at("[luks]\nallow_discards = \"yes\"\n", "2:18", "expected a boolean");
}

#[test]
fn wrong_type_list_expected() {
    fails_at("[persist]\ndirectories = \"/srv\"\n", "2:15", "expected a list");
}

#[test]
fn wrong_type_table_expected() {
    fails_at("[pool]\noptions = \"ashift=12\"\n", "2:11", "expected a table");
}

#[test]
fn toml_syntax_error_unquoted_string() {
    fails_at("hostname = web\n", "1:12", "invalid TOML: string values must be quoted");
}

#[test]
fn toml_duplicate_key() {
    fails_at("hostname = \"a\"\nhostname = \"b\"\n", "2:1", "already defined");
}

#[test]
fn toml_duplicate_table() {
    fails_at("[pool]\nname = \"a\"\n[pool]\n", "3:2", "already defined");
}

#[test]
fn missing_user_name() {
    fails_at("[[users]]\ngroups = [\"wheel\"]\n", "1:1", "missing key `name`");
}

// ---------------------------------------------------------------- pool

#[test]
fn pool_name_starting_with_digit() {
    fails_at("[pool]\nname = \"1tank\"\n", "2:8", "must begin with a letter");
}

#[test]
fn pool_name_with_reserved_vdev_prefix() {
    for name in ["mirror", "mirrorpool", "raidz", "raidz2", "draid", "spare1"] {
        fails_at(&format!("[pool]\nname = \"{name}\"\n"), "2:8", "which ZFS reserves for vdev types");
    }
}

#[test]
fn pool_name_log_is_reserved() {
    fails_at("[pool]\nname = \"log\"\n", "2:8", "\"log\" is reserved");
}

#[test]
fn pool_name_with_space() {
    fails_at("[pool]\nname = \"my pool\"\n", "2:8", "contains ' '");
}

#[test]
fn pool_name_with_slash() {
    fails_at("[pool]\nname = \"tank/root\"\n", "2:8", "contains '/'");
}

#[test]
fn pool_name_too_long() {
    fails_at(&format!("[pool]\nname = \"{}\"\n", "p".repeat(240)), "2:8", "ZFS allows at most 239");
}

#[test]
fn pool_property_with_float_value() {
    fails_at("[pool]\noptions = { ashift = 1.5 }\n", "2:22", "pool property ashift is a float");
}

#[test]
fn pool_property_with_bad_name() {
    fails_at("[pool]\nfs_options = { Compression = \"zstd\" }\n", "2:16", "\"Compression\" is not a ZFS property");
}

// ---------------------------------------------------------------- dataset names

#[test]
fn dataset_name_with_at() {
    fails_at(&with_dataset("name = \"safe/data@now\"\n"), "15:8", "contains '@'");
}

#[test]
fn dataset_name_with_hash() {
    fails_at(&with_dataset("name = \"safe/data#1\"\n"), "15:8", "contains '#'");
}

#[test]
fn dataset_name_with_percent() {
    fails_at(&with_dataset("name = \"safe/100%\"\n"), "15:8", "contains '%'");
}

#[test]
fn dataset_name_with_leading_slash() {
    fails_at(&with_dataset("name = \"/safe/data\"\n"), "15:8", "begins with `/`");
}

#[test]
fn dataset_name_with_empty_part() {
    fails_at(&with_dataset("name = \"safe//data\"\n"), "15:8", "has an empty part (`//`)");
}

#[test]
fn dataset_name_with_dotdot() {
    fails_at(&with_dataset("name = \"safe/../data\"\n"), "15:8", "has a \"..\" part");
}

#[test]
fn dataset_listed_twice() {
    fails_at(&with_dataset("name = \"local/nix\"\n"), "15:8", "listed twice (first on line 7)");
}

// ---------------------------------------------------------------- dataset layout

#[test]
fn two_datasets_on_one_mount_point() {
    fails_at(&with_dataset("name = \"safe/other\"\nmount = \"/persist\"\n"), "16:9", "both mount at \"/persist\"");
}

#[test]
fn dataset_mountpoint_property_conflicts_with_mount() {
    let text = with_dataset("name = \"safe/srv\"\nmount = \"/srv\"\nproperties = { mountpoint = \"/data\" }\n");
    fails_at(&text, "17:29", "mountpoint = \"/data\"");
}

#[test]
fn blank_on_a_dataset_not_mounted_at_root() {
    fails_at(
        &with_dataset("name = \"safe/srv\"\nmount = \"/srv\"\nblank = true\n"),
        "17:9",
        "blank = true but is not mounted at /",
    );
}

#[test]
fn missing_root_dataset() {
    let text = "[[datasets]]\nname = \"local/nix\"\nmount = \"/nix\"\n\n[[datasets]]\nname = \"safe/persist\"\nmount = \"/persist\"\n";
    fails_at(text, "1:1", "no [[datasets]] entry mounts at /");
}

#[test]
fn missing_nix_dataset() {
    let text = "[[datasets]]\nname = \"local/root\"\nmount = \"/\"\nblank = true\n\n[[datasets]]\nname = \"safe/persist\"\nmount = \"/persist\"\n";
    fails_at(text, "1:1", "no [[datasets]] entry mounts at /nix");
}

#[test]
fn missing_persist_dataset() {
    let text = "[[datasets]]\nname = \"local/root\"\nmount = \"/\"\nblank = true\n\n[[datasets]]\nname = \"local/nix\"\nmount = \"/nix\"\n";
    let e = fails_at(text, "1:1", "no [[datasets]] entry mounts at /persist");
    assert!(e.hint.unwrap().contains("safe/persist"));
}

#[test]
fn root_dataset_without_blank() {
    let text = BASE_DATASETS.replace("blank = true\n", "");
    fails_at(&text, "2:8", "has no blank = true");
}

#[test]
fn dataset_inside_the_root_dataset() {
    fails_at(
        &with_dataset("name = \"local/root/var\"\nmount = \"/var\"\n"),
        "15:8",
        "inside the rolled-back root dataset \"local/root\"",
    );
}

#[test]
fn dataset_mounted_on_the_esp() {
    fails_at(&with_dataset("name = \"local/boot\"\nmount = \"/boot\"\n"), "16:9", "under /boot");
}

#[test]
fn dataset_mount_point_not_absolute() {
    fails_at(
        &with_dataset("name = \"safe/srv\"\nmount = \"srv\"\n"),
        "16:9",
        "mount point \"srv\" is not an absolute path",
    );
}

// Mount points name mount units: NixOS's escapeSystemdPath and systemd must agree on the name,
// and /etc/fstab must carry the path.

#[test]
fn dataset_mount_point_with_a_backslash() {
    fails_at(
        &with_dataset("name = \"safe/srv\"\nmount = \"/srv/a\\\\b\"\n"),
        "16:9",
        "datasets[3].mount \"/srv/a\\\\b\" contains '\\\\': NixOS writes it into /etc/fstab",
    );
}

#[test]
fn dataset_mount_point_with_a_control_character() {
    fails_at(
        &with_dataset("name = \"safe/srv\"\nmount = \"/srv/a\\u007fb\"\n"),
        "16:9",
        "mount point \"/srv/a\\u{7f}b\" contains the control character '\\u{7f}'",
    );
}

#[test]
fn dataset_mount_point_that_nixos_and_systemd_escape_differently() {
    for (mount, c) in [("/srv/a+b", "'+'"), ("/srv/a,b", "','"), ("/srv/dür", "'ü'")] {
        let e = fails_at(
            &with_dataset(&format!("name = \"safe/srv\"\nmount = \"{mount}\"\n")),
            "16:9",
            &format!("datasets[3].mount {mount:?} contains {c}"),
        );
        assert!(e.message.contains("escapeSystemdPath"), "{}", e.message);
    }
}

#[test]
fn dataset_mount_point_too_long_for_its_mount_unit() {
    // Each `-` is `\x2d` in the unit name: 62 of them make it 4 × 62 + 10 = 258 characters long.
    let mount = format!("/srv/{}", "-".repeat(62));
    let e =
        fails_at(&with_dataset(&format!("name = \"safe/srv\"\nmount = \"{mount}\"\n")), "16:9", "datasets[3].mount");
    assert!(
        e.message.contains("makes its mount unit srv-\\x2d")
            && e.message.contains("258 characters long; systemd allows 255"),
        "{}",
        e.message
    );
}

#[test]
fn mount_points_with_spaces_and_dashes_are_fine() {
    let c = parse(&with_dataset("name = \"safe/srv\"\nmount = \"/srv/my data-1 (old)\"\n")).unwrap();
    assert_eq!(c.datasets[3].mount.as_deref(), Some("/srv/my data-1 (old)"));
    assert_eq!(
        blankroot::systemd::mount_unit("/srv/my data-1 (old)").as_deref(),
        Some("srv-my\\x20data\\x2d1\\x20\\x28old\\x29.mount")
    );
}

// ---------------------------------------------------------------- host

#[test]
fn host_id_not_hex() {
    fails_at("host_id = \"ghijklmn\"\n", "1:11", "contains 'g', which is not a hexadecimal digit");
}

#[test]
fn host_id_too_short() {
    fails_at("host_id = \"abc123\"\n", "1:11", "has 6 digits; it must be exactly 8");
}

#[test]
fn host_id_all_zero() {
    fails_at("host_id = \"00000000\"\n", "1:11", "means \"no host id\"");
}

#[test]
fn host_id_seed_example_in_any_case() {
    fails_at("host_id = \"a1b2c3d4\"\n", "1:11", "example value from the guide");
    fails_at("host_id = \"A1B2C3D4\"\n", "1:11", "example value from the guide");
}

#[test]
fn hostname_with_domain() {
    fails_at("hostname = \"web.example.com\"\n", "1:12", "no domain part");
}

#[test]
fn hostname_ending_with_dash() {
    fails_at("hostname = \"web-\"\n", "1:12", "must begin and end with a letter or digit");
}

#[test]
fn bad_initrd_value() {
    fails_at("initrd = \"dracut\"\n", "1:10", "initrd \"dracut\" is not a stage-1 flavour");
}

#[test]
fn bad_state_version() {
    fails_at("state_version = \"25.10\"\n", "1:17", "state_version \"25.10\" is not a NixOS release");
}

#[test]
fn relative_disk() {
    fails_at("disk = \"vda\"\n", "1:8", "disk \"vda\" is not an absolute path");
}

// ---------------------------------------------------------------- sizes

#[test]
fn esp_size_that_does_not_parse() {
    fails_at("[esp]\nsize = \"big\"\n", "2:8", "does not start with a number");
}

#[test]
fn esp_size_with_unknown_unit() {
    fails_at("[esp]\nsize = \"1GB\"\n", "2:8", "unknown unit \"GB\"");
}

#[test]
fn esp_size_with_fraction() {
    let e = fails_at("[esp]\nsize = \"1.5G\"\n", "2:8", "is not a whole number");
    assert!(e.hint.unwrap().contains("1536MiB"));
}

#[test]
fn esp_size_too_small() {
    fails_at("[esp]\nsize = \"100MiB\"\n", "2:8", "ESP size 100 MiB is too small");
}

#[test]
fn esp_size_not_whole_mib() {
    fails_at("[esp]\nsize = \"300000000\"\n", "2:8", "not a whole number of MiB");
}

// ---------------------------------------------------------------- LUKS

#[test]
fn bad_luks_name() {
    fails_at("[luks]\nname = \"crypt root\"\n", "2:8", "LUKS mapping name \"crypt root\" contains ' '");
}

#[test]
fn luks_name_starting_like_an_option() {
    fails_at("[luks]\nname = \"-cryptroot\"\n", "2:8", "LUKS mapping name \"-cryptroot\" starts with '-'");
    fails_at("[luks]\nname = \".hidden\"\n", "2:8", "starts with '.'");
}

#[test]
fn luks_name_too_long_for_its_cryptsetup_unit() {
    // device-mapper takes 127 characters, but systemd writes each `-` as `\x2d`.
    let name = format!("c{}", "-".repeat(60));
    let e = fails_at(&format!("[luks]\nname = \"{name}\"\n"), "2:8", "luks.name \"c---");
    assert!(
        e.message.contains("systemd-cryptsetup@c\\x2d") && e.message.contains("268 characters long"),
        "{}",
        e.message
    );
    assert!(e.hint.unwrap().contains("`\\x2d`"));
    flag_fails(Overrides { luks_name: Some(name), ..Default::default() }, "--luks-name", "luks.name");
}

#[test]
fn luks_names_with_dashes_are_escaped_in_the_unit_name() {
    let c = parse("[luks]\nname = \"crypt-root\"\n").unwrap();
    assert_eq!(blankroot::systemd::cryptsetup_unit(&c.luks.name), "systemd-cryptsetup@crypt\\x2droot.service");
}

#[test]
fn luks_format_options_with_uuid() {
    fails_at(
        "[luks]\nformat_options = [\"--pbkdf=argon2id\", \"--uuid=1234\"]\n",
        "2:39",
        "may not contain \"--uuid\"",
    );
}

#[test]
fn luks_format_options_with_key_file() {
    fails_at("[luks]\nformat_options = [\"--key-file\", \"/root/key\"]\n", "2:19", "may not contain \"--key-file\"");
}

#[test]
fn luks_format_options_with_attached_short_key_file() {
    fails_at("[luks]\nformat_options = [\"-d/root/key\"]\n", "2:19", "may not contain \"-d\"");
}
