//! Generated Nix is checked by the real Nix parser (`nix-instantiate --parse`, Debian package
//! nix-bin) and evaluated with stub module arguments, proving that every hostile value comes
//! back exactly as written: escaping neither breaks the file nor injects Nix.

use crate::common;

use blankroot::nixgen;
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
            _ => panic!("a .nix file is text"),
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
        "import ./blankroot.nix { config = { }; pkgs = { runCommandLocal = name: env: buildCommand: { inherit name env buildCommand; }; }; lib = { mkAfter = x: { mkAfter = x; }; }; }",
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
    let dir = "/var/lib/we\"ird ${builtins.abort \"y\"} ''dir";
    assert_eq!(fs[dir]["device"], format!("/persist{dir}"));
    assert_eq!(fs["/var/lib/$${escaped}"]["device"], "/persist/var/lib/$${escaped}");
    let mount = "/srv/da\"ta ${builtins.abort \"pwned\"}";
    assert_eq!(fs[mount]["device"], "tank:x.y/safe/da ta:1.x");
    assert_eq!(fs["/"]["device"], "tank:x.y/local/ro ot");
    assert_eq!(m["environment"]["etc"]["it's ${x}.conf"]["source"], "/persist/etc/it's ${x}.conf");
    // dev_nodes is one of the /dev/disk/by-* directories now (a `${…}` there is refused by the
    // config: tests/it/config_errors.rs), so the fixture carries a plain one.
    assert_eq!(m["boot"]["zfs"]["devNodes"], "/dev/disk/by-id");
    assert_eq!(
        m["systemd"]["tmpfiles"]["rules"][0],
        "L+ /var/lib/a\\x20b/c\\\\d - - - - /persist/var/lib/a\\x20b/c\\\\d"
    );
    let services = &m["boot"]["initrd"]["systemd"]["services"];
    let unit = &services["blankroot-rollback"];
    assert_eq!(unit["script"], nixgen::rollback_script(&plan.config));
    assert!(
        unit["script"].as_str().unwrap().starts_with("if zfs rollback -r 'tank:x.y/local/ro ot@blank'; then\n"),
        "{}",
        unit["script"]
    );
    assert_eq!(unit["after"][0], "zfs-import-tank:x.y.service");
    // The attribute is the unit's name exactly: nixpkgs' zfs-import-<pool>, extended.
    assert_eq!(services["zfs-import-tank:x.y"]["after"], serde_json::json!(["cryptsetup.target"]));
}

#[test]
fn systemd_rollback_unit_is_ordered_after_import_and_before_sysroot() {
    let plan = common::plan_for("seed-defaults");
    let m = eval_module(&module_text(&plan));
    let initrd = &m["boot"]["initrd"];
    assert_eq!(initrd["systemd"]["enable"], true);
    let unit = &initrd["systemd"]["services"]["blankroot-rollback"];
    assert_eq!(unit["after"], serde_json::json!(["zfs-import-rpool.service"]));
    assert_eq!(unit["before"], serde_json::json!(["sysroot.mount"]));
    assert_eq!(unit["wantedBy"], serde_json::json!(["initrd.target"]));
    assert_eq!(unit["unitConfig"]["DefaultDependencies"], "no");
    assert_eq!(unit["serviceConfig"]["Type"], "oneshot");
    assert_eq!(unit["serviceConfig"]["RemainAfterExit"], true, "a Nix boolean, so it runs once per boot");
    assert_eq!(unit["serviceConfig"]["StandardOutput"], "journal+console");
    assert_eq!(unit["script"], nixgen::rollback_script(&plan.config));
    assert_eq!(
        unit["script"],
        "if zfs rollback -r rpool/local/root@blank; then\n  exit 0\nfi\nmkdir -p /run/blankroot\n\
         echo \"blankroot: rolling back rpool/local/root to @blank failed: this boot keeps what the last one wrote (run blankroot doctor)\" \
         | tee /run/blankroot/rollback-failed\nexit 1\n"
    );
    // The import waits for LUKS: added to nixpkgs' own zfs-import-rpool unit (lists merge).
    let import = &initrd["systemd"]["services"]["zfs-import-rpool"];
    assert_eq!(import, &serde_json::json!({"after": ["cryptsetup.target"], "wants": ["cryptsetup.target"]}));
    assert_eq!(initrd["systemd"]["services"].as_object().unwrap().len(), 2);
    assert_eq!(initrd["luks"]["devices"]["cryptroot"]["crypttabExtraOpts"], serde_json::json!(["tries=0"]));
    assert_eq!(m["boot"]["zfs"]["forceImportRoot"], false);
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
    assert_eq!(m["boot"]["zfs"]["forceImportRoot"], false);
    assert!(initrd["luks"]["devices"]["cryptroot"].get("crypttabExtraOpts").is_none(), "a systemd stage-1 option");
}

/// The systemd stage-1 script, run by `sh -e` (as NixOS runs unit scripts) with a fake `zfs`
/// and the marker's directory moved into a temporary one.
fn run_rollback_script(zfs_status: i32) -> (tempfile::TempDir, std::process::Output) {
    let dir = tempfile::tempdir().unwrap();
    let zfs = write_tmp(&dir, "zfs", "#!/bin/sh\necho \"$*\" >> \"$(dirname \"$0\")/calls\"\nexit \"$ZFS_STATUS\"\n");
    std::fs::set_permissions(&zfs, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = dir.path().join("run/blankroot");
    let script =
        nixgen::rollback_script(&common::config("seed-defaults")).replace("/run/blankroot", run.to_str().unwrap());
    let out = Command::new("sh")
        .args(["-e", "-c", &script])
        .env("PATH", format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap()))
        .env("ZFS_STATUS", zfs_status.to_string())
        .output()
        .unwrap();
    (dir, out)
}

#[test]
fn the_rollback_script_says_loudly_when_it_fails() {
    assert_eq!(nixgen::ROLLBACK_FAILED_MARKER, "/run/blankroot/rollback-failed");
    let (dir, out) = run_rollback_script(0);
    assert!(out.status.success());
    assert_eq!(std::fs::read_to_string(dir.path().join("calls")).unwrap(), "rollback -r rpool/local/root@blank\n");
    assert!(out.stdout.is_empty());
    assert!(!dir.path().join("run/blankroot/rollback-failed").exists());

    let (dir, out) = run_rollback_script(1);
    assert_eq!(out.status.code(), Some(1), "the unit fails, visibly");
    let said = "blankroot: rolling back rpool/local/root to @blank failed: this boot keeps what the last one wrote (run blankroot doctor)\n";
    assert_eq!(String::from_utf8_lossy(&out.stdout), said, "on the console and in the journal");
    assert_eq!(std::fs::read_to_string(dir.path().join("run/blankroot/rollback-failed")).unwrap(), said);
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

#[test]
fn plan_time_evaluation_accepts_every_config_and_refuses_a_broken_file() {
    use blankroot::infra::runner::Local;
    for name in common::CONFIGS {
        let plan = common::plan_for(name);
        assert!(
            blankroot::nixgen::verify::check(&blankroot::infra::host::LocalHost::live(&Local::default()), &plan)
                .unwrap(),
            "{name}"
        );
    }
    // A file that parses but does not evaluate (an undefined variable) is refused, naming it.
    let mut plan = common::plan_for("seed-defaults");
    let f = plan.steps.iter_mut().flat_map(|s| &mut s.files).find(|f| f.path.ends_with("/blankroot.nix")).unwrap();
    f.content = Content::Text("{ config, ... }: { a = undefinedThing; }\n".into());
    let e = blankroot::nixgen::verify::check(&blankroot::infra::host::LocalHost::live(&Local::default()), &plan)
        .unwrap_err();
    assert!(e.message.contains("blankroot.nix does not evaluate"), "{}", e.message);
    assert!(format!("{e:?}").contains("undefinedThing"), "{e:?}");
}
