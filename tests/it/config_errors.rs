//! Bad `blankroot.toml` input must fail with `file:line:column`, a specific message and a
//! hint; good input must resolve to the expected config. Positions are 1-based; the column
//! is where the offending value (or key, or table header) starts.

use crate::common;

use blankroot::config::{Config, Initrd, Overrides, PasswordSource, parse_str};

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

// ---------------------------------------------------------------- users

#[test]
fn user_name_with_upper_case() {
    fails_at("[[users]]\nname = \"Alice\"\n", "2:8", "upper-case");
}

#[test]
fn user_name_starting_with_digit() {
    fails_at("[[users]]\nname = \"1alice\"\n", "2:8", "must begin with a letter or `_`");
}

#[test]
fn user_name_too_long() {
    let name = "a".repeat(32);
    fails_at(&format!("[[users]]\nname = \"{name}\"\n"), "2:8", "32 characters long; NixOS allows at most 31");
}

#[test]
fn user_name_with_dot() {
    fails_at("[[users]]\nname = \"alice.b\"\n", "2:8", "contains '.'");
}

#[test]
fn user_named_root() {
    let e = fails_at("[[users]]\nname = \"root\"\n", "2:8", "\"root\" cannot be listed under [[users]]");
    assert!(e.hint.unwrap().contains("[root]"));
}

#[test]
fn bad_group_name() {
    fails_at(
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\", \"Docker Users\"]\n",
        "3:20",
        "group name \"Docker Users\" contains ' '",
    );
}

#[test]
fn group_listed_twice() {
    fails_at(
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\", \"wheel\"]\n",
        "3:20",
        "group \"wheel\" is listed twice",
    );
}

#[test]
fn duplicate_users() {
    let text = "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\n\n[[users]]\nname = \"alice\"\n";
    fails_at(text, "6:8", "user \"alice\" is listed twice (first on line 2)");
}

#[test]
fn no_account_can_log_in() {
    let text =
        "[root]\npassword = \"locked\"\n\n[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\npassword = \"locked\"\n";
    fails_at(text, "4:1", "no account could log in");
}

#[test]
fn no_account_can_log_in_without_wheel() {
    fails_at("[[users]]\nname = \"alice\"\n", "1:1", "no user in group wheel has a password");
}

// ---------------------------------------------------------------- passwords

#[test]
fn plaintext_password_is_rejected_without_echo() {
    let text = "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\npassword = \"hunter2\"\n";
    let e = fails_at(text, "4:12", "password must be \"prompt\" or \"locked\"");
    never_shows(&e, "hunter2");
}

#[test]
fn plaintext_root_password_is_rejected_without_echo() {
    let e = fails_at("[root]\npassword = \"hunter2\"\n", "2:12", "a password is never written in the config");
    never_shows(&e, "hunter2");
}

#[test]
fn password_of_the_wrong_type_is_not_echoed() {
    let e = fails_at("[root]\npassword = 31337\n", "2:12", "password must be");
    never_shows(&e, "31337");
    let e = fails_at("[root]\npassword = [\"hunter2\"]\n", "2:12", "password must be");
    never_shows(&e, "hunter2");
    let e = fails_at("[[users]]\nname = \"alice\"\npassword = { value = \"hunter2\" }\n", "3:12", "password must be");
    never_shows(&e, "hunter2");
}

#[test]
fn toml_syntax_errors_in_a_password_line_do_not_echo_it() {
    for (text, at) in [
        ("[root]\npassword = hunter2\n", "2:12"),
        ("[root]\npassword = \"hunter2\n", "2:20"),
        ("[root]\npassword = 'hunter2\n", "2:20"),
        ("[root]\npassword = \"hunter2\" \"x\"\n", "2:22"),
    ] {
        let e = fails_at(text, at, "invalid TOML");
        never_shows(&e, "hunter2");
    }
}

#[test]
fn password_typed_into_a_path_key_is_not_echoed() {
    let e =
        fails_at("[root]\npassword_file = \"hunter2\"\n", "2:17", "password_file is not an absolute, normalised path");
    never_shows(&e, "hunter2");
    let e = fails_at("[root]\npassword_hash_file = \"hunter2\"\n", "2:22", "password_hash_file is not");
    never_shows(&e, "hunter2");
    let e = fails_at("[root]\npassword_file = 31337\n", "2:17", "password_file is not");
    never_shows(&e, "31337");
}

#[test]
fn fixture_with_password_never_shows_it() {
    let text = include_str!("../fixtures/configs/password-in-config.toml");
    let e = parse_str("password-in-config.toml", text, &Overrides::default()).unwrap_err();
    check(&e, "password-in-config.toml:6:12: ", "password must be");
    never_shows(&e, "hunter2");
}

#[test]
fn two_password_sources() {
    let text = "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\npassword = \"prompt\"\npassword_hash_file = \"/root/alice.hash\"\n";
    fails_at(text, "5:22", "password_hash_file conflicts with password on line 4");
}

#[test]
fn two_password_sources_for_root() {
    let text = "[root]\npassword_file = \"/root/pw\"\npassword = \"prompt\"\n";
    fails_at(text, "3:12", "password conflicts with password_file on line 2");
}

// ---------------------------------------------------------------- persist

#[test]
fn persisted_path_relative() {
    fails_at("[persist]\ndirectories = [\"var/lib/foo\"]\n", "2:16", "\"var/lib/foo\" is not an absolute path");
}

#[test]
fn persisted_path_under_nix() {
    fails_at("[persist]\ndirectories = [\"/nix/var\"]\n", "2:16", "under /nix, which is not on the erased root");
}

#[test]
fn persisted_path_under_boot() {
    fails_at("[persist]\nfiles = [\"/boot/loader/loader.conf\"]\n", "2:10", "under /boot");
}

#[test]
fn persisted_path_under_persist() {
    fails_at("[persist]\ndirectories = [\"/persist/data\"]\n", "2:16", "under /persist");
}

#[test]
fn persisted_path_under_home_dataset() {
    fails_at("[persist]\ndirectories = [\"/home/alice\"]\n", "2:16", "under /home, which is its own dataset");
}

#[test]
fn persisted_path_with_dotdot() {
    fails_at("[persist]\ndirectories = [\"/var/lib/../etc\"]\n", "2:16", "not normalised (it has a \"..\" part)");
}

#[test]
fn persisted_path_with_trailing_slash() {
    fails_at("[persist]\ndirectories = [\"/var/lib/foo/\"]\n", "2:16", "ends with `/`");
}

#[test]
fn persisted_path_with_control_character() {
    fails_at("[persist]\nfiles = [\"/etc/fo\\to\"]\n", "2:10", "control character '\\t'");
}

#[test]
fn persisted_paths_nested() {
    fails_at(
        "[persist]\ndirectories = [\"/var/lib/app\", \"/var/lib/app/cache\"]\n",
        "2:32",
        "inside the persisted directory \"/var/lib/app\"",
    );
}

#[test]
fn persisted_directory_containing_a_default() {
    fails_at("[persist]\ndirectories = [\"/var/lib\"]\n", "2:16", "contains the persisted path \"/var/lib/nixos\"");
}

#[test]
fn persisted_path_listed_twice() {
    fails_at(
        "[persist]\ndirectories = [\"/srv/data\", \"/srv/data\"]\n",
        "2:29",
        "listed twice under [persist] (first on line 2)",
    );
}

#[test]
fn default_file_listed_as_directory() {
    fails_at("[persist]\ndirectories = [\"/etc/machine-id\"]\n", "2:16", "persisted as a file by default");
}

#[test]
fn persisted_directory_with_a_backslash() {
    fails_at(
        "[persist]\ndirectories = [\"/var/lib/app\", \"/var/lib/a\\\\b\"]\n",
        "2:32",
        "persist.directories[1] \"/var/lib/a\\\\b\" contains '\\\\'",
    );
}

#[test]
fn persisted_directory_too_long_for_its_stage_1_mount_unit() {
    // A bind needed for boot is mounted in stage 1 at /sysroot/…: sysroot-var-lib-… is the longer name.
    let dir = format!("/var/lib/{}", "x".repeat(236));
    let e = fails_at(&format!("[persist]\ndirectories = [\"{dir}\"]\n"), "2:16", "persist.directories[0]");
    assert!(e.message.contains("makes its mount unit sysroot-var-lib-xxx"), "{}", e.message);
    assert!(
        blankroot::systemd::unit_name_valid(&blankroot::systemd::mount_unit(&dir).unwrap()),
        "valid outside stage 1"
    );
}

#[test]
fn persisted_files_may_hold_a_backslash() {
    // Files are not mounted: tmpfiles and environment.etc carry any name.
    let c = parse("[persist]\nfiles = [\"/var/lib/a\\\\b\"]\n").unwrap();
    assert!(c.persist.files.contains(&"/var/lib/a\\b".to_string()));
}

#[test]
fn persisted_directory_containing_a_dataset_mount() {
    let text =
        format!("{}\n[persist]\ndirectories = [\"/srv\"]\n", with_dataset("name = \"safe/db\"\nmount = \"/srv/db\"\n"));
    fails_at(&text, "19:16", "contains /srv/db, the mount point of a dataset");
}

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
        let mut c = parse(text).unwrap();
        let ids = blankroot::plan::Identities::fixed(5, Some("0badc0de"));
        let emitted = blankroot::config::to_toml(&c, &ids);
        let back = parse(&emitted).unwrap_or_else(|e| panic!("{e}\n{emitted}"));
        c.host_id = Some("0badc0de".into());
        // The ids the install chose are recorded with the layout.
        c.luks.uuid = Some(ids.luks_uuid.clone());
        c.esp_uuid = Some(ids.esp_uuid.clone());
        assert_eq!(back, c, "{emitted}");
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
