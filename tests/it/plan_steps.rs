//! The plan follows the seed's procedure exactly, in order, with checks and undo steps.

use crate::common;

use blankroot::plan::{self, Content, Expect, Identities, Phase, Plan, Step};

fn step<'a>(p: &'a Plan, id: &str) -> &'a Step {
    p.steps.iter().find(|s| s.id == id).unwrap_or_else(|| panic!("no step {id}"))
}

fn pos(p: &Plan, id: &str) -> usize {
    p.steps.iter().position(|s| s.id == id).unwrap_or_else(|| panic!("no step {id}"))
}

fn argv(s: &Step, i: usize) -> String {
    s.commands[i].argv.join(" ")
}

#[test]
fn seed_procedure_in_order() {
    let p = common::plan_for("seed-defaults");
    let ids: Vec<&str> = p.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "partition",
            "format-esp",
            "luks-format",
            "luks-open",
            "hostid",
            "pool-create",
            "dataset:local/root",
            "snapshot:local/root",
            "dataset:local/nix",
            "dataset:safe/home",
            "dataset:safe/persist",
            "mount:/",
            "mount:/boot",
            "mount:/nix",
            "mount:/home",
            "mount:/persist",
            "bind:/etc/nixos",
            "bind:/var/lib/nixos",
            "bind:/var/log",
            "write-config",
            "persist-state",
            "password-hashes",
            "keep-blankroot",
            "hardware-config",
            "nixos-install",
            "unmount",
            "pool-export",
            "luks-close",
            "forget-resume",
        ]
    );
    let phases: Vec<Phase> = p.steps.iter().map(|s| s.phase).collect();
    assert!(phases.windows(2).all(|w| w[0] <= w[1]), "phases never go backwards");
}

#[test]
fn exact_seed_commands() {
    let p = common::plan_for("seed-defaults");
    // Formatted with the complement of the planned volume id, which is set last (fatlabel -i).
    let id = p.ids.esp_uuid.replace('-', "");
    let other = format!("{:08X}", !u32::from_str_radix(&id, 16).unwrap());
    assert_eq!(argv(step(&p, "format-esp"), 0), format!("mkfs.fat -F 32 -n ESP -i {other} /dev/vda1"));
    assert_eq!(argv(step(&p, "format-esp"), 2), format!("fatlabel -i /dev/vda1 {id}"));
    assert_eq!(
        argv(step(&p, "luks-format"), 0),
        format!("cryptsetup luksFormat --type luks2 --batch-mode --uuid {} --key-file - /dev/vda2", p.ids.luks_uuid)
    );
    assert_eq!(
        argv(step(&p, "luks-open"), 0),
        "cryptsetup open --type luks2 --key-file - --allow-discards /dev/vda2 cryptroot"
    );
    assert_eq!(argv(step(&p, "hostid"), 0), "rm -f /etc/hostid", "the installer's /etc/hostid is a read-only link");
    assert_eq!(argv(step(&p, "hostid"), 1), format!("zgenhostid -f {}", p.ids.host_id));
    assert_eq!(
        argv(step(&p, "pool-create"), 0),
        "zpool create -f -R /mnt -o ashift=12 -o autotrim=on -O acltype=posixacl -O canmount=off -O compression=zstd \
         -O normalization=formD -O relatime=on -O xattr=sa -O mountpoint=none rpool /dev/mapper/cryptroot"
    );
    assert_eq!(
        argv(step(&p, "dataset:local/root"), 0),
        "zfs create -p -o canmount=noauto -o mountpoint=legacy rpool/local/root"
    );
    assert_eq!(argv(step(&p, "snapshot:local/root"), 0), "zfs snapshot rpool/local/root@blank");
    assert_eq!(argv(step(&p, "dataset:safe/persist"), 0), "zfs create -p -o mountpoint=legacy rpool/safe/persist");
    assert_eq!(argv(step(&p, "mount:/"), 0), "mount -t zfs rpool/local/root /mnt");
    assert_eq!(argv(step(&p, "mount:/boot"), 1), "mount -t vfat -o umask=0077 /dev/vda1 /mnt/boot");
    assert_eq!(argv(step(&p, "hardware-config"), 0), "nixos-generate-config --no-filesystems --root /mnt");
    assert_eq!(argv(step(&p, "nixos-install"), 0), "nixos-install --root /mnt --no-root-passwd");
    assert_eq!(argv(step(&p, "pool-export"), 0), "zpool export rpool");
    assert_eq!(argv(step(&p, "luks-close"), 0), "cryptsetup close cryptroot");
}

#[test]
fn sfdisk_script_makes_esp_and_luks_partitions_with_planned_guids() {
    let p = common::plan_for("seed-defaults");
    let s = step(&p, "partition");
    assert!(s.destructive);
    assert_eq!(s.commands[0].argv[0], "dd", "the resume record first (tests/it/resume_record.rs)");
    let sfdisk = s.commands.iter().find(|c| c.argv[0] == "sfdisk").expect("sfdisk");
    let Some(plan::Stdin::Text(script)) = &sfdisk.stdin else { panic!("sfdisk reads a script") };
    assert!(script.starts_with("label: gpt\n"));
    assert!(script.contains(&format!("label-id: {}", p.ids.disk_guid.to_uppercase())));
    assert!(script.contains("size=1024MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B"));
    assert!(script.contains("type=CA7D7CCB-63ED-4C53-861C-1742536059CC"));
    assert_eq!(s.check[0].expect, Expect::Stdout(p.ids.disk_guid.clone()));
}

#[test]
fn host_id_is_set_before_the_pool_and_blank_is_taken_before_any_mount() {
    let p = common::plan_for("seed-defaults");
    assert!(pos(&p, "hostid") < pos(&p, "pool-create"));
    assert_eq!(pos(&p, "snapshot:local/root"), pos(&p, "dataset:local/root") + 1);
    assert!(pos(&p, "snapshot:local/root") < pos(&p, "mount:/"));
    assert!(pos(&p, "write-config") < pos(&p, "hardware-config"), "nixos-generate-config keeps our configuration.nix");
    assert_eq!(step(&p, "hardware-config").phase, Phase::Install, "--until config needs no NixOS tool");
    assert!(pos(&p, "bind:/etc/nixos") < pos(&p, "hardware-config"), "so /etc/nixos lands in /persist");
}

#[test]
fn password_hashes_are_0600_root_under_persist() {
    let p = common::plan_for("scripted-two-users");
    let s = step(&p, "password-hashes");
    let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/mnt/persist/etc/nixos-secrets/passwords/root",
            "/mnt/persist/etc/nixos-secrets/passwords/alice",
            "/mnt/persist/etc/nixos-secrets/passwords/bob",
        ]
    );
    for f in &s.files {
        assert_eq!((f.mode.as_str(), f.owner.as_str(), f.group.as_str()), ("0600", "root", "root"));
        assert!(matches!(f.content, Content::Hash(_)));
    }
    assert_eq!(
        argv(s, 0),
        "install -d -m 0700 /mnt/persist/etc/nixos-secrets /mnt/persist/etc/nixos-secrets/passwords"
    );
}

#[test]
fn generated_files_go_to_etc_nixos_which_is_persist() {
    let p = common::plan_for("seed-defaults");
    let s = step(&p, "write-config");
    let paths: Vec<&str> = s.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/mnt/etc/nixos/configuration.nix", "/mnt/etc/nixos/blankroot.nix", "/mnt/etc/nixos/blankroot.toml"]
    );
    let b = step(&p, "bind:/etc/nixos");
    assert_eq!(argv(b, 1), "mount --bind /mnt/persist/etc/nixos /mnt/etc/nixos");
}

#[test]
fn saved_toml_reloads_to_the_same_config() {
    for name in common::CONFIGS {
        let p = common::plan_for(name);
        let toml = step(&p, "write-config").files.iter().find(|f| f.path.ends_with(".toml")).unwrap();
        let Content::Text(text) = &toml.content else { panic!() };
        let back = blankroot::config::parse_str("blankroot.toml", text, &Default::default()).unwrap();
        let mut expected = p.config.clone();
        expected.host_id = Some(p.ids.host_id.clone());
        expected.luks.uuid = Some(p.ids.luks_uuid.clone());
        expected.esp_uuid = Some(p.ids.esp_uuid.clone());
        assert_eq!(back, expected, "{name}");
    }
}

#[test]
fn partition_names_follow_the_kernel_and_udev() {
    assert_eq!(blankroot::plan::partition_path("/dev/vda", 2), "/dev/vda2");
    assert_eq!(blankroot::plan::partition_path("/dev/nvme0n1", 1), "/dev/nvme0n1p1");
    assert_eq!(
        blankroot::plan::partition_path("/dev/disk/by-id/virtio-disk01", 2),
        "/dev/disk/by-id/virtio-disk01-part2"
    );
    let p = common::plan_for("custom-datasets");
    assert_eq!(argv(step(&p, "luks-open"), 0), "cryptsetup open --type luks2 --key-file - /dev/nvme0n1p2 cryptzfs");
    assert!(
        argv(step(&p, "luks-format"), 0).ends_with("--key-file - --pbkdf argon2id --iter-time 3000 /dev/nvme0n1p2")
    );
}

#[test]
fn a_disk_too_small_is_refused_with_a_hint() {
    let c = common::config("seed-defaults");
    let mut t = common::target("/dev/vda");
    t.disk.size_bytes = 2 << 30;
    let e = plan::build(&c, &t, &Identities::fixed(1, None)).unwrap_err();
    assert!(e.message.contains("/dev/vda is 2.0 GiB but the layout needs at least 5.0 GiB"), "{}", e.message);
    assert!(e.hint.unwrap().contains("--esp-size"));
}

#[test]
fn every_step_that_changes_the_live_system_can_be_checked() {
    let p = common::plan_for("seed-defaults");
    for s in &p.steps {
        assert!(!s.check.is_empty() || !s.files.is_empty(), "step {} has no way to tell it is done", s.id);
    }
    for id in ["luks-open", "pool-create", "mount:/", "mount:/boot", "bind:/var/log"] {
        assert!(!step(&p, id).revert.is_empty(), "{id} must be revertible");
    }
}

#[test]
fn warnings_for_bios_busy_and_serial_less_disks() {
    let c = common::config("seed-defaults");
    let mut t = common::target("/dev/vda");
    t.firmware = "bios".into();
    t.disk.serial = None;
    t.disk.by_id.clear();
    t.disk.holders = vec!["vda1 is mounted at /boot".into()];
    t.missing_tools = vec!["zpool".into(), "zfs".into()];
    let p = plan::build(&c, &t, &Identities::fixed(1, None)).unwrap();
    let w = p.warnings.join("\n");
    assert!(w.contains("BIOS firmware"));
    assert!(w.contains("vda1 is mounted at /boot"));
    assert!(w.contains("without a serial number"));
    assert!(w.contains("this machine lacks zpool, zfs; install will refuse"));
}

/// The text of the planned file ending in `name`.
fn file_text(p: &Plan, name: &str) -> String {
    let f = p.steps.iter().flat_map(|s| &s.files).find(|f| f.path.ends_with(name)).unwrap();
    match &f.content {
        Content::Text(t) => t.clone(),
        _ => panic!("{name} is text"),
    }
}

#[test]
fn state_version_is_the_configs_else_the_installers_release_else_the_default() {
    let plan_with = |toml: &str, release: Option<&str>| {
        let c = blankroot::config::parse_str("t.toml", toml, &Default::default()).unwrap();
        let mut t = common::target("/dev/vda");
        t.nixos_release = release.map(String::from);
        plan::build(&c, &t, &Identities::fixed(1, None)).unwrap()
    };
    let cases = [
        ("", Some("24.05"), "24.05"),
        ("state_version = \"23.11\"\n", Some("24.05"), "23.11"),
        ("state_version = \"23.11\"\n", None, "23.11"),
        ("", None, blankroot::config::DEFAULT_STATE_VERSION),
    ];
    for (toml, release, want) in cases {
        let p = plan_with(toml, release);
        assert_eq!(p.config.state_version.as_deref(), Some(want), "{toml:?} {release:?}");
        assert!(file_text(&p, "configuration.nix").contains(&format!("system.stateVersion = \"{want}\";")));
        assert!(file_text(&p, "blankroot.toml").contains(&format!("state_version = \"{want}\"\n")));
        let warned = p.warnings.iter().any(|w| w.contains("system.stateVersion"));
        assert_eq!(warned, toml.is_empty() && release.is_none(), "{toml:?} {release:?}: {:?}", p.warnings);
    }
    let p = plan_with("", None);
    let w = p.warnings.iter().find(|w| w.contains("system.stateVersion")).unwrap();
    assert!(w.contains("no `nixos-version`") && w.contains("--state-version"), "{w}");
    // The example machine is the NixOS 25.11 installer: no warning.
    let facts = blankroot::example::facts().unwrap();
    let t = plan::target::from_facts(&facts, "/dev/vda").unwrap();
    assert_eq!(t.nixos_release.as_deref(), Some("25.11"));
}
