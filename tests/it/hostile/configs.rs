//! Hostile `blankroot.toml` files, run as `blankroot plan --example -c blankroot.toml`: luks
//! format options that name devices, keys or positionals; every abuse of pool, file-system and
//! dataset properties (OpenZFS's tables: names, types, ranges, values, read-only properties,
//! encryption, mountpoints over the live system); NixOS-breaking values; disks that are
//! partitions or mappings; TOML syntax abuse. Each must be refused with exit 2 at
//! `blankroot.toml:LINE:COL:` with a hint, naming the key or the value.

use super::harness::{BAD_DISKS, Case, Expect, accepted, refused, refused_at};

const FILE: &str = "blankroot.toml";

/// The default layout, so an appended `[[datasets]]` entry is an extra one.
const BASE_DATASETS: &str = "[[datasets]]\nname = \"local/root\"\nmount = \"/\"\nblank = true\n\n\
[[datasets]]\nname = \"local/nix\"\nmount = \"/nix\"\n\n\
[[datasets]]\nname = \"safe/persist\"\nmount = \"/persist\"\n";

fn plan_with(name: &str, bytes: impl Into<Vec<u8>>, expect: Expect) -> Case {
    Case::bin(format!("config/{name}"), &["plan", "--example", "-c", FILE], expect).put(FILE, bytes)
}

/// Refused at a position, naming one of `any_of`.
fn bad(name: &str, toml: &str, any_of: &[&str]) -> Case {
    plan_with(name, toml, refused_at(FILE, any_of))
}

fn dataset(entry: &str) -> String {
    format!("{BASE_DATASETS}\n[[datasets]]\n{entry}\n")
}

fn luks_cases() -> Vec<Case> {
    let opts: &[(&str, &str, &[&str])] = &[
        ("positional-device", r#"["/dev/sdb"]"#, &["/dev/sdb"]),
        ("positional-same-partition", r#"["/dev/vda2"]"#, &["/dev/vda2"]),
        ("positional-after-dashdash", r#"["--", "/dev/sdb"]"#, &["--", "/dev/sdb"]),
        ("positional-word", r#"["--cipher", "aes-xts-plain64", "extra"]"#, &["extra"]),
        ("header-separate", r#"["--header", "/dev/sdb"]"#, &["--header"]),
        ("header-equals", r#"["--header=/tmp/hdr.img"]"#, &["--header"]),
        ("key-file", r#"["--key-file", "/root/key"]"#, &["--key-file"]),
        ("key-file-equals", r#"["--key-file=/etc/shadow"]"#, &["--key-file"]),
        ("key-file-short", r#"["-d", "/root/key"]"#, &["-d"]),
        ("keyfile-offset", r#"["--keyfile-offset", "1"]"#, &["--keyfile-offset"]),
        ("keyfile-size", r#"["--keyfile-size=64"]"#, &["--keyfile-size"]),
        ("volume-key-file", r#"["--volume-key-file=/root/vk"]"#, &["--volume-key-file"]),
        ("master-key-file", r#"["--master-key-file", "/root/mk"]"#, &["--master-key-file"]),
        ("header-backup-file", r#"["--header-backup-file", "/tmp/b"]"#, &["--header-backup-file"]),
        ("type-luks1", r#"["--type", "luks1"]"#, &["--type"]),
        ("uuid-override", r#"["--uuid", "00000000-0000-0000-0000-000000000000"]"#, &["--uuid"]),
        ("unknown-option", r#"["--frobnicate"]"#, &["--frobnicate"]),
        ("iter-time-missing-value", r#"["--iter-time"]"#, &["--iter-time"]),
        ("iter-time-not-number", r#"["--iter-time", "abc"]"#, &["--iter-time", "abc"]),
        ("iter-time-negative", r#"["--iter-time=-5"]"#, &["--iter-time"]),
        ("pbkdf-bogus", r#"["--pbkdf=bogus"]"#, &["--pbkdf", "bogus"]),
        ("sector-size-odd", r#"["--sector-size", "999"]"#, &["--sector-size", "999"]),
        ("pbkdf-memory-negative", r#"["--pbkdf-memory", "-1"]"#, &["--pbkdf-memory"]),
        ("empty-option", r#"[""]"#, &["format_options"]),
        ("shell-metachars", r#"["-q;rm -rf /"]"#, &["-q;rm -rf /", "format_options"]),
        ("terminal-escape", r#"["\u001b[2J"]"#, &["format_options", "\\u{1b}"]),
        ("wrong-type-string", r#""--iter-time 4000""#, &["format_options", "--iter-time 4000"]),
        ("wrong-type-number", "[4000]", &["format_options", "4000"]),
    ];
    let mut v: Vec<Case> =
        opts.iter().map(|(n, o, f)| bad(&format!("luks/{n}"), &format!("[luks]\nformat_options = {o}\n"), f)).collect();
    for (n, name) in [
        ("name-empty", ""),
        ("name-slash", "a/b"),
        ("name-control", "control"),
        ("name-space", "a b"),
        ("name-too-long", &"c".repeat(128)),
        // A name starting with `-` lands after `cryptsetup open …` and is read as an option.
        ("name-dash-first", "-x"),
        ("name-newline", "a\\nb"),
    ] {
        v.push(bad(&format!("luks/{n}"), &format!("[luks]\nname = \"{name}\"\n"), &["name", "LUKS", "luks"]));
    }
    v.push(bad("luks/allow-discards-string", "[luks]\nallow_discards = \"yes\"\n", &["allow_discards", "\"yes\""]));
    // The recorded ids: only what cryptsetup and blkid would print, never an option or a path.
    for (n, table, value) in [
        ("luks-uuid-v1", "luks", "\"6ba7b810-9dad-11d1-80b4-00c04fd430c8\""),
        ("luks-uuid-short", "luks", "\"1234\""),
        ("luks-uuid-option", "luks", "\"--header /dev/sdb\""),
        ("luks-uuid-braces", "luks", "\"{fb020910-171e-452c-b33a-41484f565d64}\""),
        ("luks-uuid-number", "luks", "42"),
        ("esp-uuid-nodash", "esp", "\"EAF1F8FF\""),
        ("esp-uuid-not-hex", "esp", "\"ZZZZ-0000\""),
        ("esp-uuid-path", "esp", "\"../../dev/sda\""),
        ("esp-uuid-list", "esp", "[\"EAF1-F8FF\"]"),
    ] {
        v.push(bad(&format!("ids/{n}"), &format!("[{table}]\nuuid = {value}\n"), &["uuid"]));
    }
    v.push(plan_with(
        "ids/recorded-uuids-accepted",
        "[luks]\nuuid = \"FB020910-171E-452C-B33A-41484F565D64\"\n[esp]\nuuid = \"eaf1-f8ff\"\n",
        accepted(&["fb020910-171e-452c-b33a-41484f565d64", "/dev/disk/by-uuid/EAF1-F8FF"]),
    ));
    v
}

fn pool_option_cases() -> Vec<Case> {
    let opts: &[(&str, &str, &[&str])] = &[
        ("ashift-99", "ashift = 99", &["ashift", "99"]),
        ("ashift-8", "ashift = 8", &["ashift"]),
        ("ashift-17", "ashift = 17", &["ashift"]),
        ("ashift-negative", "ashift = -1", &["ashift"]),
        ("ashift-text", "ashift = \"abc\"", &["ashift", "abc"]),
        ("ashift-float", "ashift = 12.5", &["ashift"]),
        ("unknown-name", "bogus = \"x\"", &["bogus"]),
        ("unknown-feature", "\"feature@bogus\" = \"enabled\"", &["feature@bogus", "\"bogus\""]),
        ("feature-value", "\"feature@large_dnode\" = \"yes\"", &["feature@large_dnode", "yes"]),
        ("autotrim-value", "autotrim = \"maybe\"", &["autotrim", "maybe"]),
        ("altroot", "altroot = \"/\"", &["altroot"]),
        ("readonly", "readonly = \"on\"", &["readonly"]),
        ("read-only-size", "size = \"1G\"", &["size"]),
        ("read-only-health", "health = \"ONLINE\"", &["health"]),
        ("read-only-guid", "guid = \"1\"", &["guid"]),
        ("read-only-free", "free = \"1G\"", &["free"]),
        ("comment-too-long", &format!("comment = \"{}\"", "c".repeat(40)), &["comment"]),
        ("failmode-value", "failmode = \"explode\"", &["failmode", "explode"]),
        ("delegation-value", "delegation = \"sometimes\"", &["delegation", "sometimes"]),
        ("empty-name", "\"\" = \"x\"", &["options", "property"]),
        ("name-with-space", "\"ashift \" = 12", &["ashift"]),
        ("fs-property-as-pool", "compression = \"lz4\"", &["compression"]),
        ("wrong-type-table", "ashift = { x = 1 }", &["ashift"]),
        ("terminal-escape-name", "\"\\u001b[31mx\" = \"1\"", &["\\u{1b}", "options"]),
    ];
    opts.iter()
        .map(|(n, o, f)| bad(&format!("pool-options/{n}"), &format!("[pool]\noptions = {{ {o} }}\n"), f))
        .collect()
}

/// File-system properties: each as the pool's `fs_options` and as an extra dataset's
/// `properties`.
const FS_PROPS: &[(&str, &str, &[&str])] = &[
    ("compression-bogus", "compression = \"bogus\"", &["compression", "bogus"]),
    ("compression-zstd-99", "compression = \"zstd-99\"", &["compression", "zstd-99"]),
    ("compression-gzip-10", "compression = \"gzip-10\"", &["compression", "gzip-10"]),
    ("encryption-on", "encryption = \"on\"", &["encryption"]),
    ("encryption-aes", "encryption = \"aes-256-gcm\"", &["encryption"]),
    ("keyformat", "keyformat = \"passphrase\"", &["keyformat"]),
    ("keylocation-file", "keylocation = \"file:///etc/shadow\"", &["keylocation"]),
    ("keylocation-prompt", "keylocation = \"prompt\"", &["keylocation"]),
    ("readonly-on", "readonly = \"on\"", &["readonly"]),
    ("readonly-bool", "readonly = true", &["readonly"]),
    ("recordsize-not-power", "recordsize = \"100K\"", &["recordsize", "100K"]),
    ("recordsize-huge", "recordsize = \"32M\"", &["recordsize", "32M"]),
    ("recordsize-tiny", "recordsize = \"256\"", &["recordsize", "256"]),
    ("recordsize-text", "recordsize = \"abc\"", &["recordsize", "abc"]),
    ("read-only-used", "used = \"1G\"", &["used"]),
    ("read-only-available", "available = \"1G\"", &["available"]),
    ("read-only-creation", "creation = \"now\"", &["creation"]),
    ("read-only-mounted", "mounted = \"yes\"", &["mounted"]),
    ("unknown-name", "bogus = \"x\"", &["bogus"]),
    ("user-prop-no-colon", "\"com.example\" = \"x\"", &["com.example"]),
    ("atime-value", "atime = \"maybe\"", &["atime", "maybe"]),
    ("xattr-value", "xattr = \"bogus\"", &["xattr", "bogus"]),
    ("acltype-value", "acltype = \"bogus\"", &["acltype", "bogus"]),
    ("normalization-value", "normalization = \"bogus\"", &["normalization", "bogus"]),
    ("casesensitivity-value", "casesensitivity = \"bogus\"", &["casesensitivity", "bogus"]),
    ("volume-prop-volsize", "volsize = \"1G\"", &["volsize"]),
    ("volume-prop-volblocksize", "volblocksize = \"8K\"", &["volblocksize"]),
    ("quota-negative", "quota = \"-1G\"", &["quota", "-1G"]),
    ("quota-text", "quota = \"lots\"", &["quota", "lots"]),
    ("reservation-overflow", "reservation = \"99999999999999999999999\"", &["reservation"]),
    ("copies-4", "copies = 4", &["copies"]),
    ("copies-0", "copies = 0", &["copies"]),
    ("dnodesize-value", "dnodesize = \"3k\"", &["dnodesize", "3k"]),
    ("logbias-value", "logbias = \"fast\"", &["logbias", "fast"]),
    ("sync-value", "sync = \"never\"", &["sync", "never"]),
    ("checksum-value", "checksum = \"md5\"", &["checksum", "md5"]),
    ("snapdir-value", "snapdir = \"shown\"", &["snapdir", "shown"]),
    ("mountpoint-relative", "mountpoint = \"relative/x\"", &["mountpoint", "relative/x"]),
    ("mountpoint-etc", "mountpoint = \"/etc\"", &["mountpoint", "/etc"]),
    ("mountpoint-dotdot", "mountpoint = \"/mnt/../etc\"", &["mountpoint", "/mnt/../etc"]),
    ("mountpoint-empty", "mountpoint = \"\"", &["mountpoint"]),
    ("canmount-value", "canmount = \"sometimes\"", &["canmount", "sometimes"]),
    ("pool-prop-as-fs", "ashift = 12", &["ashift"]),
];

fn fs_option_cases() -> Vec<Case> {
    let mut v: Vec<Case> = FS_PROPS
        .iter()
        .map(|(n, o, f)| bad(&format!("fs-options/{n}"), &format!("[pool]\nfs_options = {{ {o} }}\n"), f))
        .collect();
    v.push(bad(
        "fs-options/mountpoint-root-canmount-on",
        "[pool]\nfs_options = { mountpoint = \"/\", canmount = \"on\" }\n",
        &["mountpoint", "canmount"],
    ));
    v.push(bad("fs-options/wrong-type-array", "[pool]\nfs_options = [\"compression=lz4\"]\n", &["fs_options"]));
    v
}

fn dataset_cases() -> Vec<Case> {
    let mut v: Vec<Case> = FS_PROPS
        .iter()
        .map(|(n, o, f)| {
            bad(&format!("dataset-props/{n}"), &dataset(&format!("name = \"local/extra\"\nproperties = {{ {o} }}")), f)
        })
        .collect();
    let more: &[(&str, &str, &[&str])] = &[
        ("mountpoint-etc-without-mount", "name = \"local/x\"\nproperties = { mountpoint = \"/etc\" }", &["mountpoint"]),
        ("mountpoint-root", "name = \"local/x\"\nproperties = { mountpoint = \"/\" }", &["mountpoint"]),
        (
            "canmount-on-usr",
            "name = \"local/x\"\nproperties = { canmount = \"on\", mountpoint = \"/usr\" }",
            &["mountpoint", "canmount"],
        ),
        ("mount-relative", "name = \"local/x\"\nmount = \"srv\"", &["mount", "srv"]),
        ("mount-dotdot", "name = \"local/x\"\nmount = \"/persist/../etc\"", &["mount", "/persist/../etc"]),
        ("mount-duplicate", "name = \"local/x\"\nmount = \"/nix\"", &["/nix"]),
        ("name-dotdot", "name = \"../x\"", &["../x", "name"]),
        ("name-empty", "name = \"\"", &["name"]),
        ("name-double-slash", "name = \"a//b\"", &["a//b"]),
        ("name-duplicate", "name = \"local/root\"", &["local/root"]),
        ("name-at", "name = \"local/x@snap\"", &["local/x@snap"]),
        ("name-percent", "name = \"local/x%y\"", &["local/x%y"]),
        ("name-too-long", &format!("name = \"local/{}\"", "n".repeat(300)), &["name"]),
        ("second-blank", "name = \"local/x\"\nmount = \"/srv\"\nblank = true", &["blank"]),
        ("properties-wrong-type", "name = \"local/x\"\nproperties = \"atime=off\"", &["properties", "atime=off"]),
    ];
    v.extend(more.iter().map(|(n, e, f)| bad(&format!("dataset/{n}"), &dataset(e), f)));
    v.push(bad(
        "dataset/root-readonly",
        "[[datasets]]\nname = \"local/root\"\nmount = \"/\"\nblank = true\nproperties = { readonly = \"on\" }\n\n\
         [[datasets]]\nname = \"local/nix\"\nmount = \"/nix\"\n\n[[datasets]]\nname = \"safe/persist\"\nmount = \"/persist\"\n",
        &["readonly"],
    ));
    v
}

fn nixos_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let paths: &[(&str, &str, &str, &[&str])] = &[
        ("hostid", "files", "/etc/hostid", &["/etc/hostid"]),
        ("shadow", "files", "/etc/shadow", &["/etc/shadow"]),
        ("percent-dir", "directories", "/var/lib/a%b", &["/var/lib/a%b", "%"]),
        ("percent-file", "files", "/etc/x%y.conf", &["/etc/x%y.conf", "%"]),
        ("newline", "directories", "/var/lib/a\\nb", &["/var/lib/a\\nb", "directories"]),
        ("tab", "files", "/etc/a\\tb", &["/etc/a\\tb", "files"]),
        ("dotdot", "directories", "/var/lib/../../etc", &["/var/lib/../../etc"]),
        ("dotdot-end", "directories", "/var/lib/x/..", &["/var/lib/x/.."]),
        ("dot", "directories", "/var/./lib", &["/var/./lib"]),
        ("relative", "directories", "var/lib/x", &["var/lib/x"]),
        ("root", "directories", "/", &["directories", "\"/\""]),
        ("inside-persist", "directories", "/persist/x", &["/persist/x"]),
        ("nix-store", "directories", "/nix/store", &["/nix/store"]),
        ("empty", "files", "", &["files", "persisted path"]),
        ("escape", "files", "/etc/\\u001b[2J", &["files", "\\u{1b}"]),
    ];
    for (n, key, path, f) in paths {
        v.push(bad(&format!("persist/{n}"), &format!("[persist]\n{key} = [\"{path}\"]\n"), f));
    }
    v.push(bad("persist/wrong-type", "[persist]\ndirectories = \"/var/lib/x\"\n", &["directories", "/var/lib/x"]));
    for user in [
        "root",
        "nobody",
        "sshd",
        "nixbld1",
        "messagebus",
        "systemd-network",
        "",
        "Alice",
        "1abc",
        "-alice",
        "al ice",
        "alice\\n",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    ] {
        let toml = format!("[[users]]\nname = \"{user}\"\ngroups = [\"wheel\"]\n");
        let label = if user.is_empty() { "empty".to_string() } else { user.replace("\\n", "-newline") };
        v.push(bad(&format!("user/{label}"), &toml, &["name", user]));
    }
    v.push(bad(
        "user/duplicate",
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\n\n[[users]]\nname = \"alice\"\n",
        &["alice"],
    ));
    v.push(bad(
        "user/group-space",
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\", \"bad group\"]\n",
        &["bad group"],
    ));
    v.push(bad(
        "user/group-empty",
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\", \"\"]\n",
        &["groups", "group name"],
    ));
    v.push(bad(
        "user/password-bogus",
        "[[users]]\nname = \"alice\"\ngroups = [\"wheel\"]\npassword = \"hunter2\"\n",
        &["password"],
    ));
    v.push(bad(
        "user/groups-wrong-type",
        "[[users]]\nname = \"alice\"\ngroups = \"wheel\"\n",
        &["groups", "\"wheel\""],
    ));
    v
}

fn pool_release_cases() -> Vec<Case> {
    let mut v = Vec::new();
    // zfs-import-<pool>.service longer than systemd's 255 characters (src/basic/unit-name.h:
    // UNIT_NAME_MAX 256, with the NUL).
    v.push(bad("pool/name-unit-too-long", &format!("[pool]\nname = \"p{}\"\n", "o".repeat(240)), &["name", "255"]));
    // Reserved: OpenZFS module/zcommon/zfs_namecheck.c pool_namecheck (mirror, raidz, draid) and
    // lib/libzfs/libzfs_pool.c zpool_name_valid (names starting mirror/raidz/draid/spare, and
    // log) at create time. Names that look like Solaris disks (`c0d1`) are NOT reserved since
    // OpenZFS commit c05eec32a7 "Allow pool names that look like Solaris disk names" (before
    // zfs-2.1; no DISKLIKE check in zfs-2.1.15, 2.2.0 or 2.3.0): accepted, a control.
    for (n, pool) in [("mirror", "mirror"), ("raidz", "raidz"), ("spare", "spare"), ("log", "log"), ("draid", "draid2")]
    {
        v.push(bad(&format!("pool/reserved-{n}"), &format!("[pool]\nname = \"{pool}\"\n"), &[pool]));
    }
    v.push(plan_with("control/pool-disklike", "[pool]\nname = \"c0d1\"\n", accepted(&["c0d1"])));
    for (n, pool) in [("digit-first", "1pool"), ("empty", ""), ("slash", "rp/ool"), ("percent", "rp%ool")] {
        v.push(bad(&format!("pool/{n}"), &format!("[pool]\nname = \"{pool}\"\n"), &["name"]));
    }
    for (n, dev) in [
        ("root", "/"),
        ("dev", "/dev"),
        ("relative", "disk/by-id"),
        ("etc", "/etc"),
        ("dotdot", "/dev/disk/../../etc"),
        ("empty", ""),
    ] {
        v.push(bad(&format!("pool/dev-nodes-{n}"), &format!("[pool]\ndev_nodes = \"{dev}\"\n"), &["dev_nodes"]));
    }
    for (n, sv) in
        [("99.11", "99.11"), ("1.0", "1.0"), ("25.13", "25.13"), ("25.06", "25.06"), ("text", "abc"), ("empty", "")]
    {
        v.push(bad(&format!("state-version/{n}"), &format!("state_version = \"{sv}\"\n"), &["state_version", sv]));
    }
    v.push(bad("state-version/float", "state_version = 25.11\n", &["state_version", "25.11"]));
    v
}

fn host_cases() -> Vec<Case> {
    let mut v = Vec::new();
    let long = "h".repeat(64);
    for (n, h) in [
        ("empty", ""),
        ("too-long", long.as_str()),
        ("dash-first", "-host"),
        ("dash-last", "host-"),
        ("domain", "host.example.com"),
        ("space", "host name"),
        ("non-ascii", "höst"),
        ("newline", "host\\n"),
        ("escape", "\\u001b[2J"),
    ] {
        v.push(bad(&format!("hostname/{n}"), &format!("hostname = \"{h}\"\n"), &["hostname"]));
    }
    v.push(bad("hostname/wrong-type", "hostname = 5\n", &["hostname", "`5`"]));
    for (n, id) in
        [("example", "a1b2c3d4"), ("not-hex", "xyzxyzxy"), ("short", "123"), ("long", "123456789"), ("empty", "")]
    {
        v.push(bad(&format!("host-id/{n}"), &format!("host_id = \"{id}\"\n"), &["host_id"]));
    }
    v.push(bad("host-id/integer", "host_id = 0xDEADBEEF\n", &["host_id", "3735928559", "0xDEADBEEF"]));
    for (n, s) in [
        ("zero", "0"),
        ("negative", "-1GiB"),
        ("bigger-than-disk", "1PiB"),
        ("overflow", "99999999999999999999GiB"),
        ("text", "abc"),
        ("tiny", "1MiB"),
        ("empty", ""),
        ("unit-only", "GiB"),
        ("escape", "\\u001b[2J"),
    ] {
        v.push(bad(&format!("esp-size/{n}"), &format!("[esp]\nsize = \"{s}\"\n"), &["size"]));
    }
    v.push(bad("esp-size/integer-negative", "[esp]\nsize = -5\n", &["size", "-5"]));
    v.push(bad("esp-size/integer-overflow", "[esp]\nsize = 99999999999999999999\n", &["size", "99999999999999999999"]));
    for (n, d) in BAD_DISKS.into_iter().chain([
        ("by-partuuid", "/dev/disk/by-partuuid/6a34ecfa-dd3e-47cb-8f19-864831cc00e3"),
        ("newline", "/dev/vda\\n"),
    ]) {
        v.push(bad(&format!("disk/{n}"), &format!("disk = \"{d}\"\n"), &["disk"]));
    }
    v.push(bad("initrd/bogus", "initrd = \"bogus\"\n", &["initrd", "bogus"]));
    v.push(bad("initrd/empty", "initrd = \"\"\n", &["initrd"]));
    v
}

fn syntax_cases() -> Vec<Case> {
    let huge = format!("hostname = \"{}\"\n", "a".repeat(1 << 20));
    let deep_array = format!("x = {}1{}\n", "[".repeat(20_000), "]".repeat(20_000));
    let deep_table = format!("x = {}1{}\n", "{a = ".repeat(20_000), "}".repeat(20_000));
    let long_key = format!("{} = 1\n", "k".repeat(10_000));
    let mut v = vec![
        plan_with("syntax/huge-string", huge, refused_at(FILE, &["hostname"])),
        plan_with("syntax/deep-array", deep_array, refused(&["blankroot.toml"])),
        plan_with("syntax/deep-inline-table", deep_table, refused(&["blankroot.toml"])),
        plan_with("syntax/long-unknown-key", long_key, refused_at(FILE, &["unknown key"])),
        bad("syntax/duplicate-key", "hostname = \"a\"\nhostname = \"b\"\n", &["hostname"]),
        bad("syntax/duplicate-table", "[pool]\nname = \"a\"\n[pool]\nname = \"b\"\n", &["pool"]),
        bad("syntax/dotted-nonsense", "pool.options.ashift.x = 1\n", &["ashift", "options"]),
        bad("syntax/disk-bool", "disk = true\n", &["disk", "`true`"]),
        bad("syntax/datasets-string", "datasets = \"x\"\n", &["datasets", "string \"x\""]),
        bad("syntax/users-table", "users = { name = \"x\" }\n", &["users"]),
        bad("syntax/persist-array", "persist = []\n", &["persist"]),
        bad("syntax/esp-string", "esp = \"1G\"\n", &["esp", "\"1G\""]),
        bad("syntax/unterminated-string", "hostname = \"web\n", &["blankroot.toml"]),
        bad("syntax/bare-cr", "hostname = \"web\"\rdisk = \"/dev/vda\"\n", &["blankroot.toml"]),
        bad("syntax/escaped-escape-in-key", "\"\\u001b[31mkey\" = 1\n", &["unknown key", "\\u{1b}"]),
        plan_with("syntax/invalid-utf8", b"hostname = \"\xff\xfe\"\n".to_vec(), refused(&["blankroot.toml", "UTF-8"])),
        plan_with("syntax/nul-in-string", b"hostname = \"a\x00b\"\n".to_vec(), refused(&["blankroot.toml"])),
        plan_with("syntax/nul-line", b"hostname = \"web\"\n\x00\n".to_vec(), refused(&["blankroot.toml"])),
        plan_with("syntax/raw-escape-in-string", b"hostname = \"\x1b[2J\"\n".to_vec(), refused(&["blankroot.toml"])),
        plan_with(
            "syntax/raw-escape-in-comment",
            b"# \x1b]0;owned\x07\nhostname = \"web\"\n".to_vec(),
            refused(&["blankroot.toml"]),
        ),
        plan_with("syntax/utf16", b"\xff\xfeh\x00=\x00".to_vec(), refused(&["blankroot.toml"])),
        plan_with(
            "syntax/binary-garbage",
            (0u8..=255).cycle().take(4096).collect::<Vec<u8>>(),
            refused(&["blankroot.toml"]),
        ),
    ];
    // A BOM: a clear error, or read as the config it is.
    v.push(plan_with("syntax/bom", "\u{feff}hostname = \"web-bom\"\n", Expect::Either { check: None }));
    // Controls: good configs are planned (CRLF is valid TOML).
    v.push(plan_with("control/empty", "", accepted(&["host nixos", "rpool"])));
    v.push(plan_with("control/hostname", "hostname = \"web-01\"\n", accepted(&["host web-01"])));
    v.push(plan_with(
        "control/crlf",
        "hostname = \"web-02\"\r\n[pool]\r\nname = \"tank\"\r\n",
        accepted(&["host web-02", "tank"]),
    ));
    v.push(plan_with(
        "control/fs-options",
        "[pool]\nfs_options = { compression = \"lz4\", atime = false }\n[luks]\nformat_options = [\"--iter-time\", \"4000\"]\n",
        accepted(&["--iter-time 4000", "compression=lz4"]),
    ));
    v
}

pub fn cases() -> Vec<Case> {
    let mut v = luks_cases();
    v.extend(pool_option_cases());
    v.extend(fs_option_cases());
    v.extend(dataset_cases());
    v.extend(nixos_cases());
    v.extend(pool_release_cases());
    v.extend(host_cases());
    v.extend(syntax_cases());
    v
}
