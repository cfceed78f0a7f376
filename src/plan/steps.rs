//! The plan's steps, one function each: its commands, the files it writes, how it checks that
//! it is done, how it is undone, and how a resume brings it back, all made in one place from
//! the [`Layout`]. `build` puts them in order.

use super::*;
use crate::config::{Config, Dataset, PasswordSource};
use crate::error::{Error, Result};
use crate::infra::size::gib;
use crate::nixgen;

/// GPT partition type GUIDs (UEFI spec; Discoverable Partitions Specification for LUKS).
const ESP_TYPE: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LUKS_TYPE: &str = "CA7D7CCB-63ED-4C53-861C-1742536059CC";

/// The altroot the new system is assembled under.
pub(crate) const MNT: &str = "/mnt";

/// What every step is made from: the resolved config, the chosen ids, and the disk's paths.
pub struct Layout<'a> {
    pub config: &'a Config,
    pub ids: &'a Identities,
    /// The disk as the user named it.
    pub dev: &'a str,
    pub esp: String,
    pub luks: String,
    /// `/dev/mapper/<luks name>`.
    pub mapper: String,
}

impl<'a> Layout<'a> {
    pub fn new(config: &'a Config, ids: &'a Identities, dev: &'a str) -> Layout<'a> {
        Layout {
            config,
            ids,
            dev,
            esp: super::partition_path(dev, 1),
            luks: super::partition_path(dev, 2),
            mapper: format!("/dev/mapper/{}", config.luks.name),
        }
    }
    fn pool(&self) -> &str {
        &self.config.pool.name
    }
}

fn cmd(argv: &[&str]) -> PlannedCommand {
    PlannedCommand { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None }
}

fn cmd_owned(argv: Vec<String>) -> PlannedCommand {
    PlannedCommand { argv, stdin: None }
}

fn with_secret(argv: Vec<String>, secret: SecretName) -> PlannedCommand {
    PlannedCommand { argv, stdin: Some(Stdin::Secret(secret)) }
}

fn check(argv: &[&str], expect: Expect) -> Check {
    Check { argv: argv.iter().map(|s| s.to_string()).collect(), stdin: None, expect, verify: false }
}

/// A check asked again right after the step ran (what a resume relies on).
fn verified(c: Check) -> Check {
    Check { verify: true, ..c }
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

fn mnt(path: &str) -> String {
    if path == "/" { MNT.to_string() } else { format!("{MNT}{path}") }
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

fn strings(argv: &[&str]) -> Vec<String> {
    argv.iter().map(|s| s.to_string()).collect()
}

// --- disk ---

/// A new GPT (ESP + LUKS partition) on the whole disk, after the resume record.
pub fn partition(l: &Layout) -> Result<Step> {
    let (c, ids, dev) = (l.config, l.ids, l.dev);
    let title = format!("Partition {dev}: GPT, a {} ESP and a LUKS partition", gib(c.esp_size_bytes));
    let mut s = step("partition", Phase::Disk, title);
    s.destructive = true;
    // A new GPT on the whole disk (and --wipe-partitions): nothing of an earlier install is
    // left for a later step to find.
    s.starts_over = true;
    let script = format!(
        "label: gpt\nlabel-id: {}\nsize={}MiB, type={ESP_TYPE}, uuid={}, name=\"ESP\"\ntype={LUKS_TYPE}, uuid={}, name=\"{}\"\n",
        ids.disk_guid.to_uppercase(),
        c.esp_size_bytes >> 20,
        ids.esp_partuuid.to_uppercase(),
        ids.luks_partuuid.to_uppercase(),
        c.luks.name,
    );
    // First the resume record (config + ids) into the gap before the first partition, so a
    // re-run finds this install on the disk after a power cut empties the installer's RAM
    // state directory (plan::record).
    let record = super::record::Record::new(c, ids).to_text().ok_or_else(|| {
        Error::input("the config is too large to keep on the disk for a resume (more than 768 KiB as JSON)")
            .hint("shorten the config's lists (persisted paths, ignore patterns, users)")
    })?;
    s.commands.push(PlannedCommand { argv: super::record::write_argv(dev), stdin: Some(Stdin::Text(record)) });
    s.commands.push(PlannedCommand {
        argv: strings(&["sfdisk", "--wipe", "always", "--wipe-partitions", "always", dev]),
        stdin: Some(Stdin::Text(script)),
    });
    s.commands.push(cmd(&["udevadm", "settle"]));
    // Verified after running: this GUID is how a re-run knows the disk as this plan's own
    // and never partitions it again.
    s.check.push(verified(check(
        &["blkid", "-p", "-s", "PTUUID", "-o", "value", dev],
        Expect::Stdout(ids.disk_guid.clone()),
    )));
    Ok(s)
}

/// FAT32 on the ESP, with the planned volume id given last.
pub(crate) fn format_esp(l: &Layout) -> Step {
    let esp = &l.esp;
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
    let planned = l.ids.esp_volume_id();
    let other = u32::from_str_radix(&planned, 16).map_or_else(|_| "00000000".to_string(), |v| format!("{:08X}", !v));
    s.commands.push(cmd(&["mkfs.fat", "-F", "32", "-n", "ESP", "-i", &other, esp]));
    s.commands.push(cmd(&["sync"]));
    s.commands.push(cmd(&["fatlabel", "-i", esp, &planned]));
    s.commands.push(cmd(&["sync"]));
    s.check.push(check(&["blkid", "-p", "-s", "UUID", "-o", "value", esp], Expect::Stdout(l.ids.esp_uuid.clone())));
    s
}

/// LUKS2 on the second partition, with the planned UUID; the passphrase on stdin.
pub(crate) fn luks_format(l: &Layout) -> Step {
    let luks = &l.luks;
    let mut s = step("luks-format", Phase::Disk, format!("Encrypt {luks} with LUKS2"));
    s.destructive = true;
    let mut argv =
        strings(&["cryptsetup", "luksFormat", "--type", "luks2", "--batch-mode", "--uuid", &l.ids.luks_uuid]);
    argv.extend(strings(&["--key-file", "-"]));
    argv.extend(l.config.luks.format_options.iter().cloned());
    argv.push(luks.clone());
    s.commands.push(with_secret(argv, SecretName::LuksPassphrase));
    s.commands.push(cmd(&["sync"]));
    // Verified after running: after a reboot nothing else (no open mapping, no busy device)
    // would stop a re-run from formatting the container, and the pool in it, again.
    s.check.push(verified(check(&["cryptsetup", "luksUUID", luks], Expect::Stdout(l.ids.luks_uuid.clone()))));
    // The UUID alone is not enough: after a power cut right after luksFormat the header can
    // carry the UUID while the keyslot never reached the disk ("No usable keyslot").
    s.check.push(Check {
        argv: strings(&["cryptsetup", "open", "--test-passphrase", "--type", "luks2", "--key-file", "-", luks]),
        stdin: Some(Stdin::Secret(SecretName::LuksPassphrase)),
        expect: Expect::Success,
        // Not verified after a fresh luksFormat: a full key derivation (seconds with the
        // default PBKDF), and luks-open tests the passphrase right after.
        verify: false,
    });
    s
}

/// The LUKS container opened as the mapping the pool goes on; closed to undo.
pub(crate) fn luks_open(l: &Layout) -> Step {
    let name = &l.config.luks.name;
    let mut s = step("luks-open", Phase::Disk, format!("Open the LUKS partition as {}", l.mapper));
    let mut argv = strings(&["cryptsetup", "open", "--type", "luks2", "--key-file", "-"]);
    if l.config.luks.allow_discards {
        argv.push("--allow-discards".into());
    }
    argv.extend([l.luks.clone(), name.clone()]);
    s.commands.push(with_secret(argv, SecretName::LuksPassphrase));
    s.check.push(check(&["cryptsetup", "status", name], Expect::Success));
    s.revert.push(cmd(&["cryptsetup", "close", name]));
    s
}

// --- pool ---

/// The live system's host id set to the installed system's, so the pool is created under it.
pub fn hostid(l: &Layout) -> Step {
    let id = &l.ids.host_id;
    let mut s = step("hostid", Phase::Pool, format!("Set this live system's host id to {id} (the installed system's)"));
    // The NixOS installer's /etc/hostid is a symlink into its read-only store (its own
    // networking.hostId), and zgenhostid writes with fopen(path, "wb"), which follows the link
    // and fails with EROFS: remove the link (or an old file) first. (OpenZFS
    // cmd/zgenhostid/zgenhostid.c; nixos/modules/tasks/network-interfaces.nix.)
    s.commands.push(cmd(&["rm", "-f", "/etc/hostid"]));
    s.commands.push(cmd(&["zgenhostid", "-f", id]));
    s.check.push(check(&["hostid"], Expect::Stdout(id.clone())));
    s
}

/// The pool on the mapping, with the config's options; exported to undo, imported to resume.
pub(crate) fn pool_create(l: &Layout) -> Step {
    let (c, pool) = (l.config, l.pool());
    let mut s = step("pool-create", Phase::Pool, format!("Create the ZFS pool {pool} on {}", l.mapper));
    s.destructive = true;
    // -f: the mapping is this plan's own new LUKS container (its UUID is checked before), so a
    // ZFS label inside can only come from this plan's own interrupted `zpool create`.
    // -R /mnt: "equivalent to -o cachefile=none -o altroot=/mnt" (zpool-create(8), OpenZFS
    // 2.3): whatever mountpoint a dataset carries is mounted under the target, never over the
    // live system, and the installer's /etc/zfs/zpool.cache is left alone. Nothing needs the
    // cache file: NixOS imports the pool by scanning boot.zfs.devNodes (`zpool import -d`,
    // nixos/modules/tasks/filesystems/zfs.nix), and the datasets are legacy-mounted.
    let mut argv = strings(&["zpool", "create", "-f", "-R", MNT]);
    for (k, v) in &c.pool.options {
        argv.extend(["-o".into(), format!("{k}={v}")]);
    }
    for (k, v) in &c.pool.fs_options {
        argv.extend(["-O".into(), format!("{k}={v}")]);
    }
    argv.extend([pool.to_string(), l.mapper.clone()]);
    s.commands.push(cmd_owned(argv));
    s.check.push(check(&["zpool", "list", "-H", "-o", "name", pool], Expect::Stdout(pool.to_string())));
    s.revert.push(cmd(&["zpool", "export", pool]));
    // After a reboot the pool exists but is not imported: `zpool create` would refuse it.
    // -R as at creation: altroot is not persistent (zpoolprops(7)), so the import sets it again.
    s.resume.push(cmd(&["zpool", "import", "-N", "-d", "/dev/mapper", "-R", MNT, pool]));
    s
}

/// Each dataset, and right after the root its `@blank`.
pub fn datasets(l: &Layout) -> Vec<Step> {
    let c = l.config;
    let mut steps = Vec::new();
    for d in &c.datasets {
        let full = c.full_name(d);
        let mut s = step(format!("dataset:{}", d.name), Phase::Pool, format!("Create the dataset {full}"));
        let mut argv = strings(&["zfs", "create", "-p"]);
        for (k, v) in &d.properties {
            argv.extend(["-o".into(), format!("{k}={v}")]);
        }
        argv.push(full.clone());
        s.commands.push(cmd_owned(argv));
        s.check.push(check(&["zfs", "list", "-H", "-o", "name", &full], Expect::Stdout(full.clone())));
        steps.push(s);
        if d.blank {
            let snap = crate::config::Snapshot::of(full.as_str()).to_string();
            let mut s = step(format!("snapshot:{}", d.name), Phase::Pool, format!("Snapshot the empty root as {snap}"));
            s.commands.push(cmd(&["zfs", "snapshot", &snap]));
            s.check.push(check(
                &["zfs", "list", "-H", "-t", "snapshot", "-o", "name", &snap],
                Expect::Stdout(snap.clone()),
            ));
            steps.push(s);
        }
    }
    steps
}

// --- mount ---

/// The root, the ESP at /boot, then the other datasets, shallowest first.
pub fn mounts(l: &Layout) -> Vec<Step> {
    let c = l.config;
    let mut steps = vec![mount_step(&c.full_name(c.root_dataset()), "/", "zfs", None)];
    steps.push(mount_step(&l.esp, "/boot", "vfat", Some("umask=0077")));
    let mut others: Vec<&Dataset> =
        c.datasets.iter().filter(|d| d.mount.as_deref().is_some_and(|m| m != "/")).collect();
    others.sort_by_key(|d| d.mount.as_deref().map_or(0, |m| m.matches('/').count()));
    for d in others {
        steps.push(mount_step(&c.full_name(d), d.mount.as_deref().unwrap_or_default(), "zfs", None));
    }
    steps
}

fn mount_step(source: &str, mountpoint: &str, fstype: &str, options: Option<&str>) -> Step {
    let target = mnt(mountpoint);
    let mut s = step(format!("mount:{mountpoint}"), Phase::Mount, format!("Mount {source} at {target}"));
    if mountpoint != "/" {
        // Mount points made after @blank would be rolled away; NixOS stage 1 recreates them.
        s.commands.push(cmd(&["mkdir", "-p", &target]));
    }
    let mut argv = strings(&["mount", "-t", fstype]);
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

/// Each persisted directory bind-mounted from /persist, as on the installed system.
pub fn binds(l: &Layout) -> Vec<Step> {
    let mut steps = Vec::new();
    for dir in &l.config.persist.directories {
        let src = mnt(&nixgen::persisted_source(dir));
        let dst = mnt(dir);
        let title = format!("Keep {dir} in /persist (bind mount, as on the installed system)");
        let mut s = step(format!("bind:{dir}"), Phase::Mount, title);
        s.commands.push(cmd(&["mkdir", "-p", &src, &dst]));
        s.commands.push(cmd(&["mount", "--bind", &src, &dst]));
        s.check.push(check(&["findmnt", "-n", "-o", "TARGET", "--mountpoint", &dst], Expect::Stdout(dst.clone())));
        s.revert.push(cmd(&["umount", &dst]));
        steps.push(s);
    }
    steps
}

// --- config ---

/// configuration.nix, blankroot.nix and blankroot.toml in /etc/nixos (a bind of /persist).
pub fn write_config(l: &Layout) -> Step {
    let (c, ids) = (l.config, l.ids);
    let etc_nixos = mnt("/etc/nixos");
    let mut s = step("write-config", Phase::Config, "Write the NixOS configuration (kept in /persist/etc/nixos)");
    let nix_ids = nixgen::Ids { host_id: &ids.host_id, luks_uuid: &ids.luks_uuid, esp_uuid: &ids.esp_uuid };
    s.files.push(file(&format!("{etc_nixos}/configuration.nix"), "0644", nixgen::configuration(c)));
    s.files.push(file(&format!("{etc_nixos}/blankroot.nix"), "0644", nixgen::module(c, nix_ids)));
    s.files.push(file(&format!("{etc_nixos}/blankroot.toml"), "0644", crate::config::to_toml(c, ids)));
    s
}

/// The machine-id and the SSH host key directory in /persist.
pub(crate) fn persist_state(l: &Layout) -> Step {
    let c = l.config;
    let mut s = step("persist-state", Phase::Config, "Prepare /persist: machine-id and the SSH host key directory");
    if c.persist.files.iter().any(|f| f == "/etc/machine-id") {
        s.files.push(file(&mnt("/persist/etc/machine-id"), "0444", format!("{}\n", l.ids.machine_id)));
    }
    if c.persist.ssh_host_keys {
        s.commands.push(cmd(&["install", "-d", "-m", "0755", &mnt("/persist/etc/ssh")]));
        s.check.push(check(&["test", "-d", &mnt("/persist/etc/ssh")], Expect::Success));
    }
    s
}

/// Each account's yescrypt hash in /persist (0600 root), and the secrets they are made from.
pub(crate) fn password_hashes(l: &Layout) -> (Step, Vec<SecretSpec>) {
    let mut secrets = Vec::new();
    let mut s = step("password-hashes", Phase::Config, "Store yescrypt password hashes in /persist (0600 root)");
    let secrets_dir = mnt("/persist/etc/nixos-secrets");
    s.commands.push(cmd(&["install", "-d", "-m", "0700", &secrets_dir, &format!("{secrets_dir}/passwords")]));
    for (account, source) in l.config.accounts() {
        let how = match source {
            PasswordSource::Locked => continue,
            PasswordSource::Prompt => "asked for at install".to_string(),
            PasswordSource::HashFile { path } => format!("a ready hash read from {path}"),
            PasswordSource::File { path } => format!("read from {path} and hashed"),
        };
        let secret = SecretName::Password(account.clone());
        secrets.push(SecretSpec { name: secret.clone(), description: format!("{account}'s login password ({how})") });
        let mut f = file(&mnt(&account.hash_path()), "0600", String::new());
        f.content = Content::Hash(secret);
        s.files.push(f);
    }
    (s, secrets)
}

/// blankroot's own static executable kept in /persist, where blankroot.nix puts it on PATH.
pub(crate) fn keep_blankroot() -> Step {
    let mut s = step(
        "keep-blankroot",
        Phase::Config,
        "Keep this blankroot (a static executable) in /persist, on PATH once booted",
    );
    let mut f = file(&mnt(nixgen::KEPT_BLANKROOT), "0755", String::new());
    f.content = Content::Blankroot("static".into());
    s.files.push(f);
    s
}

// --- install (the NixOS tools: absent outside the installer) ---

/// hardware-configuration.nix, without file systems (blankroot.nix declares them).
pub(crate) fn hardware_config() -> Step {
    // nixos-generate-config always rewrites hardware-configuration.nix but keeps an existing
    // configuration.nix (it only writes one when absent, unless --force), so ours survives.
    let mut s =
        step("hardware-config", Phase::Install, "Detect the hardware (nixos-generate-config, without file systems)");
    s.commands.push(cmd(&["nixos-generate-config", "--no-filesystems", "--root", MNT]));
    s.check.push(check(&["test", "-s", &mnt("/etc/nixos/hardware-configuration.nix")], Expect::Success));
    s
}

/// The system built and installed.
pub(crate) fn nixos_install() -> Step {
    let mut s = step("nixos-install", Phase::Install, "Build and install NixOS (nixos-install)");
    s.commands.push(cmd(&["nixos-install", "--root", MNT, "--no-root-passwd"]));
    s.check.push(check(&["test", "-e", &mnt("/nix/var/nix/profiles/system")], Expect::Success));
    s
}

// --- finish ---

pub fn unmount() -> Step {
    let mut s = step("unmount", Phase::Finish, format!("Unmount everything under {MNT}"));
    s.commands.push(cmd(&["umount", "-R", MNT]));
    s.check.push(check(&["findmnt", "--mountpoint", MNT], Expect::Failure));
    s
}

pub(crate) fn pool_export(l: &Layout) -> Step {
    let pool = l.pool();
    let mut s = step("pool-export", Phase::Finish, format!("Export {pool} so the first boot imports it cleanly"));
    s.commands.push(cmd(&["zpool", "export", pool]));
    s.check.push(check(&["zpool", "list", "-H", "-o", "name", pool], Expect::Failure));
    s
}

pub(crate) fn luks_close(l: &Layout) -> Step {
    let name = &l.config.luks.name;
    let mut s = step("luks-close", Phase::Finish, format!("Close {}", l.mapper));
    s.commands.push(cmd(&["cryptsetup", "close", name]));
    s.check.push(check(&["cryptsetup", "status", name], Expect::Failure));
    s
}

/// The resume record zeroed: a finished disk keeps no ids outside its encrypted container.
pub(crate) fn forget_resume(l: &Layout) -> Step {
    let dev = l.dev;
    let mut s =
        step("forget-resume", Phase::Finish, format!("Zero the resume record on {dev} (the install is complete)"));
    s.commands.push(cmd_owned(super::record::clear_argv(dev)));
    s.check.push(Check {
        argv: super::record::cleared_check_argv(dev),
        stdin: None,
        expect: Expect::Success,
        verify: true,
    });
    s
}
