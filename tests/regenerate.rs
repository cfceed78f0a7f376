//! `blankroot regenerate` on fixture installs (a temporary folder laid out as an installed
//! system's /etc/nixos): an install by an older blankroot (its blankroot.nix without what
//! this one generates) is rewritten to exactly what the generator makes from its blankroot.toml
//! and UUIDs, the old text kept; `--check` only reports; a file without the UUIDs is refused
//! and nothing is written. The new text is evaluated by the real nix-instantiate first.

mod common;

use blankroot::nixgen;
use std::path::Path;
use std::process::Command;

fn blankroot(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_blankroot")).args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// An installed /etc/nixos from the seed-defaults plan; returns (root, current module text).
fn installed(dir: &Path) -> String {
    let plan = common::plan_for("seed-defaults");
    let etc = dir.join("etc/nixos");
    std::fs::create_dir_all(&etc).unwrap();
    let mut module = String::new();
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(name), blankroot::plan::Content::Text(t)) = (f.path.strip_prefix("/mnt/etc/nixos/"), &f.content) {
            std::fs::write(etc.join(name), t).unwrap();
            if name == "blankroot.nix" {
                module = t.clone();
            }
        }
    }
    assert!(!module.is_empty());
    module
}

/// What blankroot 0.1.0 wrote: no tries=0, no import after LUKS, no RemainAfterExit.
fn older(module: &str) -> String {
    module
        .lines()
        .filter(|l| !l.contains("tries=0") && !l.contains("RemainAfterExit") && !l.contains("cryptsetup.target"))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn an_older_blankroot_nix_is_rewritten_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let now = installed(dir.path());
    let nix = dir.path().join("etc/nixos/blankroot.nix");
    let old = older(&now);
    std::fs::write(&nix, &old).unwrap();
    let root = dir.path().to_str().unwrap();

    let (rc, out, err) = blankroot(&["regenerate", "--root", root, "--check"]);
    assert_eq!(rc, 3, "{out}{err}");
    assert!(out.contains("+    crypttabExtraOpts = [ \"tries=0\" ];"), "{out}");
    assert!(err.contains("is not what this blankroot generates") && err.contains("blankroot regenerate"), "{err}");
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), old, "--check writes nothing");

    let (rc, out, err) = blankroot(&["regenerate", "--root", root]);
    assert_eq!(rc, 0, "{out}{err}");
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), now, "exactly what the generator makes");
    assert_eq!(std::fs::read_to_string(dir.path().join("etc/nixos/blankroot.nix.old")).unwrap(), old);
    assert!(out.contains("nixos-rebuild boot"), "{out}");

    let (rc, out, _) = blankroot(&["regenerate", "--root", root, "--format", "json"]);
    assert_eq!(rc, 0);
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["changed"], false, "a second run has nothing to do: {out}");
}

#[test]
fn a_file_without_the_uuids_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let now = installed(dir.path());
    let nix = dir.path().join("etc/nixos/blankroot.nix");
    let broken = now.replace("/dev/disk/by-uuid/", "/dev/disk/by-label/");
    std::fs::write(&nix, &broken).unwrap();
    let (rc, _, err) = blankroot(&["regenerate", "--root", dir.path().to_str().unwrap()]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("cannot find the LUKS and ESP UUIDs") && err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), broken);
    assert!(!dir.path().join("etc/nixos/blankroot.nix.old").exists());
    // And the UUIDs it does read are the plan's.
    let plan = common::plan_for("seed-defaults");
    let (luks, esp) = nixgen::uuids_in(&now, &plan.config).unwrap();
    assert_eq!((luks.as_str(), esp.as_str()), (plan.ids.luks_uuid.as_str(), plan.ids.esp_uuid.as_str()));
}

#[test]
fn no_installed_system_is_an_environment_error() {
    let dir = tempfile::tempdir().unwrap();
    let (rc, _, err) = blankroot(&["regenerate", "--root", dir.path().to_str().unwrap()]);
    assert_eq!(rc, 3, "{err}");
    assert!(err.contains("cannot read") && err.contains("blankroot.toml"), "{err}");
}
