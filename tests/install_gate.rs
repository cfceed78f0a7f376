//! The install's gates, with the example machine's facts: a busy disk is refused listing what
//! holds it, a non-empty one needs --wipe, the confirmation must name the disk, BIOS and missing
//! tools are refused for the phases that need them, and a plan for another disk is refused.
//! (Execution on real disks is tested in the VM tier.)

mod common;

use blankroot::error::ErrorKind;
use blankroot::install::secrets::{Prompter, gather};
use blankroot::install::{Options, confirm, disk_state, gate, verify_machine};
use blankroot::plan::{self, Identities, Phase, Plan};
use blankroot::probe::{BlockDevice, Facts, Firmware};
use blankroot::secret::Secret;

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

fn gate_err(f: &Facts, o: &Options) -> blankroot::error::Error {
    let p = plan(&facts());
    let now = verify_machine(&p, f).unwrap();
    gate(&p, &now, f, false, o).unwrap_err()
}

#[test]
fn an_empty_disk_passes() {
    let f = facts();
    let p = plan(&f);
    let now = verify_machine(&p, &f).unwrap();
    gate(&p, &now, &f, false, &opts()).unwrap();
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
    gate(&p, &verify_machine(&p, &f).unwrap(), &f, false, &Options { wipe: true, ..opts() }).unwrap();
}

#[test]
fn our_own_disk_resumes_without_wipe() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "vfat", Some("/mnt/boot")));
    let p = plan(&facts());
    gate(&p, &verify_machine(&p, &f).unwrap(), &f, true, &opts()).unwrap();
}

#[test]
fn bios_is_refused_only_when_the_install_phase_runs() {
    let mut f = facts();
    f.firmware = Firmware::Bios;
    let e = gate_err(&f, &opts());
    assert!(e.message.contains("BIOS firmware"));
    assert!(e.hint.unwrap().contains("--until config"));
    let p = plan(&facts());
    gate(&p, &verify_machine(&p, &f).unwrap(), &f, false, &Options { until: Some(Phase::Config), ..opts() }).unwrap();
}

#[test]
fn missing_tools_are_listed() {
    let mut f = facts();
    f.commands.insert("zpool".into(), false);
    f.commands.insert("nixos-install".into(), false);
    let e = gate_err(&f, &opts());
    assert_eq!(e.message, "this machine lacks nixos-install, zpool");
    let p = plan(&facts());
    let e = gate(&p, &verify_machine(&p, &f).unwrap(), &f, false, &Options { until: Some(Phase::Config), ..opts() })
        .unwrap_err();
    assert_eq!(e.message, "this machine lacks zpool", "nixos-install is not needed until config");
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
    assert_eq!(got.get("luks-passphrase").unwrap().expose(), "pass phrase");
    let hash = got.get("password:admin").unwrap().expose().to_string();
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
fn disk_state_says_what_is_there() {
    let p = plan(&facts());
    assert_eq!(disk_state(&p, &[]), "/dev/vda is unchanged");
    let done: Vec<String> =
        ["partition", "format-esp", "luks-format", "luks-open", "pool-create", "dataset:local/root"]
            .map(String::from)
            .to_vec();
    let s = disk_state(&p, &done);
    assert!(s.starts_with("/dev/vda now holds this plan's GPT"), "{s}");
    assert!(s.contains(&format!("a LUKS2 container {}", p.ids.luks_uuid)));
    assert!(s.contains("the pool rpool with 1 of 4 datasets"));
}

#[test]
fn a_disk_under_an_imported_pool_is_refused_even_with_wipe() {
    let mut f = facts();
    vda(&mut f).children.push(part("vda1", "zfs_member", None));
    f.pool_devices.push(blankroot::probe::pools::PoolDevice { pool: "tank".into(), path: "/dev/vda1".into() });
    let e = gate_err(&f, &Options { wipe: true, ..opts() });
    assert!(e.message.contains("vda1 is in the imported ZFS pool tank"), "{}", e.message);
}
