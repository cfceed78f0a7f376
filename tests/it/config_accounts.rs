//! Bad `[[users]]`, password and `[persist]` input in `blankroot.toml` must fail with
//! `file:line:column`, a specific message and a hint, and a password never appears in one.
//! Positions are 1-based; the column is where the offending value starts.

use crate::common;

use blankroot::config::{Overrides, parse_str};

use common::config_check::*;

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
fn keeping_blankroot_is_a_boolean() {
    fails_at("[persist]\nblankroot = \"yes\"\n", "2:13", "expected a boolean");
    fails_at("[persist]\nblankroot = 1\n", "2:13", "expected a boolean");
    assert!(!parse("[persist]\nblankroot = false\n").unwrap().persist.blankroot);
    assert!(parse("").unwrap().persist.blankroot, "kept by default");
}

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
