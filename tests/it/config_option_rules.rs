//! Every option checked where it is read (issue 10): luksFormat options against an
//! allow-list, ZFS properties against OpenZFS's tables, disk paths, NixOS-breaking values, and
//! the emit-and-read round trip a saved plan's config takes. Good values beside the bad ones,
//! so no rule is stricter than the real tools.

use crate::common;

use blankroot::config::Overrides;
use common::config_check::*;

/// Each case: the config text, where it fails (`line:column`), and what the message says.
#[track_caller]
fn each_fails(cases: &[(String, &str, &str)]) {
    for (text, at, contains) in cases {
        let e = parse(text).expect_err(&format!("should be refused: {text:?}"));
        check(&e, &format!("{FILE}:{at}: "), contains);
    }
}

fn luks(opts: &str) -> String {
    format!("[luks]\nformat_options = [{opts}]\n")
}

#[test]
fn luks_format_options_refused() {
    // Column 19 is the first entry, after `format_options = [`.
    let cases: Vec<(String, &str, &str)> = vec![
        (luks("\"/dev/sdb\""), "2:19", "\"/dev/sdb\" is not an option: luksFormat would take it as the device"),
        (luks("\"--pbkdf=argon2id\", \"/dev/sdb\""), "2:39", "\"/dev/sdb\" is not an option"),
        (luks("\"--\", \"/dev/sdb\""), "2:19", "\"--\" is not an option"),
        (luks("\"-\""), "2:19", "\"-\" is not an option"),
        (luks("\"-c\", \"aes-xts-plain64\""), "2:19", "is a short option"),
        (luks("\"-i1000\""), "2:19", "is a short option"),
        (luks("\"--header=/dev/sdb\""), "2:19", "may not contain \"--header\""),
        (luks("\"--header\", \"/tmp/h\""), "2:19", "may not contain \"--header\""),
        (luks("\"--type=luks1\""), "2:19", "may not contain \"--type\""),
        (luks("\"--batch-mode\""), "2:19", "may not contain \"--batch-mode\""),
        (luks("\"-q\""), "2:19", "may not contain \"-q\""),
        (luks("\"--volume-key-file=/root/vk\""), "2:19", "may not contain \"--volume-key-file\""),
        (luks("\"--master-key-file=/root/vk\""), "2:19", "may not contain \"--master-key-file\""),
        (luks("\"--key-slot=3\""), "2:19", "may not contain \"--key-slot\""),
        (luks("\"--keyfile-offset=1\""), "2:19", "may not contain \"--keyfile-offset\""),
        (luks("\"--verify-passphrase\""), "2:19", "may not contain \"--verify-passphrase\""),
        (luks("\"--header-backup-file=/x\""), "2:19", "not a luksFormat option blankroot passes on"),
        (luks("\"--json-file=/x\""), "2:19", "not a luksFormat option blankroot passes on"),
        (luks("\"--new-keyfile=/x\""), "2:19", "not a luksFormat option"),
        (luks("\"--debug\""), "2:19", "not a luksFormat option"),
        (luks("\"--cypher=aes\""), "2:19", "\"--cypher\" is not a luksFormat option"),
        (luks("\"--hw-opal\""), "2:19", "OPAL admin password"),
        (luks("\"--hw-opal-only\""), "2:19", "OPAL admin password"),
        (luks("\"--key-size=100\""), "2:19", "--key-size \"100\" is not valid: a key size is in bits, a multiple of 8"),
        (luks("\"--key-size=0\""), "2:19", "a multiple of 8"),
        (luks("\"--key-size=abc\""), "2:19", "a whole number"),
        (luks("\"--key-size\", \"8192\""), "2:33", "--key-size \"8192\""),
        (luks("\"--pbkdf=scrypt\""), "2:19", "argon2id, argon2i or pbkdf2"),
        (luks("\"--pbkdf\", \"--uuid=x\""), "2:30", "needs a value, but the next entry is \"--uuid=x\""),
        (luks("\"--iter-time\""), "2:19", "ends with --iter-time, which needs a value"),
        (luks("\"--iter-time=-5\""), "2:19", "a whole number"),
        (luks("\"--iter-time=99999999999\""), "2:19", "too large"),
        (luks("\"--sector-size=8192\""), "2:19", "512, 1024, 2048 or 4096"),
        (luks("\"--sector-size=4095\""), "2:19", "512, 1024, 2048 or 4096"),
        (luks("\"--pbkdf-memory=16\""), "2:19", "from 32 to 4194304"),
        (luks("\"--pbkdf-memory=5000000\""), "2:19", "from 32 to 4194304"),
        (luks("\"--pbkdf-parallel=0\""), "2:19", "from 1 to 4"),
        (luks("\"--pbkdf-parallel=5\""), "2:19", "from 1 to 4"),
        (luks("\"--pbkdf-force-iterations=0\""), "2:19", "at least 1"),
        (luks("\"--cipher=AES-XTS\""), "2:19", "written like aes-xts-plain64"),
        (luks("\"--cipher=aes xts\""), "2:19", "written like aes-xts-plain64"),
        (luks("\"--hash=sha256;rm\""), "2:19", "written like sha256"),
        (luks(&format!("\"--label={}\"", "l".repeat(48))), "2:19", "1 to 47 bytes"),
        (luks("\"--label=-x\""), "2:19", "not starting with `-`"),
        (luks("\"--use-random=yes\""), "2:19", "gives a value to --use-random, which takes none"),
        (luks("\"--luks2-metadata-size=20k\""), "2:19", "16k, 32k"),
        (luks("\"--luks2-keyslots-size=1000\""), "2:19", "multiple of 4096"),
        (luks("\"--luks2-keyslots-size=256m\""), "2:19", "up to 128m"),
        (luks("\"--pbkdf=argon2id\\u0007\""), "2:19", "control character"),
    ];
    each_fails(&cases);
}

#[test]
fn luks_format_options_accepted() {
    for opts in [
        "\"--pbkdf=argon2id\"",
        "\"--pbkdf\", \"argon2i\"",
        "\"--sector-size=4096\"",
        "\"--cipher=aes-xts-plain64\", \"--key-size=512\", \"--hash=sha512\"",
        "\"--cipher\", \"serpent-xts-plain64\"",
        "\"--iter-time=2000\", \"--pbkdf-memory=1048576\", \"--pbkdf-parallel=4\"",
        "\"--pbkdf=pbkdf2\", \"--pbkdf-force-iterations=1000\"",
        "\"--label=root disk\", \"--subsystem=blankroot\"",
        "\"--luks2-metadata-size=64k\", \"--luks2-keyslots-size=16m\"",
        "\"--integrity=hmac-sha256\", \"--integrity-no-wipe\"",
        "\"--use-urandom\", \"--force-password\", \"--disable-keyring\"",
    ] {
        let c = parse(&luks(opts)).unwrap_or_else(|e| panic!("{opts}: {e}"));
        assert!(!c.luks.format_options.is_empty());
    }
}

fn pool_opts(table: &str, props: &str) -> String {
    format!("[pool]\n{table} = {{ {props} }}\n")
}

#[test]
fn pool_properties_refused() {
    // `options = { ` puts the first key at column 13, `fs_options = { ` at 16.
    let cases: Vec<(String, &str, &str)> = vec![
        (
            pool_opts("options", "ashift = 99"),
            "2:22",
            "pool property ashift = \"99\" is not a value ZFS accepts: it takes a whole number from 9 to 16 (or 0)",
        ),
        (pool_opts("options", "ashift = 8"), "2:22", "from 9 to 16"),
        (pool_opts("options", "ashift = \"12k\""), "2:22", "from 9 to 16"),
        (pool_opts("options", "autotrim = \"yes\""), "2:24", "it takes on, off"),
        (pool_opts("options", "failmode = \"die\""), "2:24", "wait, continue, panic"),
        (pool_opts("options", "altroot = \"/\""), "2:13", "pool property altroot is refused"),
        (pool_opts("options", "cachefile = \"/etc/zfs/zpool.cache\""), "2:13", "pool property cachefile is refused"),
        (pool_opts("options", "bootfs = \"rpool/local/root\""), "2:13", "bootfs is refused"),
        (pool_opts("options", "readonly = \"on\""), "2:13", "readonly is refused"),
        (pool_opts("options", "size = \"10G\""), "2:13", "size is refused: it is read-only"),
        (pool_opts("options", "guid = 1"), "2:13", "guid is refused: it is read-only"),
        (pool_opts("options", "compression = \"zstd\""), "2:13", "is not a ZFS property"),
        (pool_opts("options", "bogus = \"x\""), "2:13", "pool property name \"bogus\" is not a ZFS property"),
        (
            pool_opts("options", "\"feature@bogus\" = \"enabled\""),
            "2:13",
            "pool feature \"bogus\" is not one OpenZFS 2.3 knows",
        ),
        (pool_opts("options", "\"feature@large_dnode\" = \"active\""), "2:37", "must be \"enabled\" or \"disabled\""),
        (pool_opts("options", "version = 29"), "2:23", "from 1 to 28 (or 5000)"),
        (pool_opts("options", &format!("comment = \"{}\"", "c".repeat(33))), "2:23", "1 to 32 characters"),
        (
            pool_opts("options", "compatibility = \"../../etc/passwd\""),
            "2:29",
            "not off, legacy or a list of compatibility file names",
        ),
        (pool_opts("options", "\"Com.Example:x\" = \"y\""), "2:13", "not a valid ZFS user property name"),
        (
            pool_opts("fs_options", "encryption = \"on\""),
            "2:16",
            "pool fs property encryption is refused: blankroot encrypts the whole pool with LUKS",
        ),
        (pool_opts("fs_options", "keyformat = \"passphrase\""), "2:16", "keyformat is refused"),
        (pool_opts("fs_options", "keylocation = \"prompt\""), "2:16", "keylocation is refused"),
        (pool_opts("fs_options", "pbkdf2iters = 350000"), "2:16", "pbkdf2iters is refused"),
        (
            pool_opts("fs_options", "mountpoint = \"/\""),
            "2:29",
            "pool fs property mountpoint = \"/\" would make ZFS mount it by itself",
        ),
        (pool_opts("fs_options", "mountpoint = \"/etc\""), "2:29", "mountpoint = \"/etc\""),
        (
            pool_opts("fs_options", "readonly = \"on\""),
            "2:27",
            "readonly = \"on\" would make the installed system unwritable",
        ),
        (
            pool_opts("fs_options", "compression = \"bogus\""),
            "2:30",
            "compression = \"bogus\" is not a value ZFS accepts",
        ),
        (pool_opts("fs_options", "compression = \"zstd-20\""), "2:30", "zstd-1…19"),
        (pool_opts("fs_options", "checksum = \"crc32\""), "2:27", "fletcher4"),
        (pool_opts("fs_options", "acltype = \"posix1e\""), "2:26", "posixacl"),
        (pool_opts("fs_options", "xattr = \"yes\""), "2:24", "off, sa, on, dir"),
        (pool_opts("fs_options", "dnodesize = \"32k\""), "2:28", "legacy, auto, 1k"),
        (pool_opts("fs_options", "atime = \"maybe\""), "2:24", "it takes on, off"),
        (pool_opts("fs_options", "canmount = \"yes\""), "2:27", "on, off, noauto"),
        (pool_opts("fs_options", "sync = \"never\""), "2:23", "standard, always, disabled"),
        (pool_opts("fs_options", "copies = 4"), "2:25", "1, 2, 3"),
        (pool_opts("fs_options", "normalization = \"nfd\""), "2:32", "formD"),
        (pool_opts("fs_options", "recordsize = \"3K\""), "2:29", "power-of-two size from 512 to 16M"),
        (pool_opts("fs_options", "recordsize = \"32M\""), "2:29", "from 512 to 16M"),
        (pool_opts("fs_options", "recordsize = \"big\""), "2:29", "a size such as 128K"),
        (pool_opts("fs_options", "quota = \"10X\""), "2:24", "a size such as 128K"),
        (pool_opts("fs_options", "quota = \"99999999999999999999\""), "2:24", "a size such as"),
        (pool_opts("fs_options", "snapshot_limit = \"lots\""), "2:33", "a whole number or none"),
        (pool_opts("fs_options", "special_small_blocks = \"3000\""), "2:39", "power-of-two"),
        (pool_opts("fs_options", "volsize = \"10G\""), "2:16", "volsize is refused: it applies to volumes"),
        (pool_opts("fs_options", "used = \"1G\""), "2:16", "used is refused: it is read-only"),
        (pool_opts("fs_options", "ashift = 12"), "2:16", "it is a pool property"),
        (pool_opts("fs_options", "\"feature@large_dnode\" = \"enabled\""), "2:16", "is a pool feature"),
        (pool_opts("fs_options", "\"userquota@\" = \"1G\""), "2:16", "is not a ZFS property"),
        (pool_opts("fs_options", "\"com.example:note\" = \"\""), "2:37", "has an empty value"),
        (pool_opts("fs_options", "sharenfs = \"a\\nb\""), "2:27", "printable text"),
    ];
    each_fails(&cases);
}

#[test]
fn dataset_properties_refused() {
    let cases: Vec<(String, &str, &str)> = vec![
        (
            with_dataset("name = \"safe/x\"\nproperties = { mountpoint = \"/etc\" }\n"),
            "16:29",
            "dataset property mountpoint = \"/etc\" would make ZFS mount it by itself",
        ),
        (
            with_dataset("name = \"safe/x\"\nproperties = { mountpoint = \"/mnt/x\", canmount = \"on\" }\n"),
            "16:29",
            "mountpoint = \"/mnt/x\"",
        ),
        (
            with_dataset("name = \"safe/x\"\nproperties = { encryption = \"aes-256-gcm\" }\n"),
            "16:16",
            "dataset property encryption is refused",
        ),
        (with_dataset("name = \"safe/x\"\nproperties = { readonly = true }\n"), "16:27", "readonly = \"on\""),
        (with_dataset("name = \"safe/x\"\nproperties = { recordsize = 1000 }\n"), "16:29", "power-of-two"),
        (with_dataset("name = \"safe/x\"\nproperties = { compression = \"gzip-10\" }\n"), "16:30", "gzip-1…9"),
        (with_dataset("name = \"safe/x\"\nproperties = { ashift = 12 }\n"), "16:16", "is a pool property"),
        (with_dataset("name = \"safe/x\"\nproperties = { volblocksize = \"16K\" }\n"), "16:16", "applies to volumes"),
        (with_dataset("name = \"safe/x\"\nproperties = { origin = \"rpool/a@b\" }\n"), "16:16", "read-only"),
        (
            with_dataset("name = \"safe/x\"\nproperties = { \"groupquota@staff\" = \"big\" }\n"),
            "16:37",
            "a size such as",
        ),
    ];
    each_fails(&cases);
}

#[test]
fn zfs_properties_accepted() {
    let c = parse(
        "[pool]\noptions = { ashift = 12, \"feature@large_dnode\" = \"enabled\", \"feature@encryption\" = \"disabled\", autoexpand = true, failmode = \"continue\", comment = \"main pool\", compatibility = \"openzfs-2.1-linux\", version = 5000, \"com.example:owner\" = \"ops\" }\nfs_options = { compression = \"zstd-3\", recordsize = \"1M\", dnodesize = \"auto\", atime = false, checksum = \"blake3\", dedup = \"sha256,verify\", quota = \"1.5T\", refreservation = \"none\", special_small_blocks = 0, snapshot_limit = 10, \"com.example:note\" = \"x\", mountpoint = \"legacy\", encryption = \"off\" }\n",
    );
    // encryption = "off" is refused all the same: the whole key family is LUKS's.
    assert!(parse("[pool]\nfs_options = { compression = \"zstd-3\" }\n").is_ok());
    let e = c.expect_err("encryption is refused whatever its value");
    assert!(e.message.contains("encryption is refused"), "{}", e.message);
    let c = parse(
        "[pool]\noptions = { ashift = 12, \"feature@large_dnode\" = \"enabled\", autoexpand = true, version = 5000, ashift = 0 }\n",
    );
    assert!(c.is_err(), "a duplicate key is a TOML error");
    let c = parse(
        "[pool]\noptions = { ashift = 0, \"feature@large_dnode\" = \"enabled\", \"com.example:owner\" = \"ops\" }\nfs_options = { compression = \"zstd-fast-1000\", recordsize = \"16M\", quota = \"1.5T\", \"userquota@alice\" = \"10G\", mountpoint = \"none\", readonly = \"off\" }\n",
    )
    .unwrap();
    assert!(c.pool.fs_options.contains(&("recordsize".into(), "16M".into())));
    let c = parse(&with_dataset("name = \"safe/x\"\nmount = \"/srv\"\nproperties = { recordsize = \"1M\", compression = \"zstd-3\", \"com.example:note\" = \"x\" }\n")).unwrap();
    assert_eq!(c.datasets[3].properties.last().map(|(k, v)| format!("{k}={v}")).as_deref(), Some("mountpoint=legacy"));
}

#[test]
fn nixos_breaking_values_refused() {
    let cases: Vec<(String, &str, &str)> = vec![
        ("state_version = \"99.11\"\n".into(), "1:17", "state_version \"99.11\" is not a NixOS release"),
        ("state_version = \"27.05\"\n".into(), "1:17", "is not a NixOS release"),
        ("state_version = \"13.11\"\n".into(), "1:17", "is not a NixOS release"),
        ("[pool]\ndev_nodes = \"/\"\n".into(), "2:13", "dev_nodes \"/\" is not a /dev/disk directory"),
        ("[pool]\ndev_nodes = \"/dev\"\n".into(), "2:13", "dev_nodes \"/dev\""),
        (
            "[pool]\ndev_nodes = \"/dev/disk/by-partuuid\"\n".into(),
            "2:13",
            "udev links in by-id, by-uuid and by-label only",
        ),
        ("[pool]\ndev_nodes = \"/dev/disk/by-path\"\n".into(), "2:13", "by-id, by-uuid and by-label only"),
        ("[pool]\ndev_nodes = \"/dev/disk/by-${id}\"\n".into(), "2:13", "not a /dev/disk directory"),
        ("disk = \"/dev/mapper/vda\"\n".into(), "1:8", "disk \"/dev/mapper/vda\" is a device-mapper device"),
        ("disk = \"/dev/dm-0\"\n".into(), "1:8", "device-mapper"),
        ("disk = \"/dev/vda1\"\n".into(), "1:8", "disk \"/dev/vda1\" is a partition"),
        ("disk = \"/dev/nvme0n1p2\"\n".into(), "1:8", "is a partition"),
        ("disk = \"/dev/disk/by-id/ata-Samsung_SSD-part1\"\n".into(), "1:8", "is a partition"),
        ("disk = \"/dev/disk/by-partuuid/0b9c\"\n".into(), "1:8", "is a partition"),
        ("disk = \"/dev/disk/by-uuid/0b9c\"\n".into(), "1:8", "a file system or container"),
        ("disk = \"/dev/loop0\"\n".into(), "1:8", "a loop or RAM device"),
        ("disk = \"/srv/disk.img\"\n".into(), "1:8", "not a device under /dev"),
        (
            "[persist]\nfiles = [\"/etc/hostid\"]\n".into(),
            "2:10",
            "\"/etc/hostid\" is or holds /etc/hostid, which NixOS writes itself",
        ),
        ("[persist]\nfiles = [\"/etc/shadow\"]\n".into(), "2:10", "/etc/shadow"),
        ("[persist]\nfiles = [\"/etc/passwd\"]\n".into(), "2:10", "/etc/passwd"),
        ("[persist]\nfiles = [\"/etc/NIXOS\"]\n".into(), "2:10", "/etc/NIXOS"),
        ("[persist]\ndirectories = [\"/etc/static\"]\n".into(), "2:16", "/etc/static"),
        ("[persist]\nfiles = [\"/etc/fstab\"]\n".into(), "2:10", "/etc/fstab"),
        (
            "[persist]\ndirectories = [\"/var/lib/a%b\"]\n".into(),
            "2:16",
            "contains '%': systemd reads `%` as a specifier",
        ),
        ("[persist]\nfiles = [\"/var/lib/%h\"]\n".into(), "2:10", "specifier"),
        ("[persist]\nfiles = [\"/var/lib/a\u{a0}b\"]\n".into(), "2:10", "whitespace other than spaces"),
        ("[[users]]\nname = \"nobody\"\n".into(), "2:8", "user \"nobody\" is a system account NixOS declares itself"),
        ("[[users]]\nname = \"sshd\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"messagebus\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"nixbld1\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"nixbld\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"systemd-network\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"polkituser\"\n".into(), "2:8", "system account"),
        ("[[users]]\nname = \"nscd\"\n".into(), "2:8", "system account"),
    ];
    each_fails(&cases);
    // A long pool name is refused for its import unit; flags go through the same rules.
    flag_fails(Overrides { disk: Some("/dev/mapper/vda".into()), ..Default::default() }, "--disk", "device-mapper");
    flag_fails(Overrides { disk: Some("/dev/sda3".into()), ..Default::default() }, "--disk", "is a partition");
    flag_fails(
        Overrides { state_version: Some("99.11".into()), ..Default::default() },
        "--state-version",
        "not a NixOS release",
    );
}

#[test]
fn nixos_values_accepted() {
    for text in [
        "state_version = \"13.10\"\n",
        "state_version = \"20.09\"\n",
        "state_version = \"26.05\"\n",
        "state_version = \"26.11\"\n",
        "[pool]\ndev_nodes = \"/dev/disk/by-uuid\"\n",
        "[pool]\ndev_nodes = \"/dev/disk/by-label\"\n",
        "disk = \"/dev/nvme0n1\"\n",
        "disk = \"/dev/mmcblk0\"\n",
        "disk = \"/dev/disk/by-id/nvme-Samsung_SSD_980_S64\"\n",
        "disk = \"/dev/disk/by-path/pci-0000:00:1f.2-ata-1\"\n",
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\n",
        "[[users]]\nname = \"systemd\"\ngroups = [\"wheel\"]\n",
        "[[users]]\nname = \"nixbldx\"\ngroups = [\"wheel\"]\n",
        "[persist]\nfiles = [\"/etc/adjtime\", \"/etc/hostid.bak\"]\n",
        "[persist]\ndirectories = [\"/var/lib/a b\"]\n",
    ] {
        parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    }
}

#[test]
fn every_rule_survives_the_emit_and_parse_round_trip() {
    // A saved plan's config is checked by emitting it and parsing it again: every valid value
    // must come back exactly, and the rules must live in the parse path (not only in flags).
    let text = "disk = \"/dev/disk/by-id/nvme-X\"\nstate_version = \"26.11\"\n[luks]\nformat_options = [\"--pbkdf\", \"argon2id\", \"--sector-size=4096\", \"--label=a b\"]\n[pool]\ndev_nodes = \"/dev/disk/by-label\"\noptions = { ashift = 0, \"feature@large_dnode\" = \"enabled\", comment = \"x y\" }\nfs_options = { compression = \"zstd-fast-1000\", quota = \"1.5T\", \"userquota@alice\" = \"10G\", \"com.example:note\" = \"a=b c\" }\n";
    let t = round_trip(text);
    assert_eq!(t.back, t.expected);
    // And a refused value written into an emitted file is refused on the way back.
    let bad = t.emitted.replace("format_options = [", "format_options = [\"/dev/sdb\", ");
    assert!(parse(&bad).unwrap_err().message.contains("\"/dev/sdb\" is not an option"));
}

#[test]
fn a_disk_with_white_space_is_a_typing_slip() {
    fails_at("disk = \"/dev/vda \"\n", "1:8", "contains white space");
    fails_at("disk = \"/dev/disk/by-id/ata-X\\tY\"\n", "1:8", "contains");
}
