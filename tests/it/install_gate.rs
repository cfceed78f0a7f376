//! The install's gates, with the example machine's facts: a busy disk is refused listing what
//! holds it, a non-empty one needs --wipe, the confirmation must name the disk, BIOS and missing
//! tools are refused for the phases that need them, and a plan for another disk is refused.
//! (Execution on real disks is tested in the VM tier.)

use crate::common;

use blankroot::commands::install::secrets::gather;
use blankroot::commands::install::{Options, confirm, disk_state, gate, verify_machine};
use blankroot::config::Account;
use blankroot::error::ErrorKind;
use blankroot::infra::prompt::Prompter;
use blankroot::infra::secret::Secret;
use blankroot::plan::{self, Identities, Phase, Plan, SecretName};
use blankroot::probe::{BlockDevice, Facts, Firmware};

fn facts() -> Facts {
    blankroot::example::facts().unwrap()
}

fn plan(f: &Facts) -> Plan {
    let c = common::config("seed-defaults");
    let t = plan::target::from_facts(f, "/dev/vda").unwrap();
    plan::build(&c, &t, &Identities::fixed(3, None)).unwrap()
}

fn vda(f: &mut Facts) -> &mut BlockDevice {
    f.block_devices.iter_mut().find(|d| d.name == "vda").unwrap()
}

fn part(name: &str, fstype: &str, mount: Option<&str>) -> BlockDevice {
    BlockDevice {
        name: name.into(),
        kname: name.into(),
        path: format!("/dev/{name}"),
        kind: "part".into(),
        size_bytes: 1 << 30,
        fstype: Some(fstype.into()),
        mountpoints: mount.map(|m| vec![m.to_string()]).unwrap_or_default(),
        ..Default::default()
    }
}

fn opts() -> Options {
    Options { yes: true, state_dir: "/nonexistent".into(), ..Default::default() }
}

/// The example machine (the NixOS installer: the ZFS module loadable) as the gate asks it.
fn host() -> blankroot::infra::runner::Recording {
    blankroot::example::machine()
}

fn gate_err(f: &Facts, o: &Options) -> blankroot::error::Error {
    let p = plan(&facts());
    verify_machine(&p, f).unwrap();
    gate(&host(), &p, f, false, o).unwrap_err()
}

#[test]
fn an_empty_disk_passes() {
    let f = facts();
    let p = plan(&f);
    verify_machine(&p, &f).unwrap();
    gate(&host(), &p, &f, false, &opts()).unwrap();
}

#[test]
fn mounted_partition_is_refused_and_named() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "ext4", Some("/data")));
    let e = gate_err(&f, &Options { wipe: true, ..opts() });
    assert_eq!(e.kind, ErrorKind::Environment);
    assert!(e.message.contains("/dev/vda is in use"), "{}", e.message);
    assert!(e.message.contains("vda1 is mounted at /data"), "{}", e.message);
    assert!(e.hint.unwrap().contains("nothing was changed"));
}

#[test]
fn active_swap_is_refused() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "swap", Some("[SWAP]")));
    let e = gate_err(&f, &Options { wipe: true, ..opts() });
    assert!(e.message.contains("vda1 is swap, in use"), "{}", e.message);
}

#[test]
fn open_luks_mapping_is_refused() {
    let mut f = facts();
    let mut p = part("vda2", "crypto_LUKS", None);
    p.children.push(BlockDevice {
        name: "cryptroot".into(),
        kname: "dm-0".into(),
        path: "/dev/mapper/cryptroot".into(),
        kind: "crypt".into(),
        fstype: Some("zfs_member".into()),
        label: Some("rpool".into()),
        ..Default::default()
    });
    vda(&mut f).children.push(p);
    let e = gate_err(&f, &Options { wipe: true, ..opts() });
    assert!(e.message.contains("vda2 is open as /dev/mapper/cryptroot"), "{}", e.message);
}

#[test]
fn partitions_without_wipe_are_refused_with_the_flag_named() {
    let mut f = facts();
    vda(&mut f).pttype = Some("gpt".into());
    vda(&mut f).children.push(part("vda1", "vfat", None));
    let e = gate_err(&f, &opts());
    assert_eq!(e.kind, ErrorKind::Input);
    assert!(e.message.contains("/dev/vda is not empty: vda has 1 gpt partition: vda1"), "{}", e.message);
    assert!(e.hint.unwrap().contains("--wipe"));
    // With --wipe an unused disk with partitions is accepted.
    let p = plan(&facts());
    verify_machine(&p, &f).unwrap();
    gate(&host(), &p, &f, false, &Options { wipe: true, ..opts() }).unwrap();
}

#[test]
fn our_own_disk_resumes_without_wipe() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "vfat", Some("/mnt/boot")));
    let p = plan(&facts());
    verify_machine(&p, &f).unwrap();
    gate(&host(), &p, &f, true, &opts()).unwrap();
}

#[test]
fn bios_is_refused_only_when_the_install_phase_runs() {
    let mut f = facts();
    f.firmware = Firmware::Bios;
    let e = gate_err(&f, &opts());
    assert!(e.message.contains("BIOS firmware"));
    assert!(e.hint.unwrap().contains("--until config"));
    let p = plan(&facts());
    verify_machine(&p, &f).unwrap();
    gate(&host(), &p, &f, false, &Options { until: Some(Phase::Config), ..opts() }).unwrap();
}

#[test]
fn missing_tools_are_listed() {
    let mut f = facts();
    f.commands.insert("zpool".into(), false);
    f.commands.insert("nixos-install".into(), false);
    let e = gate_err(&f, &opts());
    assert_eq!(e.message, "this machine lacks zpool");
    assert_eq!(e.causes, ["also: this machine lacks nixos-install"]);
    assert_eq!(e.kind, ErrorKind::Environment);
    let p = plan(&facts());
    verify_machine(&p, &f).unwrap();
    let e = gate(&host(), &p, &f, false, &Options { until: Some(Phase::Config), ..opts() }).unwrap_err();
    assert_eq!(e.message, "this machine lacks zpool");
    assert!(e.causes.is_empty(), "nixos-install is not needed until config: {:?}", e.causes);
    // Only what the phases to run need: until the disk phase, zpool is not needed either.
    gate(&host(), &p, &f, false, &Options { until: Some(Phase::Disk), ..opts() }).unwrap();
}

#[test]
fn a_plan_for_another_disk_is_refused() {
    let mut f = facts();
    vda(&mut f).size_bytes = 40 << 30;
    let e = verify_machine(&plan(&facts()), &f).unwrap_err();
    assert!(e.message.contains("the plan was made for another machine or disk"), "{}", e.message);
    assert!(e.message.contains("its size is now 42949672960 bytes"), "{}", e.message);
    let mut f = facts();
    f.block_devices.retain(|d| d.name != "vda");
    assert!(verify_machine(&plan(&facts()), &f).is_err());
}

struct Script {
    tty: bool,
    answers: Vec<String>,
}

impl Prompter for Script {
    fn interactive(&self) -> bool {
        self.tty
    }
    fn secret(&mut self, _: &str) -> blankroot::error::Result<Secret> {
        Ok(Secret::new(self.answers.remove(0)))
    }
    fn line(&mut self, _: &str) -> blankroot::error::Result<String> {
        Ok(self.answers.remove(0))
    }
}

#[test]
fn confirmation_must_name_the_disk() {
    let f = facts();
    let p = plan(&f);
    let now = verify_machine(&p, &f).unwrap();
    let o = Options { yes: false, ..opts() };
    for ok in ["/dev/vda", "virtio-disk01", "/dev/disk/by-id/virtio-disk01"] {
        confirm(&p, &now, &o, &mut Script { tty: true, answers: vec![ok.into()] }).unwrap();
    }
    let e = confirm(&p, &now, &o, &mut Script { tty: true, answers: vec!["yes".into()] }).unwrap_err();
    assert_eq!(e.message, "not confirmed; nothing was changed");
    let e = confirm(&p, &now, &o, &mut Script { tty: false, answers: vec![] }).unwrap_err();
    assert!(e.hint.unwrap().contains("--yes"));
}

#[test]
fn secrets_are_gathered_from_prompts_and_files() {
    let f = facts();
    let p = plan(&f);
    let mut s =
        Script { tty: true, answers: vec!["pass phrase".into(), "pass phrase".into(), "pw".into(), "pw".into()] };
    let got = gather(&p, None, &mut s).unwrap();
    assert_eq!(got.names(), ["luks-passphrase", "password:admin"]);
    assert_eq!(got.get(&SecretName::LuksPassphrase).unwrap().expose(), "pass phrase");
    let hash = got.get(&SecretName::Password(Account::named("admin"))).unwrap().expose().to_string();
    assert!(hash.starts_with("$y$j9T$"));
    assert!(blankroot::hash::verify("pw", &hash));

    // No terminal: the passphrase must come from a file, and it says so.
    let e = gather(&p, None, &mut Script { tty: false, answers: vec![] }).unwrap_err();
    assert!(e.hint.unwrap().contains("--passphrase-file"));
    let dir = tempfile::tempdir().unwrap();
    let pf = dir.path().join("pass");
    std::fs::write(&pf, "from file\n").unwrap();
    let e = gather(&p, Some(&pf), &mut Script { tty: false, answers: vec![] }).unwrap_err();
    assert!(e.message.contains("password for admin must be typed"), "{}", e.message);
}

#[test]
fn a_password_file_gives_its_first_line_and_never_an_empty_password() {
    let dir = tempfile::tempdir().unwrap();
    let (pf, pw) = (dir.path().join("pass"), dir.path().join("admin.pw"));
    std::fs::write(&pf, "pass phrase\n").unwrap();
    let text = format!(
        "disk = \"/dev/vda\"\n[[users]]\nname = \"admin\"\ngroups = [\"wheel\"]\npassword_file = \"{}\"\n",
        pw.display()
    );
    let c = blankroot::config::parse_str("blankroot.toml", &text, &Default::default()).unwrap();
    let t = plan::target::from_facts(&facts(), "/dev/vda").unwrap();
    let p = plan::build(&c, &t, &Identities::fixed(3, None)).unwrap();
    let no_tty = || Script { tty: false, answers: vec![] };
    std::fs::write(&pw, "first line\nsecond\n").unwrap();
    let got = gather(&p, Some(&pf), &mut no_tty()).unwrap();
    let hash = got.get(&SecretName::Password(Account::named("admin"))).unwrap().expose().to_string();
    assert!(blankroot::hash::verify("first line", &hash));
    for empty_first in ["\nsecond\n", "\r\nsecond", "\n\n"] {
        std::fs::write(&pw, empty_first).unwrap();
        let e = gather(&p, Some(&pf), &mut no_tty()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Input, "{empty_first:?}: {e}");
        assert_eq!(e.message, format!("the first line of {} is empty", pw.display()), "{empty_first:?}");
        assert!(e.hint.as_deref().is_some_and(|h| h.contains("first line of password_file")), "{e}");
        assert!(!e.render().contains("second"), "the file's other lines are not shown: {e}");
    }
}

/// The fake machine's answer to every check of these steps: they hold.
fn holding(mut r: blankroot::infra::runner::Recording, p: &Plan, ids: &[&str]) -> blankroot::infra::runner::Recording {
    for s in p.steps.iter().filter(|s| ids.contains(&s.id.as_str())) {
        for c in &s.check {
            let argv: Vec<&str> = c.argv.iter().map(String::as_str).collect();
            r = match &c.expect {
                plan::Expect::Stdout(out) => r.answer(&argv, out.as_bytes()),
                plan::Expect::Success => r.answer(&argv, ""),
                plan::Expect::Failure => r.fail(&argv, 1, ""),
            };
        }
    }
    r
}

#[test]
fn disk_state_says_what_the_disk_holds() {
    let p = plan(&facts());
    let mut secrets = blankroot::commands::install::secrets::Secrets::default();
    secrets.insert(SecretName::LuksPassphrase, Secret::new("pass phrase".into()));
    let state = |ids: &[&str]| disk_state(&holding(blankroot::example::machine(), &p, ids), &p, None);
    let s = state(&["partition", "format-esp", "luks-format", "pool-create", "dataset:local/root"]);
    assert_eq!(
        s,
        format!(
            "/dev/vda now holds this plan's GPT (ESP + LUKS partition), a FAT32 ESP {}, a LUKS2 container {}, \
             the pool rpool with 1 of 4 datasets",
            p.ids.esp_uuid, p.ids.luks_uuid
        )
    );
    // Each only on what it lies on: a pool called rpool without this plan's LUKS container is
    // another pool; a LUKS UUID on a disk without this plan's GPT is not this plan's either.
    let s = state(&["partition", "pool-create"]);
    assert_eq!(s, "/dev/vda now holds this plan's GPT (ESP + LUKS partition)");
    let s = state(&["luks-format"]);
    assert_eq!(s, "/dev/vda now holds nothing blankroot can see, none of it this plan's");
}

/// `blankroot install` itself, twice on one state directory: the first holds its lock (it
/// waits to read its config from a fifo), so the second is refused at once, naming the first
/// by pid and command line; once the first is killed (SIGKILL, as a crash), the lock is gone
/// with it. The disk named does not exist, so nothing here can reach a disk.
#[test]
fn a_second_install_on_a_state_directory_is_refused_until_the_first_ends() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let fifo = dir.path().join("config.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let bin = env!("CARGO_BIN_EXE_blankroot");
    let args = ["install", "--disk", "/dev/blankroot-test-no-such-disk", "--yes", "--until", "disk", "--state-dir"];
    let mut first = Command::new(bin)
        .args(args)
        .arg(&state)
        .arg("--config")
        .arg(&fifo)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = first.id();
    // Its record appears once it holds the lock (bounded: a first run that never gets there
    // fails the test).
    let lock = state.join("lock");
    let start = std::time::Instant::now();
    while !std::fs::read_to_string(&lock).is_ok_and(|t| t.contains(&format!("\"pid\":{pid},"))) {
        assert!(start.elapsed().as_secs() < 60, "the first run never recorded its lock");
        assert!(first.try_wait().unwrap().is_none(), "the first run ended early");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let second = Command::new(bin).args(args).arg(&state).output().unwrap();
    let err = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(3), "{err}");
    let shown = state.display();
    assert!(
        err.starts_with(&format!("error: the state directory \"{shown}\" is in use by another blankroot install\n")),
        "{err}"
    );
    assert!(err.contains(&format!("caused by: held by pid {pid} since 20")), "{err}");
    assert!(err.contains(&format!("--config {}", fifo.display())), "the holder's command line: {err}");
    assert!(
        err.contains(&format!("hint: wait for it to end (its receipt: {shown}/receipt.json), or stop it;")),
        "{err}"
    );
    assert!(err.trim_end().ends_with("nothing was changed"), "{err}");
    first.kill().unwrap();
    first.wait().unwrap();
    let third = Command::new(bin).args(args).arg(&state).output().unwrap();
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(!err.contains("in use"), "the lock went with the killed process: {err}");
    assert!(err.contains("/dev/blankroot-test-no-such-disk\" does not exist"), "{err}");
}

#[test]
fn a_disk_under_an_imported_pool_is_refused_even_with_wipe() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "zfs_member", None));
    f.pool_devices.push(blankroot::probe::pools::PoolDevice { pool: "tank".into(), path: "/dev/vda1".into() });
    let e = gate_err(&f, &Options { wipe: true, ..opts() });
    assert!(e.message.contains("vda1 is in the imported ZFS pool tank"), "{}", e.message);
}
