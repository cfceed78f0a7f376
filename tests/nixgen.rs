//! Generated Nix is checked by the real Nix parser (`nix-instantiate --parse`, Debian package
//! nix-bin) and evaluated with stub module arguments, proving that every hostile value comes
//! back exactly as written: escaping neither breaks the file nor injects Nix.

mod common;

use blankroot::plan::{Content, Plan};
use serde_json::Value;
use std::process::Command;

fn nix_files(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .flat_map(|s| &s.files)
        .filter(|f| f.path.ends_with(".nix"))
        .map(|f| match &f.content {
            Content::Text(t) => (f.path.clone(), t.clone()),
            Content::Hash(_) => panic!("a .nix file is never a secret"),
        })
        .collect()
}

fn write_tmp(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn nix(args: &[&str]) -> (bool, String, String) {
    let out = Command::new("nix-instantiate")
        .args(args)
        .output()
        .expect("nix-instantiate must be installed (Debian package nix-bin); .ci/run installs it");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn every_generated_nix_file_parses() {
    let dir = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for name in common::CONFIGS {
        for (path, text) in nix_files(&common::plan_for(name)) {
            let file = write_tmp(&dir, "f.nix", &text);
            let (ok, _, err) = nix(&["--parse", file.to_str().unwrap()]);
            assert!(ok, "{name}: {path} does not parse:\n{err}\n---\n{text}");
            checked += 1;
        }
    }
    assert_eq!(checked, 8, "two .nix files per config");
}

#[test]
fn the_parser_rejects_a_broken_file() {
    // The check above can fail: an unescaped quote is a parse error.
    let dir = tempfile::tempdir().unwrap();
    let file = write_tmp(&dir, "bad.nix", "{ a = \"x\"y\"; }");
    assert!(!nix(&["--parse", file.to_str().unwrap()]).0);
}

/// Evaluates `blankroot.nix` with stub arguments and returns it as JSON.
fn eval_module(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    write_tmp(&dir, "blankroot.nix", text);
    let expr = write_tmp(
        &dir,
        "eval.nix",
        "import ./blankroot.nix { config = { }; pkgs = { }; lib = { mkAfter = x: { mkAfter = x; }; }; }",
    );
    let (ok, out, err) = nix(&["--eval", "--strict", "--json", expr.to_str().unwrap()]);
    assert!(ok, "evaluation failed:\n{err}\n---\n{text}");
    serde_json::from_str(&out).unwrap()
}

fn module_text(plan: &Plan) -> String {
    nix_files(plan).into_iter().find(|(p, _)| p.ends_with("blankroot.nix")).unwrap().1
}

#[test]
fn hostile_values_round_trip_exactly() {
    let plan = common::plan_for("hostile-strings");
    let m = eval_module(&module_text(&plan));
    let fs = &m["fileSystems"];
    let dir = "/var/lib/we\"ird ${builtins.abort \"y\"} \\ ''dir";
    assert_eq!(fs[dir]["device"], format!("/persist{dir}"));
    assert_eq!(fs["/var/lib/$${escaped}"]["device"], "/persist/var/lib/$${escaped}");
    let mount = "/srv/da\"ta ${builtins.abort \"pwned\"}";
    assert_eq!(fs[mount]["device"], "tank:x.y/safe/da ta:1.x");
    assert_eq!(fs["/"]["device"], "tank:x.y/local/ro ot");
    assert_eq!(m["environment"]["etc"]["it's ${x}.conf"]["source"], "/persist/etc/it's ${x}.conf");
    assert_eq!(m["boot"]["zfs"]["devNodes"], "/dev/disk/by-${id}");
    assert_eq!(
        m["systemd"]["tmpfiles"]["rules"][0],
        "L+ /var/lib/a\\x20b/c\\\\d - - - - /persist/var/lib/a\\x20b/c\\\\d"
    );
    let unit = &m["boot"]["initrd"]["systemd"]["services"]["blankroot-rollback"];
    assert_eq!(unit["script"], "zfs rollback -r 'tank:x.y/local/ro ot@blank'");
    assert_eq!(unit["after"][0], "zfs-import-tank:x.y.service");
}

#[test]
fn systemd_rollback_unit_is_ordered_after_import_and_before_sysroot() {
    let m = eval_module(&module_text(&common::plan_for("seed-defaults")));
    let initrd = &m["boot"]["initrd"];
    assert_eq!(initrd["systemd"]["enable"], true);
    let unit = &initrd["systemd"]["services"]["blankroot-rollback"];
    assert_eq!(unit["after"], serde_json::json!(["zfs-import-rpool.service"]));
    assert_eq!(unit["before"], serde_json::json!(["sysroot.mount"]));
    assert_eq!(unit["wantedBy"], serde_json::json!(["initrd.target"]));
    assert_eq!(unit["unitConfig"]["DefaultDependencies"], "no");
    assert_eq!(unit["serviceConfig"]["Type"], "oneshot");
    assert_eq!(unit["script"], "zfs rollback -r rpool/local/root@blank");
    assert!(initrd.get("postDeviceCommands").is_none(), "systemd stage 1 rejects postDeviceCommands");
    assert!(initrd.get("postResumeCommands").is_none(), "systemd stage 1 rejects postResumeCommands");
}

#[test]
fn scripted_rollback_uses_post_resume_commands_with_mk_after() {
    let m = eval_module(&module_text(&common::plan_for("scripted-two-users")));
    let initrd = &m["boot"]["initrd"];
    assert_eq!(initrd["systemd"]["enable"], false);
    assert!(initrd["systemd"].get("services").is_none());
    assert_eq!(initrd["postResumeCommands"]["mkAfter"], "zfs rollback -r rpool/local/root@blank\n");
    assert!(initrd.get("postDeviceCommands").is_none(), "postDeviceCommands runs before the pool import");
}

#[test]
fn seed_layout_values_are_in_the_module() {
    let plan = common::plan_for("seed-defaults");
    let m = eval_module(&module_text(&plan));
    assert_eq!(m["networking"]["hostId"], plan.ids.host_id);
    let luks = &m["boot"]["initrd"]["luks"]["devices"]["cryptroot"];
    assert_eq!(luks["device"], format!("/dev/disk/by-uuid/{}", plan.ids.luks_uuid));
    assert_eq!(luks["allowDiscards"], true);
    let fs = &m["fileSystems"];
    for (mount, ds) in [
        ("/", "rpool/local/root"),
        ("/nix", "rpool/local/nix"),
        ("/home", "rpool/safe/home"),
        ("/persist", "rpool/safe/persist"),
    ] {
        assert_eq!(fs[mount]["device"], ds);
        assert_eq!(fs[mount]["fsType"], "zfs");
    }
    assert_eq!(fs["/persist"]["neededForBoot"], true);
    assert_eq!(fs["/boot"]["device"], format!("/dev/disk/by-uuid/{}", plan.ids.esp_uuid));
    assert_eq!(fs["/boot"]["options"], serde_json::json!(["umask=0077"]));
    for dir in ["/etc/nixos", "/var/lib/nixos", "/var/log"] {
        assert_eq!(fs[dir]["device"], format!("/persist{dir}"));
        assert_eq!(fs[dir]["options"], serde_json::json!(["bind"]));
    }
    assert_eq!(m["environment"]["etc"]["machine-id"]["source"], "/persist/etc/machine-id");
    assert_eq!(m["services"]["openssh"]["hostKeys"][0]["path"], "/persist/etc/ssh/ssh_host_ed25519_key");
    let boot = &m["boot"]["loader"];
    assert_eq!(boot["systemd-boot"]["enable"], true);
    assert_eq!(boot["systemd-boot"]["editor"], false);
    assert_eq!(boot["systemd-boot"]["consoleMode"], "max");
    assert_eq!(boot["efi"]["efiSysMountPoint"], "/boot");
    assert_eq!(m["boot"]["supportedFilesystems"], serde_json::json!(["zfs"]));
    assert_eq!(m["users"]["mutableUsers"], false);
    assert_eq!(m["users"]["users"]["root"]["hashedPassword"], "!", "root is locked by default");
    assert_eq!(m["users"]["users"]["admin"]["hashedPasswordFile"], "/persist/etc/nixos-secrets/passwords/admin");
    let text = module_text(&plan);
    assert!(!text.contains("initialPassword"), "no plain-text password is ever written");
    assert!(!text.contains("a1b2c3d4"), "never the seed's example hostId");
}
