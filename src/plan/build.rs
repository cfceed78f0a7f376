//! `build`: config + target facts + chosen ids → Plan. Pure: no I/O, same inputs give the same
//! plan. The steps are the seed's procedure (../shared/seed), made checkable and revertible.

use super::*;
use crate::config::{Config, DEFAULT_STATE_VERSION, Dataset, PasswordSource};
use crate::error::{Error, Result};
use crate::nixgen;

/// The smallest LUKS partition blankroot plans: room for the pool, /nix and a first system.
pub const MIN_LUKS_BYTES: u64 = 4 << 30;

/// GPT partition type GUIDs (UEFI spec; Discoverable Partitions Specification for LUKS).
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LUKS_TYPE: &str = "CA7D7CCB-63ED-4C53-861C-1742536059CC";

/// The altroot the new system is assembled under.
pub const MNT: &str = "/mnt";

fn cmd(argv: &[&str]) -> PlannedCommand {
    PlannedCommand { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None }
}

fn cmd_owned(argv: Vec<String>) -> PlannedCommand {
    PlannedCommand { argv, stdin: None }
}

fn check(argv: &[&str], expect: Expect) -> Check {
    Check { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None, expect, verify: false }
}

fn step(id: impl Into<String>, phase: Phase, title: impl Into<String>) -> Step {
    Step {
        id: id.into(),
        phase,
        title: title.into(),
        destructive: false,
        commands: Vec::new(),
        files: Vec::new(),
        check: Vec::new(),
        revert: Vec::new(),
        resume: Vec::new(),
        starts_over: false,
    }
}

/// `/dev/vda` + 2 → `/dev/vda2`; `/dev/nvme0n1` + 2 → `/dev/nvme0n1p2`;
/// `/dev/disk/by-id/X` + 2 → `/dev/disk/by-id/X-part2` (udev's naming).
pub fn partition_path(disk: &str, n: u32) -> String {
    if disk.starts_with("/dev/disk/by-id/") || disk.starts_with("/dev/disk/by-path/") {
        format!("{disk}-part{n}")
    } else if disk.ends_with(|c: char| c.is_ascii_digit()) {
        format!("{disk}p{n}")
    } else {
        format!("{disk}{n}")
    }
}

fn mnt(path: &str) -> String {
    if path == "/" { MNT.to_string() } else { format!("{MNT}{path}") }
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

fn secret_name_for(user: &str) -> String {
    format!("password:{user}")
}

/// The config with `system.stateVersion` resolved: the config's (or the flag's), else the
/// release of the NixOS the installer runs, else [`DEFAULT_STATE_VERSION`] and a warning.
fn resolve_state_version(config: &Config, target: &Target) -> (Config, Option<String>) {
    let mut c = config.clone();
    if c.state_version.is_some() {
        return (c, None);
    }
    if let Some(release) = &target.nixos_release {
        c.state_version = Some(release.clone());
        return (c, None);
    }
    c.state_version = Some(DEFAULT_STATE_VERSION.to_string());
    let warning = format!(
        "system.stateVersion is {DEFAULT_STATE_VERSION}, blankroot's default: this machine has no `nixos-version` (it is not a NixOS installer), so the release being installed is unknown; if it is another one, set state_version = \"YY.MM\" in blankroot.toml or pass --state-version YY.MM"
    );
    (c, Some(warning))
}

/// Builds the plan. Fails when the target cannot hold the layout.
pub fn build(config: &Config, target: &Target, ids: &Identities) -> Result<Plan> {
    let (resolved, state_version_warning) = resolve_state_version(config, target);
    let config = &resolved;
    let disk = &target.disk;
    let need = config.esp_size_bytes + MIN_LUKS_BYTES + (2 << 20);
    if disk.size_bytes < need {
        return Err(Error::env(format!(
            "{} is {} but the layout needs at least {} ({} ESP + {} for LUKS and ZFS)",
            disk.path,
            gib(disk.size_bytes),
            gib(need),
            gib(config.esp_size_bytes),
            gib(MIN_LUKS_BYTES)
        ))
        .hint("choose a bigger disk with --disk, or a smaller ESP with --esp-size"));
    }
    let dev = disk.path.as_str();
    let esp = partition_path(dev, 1);
    let luks = partition_path(dev, 2);
    let mapper = format!("/dev/mapper/{}", config.luks.name);
    let pool = config.pool.name.as_str();
    let mut steps = Vec::new();

    // --- disk ---
    let mut s = step(
        "partition",
        Phase::Disk,
        format!("Partition {dev}: GPT, a {} ESP and a LUKS partition", gib(config.esp_size_bytes)),
    );
    s.destructive = true;
    // A new GPT on the whole disk (and --wipe-partitions): nothing of an earlier install is
    // left for a later step to find.
    s.starts_over = true;
    let script = format!(
        "label: gpt\nlabel-id: {}\nsize={}MiB, type={ESP_TYPE}, uuid={}, name=\"ESP\"\ntype={LUKS_TYPE}, uuid={}, name=\"{}\"\n",
        ids.disk_guid.to_uppercase(),
        config.esp_size_bytes >> 20,
        ids.esp_partuuid.to_uppercase(),
        ids.luks_partuuid.to_uppercase(),
        config.luks.name,
    );
    // First the resume record (config + ids) into the gap before the first partition, so a
    // re-run finds this install on the disk after a power cut empties the installer's RAM
    // state directory (plan::record).
    let record = super::record::Record::new(config, ids).to_text().ok_or_else(|| {
        Error::input("the config is too large to keep on the disk for a resume (more than 768 KiB as JSON)")
            .hint("shorten the config's lists (persisted paths, ignore patterns, users)")
    })?;
    s.commands.push(PlannedCommand { argv: super::record::write_argv(dev), stdin: Some(Stdin::Text(record)) });
    s.commands.push(PlannedCommand {
        argv: ["sfdisk", "--wipe", "always", "--wipe-partitions", "always", dev].map(String::from).to_vec(),
        stdin: Some(Stdin::Text(script)),
    });
    s.commands.push(cmd(&["udevadm", "settle"]));
    // Verified after running: this GUID is how a re-run knows the disk as this plan's own
    // and never partitions it again.
    s.check.push(Check {
        verify: true,
        ..check(&["blkid", "-p", "-s", "PTUUID", "-o", "value", dev], Expect::Stdout(ids.disk_guid.clone()))
    });
    steps.push(s);

    let mut s = step("format-esp", Phase::Disk, format!("Format the ESP {esp} as FAT32"));
    s.destructive = true;
    // The planned volume id is given only once the whole file system is on the disk: mkfs.fat
    // writes its boot sector (and the id) first and the FATs after, so a power cut inside it
    // could leave the planned id on a half-written FAT. Formatted with another id (the
    // planned one's complement), synced, then given the planned id (`fatlabel -i`, dosfstools
    // ≥ 4.2, the package of mkfs.fat) and synced: the id check alone then proves a complete
    // ESP. (It used to be `fsck.fat -n`, which exits 1 for the dirty bit the kernel sets while
    // the ESP is mounted: after a power cut with /boot mounted a resume formatted the ESP
    // again; the VM tier's power-cut chain found it.)
    let planned = ids.esp_volume_id();
    let other = u32::from_str_radix(&planned, 16).map_or_else(|_| "00000000".to_string(), |v| format!("{:08X}", !v));
    s.commands.push(cmd(&["mkfs.fat", "-F", "32", "-n", "ESP", "-i", &other, &esp]));
    s.commands.push(cmd(&["sync"]));
    s.commands.push(cmd(&["fatlabel", "-i", &esp, &planned]));
    s.commands.push(cmd(&["sync"]));
    s.check.push(check(&["blkid", "-p", "-s", "UUID", "-o", "value", &esp], Expect::Stdout(ids.esp_uuid.clone())));
    steps.push(s);

    let mut s = step("luks-format", Phase::Disk, format!("Encrypt {luks} with LUKS2"));
    s.destructive = true;
    let mut argv: Vec<String> =
        ["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--uuid", &ids.luks_uuid, "--key-file", "-"]
            .map(String::from)
            .to_vec();
    argv.extend(config.luks.format_options.iter().cloned());
    argv.push(luks.clone());
    s.commands.push(PlannedCommand { argv, stdin: Some(Stdin::Secret("luks-passphrase".into())) });
    s.commands.push(cmd(&["sync"]));
    // Verified after running: after a reboot nothing else (no open mapping, no busy device)
    // would stop a re-run from formatting the container, and the pool in it, again.
    s.check.push(Check {
        verify: true,
        ..check(&["cryptsetup", "luksUUID", &luks], Expect::Stdout(ids.luks_uuid.clone()))
    });
    // The UUID alone is not enough: after a power cut right after luksFormat the header can
    // carry the UUID while the keyslot never reached the disk ("No usable keyslot").
    s.check.push(Check {
        argv: ["cryptsetup", "open", "--test-passphrase", "--type", "luks2", "--key-file", "-", &luks]
            .map(String::from)
            .to_vec(),
        stdin: Some(Stdin::Secret("luks-passphrase".into())),
        expect: Expect::Success,
        // Not verified after a fresh luksFormat: a full key derivation (seconds with the
        // default PBKDF), and luks-open tests the passphrase right after.
        verify: false,
    });
    steps.push(s);

    let mut s = step("luks-open", Phase::Disk, format!("Open the LUKS partition as {mapper}"));
    let mut argv: Vec<String> = ["cryptsetup", "open", "--type", "luks2", "--key-file", "-"].map(String::from).to_vec();
    if config.luks.allow_discards {
        argv.push("--allow-discards".into());
    }
    argv.extend([luks.clone(), config.luks.name.clone()]);
    s.commands.push(PlannedCommand { argv, stdin: Some(Stdin::Secret("luks-passphrase".into())) });
    s.check.push(check(&["cryptsetup", "status", &config.luks.name], Expect::Success));
    s.revert.push(cmd(&["cryptsetup", "close", &config.luks.name]));
    steps.push(s);

    // --- pool ---
    let mut s = step(
        "hostid",
        Phase::Pool,
        format!("Set this live system's host id to {} (the installed system's)", ids.host_id),
    );
    // The NixOS installer's /etc/hostid is a symlink into its read-only store (its own
    // networking.hostId), and zgenhostid writes with fopen(path, "wb"), which follows the link
    // and fails with EROFS: remove the link (or an old file) first. (OpenZFS
    // cmd/zgenhostid/zgenhostid.c; nixos/modules/tasks/network-interfaces.nix.)
    s.commands.push(cmd(&["rm", "-f", "/etc/hostid"]));
    s.commands.push(cmd(&["zgenhostid", "-f", &ids.host_id]));
    s.check.push(check(&["hostid"], Expect::Stdout(ids.host_id.clone())));
    steps.push(s);

    let mut s = step("pool-create", Phase::Pool, format!("Create the ZFS pool {pool} on {mapper}"));
    s.destructive = true;
    // -f: the mapping is this plan's own new LUKS container (its UUID is checked before), so a
    // ZFS label inside can only come from this plan's own interrupted `zpool create`.
    // -R /mnt: "equivalent to -o cachefile=none -o altroot=/mnt" (zpool-create(8), OpenZFS
    // 2.3): whatever mountpoint a dataset carries is mounted under the target, never over the
    // live system, and the installer's /etc/zfs/zpool.cache is left alone. Nothing needs the
    // cache file: NixOS imports the pool by scanning boot.zfs.devNodes (`zpool import -d`,
    // nixos/modules/tasks/filesystems/zfs.nix), and the datasets are legacy-mounted.
    let mut argv = vec!["zpool".to_string(), "create".into(), "-f".into(), "-R".into(), MNT.into()];
    for (k, v) in &config.pool.options {
        argv.extend(["-o".into(), format!("{k}={v}")]);
    }
    for (k, v) in &config.pool.fs_options {
        argv.extend(["-O".into(), format!("{k}={v}")]);
    }
    argv.extend([pool.to_string(), mapper.clone()]);
    s.commands.push(cmd_owned(argv));
    s.check.push(check(&["zpool", "list", "-H", "-o", "name", pool], Expect::Stdout(pool.to_string())));
    s.revert.push(cmd(&["zpool", "export", pool]));
    // After a reboot the pool exists but is not imported: `zpool create` would refuse it.
    // -R as at creation: altroot is not persistent (zpoolprops(7)), so the import sets it again.
    s.resume.push(cmd(&["zpool", "import", "-N", "-d", "/dev/mapper", "-R", MNT, pool]));
    steps.push(s);

    for d in &config.datasets {
        let full = config.full_name(d);
        let mut s = step(format!("dataset:{}", d.name), Phase::Pool, format!("Create the dataset {full}"));
        let mut argv = vec!["zfs".to_string(), "create".into(), "-p".into()];
        for (k, v) in &d.properties {
            argv.extend(["-o".into(), format!("{k}={v}")]);
        }
        argv.push(full.clone());
        s.commands.push(cmd_owned(argv));
        s.check.push(check(&["zfs", "list", "-H", "-o", "name", &full], Expect::Stdout(full.clone())));
        steps.push(s);
        if d.blank {
            let snap = format!("{full}@blank");
            let mut s = step(format!("snapshot:{}", d.name), Phase::Pool, format!("Snapshot the empty root as {snap}"));
            s.commands.push(cmd(&["zfs", "snapshot", &snap]));
            s.check.push(check(
                &["zfs", "list", "-H", "-t", "snapshot", "-o", "name", &snap],
                Expect::Stdout(snap.clone()),
            ));
            steps.push(s);
        }
    }

    // --- mount ---
    let root = config.root_dataset();
    steps.push(mount_step(&config.full_name(root), "/", "zfs", None));
    steps.push(mount_step(&esp, "/boot", "vfat", Some("umask=0077")));
    let mut others: Vec<&Dataset> =
        config.datasets.iter().filter(|d| d.mount.as_deref().is_some_and(|m| m != "/")).collect();
    others.sort_by_key(|d| d.mount.as_deref().map_or(0, |m| m.matches('/').count()));
    for d in others {
        steps.push(mount_step(&config.full_name(d), d.mount.as_deref().unwrap_or_default(), "zfs", None));
    }
    for dir in &config.persist.directories {
        let src = mnt(&nixgen::persisted_source(dir));
        let dst = mnt(dir);
        let mut s = step(
            format!("bind:{dir}"),
            Phase::Mount,
            format!("Keep {dir} in /persist (bind mount, as on the installed system)"),
        );
        s.commands.push(cmd(&["mkdir", "-p", &src, &dst]));
        s.commands.push(cmd(&["mount", "--bind", &src, &dst]));
        s.check.push(check(&["findmnt", "-n", "-o", "TARGET", "--mountpoint", &dst], Expect::Stdout(dst.clone())));
        s.revert.push(cmd(&["umount", &dst]));
        steps.push(s);
    }

    // --- config ---
    let etc_nixos = mnt("/etc/nixos");
    let toml = crate::config::to_toml(config, &ids.host_id);
    let mut s = step("write-config", Phase::Config, "Write the NixOS configuration (kept in /persist/etc/nixos)");
    let nix_ids = nixgen::Ids { host_id: &ids.host_id, luks_uuid: &ids.luks_uuid, esp_uuid: &ids.esp_uuid };
    s.files.push(file(&format!("{etc_nixos}/configuration.nix"), "0644", nixgen::configuration(config)));
    s.files.push(file(&format!("{etc_nixos}/blankroot.nix"), "0644", nixgen::module(config, nix_ids)));
    s.files.push(file(&format!("{etc_nixos}/blankroot.toml"), "0644", toml));
    steps.push(s);

    let mut s = step("persist-state", Phase::Config, "Prepare /persist: machine-id and the SSH host key directory");
    if config.persist.files.iter().any(|f| f == "/etc/machine-id") {
        s.files.push(file(&mnt("/persist/etc/machine-id"), "0444", format!("{}\n", ids.machine_id)));
    }
    if config.persist.ssh_host_keys {
        s.commands.push(cmd(&["install", "-d", "-m", "0755", &mnt("/persist/etc/ssh")]));
        s.check.push(check(&["test", "-d", &mnt("/persist/etc/ssh")], Expect::Success));
    }
    steps.push(s);

    let mut secrets = vec![SecretSpec {
        name: "luks-passphrase".into(),
        description: format!("the LUKS passphrase for {luks}, typed at every boot"),
    }];
    let mut s = step("password-hashes", Phase::Config, "Store yescrypt password hashes in /persist (0600 root)");
    let secrets_dir = mnt("/persist/etc/nixos-secrets");
    s.commands.push(cmd(&["install", "-d", "-m", "0700", &secrets_dir, &format!("{secrets_dir}/passwords")]));
    let accounts = std::iter::once(("root", &config.root_password))
        .chain(config.users.iter().map(|u| (u.name.as_str(), &u.password)));
    for (name, source) in accounts {
        if matches!(source, PasswordSource::Locked) {
            continue;
        }
        let secret = secret_name_for(name);
        let how = match source {
            PasswordSource::Prompt => "asked for at install".to_string(),
            PasswordSource::HashFile { path } => format!("a ready hash read from {path}"),
            PasswordSource::File { path } => format!("read from {path} and hashed"),
            PasswordSource::Locked => unreachable!(),
        };
        secrets.push(SecretSpec { name: secret.clone(), description: format!("{name}'s login password ({how})") });
        let mut f = file(&mnt(&nixgen::password_hash_path(name)), "0600", String::new());
        f.content = Content::Hash(secret);
        s.files.push(f);
    }
    steps.push(s);

    // --- install (the NixOS tools: absent outside the installer) ---
    // nixos-generate-config always rewrites hardware-configuration.nix but keeps an existing
    // configuration.nix (it only writes one when absent, unless --force), so ours survives.
    let mut s =
        step("hardware-config", Phase::Install, "Detect the hardware (nixos-generate-config, without file systems)");
    s.commands.push(cmd(&["nixos-generate-config", "--no-filesystems", "--root", MNT]));
    s.check.push(check(&["test", "-s", &format!("{etc_nixos}/hardware-configuration.nix")], Expect::Success));
    steps.push(s);

    let mut s = step("nixos-install", Phase::Install, "Build and install NixOS (nixos-install)");
    s.commands.push(cmd(&["nixos-install", "--root", MNT, "--no-root-passwd"]));
    s.check.push(check(&["test", "-e", &mnt("/nix/var/nix/profiles/system")], Expect::Success));
    steps.push(s);

    // --- finish ---
    let mut s = step("unmount", Phase::Finish, format!("Unmount everything under {MNT}"));
    s.commands.push(cmd(&["umount", "-R", MNT]));
    s.check.push(check(&["findmnt", "--mountpoint", MNT], Expect::Failure));
    steps.push(s);
    let mut s = step("pool-export", Phase::Finish, format!("Export {pool} so the first boot imports it cleanly"));
    s.commands.push(cmd(&["zpool", "export", pool]));
    s.check.push(check(&["zpool", "list", "-H", "-o", "name", pool], Expect::Failure));
    steps.push(s);
    let mut s = step("luks-close", Phase::Finish, format!("Close {mapper}"));
    s.commands.push(cmd(&["cryptsetup", "close", &config.luks.name]));
    s.check.push(check(&["cryptsetup", "status", &config.luks.name], Expect::Failure));
    steps.push(s);
    let mut s =
        step("forget-resume", Phase::Finish, format!("Zero the resume record on {dev} (the install is complete)"));
    s.commands.push(cmd_owned(super::record::clear_argv(dev)));
    s.check.push(Check {
        argv: super::record::cleared_check_argv(dev),
        stdin: None,
        expect: Expect::Success,
        verify: true,
    });
    steps.push(s);

    let mut destroys = vec![format!(
        "everything on {} ({}): a new partition table replaces the old one",
        disk.path,
        gib(disk.size_bytes)
    )];
    destroys.extend(disk.contents.iter().map(|c| format!("on it now: {c}")));
    let mut warnings = Vec::new();
    if target.firmware != "uefi" {
        warnings.push("this machine booted with BIOS firmware; systemd-boot needs UEFI: install will refuse (for a libvirt VM, switch it to UEFI with `blankroot libvirt`)".to_string());
    }
    if !disk.holders.is_empty() {
        warnings.push(format!(
            "{} is in use ({}); install will refuse until it is released",
            disk.path,
            disk.holders.join("; ")
        ));
    } else if !disk.contents.is_empty() {
        warnings.push(format!("{} is not empty; install needs --wipe to overwrite it", disk.path));
    }
    if !target.missing_tools.is_empty() {
        warnings.push(format!(
            "this machine lacks {}; install will refuse (run blankroot on the NixOS installer, which has them)",
            target.missing_tools.join(", ")
        ));
    }
    if disk.device.starts_with("/dev/vd") && disk.by_id.is_empty() {
        warnings.push(format!("{} is a virtio disk without a serial number, so it has no /dev/disk/by-id name; the pool is found through its LUKS mapping, but give the disk a serial (`blankroot libvirt`) for stable names", disk.path));
    }
    warnings.extend(state_version_warning);

    Ok(Plan {
        schema: SCHEMA_VERSION,
        blankroot_version: env!("CARGO_PKG_VERSION").to_string(),
        config: config.clone(),
        ids: ids.clone(),
        target: target.clone(),
        destroys,
        warnings,
        secrets,
        steps,
    })
}

fn file(path: &str, mode: &str, text: String) -> PlannedFile {
    PlannedFile {
        path: path.into(),
        mode: mode.into(),
        owner: "root".into(),
        group: "root".into(),
        content: Content::Text(text),
    }
}

fn mount_step(source: &str, mountpoint: &str, fstype: &str, options: Option<&str>) -> Step {
    let target = mnt(mountpoint);
    let id = format!("mount:{mountpoint}");
    let mut s = step(id, Phase::Mount, format!("Mount {source} at {target}"));
    if mountpoint != "/" {
        // Mount points made after @blank would be rolled away; NixOS stage 1 recreates them.
        s.commands.push(cmd(&["mkdir", "-p", &target]));
    }
    let mut argv = vec!["mount".to_string(), "-t".into(), fstype.into()];
    if let Some(o) = options {
        argv.extend(["-o".into(), o.into()]);
    }
    argv.extend([source.to_string(), target.clone()]);
    s.commands.push(cmd_owned(argv));
    // findmnt shows a dataset by name but a block device by its kernel path, so block
    // devices are checked by mount point only.
    let (column, expected) = if fstype == "zfs" { ("SOURCE", source) } else { ("TARGET", target.as_str()) };
    s.check
        .push(check(&["findmnt", "-n", "-o", column, "--mountpoint", &target], Expect::Stdout(expected.to_string())));
    s.revert.push(cmd(&["umount", &target]));
    s
}
