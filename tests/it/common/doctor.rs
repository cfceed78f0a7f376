//! Doctor's fixture machines: a temporary folder stands for a machine's root, the fake runner
//! answers the commands from a table (nix-instantiate runs for real), and an installed system
//! is made from the real generated files of the seed-defaults plan. Used by doctor*.rs.

use blankroot::checks::{Finding, live};
use blankroot::infra::host::LocalHost;
use blankroot::infra::runner::{Cmd, Recording};
use blankroot::plan::Content;
use std::collections::BTreeMap;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;

/// The answers of a fixture machine's commands, as a table a test can copy and change (a later
/// answer for the same argv replaces the earlier one); [`Fake::runner`] makes the fake runner
/// from it, with nix-instantiate run for real.
#[derive(Default, Clone)]
pub struct Fake {
    answers: BTreeMap<Vec<String>, (i32, String)>,
}

impl Fake {
    pub fn on(mut self, argv: &[&str], status: i32, stdout: &str) -> Fake {
        self.answers.insert(argv.iter().map(|s| s.to_string()).collect(), (status, stdout.to_string()));
        self
    }
    pub fn runner(&self) -> Recording {
        let mut r = Recording::new().real("nix-instantiate");
        for (argv, (status, out)) in &self.answers {
            let a: Vec<&str> = argv.iter().map(String::as_str).collect();
            r = if *status == 0 { r.answer(&a, out.as_str()) } else { r.fail(&a, *status, out) };
        }
        r
    }
}

pub fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

pub fn mkdir(root: &Path, path: &str) {
    std::fs::create_dir_all(root.join(path.trim_start_matches('/'))).unwrap();
}

pub fn link(root: &Path, path: &str, target: &str) {
    let p = root.join(path.trim_start_matches('/'));
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    let _ = std::fs::remove_file(&p);
    symlink(target, p).unwrap();
}

pub fn argv(c: Cmd) -> Vec<String> {
    c.argv
}

pub fn find<'a>(fs: &'a [Finding], check: &str) -> &'a Finding {
    fs.iter().find(|f| f.check == check).unwrap_or_else(|| panic!("no {check} finding in {fs:#?}"))
}

pub fn all<'a>(fs: &'a [Finding], check: &str) -> Vec<&'a Finding> {
    fs.iter().filter(|f| f.check == check).collect()
}

pub fn as_str(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

pub fn live_opts(disk: &str) -> live::Options {
    let mut config = super::config("seed-defaults");
    config.disk = disk.into();
    live::Options { config, until: None, disk: live::DiskRule::Report, now_unix: Some(1_795_000_000) }
}

pub const HOSTID: &str = "5eed0007";

/// The start of a static ELF executable as doctor reads one (64-bit, little-endian, program
/// headers LOAD and DYNAMIC, no INTERP): what the install keeps in /persist.
pub fn static_elf() -> Vec<u8> {
    let mut b = vec![0u8; 64 + 56 * 2];
    b[..6].copy_from_slice(b"\x7fELF\x02\x01");
    // ET_DYN (a static-pie), for this machine (EM_X86_64 62, EM_AARCH64 183).
    b[0x10] = 3;
    let machine: u16 = if cfg!(target_arch = "aarch64") { 183 } else { 62 };
    b[0x12..0x14].copy_from_slice(&machine.to_le_bytes());
    b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
    b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
    b[0x38..0x3a].copy_from_slice(&2u16.to_le_bytes());
    b[64..68].copy_from_slice(&1u32.to_le_bytes());
    b[120..124].copy_from_slice(&2u32.to_le_bytes());
    b
}

/// A booted system installed from the seed-defaults plan (its real generated files), every
/// check passing: the mounts as NixOS's stage 1 makes them, /etc as activation makes it.
pub fn installed_machine() -> (tempfile::TempDir, Fake) {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let plan = super::plan_for("seed-defaults");
    assert_eq!(plan.ids.host_id, HOSTID);
    for f in plan.steps.iter().flat_map(|s| &s.files) {
        if let (Some(rel), Content::Text(t)) = (f.path.strip_prefix("/mnt"), &f.content) {
            write(r, rel, t);
        }
    }
    write(
        r,
        "/proc/self/mountinfo",
        "22 1 0:21 / / rw,relatime shared:1 - zfs rpool/local/root rw,xattr,posixacl\n\
         23 22 0:22 / /nix rw,relatime shared:2 - zfs rpool/local/nix rw,xattr,posixacl\n\
         24 22 0:23 / /persist rw,relatime shared:3 - zfs rpool/safe/persist rw,xattr,posixacl\n\
         25 22 0:23 /etc/nixos /etc/nixos rw,relatime shared:3 - zfs rpool/safe/persist rw,xattr,posixacl\n\
         26 22 0:23 /var/lib/nixos /var/lib/nixos rw,relatime shared:3 - zfs rpool/safe/persist rw,xattr,posixacl\n\
         27 22 0:23 /var/log /var/log rw,relatime shared:3 - zfs rpool/safe/persist rw,xattr,posixacl\n\
         28 22 0:24 / /home rw,relatime shared:4 - zfs rpool/safe/home rw,xattr,posixacl\n\
         29 22 254:1 / /boot rw,relatime shared:5 - vfat /dev/vda1 rw,fmask=0077,dmask=0077\n",
    );
    write(r, "/proc/uptime", "42.17 70.01\n");
    std::fs::write(r.join("etc/hostid"), u32::from_str_radix(HOSTID, 16).unwrap().to_ne_bytes()).unwrap();
    write(
        r,
        "/etc/fstab",
        "# This is a generated file.  Do not edit!\n/dev/disk/by-uuid/EAF1-F8FF /boot vfat umask=0077 0 2\n\
         rpool/safe/persist /persist zfs x-initrd.mount 0 0\n",
    );
    link(r, "/etc/machine-id", "/etc/static/machine-id");
    link(r, "/etc/static", "/nix/store/abc-etc/etc");
    link(r, "/nix/store/abc-etc/etc/machine-id", "/persist/etc/machine-id");
    write(r, "/persist/etc/machine-id", "3f464d545b626970777e858c939aa1a8\n");
    write(r, "/persist/etc/ssh/ssh_host_ed25519_key", "key\n");
    let kept = r.join(blankroot::nixgen::KEPT_BLANKROOT.trim_start_matches('/'));
    std::fs::create_dir_all(kept.parent().unwrap()).unwrap();
    std::fs::write(&kept, static_elf()).unwrap();
    std::fs::set_permissions(&kept, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hash = r.join("persist/etc/nixos-secrets/passwords/admin");
    write(r, "/persist/etc/nixos-secrets/passwords/admin", "$y$j9T$salt$hash\n");
    std::fs::set_permissions(&hash, std::fs::Permissions::from_mode(0o600)).unwrap();
    let status = "  pool: rpool\n state: ONLINE\nconfig:\n\n\tNAME         STATE     READ WRITE CKSUM\n\
                  \trpool        ONLINE       0     0     0\n\t  /dev/dm-0  ONLINE       0     0     0\n\nerrors: No known data errors\n";
    let label = format!(
        "------------------------------------\nLABEL 0\n------------------------------------\n    version: 5000\n    name: 'rpool'\n    state: 0\n    txg: 4\n    pool_guid: 123\n    errata: 0\n    hostid: {}\n    hostname: 'nixos'\n",
        u32::from_str_radix(HOSTID, 16).unwrap()
    );
    let fake = Fake::default()
        .on(
            &["zfs", "list", "-H", "-t", "snapshot", "-o", "name", "rpool/local/root@blank"],
            0,
            "rpool/local/root@blank\n",
        )
        .on(&["zfs", "get", "-Hp", "-o", "value", "written@blank", "rpool/local/root"], 0, "1519616\n")
        .on(&["zpool", "status", "-P", "-L", "rpool"], 0, status)
        .on(&["zdb", "-l", "/dev/dm-0"], 0, &label)
        .on(
            &["journalctl", "-b", "-o", "cat", "--no-pager", "-u", "blankroot-rollback.service"],
            0,
            "Starting Roll back rpool/local/root to @blank...\nFinished Roll back rpool/local/root to @blank.\n",
        );
    (dir, fake)
}

pub fn run_installed(dir: &Path, fake: &Fake) -> Vec<Finding> {
    let runner = fake.runner();
    blankroot::checks::installed::check(&LocalHost::fixture(dir, &runner)).unwrap()
}

pub fn edit(dir: &Path, path: &str, from: &str, to: &str) {
    let p = dir.join(path.trim_start_matches('/'));
    let text = std::fs::read_to_string(&p).unwrap();
    assert!(text.contains(from), "{path} has no {from:?}");
    std::fs::write(&p, text.replace(from, to)).unwrap();
}
