//! The static binary (scripts/build-static) where no dynamic loader exists: what users copy
//! onto the NixOS minimal ISO (no /lib64/ld-linux-x86-64.so.2) and what the installed system
//! keeps in /persist. Checked with the real readelf, file and nm, then run by chroot(2) in an
//! empty root that holds nothing but the binary (and the one file a command reads): no loader,
//! no libraries, no /etc, /proc, /dev, /tmp or /nix. A control run of the normal (dynamic)
//! build in the same kind of root fails, so the root really has no loader. The VM tier runs the
//! same binary for the real install and from /persist after the rollback (vm_e2e).

use crate::common;
use std::path::Path;
use std::process::{Command, Output};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tool(argv: &[&str], file: &Path) -> String {
    let out = Command::new(argv[0]).args(&argv[1..]).arg(file).output().unwrap();
    assert!(out.status.success(), "{argv:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// A new empty root with `bin` as /blankroot (and `files` beside it); runs it there.
fn in_empty_root(bin: &Path, files: &[(&str, &[u8])], args: &[&str]) -> (Output, tempfile::TempDir) {
    let root = tempfile::tempdir().unwrap();
    std::fs::copy(bin, root.path().join("blankroot")).unwrap();
    for (name, bytes) in files {
        std::fs::write(root.path().join(name), bytes).unwrap();
    }
    let names: Vec<String> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 1 + files.len(), "the root holds only the binary and its inputs: {names:?}");
    // chroot(8) found on this PATH; blankroot itself gets an empty environment (no PATH).
    let chroot = Command::new("sh").args(["-c", "command -v chroot"]).output().unwrap();
    let chroot = text(&chroot.stdout).trim().to_string();
    assert!(!chroot.is_empty(), "chroot (coreutils) is missing");
    let out = Command::new(chroot).arg(root.path()).arg("/blankroot").args(args).env_clear().output().unwrap();
    (out, root)
}

#[test]
#[ignore = "needs the static build (scripts/build-static) and root for chroot; run by scripts/test"]
fn the_static_binary_needs_no_loader_and_no_library() {
    let bin = common::static_binary();
    let program_headers = tool(&["readelf", "-lW"], &bin);
    assert!(program_headers.contains("LOAD"), "{program_headers}");
    assert!(!program_headers.contains("INTERP"), "a loader is named:\n{program_headers}");
    let dynamic = Command::new("readelf").arg("-dW").arg(&bin).output().unwrap();
    assert!(!text(&dynamic.stdout).contains("(NEEDED)"), "shared libraries:\n{}", text(&dynamic.stdout));
    let kind = tool(&["file", "-b"], &bin);
    assert!(kind.contains("ELF 64-bit") && kind.contains("x86-64") && kind.contains("static"), "{kind}");
    assert_eq!(blankroot::infra::elf::is_static(&std::fs::read(&bin).unwrap()), Ok(true));
    // The normal build is the counterexample the checks must tell apart.
    let normal = std::fs::read(env!("CARGO_BIN_EXE_blankroot")).unwrap();
    assert_eq!(blankroot::infra::elf::is_static(&normal), Ok(false));
    println!("checked: {} is {}: no PT_INTERP, no NEEDED", bin.display(), kind.trim());
}

#[test]
#[ignore = "needs the static build (scripts/build-static) and root for chroot; run by scripts/test"]
fn the_static_binary_calls_no_nss_function() {
    // glibc's NSS functions dlopen libnss_*.so at run time, which a static binary cannot do (and
    // a musl one reads only /etc files); blankroot must not depend on them at all.
    let symbols = tool(&["nm"], &common::static_binary());
    let defined: Vec<&str> = symbols.lines().filter_map(|l| l.split_whitespace().nth(2)).collect();
    assert!(defined.len() > 1000, "nm shows symbols ({} seen): an unstripped build", defined.len());
    let nss = [
        "getpwnam",
        "getpwnam_r",
        "getpwuid",
        "getpwuid_r",
        "getgrnam",
        "getgrnam_r",
        "getgrgid",
        "getgrgid_r",
        "getaddrinfo",
        "gethostbyname",
        "gethostbyname_r",
        "gethostbyaddr",
        "getservbyname",
        "getspnam",
        "initgroups",
        "getgrouplist",
        "dlopen",
    ];
    let found: Vec<&&str> = nss.iter().filter(|f| defined.contains(f)).collect();
    assert!(found.is_empty(), "the static binary links NSS or loader functions: {found:?}");
    println!("checked: none of {} NSS/loader functions is linked ({} symbols)", nss.len(), defined.len());
}

#[test]
#[ignore = "needs the static build (scripts/build-static) and root for chroot; run by scripts/test"]
fn the_static_binary_works_in_an_empty_root() {
    let bin = common::static_binary();
    // Control: the normal build cannot even start there (the kernel finds no loader).
    let (out, _) = in_empty_root(Path::new(env!("CARGO_BIN_EXE_blankroot")), &[], &["--version"]);
    assert!(!out.status.success(), "the dynamic build ran without a loader: the root is not empty");
    let (out, _) = in_empty_root(&bin, &[], &["--version"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), format!("blankroot {}", env!("CARGO_PKG_VERSION")));

    let (out, _) = in_empty_root(&bin, &[], &["plan", "--example"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let plan = text(&out.stdout);
    assert!(plan.contains("[keep-blankroot]") && plan.contains("Nothing has been changed"), "{plan}");
    let (out, _) = in_empty_root(&bin, &[], &["plan", "--example", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let p = blankroot::plan::Plan::from_json(&text(&out.stdout)).unwrap();
    assert!(p.steps.len() > 20 && p.steps.iter().any(|s| s.id == "luks-format"));

    let xml = std::fs::read(common::fixture("libvirt/virt-install-q35-bios.xml")).unwrap();
    let (out, root) = in_empty_root(&bin, &[("vm.xml", &xml)], &["libvirt", "--xml", "/vm.xml", "--yes"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let fixed = std::fs::read_to_string(root.path().join("vm.xml")).unwrap();
    let efi = fixed.contains("firmware=\"efi\"") || fixed.contains("firmware='efi'");
    assert!(fixed.contains("<serial>") && efi, "{fixed}");
    // Errors are reported as anywhere else (no terminal, no /dev/tty): bad input, exit 2.
    let (out, _) = in_empty_root(&bin, &[], &["plan", "--example", "--host-id", "xyz"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).starts_with("error: --host-id"), "{}", text(&out.stderr));
    println!("checked: --version, plan --example (text and JSON), libvirt --xml and an error, in an empty root");
}
