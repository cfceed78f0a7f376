//! `blankroot persist` on an installation laid out in a temporary folder (the real generated
//! files of a plan), with the real `cp`, `getfacl` and `getfattr`: owner, mode, times, ACLs and
//! xattrs survive the copy; blankroot.toml gains the path with its formatting kept;
//! blankroot.nix is regenerated; every refusal leaves everything as it was, and a copy that
//! fails half way (a full /persist) loses nothing. (The VM tier persists a path on real ZFS
//! and shows it survive the rollback.)

use crate::common;

use blankroot::commands::persist::{Request, run};
use blankroot::infra::runner::Local;
use blankroot::plan::Content;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

fn installed() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let plan = common::plan_for("seed-defaults");
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(rel), Content::Text(t)) = (f.path.strip_prefix("/mnt/"), &f.content) {
            let p = dir.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        }
    }
    // The user's note in blankroot.toml must survive the edit.
    let toml = dir.path().join("etc/nixos/blankroot.toml");
    let text =
        std::fs::read_to_string(&toml).unwrap().replace("[persist]\n", "[persist]\n# keep the tailscale state too?\n");
    std::fs::write(&toml, text).unwrap();
    let lib = dir.path().join("var/lib/foo");
    std::fs::create_dir_all(lib.join("sub")).unwrap();
    std::fs::write(lib.join("state.db"), vec![7u8; 100_000]).unwrap();
    std::fs::write(lib.join("sub/key"), "secret\n").unwrap();
    std::os::unix::fs::symlink("state.db", lib.join("current")).unwrap();
    std::fs::set_permissions(lib.join("sub/key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(lib.join("sub/key"), Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(&lib, std::fs::Permissions::from_mode(0o750)).unwrap();
    let sh =
        |c: &str| assert!(Command::new("sh").arg("-c").arg(c).current_dir(&lib).status().unwrap().success(), "{c}");
    sh(
        "setfacl -m u:1000:rw state.db && setfattr -n user.origin -v kept state.db && touch -d '2020-02-02 02:02:02.123456789' state.db sub",
    );
    std::fs::write(dir.path().join("etc/adjtime"), "0.0 0 0\n").unwrap();
    std::fs::create_dir_all(dir.path().join("persist")).unwrap();
    dir
}

fn persist(
    root: &Path,
    paths: &[&str],
    create: bool,
) -> blankroot::error::Result<Vec<blankroot::commands::persist::Kept>> {
    let req = Request { paths: paths.iter().map(|p| p.to_string()).collect(), create };
    run(&blankroot::infra::host::LocalHost::mounted(root, &Local::default()), &req).map(|r| r.kept)
}

fn tool(args: &[&str]) -> String {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_directory_is_copied_with_everything_and_added_to_the_config() {
    let dir = installed();
    let r = dir.path();
    let kept = persist(r, &["/var/lib/foo"], false).unwrap();
    assert_eq!(kept.len(), 1);
    assert!(kept[0].directory && kept[0].entries == 5 && kept[0].bytes >= 100_000, "{kept:?}");
    let (a, b) = (r.join("var/lib/foo"), r.join("persist/var/lib/foo"));
    for rel in ["", "state.db", "sub", "sub/key", "current"] {
        let (ma, mb) =
            (std::fs::symlink_metadata(a.join(rel)).unwrap(), std::fs::symlink_metadata(b.join(rel)).unwrap());
        assert_eq!((ma.mode(), ma.uid(), ma.gid()), (mb.mode(), mb.uid(), mb.gid()), "{rel}");
        if !ma.is_dir() {
            assert_eq!((ma.mtime(), ma.mtime_nsec()), (mb.mtime(), mb.mtime_nsec()), "{rel}");
        }
    }
    assert_eq!(std::fs::read_link(b.join("current")).unwrap(), Path::new("state.db"));
    let acl = |p: &Path| tool(&["getfacl", "-cpn", p.to_str().unwrap()]);
    assert_eq!(acl(&a.join("state.db")), acl(&b.join("state.db")));
    assert!(acl(&b.join("state.db")).contains("user:1000:rw-"));
    assert!(tool(&["getfattr", "-d", b.join("state.db").to_str().unwrap()]).contains("user.origin=\"kept\""));
    assert!(a.join("state.db").exists(), "the original stays until the next boot");
    assert_eq!(
        std::fs::metadata(r.join("persist/var/lib")).unwrap().mode() & 0o777,
        0o755,
        "parents made like the original's"
    );

    let toml = std::fs::read_to_string(r.join("etc/nixos/blankroot.toml")).unwrap();
    assert!(toml.contains("# keep the tailscale state too?\n"), "comments kept:\n{toml}");
    assert!(
        toml.contains("directories = [\"/etc/nixos\", \"/var/lib/nixos\", \"/var/log\", \"/var/lib/foo\"]"),
        "{toml}"
    );
    let nix = std::fs::read_to_string(r.join("etc/nixos/blankroot.nix")).unwrap();
    assert!(nix.contains("fileSystems.\"/var/lib/foo\" = {\n    device = \"/persist/var/lib/foo\";"), "{nix}");
    assert!(
        Command::new("nix-instantiate")
            .args(["--parse", r.join("etc/nixos/blankroot.nix").to_str().unwrap()])
            .output()
            .unwrap()
            .status
            .success()
    );
    // Again: refused, nothing changes.
    let e = persist(r, &["/var/lib/foo"], false).unwrap_err();
    assert!(e.message.contains("persisted already"), "{e}");
}

#[test]
fn a_file_and_a_new_directory() {
    let dir = installed();
    let r = dir.path();
    let kept = persist(r, &["/etc/adjtime", "/var/lib/new"], true).unwrap();
    assert!(!kept[0].directory && kept[1].created, "{kept:?}");
    assert_eq!(std::fs::read_to_string(r.join("persist/etc/adjtime")).unwrap(), "0.0 0 0\n");
    assert!(r.join("persist/var/lib/new").is_dir());
    let toml = std::fs::read_to_string(r.join("etc/nixos/blankroot.toml")).unwrap();
    assert!(toml.contains("files = [\"/etc/machine-id\", \"/etc/adjtime\"]"), "{toml}");
    let nix = std::fs::read_to_string(r.join("etc/nixos/blankroot.nix")).unwrap();
    assert!(nix.contains("environment.etc.\"adjtime\".source = \"/persist/etc/adjtime\";"), "{nix}");
}

/// Everything in the installation, byte for byte.
fn snapshot(r: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut todo = vec![r.to_path_buf()];
    while let Some(p) = todo.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let e = e.unwrap().path();
            let m = std::fs::symlink_metadata(&e).unwrap();
            let rel = e.strip_prefix(r).unwrap().display().to_string();
            if m.is_dir() {
                todo.push(e);
                out.push((rel, Vec::new()));
            } else if m.is_file() {
                out.push((rel, std::fs::read(&e).unwrap()));
            } else {
                out.push((rel, std::fs::read_link(&e).unwrap().display().to_string().into_bytes()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn refusals_change_nothing() {
    let dir = installed();
    let r = dir.path();
    let before = snapshot(r);
    for (paths, create, says, hint) in [
        (vec!["/nix/store"], false, "is under /nix", "root dataset"),
        (vec!["/boot/loader"], false, "is under /boot", "root dataset"),
        (vec!["/persist/x"], false, "is under /persist", "root dataset"),
        (vec!["/home/alice"], false, "its own dataset", "remove it"),
        (vec!["/etc/nixos/configuration.nix"], false, "inside the persisted directory /etc/nixos", "nothing to do"),
        (vec!["/var/lib"], false, "contains the persisted path /var/lib/nixos", "one by one"),
        (vec!["/var/lib/missing"], false, "/var/lib/missing does not exist", "--create"),
        (vec!["relative/path"], false, "absolute path", "/var/lib/foo"),
        (
            vec!["/var/lib/foo", "/var/lib/foo/sub"],
            false,
            "inside the persisted directory /var/lib/foo",
            "nothing to do",
        ),
    ] {
        let e = persist(r, &paths, create).unwrap_err();
        assert!(e.message.contains(says), "{paths:?}: {e}");
        assert!(e.hint.as_deref().unwrap_or_default().contains(hint), "{paths:?}: {e}");
        assert_eq!(snapshot(r), before, "{paths:?} changed something");
    }
    // Something already in /persist is never overwritten.
    std::fs::create_dir_all(r.join("persist/var/lib/foo")).unwrap();
    let before = snapshot(r);
    let e = persist(r, &["/var/lib/foo"], false).unwrap_err();
    assert!(e.message.contains("exists already"), "{e}");
    assert_eq!(snapshot(r), before);
}

#[test]
fn a_hand_edited_module_or_an_unwritable_config_is_refused() {
    let dir = installed();
    let r = dir.path();
    let nix = r.join("etc/nixos/blankroot.nix");
    let text = std::fs::read_to_string(&nix).unwrap();
    std::fs::write(&nix, text.replace("consoleMode = \"max\"", "consoleMode = \"auto\"")).unwrap();
    let before = snapshot(r);
    let e = persist(r, &["/var/lib/foo"], false).unwrap_err();
    assert!(e.message.contains("edited by hand") && e.hint.unwrap().contains("configuration.nix"), "{}", e.message);
    assert_eq!(snapshot(r), before);
    std::fs::write(&nix, text).unwrap();
    // A read-only /etc/nixos: refused before anything is copied.
    let etc = r.join("etc/nixos");
    Command::new("mount").args(["--bind", etc.to_str().unwrap(), etc.to_str().unwrap()]).status().unwrap();
    Command::new("mount").args(["-o", "remount,bind,ro", etc.to_str().unwrap()]).status().unwrap();
    let e = persist(r, &["/var/lib/foo"], false);
    Command::new("umount").arg(&etc).status().unwrap();
    let e = e.unwrap_err();
    assert!(e.message.contains("cannot write") && e.message.contains("blankroot.toml"), "{e}");
    assert!(!r.join("persist/var/lib/foo").exists(), "nothing copied");
}

#[test]
fn a_copy_that_fails_half_way_loses_nothing() {
    let dir = installed();
    let r = dir.path();
    // A /persist with room for the first file and not the rest.
    let persist_dir = r.join("persist");
    assert!(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs", persist_dir.to_str().unwrap()])
            .status()
            .unwrap()
            .success()
    );
    let before_toml = std::fs::read(r.join("etc/nixos/blankroot.toml")).unwrap();
    let result = persist(r, &["/etc/adjtime", "/var/lib/foo"], false);
    let left: Vec<String> = walk(&persist_dir);
    Command::new("umount").arg(&persist_dir).status().unwrap();
    let e = result.unwrap_err();
    assert!(e.message.contains("copying /var/lib/foo into /persist failed"), "{e}");
    assert!(e.causes.iter().any(|c| c.contains("No space left on device")), "{:?}", e.causes);
    assert!(e.causes.iter().any(|c| c.contains("nothing was changed")), "{:?}", e.causes);
    assert_eq!(left, Vec::<String>::new(), "the copies this run made are gone");
    assert_eq!(std::fs::read(r.join("etc/nixos/blankroot.toml")).unwrap(), before_toml, "config unchanged");
    assert_eq!(std::fs::read(r.join("var/lib/foo/state.db")).unwrap(), vec![7u8; 100_000], "the original intact");
}

fn walk(p: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

// --- blankroot.toml and blankroot.nix are rewritten safely (`blankroot::infra::fsutil`).

fn sha(p: &Path) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(std::fs::read(p).unwrap()).to_vec()
}

#[test]
fn the_config_files_keep_owner_mode_and_crlf() {
    let dir = installed();
    let r = dir.path();
    let (toml, nix) = (r.join("etc/nixos/blankroot.toml"), r.join("etc/nixos/blankroot.nix"));
    let crlf = std::fs::read_to_string(&toml).unwrap().replace('\n', "\r\n");
    std::fs::write(&toml, crlf).unwrap();
    for (f, mode) in [(&toml, 0o640), (&nix, 0o604)] {
        std::os::unix::fs::chown(f, Some(1234), Some(5678)).unwrap();
        std::fs::set_permissions(f, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    persist(r, &["/etc/adjtime"], false).unwrap();
    for (f, mode) in [(&toml, 0o640), (&nix, 0o604)] {
        let m = std::fs::symlink_metadata(f).unwrap();
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()), (1234, 5678, mode, 1), "{}", f.display());
    }
    let text = std::fs::read_to_string(&toml).unwrap();
    assert!(text.contains("\"/etc/adjtime\"]\r\n"), "{text}");
    assert_eq!(text.matches('\n').count(), text.matches("\r\n").count(), "CRLF kept:\n{text:?}");
    let names: Vec<String> = walk(&r.join("etc/nixos")).into_iter().filter(|n| n.starts_with('.')).collect();
    assert_eq!(names, Vec::<String>::new(), "no temporary file left");
}

#[test]
fn a_linked_config_is_followed_inside_the_root_and_refused_outside() {
    let dir = installed();
    let r = dir.path();
    let toml = r.join("etc/nixos/blankroot.toml");
    // Inside the root: the file it names is edited, the link stays.
    std::fs::create_dir_all(r.join("srv/config")).unwrap();
    std::fs::rename(&toml, r.join("srv/config/blankroot.toml")).unwrap();
    std::os::unix::fs::symlink("../../srv/config/blankroot.toml", &toml).unwrap();
    persist(r, &["/etc/adjtime"], false).unwrap();
    assert!(std::fs::symlink_metadata(&toml).unwrap().file_type().is_symlink());
    assert!(std::fs::read_to_string(r.join("srv/config/blankroot.toml")).unwrap().contains("\"/etc/adjtime\""));
    // Outside it (with --root, an absolute link names a file of the running system): refused
    // before anything is copied.
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("blankroot.toml");
    std::fs::copy(r.join("srv/config/blankroot.toml"), &victim).unwrap();
    std::fs::remove_file(&toml).unwrap();
    std::os::unix::fs::symlink(&victim, &toml).unwrap();
    let (before, hash) = (snapshot(r), sha(&victim));
    let e = persist(r, &["/var/lib/foo"], false).unwrap_err();
    assert!(e.message.contains("leads outside") && e.hint.is_some(), "{e}");
    assert_eq!((snapshot(r), sha(&victim)), (before, hash), "nothing changed");
}

#[test]
fn links_planted_at_temporary_names_are_not_followed_and_hard_links_are_refused() {
    let dir = installed();
    let r = dir.path();
    let victim_dir = tempfile::tempdir().unwrap();
    let victim = victim_dir.path().join("shadow");
    std::fs::write(&victim, "root:*:19000::::::\n").unwrap();
    let hash = sha(&victim);
    // The names the writers used to take: fixed, or the process id.
    let pid = std::process::id();
    std::fs::create_dir_all(r.join("persist/etc")).unwrap();
    let planted = [
        r.join("etc/nixos/.blankroot.toml.tmp"),
        r.join("etc/nixos/.blankroot.nix.tmp"),
        r.join(format!("etc/nixos/.blankroot-write-test-{pid}")),
        r.join(format!("persist/etc/.adjtime.blankroot-copy-{pid}")),
    ];
    for p in &planted {
        std::os::unix::fs::symlink(&victim, p).unwrap();
    }
    persist(r, &["/etc/adjtime"], false).unwrap();
    assert_eq!(sha(&victim), hash, "the planted links' target is untouched");
    for p in &planted {
        assert!(std::fs::symlink_metadata(p).unwrap().file_type().is_symlink(), "{}", p.display());
    }
    assert_eq!(std::fs::read_to_string(r.join("persist/etc/adjtime")).unwrap(), "0.0 0 0\n");
    // A hard-linked blankroot.nix: replacing it would leave the other name stale; refused
    // before anything is copied.
    let nix = r.join("etc/nixos/blankroot.nix");
    std::fs::hard_link(&nix, r.join("nix-elsewhere")).unwrap();
    let before = snapshot(r);
    let e = persist(r, &["/var/lib/foo"], false).unwrap_err();
    assert!(e.message.contains("has 2 hard links") && e.hint.is_some(), "{e}");
    assert_eq!(snapshot(r), before);
}
