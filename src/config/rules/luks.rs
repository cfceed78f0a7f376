//! `[luks] format_options`: the extra arguments blankroot passes to `cryptsetup luksFormat`,
//! before the LUKS partition. Only an allow-list of options gets through, each with the shape
//! of its argument, so that nothing in the list can name another device, a header or key file,
//! take over what blankroot sets (type, UUID, passphrase from stdin, batch mode), or stop to ask
//! a question.
//!
//! Spelling: long options only, either as one entry `--option=value` or as two entries
//! `"--option", "value"`. Short options (`-c`), positionals and `--` are refused.
//!
//! Sources: cryptsetup v2.8.6 (mbroz/cryptsetup, the GitLab project's mirror):
//! `man/cryptsetup-luksFormat.8.adoc` (the options luksFormat takes) and
//! `man/common_options.adoc` (their arguments: `--key-size` "has to be a multiple of 8",
//! `--sector-size` "a power of two and in the 512 - 4096 bytes range", `--pbkdf-parallel` "up to
//! 4", `--luks2-metadata-size` 16…4096 kB powers of two, `--luks2-keyslots-size` a multiple of
//! 4096 bytes up to 128 MB); `src/cryptsetup_arg_list.h` (which take a value);
//! `lib/crypto_backend/pbkdf_check.c` (Argon2 memory 32 to 4194304 KiB);
//! `lib/luks2/luks2.h` `LUKS2_LABEL_L` = 48 (label and subsystem, with the terminating NUL).

use super::{Problem, problem};
use crate::error::excerpt;

type Shape = fn(&str) -> Result<(), String>;

/// The options luksFormat may be given, and the shape of each one's argument (`None`: a flag).
const ALLOWED: &[(&str, Option<Shape>)] = &[
    ("--cipher", Some(cipher)),
    ("--keyslot-cipher", Some(cipher)),
    ("--key-size", Some(key_bits)),
    ("--keyslot-key-size", Some(key_bits)),
    ("--hash", Some(algorithm)),
    ("--integrity", Some(algorithm)),
    ("--pbkdf", Some(pbkdf)),
    ("--iter-time", Some(u32_any)),
    ("--pbkdf-force-iterations", Some(u32_positive)),
    ("--pbkdf-memory", Some(pbkdf_memory)),
    ("--pbkdf-parallel", Some(pbkdf_parallel)),
    ("--sector-size", Some(sector_size)),
    ("--label", Some(label)),
    ("--subsystem", Some(label)),
    ("--offset", Some(u64_any)),
    ("--luks2-metadata-size", Some(metadata_size)),
    ("--luks2-keyslots-size", Some(keyslots_size)),
    ("--integrity-no-wipe", None),
    ("--integrity-legacy-padding", None),
    ("--use-random", None),
    ("--use-urandom", None),
    ("--force-password", None),
    ("--disable-keyring", None),
];

/// Options blankroot passes itself (or that would replace how it passes the key).
const OWNED: &[&str] = &[
    "--type",
    "-M",
    "--uuid",
    "--key-file",
    "-d",
    "--keyfile-offset",
    "--keyfile-size",
    "-l",
    "--key-slot",
    "-S",
    "--volume-key-file",
    "--master-key-file",
    "--header",
    "--batch-mode",
    "-q",
    "--verify-passphrase",
    "-y",
];

const HINT: &str = "give long options as \"--option=value\" (or \"--option\", \"value\"), e.g. [\"--pbkdf=argon2id\", \"--sector-size=4096\"]; luksFormat takes --cipher, --key-size, --hash, --pbkdf, --iter-time, --pbkdf-memory, --pbkdf-parallel, --pbkdf-force-iterations, --sector-size, --label, --subsystem, --integrity, --keyslot-cipher, --keyslot-key-size, --luks2-metadata-size, --luks2-keyslots-size, --offset and a few flags here";

/// Checks the whole list; on a problem, the index of the entry at fault.
pub fn format_options(opts: &[&str]) -> Result<(), (usize, Problem)> {
    let mut i = 0;
    while let Some(&opt) = opts.get(i) {
        let at = move |p: Problem| (i, p);
        if opt.chars().any(char::is_control) {
            return Err(at(problem(
                "a luks.format_options entry contains a control character",
                "remove the control character from the entry",
            )));
        }
        let (name, attached) = match opt.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (opt, None),
        };
        if let Some(o) = owned(name) {
            return Err(at(problem(
                format!("luks.format_options may not contain {o:?}: blankroot sets it"),
                "remove it; blankroot passes the LUKS2 type and the planned UUID itself, and feeds the passphrase on stdin",
            )));
        }
        if !name.starts_with("--") || name == "--" {
            return Err(at(not_an_option(opt)));
        }
        if name == "--hw-opal" || name == "--hw-opal-only" {
            return Err(at(problem(
                format!(
                    "luks.format_options entry {name} is refused: luksFormat would stop to ask for the drive's OPAL admin password"
                ),
                "remove it; blankroot runs luksFormat unattended",
            )));
        }
        let Some((_, shape)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
            return Err(at(problem(
                format!("luks.format_options entry {} is not a luksFormat option blankroot passes on", excerpt(name)),
                HINT,
            )));
        };
        match (shape, attached) {
            (None, None) => {}
            (None, Some(_)) => {
                return Err(at(problem(
                    format!("luks.format_options entry {} gives a value to {name}, which takes none", excerpt(opt)),
                    format!("write just \"{name}\""),
                )));
            }
            (Some(shape), Some(v)) => shape(v).map_err(|why| at(bad_value(name, v, &why)))?,
            (Some(shape), None) => {
                i += 1;
                let Some(&v) = opts.get(i) else {
                    return Err((
                        i - 1,
                        problem(format!("luks.format_options ends with {name}, which needs a value"), HINT),
                    ));
                };
                if v.starts_with('-') {
                    return Err((
                        i,
                        problem(
                            format!("luks.format_options: {name} needs a value, but the next entry is {}", excerpt(v)),
                            format!("write \"{name}=VALUE\""),
                        ),
                    ));
                }
                if v.chars().any(char::is_control) {
                    return Err((
                        i,
                        problem(
                            "a luks.format_options entry contains a control character",
                            "remove the control character from the entry",
                        ),
                    ));
                }
                shape(v).map_err(|why| (i, bad_value(name, v, &why)))?;
            }
        }
        i += 1;
    }
    Ok(())
}

fn owned(name: &str) -> Option<&'static str> {
    OWNED
        .iter()
        .copied()
        .find(|o| *o == name || (o.len() == 2 && !name.starts_with("--") && name.len() > 2 && name.starts_with(*o)))
}

fn not_an_option(opt: &str) -> Problem {
    if opt.starts_with('-') && !opt.starts_with("--") && opt.len() > 1 {
        return problem(
            format!("luks.format_options entry {} is a short option; blankroot takes long ones only", excerpt(opt)),
            HINT,
        );
    }
    problem(
        format!(
            "luks.format_options entry {} is not an option: luksFormat would take it as the device or the key file",
            excerpt(opt)
        ),
        HINT,
    )
}

fn bad_value(name: &str, value: &str, why: &str) -> Problem {
    problem(format!("luks.format_options: {name} {} is not valid: {why}", excerpt(value)), HINT)
}

fn number(v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err("it must be a whole number".into());
    }
    v.parse().map_err(|_| "it is too large".into())
}

fn u32_any(v: &str) -> Result<(), String> {
    let n = number(v)?;
    if n > u64::from(u32::MAX) { Err("it is too large".into()) } else { Ok(()) }
}

fn u32_positive(v: &str) -> Result<(), String> {
    u32_any(v)?;
    if number(v)? == 0 { Err("it must be at least 1".into()) } else { Ok(()) }
}

fn u64_any(v: &str) -> Result<(), String> {
    number(v).map(|_| ())
}

fn key_bits(v: &str) -> Result<(), String> {
    let n = number(v)?;
    if n == 0 || !n.is_multiple_of(8) || n > 4096 {
        return Err("a key size is in bits, a multiple of 8 up to 4096 (e.g. 512 for aes-xts-plain64)".into());
    }
    Ok(())
}

/// `aes-xts-plain64`, `serpent-cbc-essiv:sha256`, `capi:xts(aes)-plain64`.
fn cipher(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 64
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-:_()".contains(c));
    if ok { Ok(()) } else { Err("a cipher is written like aes-xts-plain64".into()) }
}

/// `sha256`, `sha3-512`, `hmac(sha256)`, `aead`.
fn algorithm(v: &str) -> Result<(), String> {
    let ok = !v.is_empty()
        && v.len() <= 32
        && v.starts_with(|c: char| c.is_ascii_lowercase())
        && v.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_()".contains(c));
    if ok { Ok(()) } else { Err("an algorithm is written like sha256".into()) }
}

fn pbkdf(v: &str) -> Result<(), String> {
    if matches!(v, "argon2id" | "argon2i" | "pbkdf2") {
        Ok(())
    } else {
        Err("it is argon2id, argon2i or pbkdf2".into())
    }
}

fn pbkdf_memory(v: &str) -> Result<(), String> {
    let n = number(v)?;
    if (32..=4 * 1024 * 1024).contains(&n) { Ok(()) } else { Err("it is in KiB, from 32 to 4194304 (4 GiB)".into()) }
}

fn pbkdf_parallel(v: &str) -> Result<(), String> {
    let n = number(v)?;
    if (1..=4).contains(&n) { Ok(()) } else { Err("it is a number of threads from 1 to 4".into()) }
}

fn sector_size(v: &str) -> Result<(), String> {
    if matches!(v, "512" | "1024" | "2048" | "4096") { Ok(()) } else { Err("it is 512, 1024, 2048 or 4096".into()) }
}

fn label(v: &str) -> Result<(), String> {
    if v.is_empty() || v.len() > 47 || v.starts_with('-') || v.chars().any(char::is_control) {
        return Err("it is 1 to 47 bytes of text, not starting with `-`".into());
    }
    Ok(())
}

/// cryptsetup's sizes: bytes, or a number with a `k`/`m`/`g` unit (binary).
fn bytes(v: &str) -> Result<u64, String> {
    let split = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (n, unit) = v.split_at(split);
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kib" => 10,
        "m" | "mib" => 20,
        "g" | "gib" => 30,
        _ => return Err("it is a size such as 16k or 4m".into()),
    };
    number(n)?.checked_mul(1 << shift).ok_or_else(|| "it is too large".to_string())
}

fn metadata_size(v: &str) -> Result<(), String> {
    let n = bytes(v)?;
    if n.is_power_of_two() && ((16 << 10)..=(4 << 20)).contains(&n) {
        Ok(())
    } else {
        Err("LUKS2 allows 16k, 32k, 64k, 128k, 256k, 512k, 1m, 2m or 4m".into())
    }
}

fn keyslots_size(v: &str) -> Result<(), String> {
    let n = bytes(v)?;
    if n > 0 && n.is_multiple_of(4096) && n <= 128 << 20 {
        Ok(())
    } else {
        Err("it is a multiple of 4096 bytes up to 128m".into())
    }
}
