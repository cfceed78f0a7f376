//! Unit tests of `fsutil`: what is replaced, kept, followed and refused, and that a refusal or a
//! failure leaves everything as it was with no temporary file behind. (Runs as root: owners
//! are set with chown, and a full disk is a small tmpfs.)

use super::*;
use std::os::unix::fs::{FileTypeExt, symlink};
use std::process::Command;

fn opts(links: Links) -> Opts {
    Opts::new(links, "test hint")
}

/// Every entry of `dir`, sorted, with what it holds (link target or content).
fn listing(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let body = if m.file_type().is_symlink() {
                std::fs::read_link(&p).unwrap().display().to_string().into_bytes()
            } else if m.is_file() {
                std::fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (p.file_name().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect();
    v.sort();
    v
}

fn no_temp_left(dir: &Path) {
    let left: Vec<_> = listing(dir).into_iter().filter(|(n, _)| n.ends_with(TEMP_SUFFIX)).collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn a_replaced_file_keeps_owner_group_and_mode_and_a_new_one_is_made() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("vm.xml");
    std::fs::write(&f, "old").unwrap();
    std::os::unix::fs::chown(&f, Some(1234), Some(5678)).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o640)).unwrap();
    write(&f, b"new", &opts(Links::Refuse)).unwrap();
    let m = std::fs::symlink_metadata(&f).unwrap();
    assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777, m.nlink()), (1234, 5678, 0o640, 1));
    assert_eq!(std::fs::read(&f).unwrap(), b"new");
    // Set-id bits survive the chown (fchmod comes after fchown).
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o2750)).unwrap();
    write(&f, b"again", &opts(Links::Refuse)).unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o2750);
    // A forced mode applies to an existing file too.
    write(&f, b"private", &Opts { mode: Some(0o600), ..opts(Links::Refuse) }).unwrap();
    assert_eq!(std::fs::metadata(&f).unwrap().mode() & 0o7777, 0o600);
    // A new file.
    let n = d.path().join("new.json");
    write(&n, b"{}", &Opts { new_mode: 0o600, ..opts(Links::Refuse) }).unwrap();
    assert_eq!((std::fs::read(&n).unwrap(), std::fs::metadata(&n).unwrap().mode() & 0o777), (b"{}".to_vec(), 0o600));
    no_temp_left(d.path());
}

#[test]
fn a_link_is_refused_or_its_file_replaced_in_place_never_turned_into_a_file() {
    let d = tempfile::tempdir().unwrap();
    let real = d.path().join("real.xml");
    std::fs::write(&real, "real").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o604)).unwrap();
    let link = d.path().join("link.xml");
    symlink("real.xml", &link).unwrap();
    let e = write(&link, b"new", &opts(Links::Refuse)).unwrap_err();
    assert!(e.message.contains("is a symbolic link") && e.hint.as_deref().unwrap().contains("remove the link"), "{e}");
    assert_eq!(std::fs::read(&real).unwrap(), b"real");
    // Followed: the file it names is replaced, the link stays the same link.
    write(&link, b"new", &opts(Links::Follow)).unwrap();
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("real.xml"));
    assert_eq!(std::fs::read(&real).unwrap(), b"new");
    assert_eq!(std::fs::metadata(&real).unwrap().mode() & 0o777, 0o604);
    // A chain of links is followed to its end.
    let chain = d.path().join("chain");
    symlink(&link, &chain).unwrap();
    write(&chain, b"third", &opts(Links::Follow)).unwrap();
    assert_eq!(std::fs::read(&real).unwrap(), b"third");
    // A loop and a dangling link are refused, nothing is created.
    symlink("loop-b", d.path().join("loop-a")).unwrap();
    symlink("loop-a", d.path().join("loop-b")).unwrap();
    let e = write(&d.path().join("loop-a"), b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("more than 40 symbolic links"), "{e}");
    symlink("missing", d.path().join("dangling")).unwrap();
    let e = write(&d.path().join("dangling"), b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("does not exist"), "{e}");
    assert!(!d.path().join("missing").exists());
    no_temp_left(d.path());
}

#[test]
fn a_link_out_of_the_root_or_planted_in_a_sticky_directory_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    let victim = outside.path().join("shadow");
    std::fs::write(&victim, "secret").unwrap();
    let root = tempfile::tempdir().unwrap();
    let etc = root.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    symlink(&victim, etc.join("blankroot.toml")).unwrap();
    let within = opts(Links::FollowWithin(root.path().into()));
    let e = write(&etc.join("blankroot.toml"), b"x", &within).unwrap_err();
    assert!(e.message.contains("leads outside"), "{e}");
    std::fs::write(etc.join("real"), "r").unwrap();
    symlink("real", etc.join("inner")).unwrap();
    write(&etc.join("inner"), b"inside", &within).unwrap();
    assert_eq!(std::fs::read(etc.join("real")).unwrap(), b"inside");
    // A link owned by another user in a sticky, world-writable directory owned by root (/tmp).
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let planted = tmp.join("plan.json");
    symlink(&victim, &planted).unwrap();
    std::os::unix::fs::lchown(&planted, Some(1234), Some(1234)).unwrap();
    let e = write(&planted, b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("sticky, world-writable"), "{e}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"secret");
    // Its owner's own link there is followed, as the kernel would.
    std::os::unix::fs::lchown(&planted, Some(0), Some(0)).unwrap();
    write(&planted, b"mine", &opts(Links::Follow)).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"mine");
}

#[test]
fn hard_links_directories_and_fifos_are_refused_and_left_alone() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a");
    std::fs::write(&a, "a").unwrap();
    std::fs::hard_link(&a, d.path().join("b")).unwrap();
    let e = write(&a, b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("has 2 hard links") && e.hint.is_some(), "{e}");
    assert_eq!(e.kind, crate::error::ErrorKind::Input);
    std::fs::create_dir(d.path().join("dir")).unwrap();
    let e = write(&d.path().join("dir"), b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("is a directory, not a regular file"), "{e}");
    assert!(Command::new("mkfifo").arg(d.path().join("fifo")).status().unwrap().success());
    let e = check(&d.path().join("fifo"), &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("is a fifo"), "{e}");
    let e = write(&d.path().join("fifo"), b"x", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("is a fifo"), "{e}");
    let before = listing(d.path());
    assert_eq!(before.iter().find(|(n, _)| n == "b").unwrap().1, b"a");
    no_temp_left(d.path());
}

#[test]
fn temporary_names_are_fresh_and_exclusive() {
    let d = tempfile::tempdir().unwrap();
    let target = d.path().join("receipt.json");
    let victim = d.path().join("victim");
    std::fs::write(&victim, "untouched").unwrap();
    // Links planted at the names a fixed-name writer would use are never opened.
    for n in [".receipt.json.tmp", ".receipt.json.blankroot-tmp", "receipt.json.tmp"] {
        symlink(&victim, d.path().join(n)).unwrap();
    }
    let (tmp, f) = temp_file(d.path(), &target, 0o600).unwrap();
    let m = f.metadata().unwrap();
    assert_eq!((m.mode() & 0o777, m.nlink()), (0o600, 1));
    let name = tmp.file_name().unwrap().to_str().unwrap();
    assert!(name.starts_with(".receipt.json.") && name.ends_with(TEMP_SUFFIX) && name.len() == 14 + 16 + 14, "{name}");
    let (tmp2, _) = temp_file(d.path(), &target, 0o600).unwrap();
    assert_ne!(tmp, tmp2);
    std::fs::remove_file(&tmp).unwrap();
    std::fs::remove_file(&tmp2).unwrap();
    write(&target, b"{}", &opts(Links::Refuse)).unwrap();
    assert_eq!(std::fs::read(&victim).unwrap(), b"untouched");
    let dir = temp_dir(d.path(), "foo").unwrap();
    assert_eq!(std::fs::symlink_metadata(&dir).unwrap().mode() & 0o7777, 0o40700 & 0o7777);
    // check() makes and removes its probe.
    check(&target, &opts(Links::Refuse)).unwrap();
    std::fs::remove_dir(&dir).unwrap();
    std::fs::remove_file(d.path().join(".receipt.json.blankroot-tmp")).unwrap();
    no_temp_left(d.path());
}

#[test]
fn a_full_disk_leaves_the_original_and_no_temporary_file() {
    let d = tempfile::tempdir().unwrap();
    let mnt = d.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let ok = Command::new("mount").args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"]).arg(&mnt).status().unwrap();
    assert!(ok.success());
    let f = mnt.join("blankroot.toml");
    let result = std::fs::write(&f, "original\n").map(|()| write(&f, &vec![b'x'; 256 << 10], &opts(Links::Follow)));
    let after = std::fs::read(&f);
    let left = listing(&mnt);
    Command::new("umount").arg(&mnt).status().unwrap();
    let e = result.unwrap().unwrap_err();
    assert!(e.message.contains("cannot write") && e.hint.as_deref() == Some("test hint"), "{e}");
    assert!(e.causes.iter().any(|c| c.contains("No space left")), "{:?}", e.causes);
    assert_eq!(after.unwrap(), b"original\n");
    assert_eq!(left, vec![("blankroot.toml".to_string(), b"original\n".to_vec())]);
}

#[test]
fn crlf_stays_crlf_and_lf_or_mixed_stays_as_given() {
    assert_eq!(keep_line_endings("<a>\r\n</a>\r\n", "<a>\r\n  <b/>\n</a>\r\n"), "<a>\r\n  <b/>\r\n</a>\r\n");
    assert_eq!(keep_line_endings("<a>\r\n</a>", "x\ny\n"), "x\r\ny\r\n");
    assert_eq!(keep_line_endings("<a>\n</a>\n", "x\ny\n"), "x\ny\n");
    assert_eq!(keep_line_endings("a\r\nb\n", "x\ny\n"), "x\ny\n", "a mixed original: new text as given");
    assert_eq!(keep_line_endings("", "x\n"), "x\n");
    assert_eq!(keep_line_endings("a\r\n", "é\n\u{1F600}\r\n"), "é\r\n\u{1F600}\r\n");
}

#[test]
fn pipes_and_devices_are_written_to_only_when_streams_are_allowed() {
    let streams = Opts { streams: true, ..opts(Links::Follow) };
    write(Path::new("/dev/null"), b"plan", &streams).unwrap();
    let e = write(Path::new("/dev/null"), b"plan", &opts(Links::Follow)).unwrap_err();
    assert!(e.message.contains("is a device, not a regular file"), "{e}");
    let e = write(Path::new("/dev/full"), b"plan", &streams).unwrap_err();
    assert!(e.message.contains("cannot write") && e.causes[0].contains("No space left"), "{e}");
    // A fifo with a reader (a process substitution's /dev/fd/N is one).
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    write(&fifo, b"through the pipe", &streams).unwrap();
    assert_eq!(reader.join().unwrap(), b"through the pipe");
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "still a fifo");
}
