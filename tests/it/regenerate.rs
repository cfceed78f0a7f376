//! `blankroot regenerate` on fixture installs (a temporary folder laid out as an installed
//! system's /etc/nixos): an install by an older blankroot (its blankroot.nix without what
//! this one generates) is rewritten to exactly what the generator makes from its blankroot.toml
//! and UUIDs, the old text kept; `--check` only reports; an install by blankroot 0.1 (its
//! blankroot.toml without the UUIDs) gets them recorded from blankroot.nix; with the UUIDs in
//! neither file it is refused and nothing is written. The new text is evaluated by the real
//! nix-instantiate first.

use crate::common;

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

/// blankroot.toml as blankroot 0.1 wrote it: without `uuid` under [luks] and [esp].
fn without_recorded_uuids(dir: &Path) -> String {
    let toml = dir.join("etc/nixos/blankroot.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    let old: String = text.lines().filter(|l| !l.starts_with("uuid = ")).map(|l| format!("{l}\n")).collect();
    assert_ne!(old, text, "the install recorded the UUIDs");
    std::fs::write(&toml, &old).unwrap();
    old
}

#[test]
fn an_install_by_blankroot_0_1_gets_its_uuids_recorded_from_blankroot_nix() {
    let dir = tempfile::tempdir().unwrap();
    let now = installed(dir.path());
    let root = dir.path().to_str().unwrap();
    let toml = dir.path().join("etc/nixos/blankroot.toml");
    let old_toml = without_recorded_uuids(dir.path()).replace("[luks]\n", "[luks]\n# mine\n");
    std::fs::write(&toml, &old_toml).unwrap();
    // persist needs them in the layout, and says how to get them there.
    let (rc, _, err) = blankroot(&["persist", "--root", root, "--create", "/var/lib/x"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("does not record the LUKS and ESP UUIDs") && err.contains("blankroot regenerate"), "{err}");
    let (rc, out, err) = blankroot(&["regenerate", "--root", root, "--check"]);
    assert_eq!(rc, 3, "blankroot.toml out of date counts for --check: {out}{err}");
    assert_eq!(std::fs::read_to_string(&toml).unwrap(), old_toml, "--check writes nothing");
    let (rc, out, err) = blankroot(&["regenerate", "--root", root]);
    assert_eq!(rc, 0, "{out}{err}");
    let plan = common::plan_for("seed-defaults");
    let recorded =
        blankroot::config::parse_str("t", &std::fs::read_to_string(&toml).unwrap(), &Default::default()).unwrap();
    assert_eq!(recorded.recorded_uuids(), Some((plan.ids.luks_uuid.as_str(), plan.ids.esp_uuid.as_str())));
    assert!(std::fs::read_to_string(&toml).unwrap().contains("# mine"), "its comments are kept");
    assert_eq!(std::fs::read_to_string(dir.path().join("etc/nixos/blankroot.nix")).unwrap(), now);
    std::fs::create_dir_all(dir.path().join("persist")).unwrap();
    let (rc, out, err) = blankroot(&["persist", "--root", root, "--create", "/var/lib/x"]);
    assert_eq!(rc, 0, "persist works once they are recorded: {out}{err}");
}

#[test]
fn a_file_without_the_uuids_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let now = installed(dir.path());
    let old_toml = without_recorded_uuids(dir.path());
    let nix = dir.path().join("etc/nixos/blankroot.nix");
    let broken = now.replace("/dev/disk/by-uuid/", "/dev/disk/by-label/");
    std::fs::write(&nix, &broken).unwrap();
    let (rc, _, err) = blankroot(&["regenerate", "--root", dir.path().to_str().unwrap()]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("cannot find the LUKS and ESP UUIDs") && err.contains("hint:"), "{err}");
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), broken);
    assert_eq!(std::fs::read_to_string(dir.path().join("etc/nixos/blankroot.toml")).unwrap(), old_toml);
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

// --- Both files are written safely (`blankroot::infra::fsutil`): owner and mode kept; a link out of
// the root, or a hard-linked file, refused before either is written.

fn sha(p: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

#[test]
fn owner_and_mode_are_kept_and_no_temporary_file_is_left() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = tempfile::tempdir().unwrap();
    let now = installed(dir.path());
    let nix = dir.path().join("etc/nixos/blankroot.nix");
    std::fs::write(&nix, older(&now)).unwrap();
    std::os::unix::fs::chown(&nix, Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(&nix, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (rc, out, err) = blankroot(&["regenerate", "--root", dir.path().to_str().unwrap()]);
    assert_eq!(rc, 0, "{out}{err}");
    let m = std::fs::symlink_metadata(&nix).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()), (1234, 5678, 0o640, 1));
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), now);
    let hidden: Vec<_> = std::fs::read_dir(dir.path().join("etc/nixos"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert_eq!(hidden, Vec::<String>::new());
}

#[test]
fn a_backup_linked_out_of_the_root_or_a_hard_linked_module_is_refused_and_nothing_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_str().unwrap();
    let now = installed(dir.path());
    let nix = dir.path().join("etc/nixos/blankroot.nix");
    let old = older(&now);
    std::fs::write(&nix, &old).unwrap();
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("passwd");
    std::fs::write(&victim, "root:x:0:0::/root:/bin/sh\n").unwrap();
    let hash = sha(&victim);
    let backup = dir.path().join("etc/nixos/blankroot.nix.old");
    std::os::unix::fs::symlink(&victim, &backup).unwrap();
    let (rc, _, err) = blankroot(&["regenerate", "--root", root]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("blankroot.nix.old") && err.contains("leads outside") && err.contains("hint:"), "{err}");
    assert_eq!(sha(&victim), hash);
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), old, "blankroot.nix not written either");
    assert!(std::fs::symlink_metadata(&backup).unwrap().file_type().is_symlink());
    std::fs::remove_file(&backup).unwrap();
    std::fs::hard_link(&nix, dir.path().join("elsewhere.nix")).unwrap();
    let (rc, _, err) = blankroot(&["regenerate", "--root", root]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("has 2 hard links"), "{err}");
    assert_eq!(std::fs::read_to_string(&nix).unwrap(), old);
    assert!(!backup.exists(), "no backup written");
}
