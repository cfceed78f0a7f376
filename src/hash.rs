//! Password hashes for `users.users.<name>.hashedPassword`: making them (yescrypt, exactly the
//! string `mkpasswd -m yescrypt` writes), checking them, and vetting a ready hash read from a
//! file.
//!
//! Format: crypt(5) `$y$<params>$<salt>$<hash>`. The params `j9T` are libxcrypt's default cost
//! (yescrypt read-write flavor, N = 4096, r = 32, p = 1, t = 0: 16 MiB, the value
//! `crypt_gensalt("$y$", 0, …)` and `mkpasswd -m yescrypt` use); the salt is 16 bytes from the OS
//! RNG (22 characters), the hash 32 bytes (43 characters), both in yescrypt's little-endian
//! `./0-9A-Za-z` base64.
//!
//! Which methods a NixOS system can log in with comes from nixpkgs' `libxcrypt`, built with
//! `--enable-hashes=strong` (its `passthru.enabledCryptSchemeIds`: `y`, `gy`, `sm3y`, `7`,
//! `2b`, `2y`, `2a`, `6`). sha256crypt (`$5$`), md5crypt (`$1$`) and DES are *not* in that set:
//! a hash of those kinds would lock the account out, so [`check_hash_text`] rejects them.

use crate::config::rules::Problem;
use crate::error::Error;
use crate::infra::secret::Secret;
use yescrypt::{Mode, Params, PasswordHasher, PasswordVerifier, Yescrypt};

/// Salt length libxcrypt's `crypt_gensalt` draws for yescrypt (`hashes.conf`: nrbytes 16).
const SALT_BYTES: usize = 16;

/// libxcrypt's default yescrypt cost, encoded as `j9T` (N = 2^12, r = 32, p = 1).
const DEFAULT_N: u64 = 4096;
const DEFAULT_R: u32 = 32;

/// What [`verify`] is willing to compute for a hash's own parameters: its N × r × 128 bytes of
/// memory, its p and t. libxcrypt's default needs 16 MiB; these bounds stop a crafted hash from
/// making us allocate or spin without limit.
const VERIFY_MAX_MEMORY: u128 = 1 << 30;
const VERIFY_MAX_P: u32 = 64;

/// Hashes `password` with yescrypt at libxcrypt's default cost and a fresh salt from the OS RNG.
/// The result is a crypt(5) string like `$y$j9T$<22 chars>$<43 chars>`, as `mkpasswd -m yescrypt`
/// writes it. Costs 16 MiB and tens of milliseconds optimized (1-2 s in an unoptimized build).
pub fn hash_password(password: &Secret) -> Result<String, Error> {
    let mut salt = [0u8; SALT_BYTES];
    getrandom::fill(&mut salt).map_err(|e| {
        Error::internal("could not get random bytes from the operating system for a password salt").caused_by(e)
    })?;
    let params = Params::new(Mode::Rw, DEFAULT_N, DEFAULT_R, 1)
        .map_err(|e| Error::internal("yescrypt rejected libxcrypt's default parameters").caused_by(e))?;
    let hash = Yescrypt::from(params)
        .hash_password_with_salt(password.expose().as_bytes(), &salt)
        .map_err(|e| Error::internal("could not hash the password with yescrypt").caused_by(e))?;
    Ok(String::from(hash))
}

/// Whether `password` matches the crypt(5) `hash`. Supports yescrypt (`$y$`), at any cost
/// parameters the yescrypt crate accepts up to 1 GiB of memory (libxcrypt's largest cost,
/// `mkpasswd -R 11`), p <= 64 and t = 0; any other method, a malformed hash or one asking for
/// more returns `false`. The comparison is constant-time.
pub fn verify(password: &str, hash: &str) -> bool {
    if !hash.starts_with("$y$") {
        return false;
    }
    let Some(field) = hash.split('$').nth(2) else {
        return false;
    };
    let Ok(params) = field.parse::<Params>() else {
        return false;
    };
    let memory = u128::from(params.n()) * u128::from(params.r()) * 128;
    if memory > VERIFY_MAX_MEMORY || params.p() > VERIFY_MAX_P {
        return false;
    }
    // The crate exposes no getter for t (extra time at the same memory); insist on t = 0, as
    // libxcrypt's crypt_gensalt writes, by re-encoding N, r, p alone and comparing.
    let t_is_zero = [Mode::Rw, Mode::Worm, Mode::Classic]
        .into_iter()
        .any(|mode| Params::new(mode, params.n(), params.r(), params.p()).is_ok_and(|p| p.to_string() == field));
    t_is_zero && Yescrypt::default().verify_password(password.as_bytes(), hash).is_ok()
}

/// A hash method NixOS knows by its crypt(5) prefix.
struct Method {
    id: &'static str,
    name: &'static str,
    /// Accepted by nixpkgs' libxcrypt (`enabledCryptSchemeIds`).
    usable: bool,
}

const METHODS: &[Method] = &[
    Method { id: "y", name: "yescrypt", usable: true },
    Method { id: "gy", name: "gost-yescrypt", usable: true },
    Method { id: "sm3y", name: "sm3-yescrypt", usable: true },
    Method { id: "7", name: "scrypt", usable: true },
    Method { id: "2b", name: "bcrypt", usable: true },
    Method { id: "2y", name: "bcrypt", usable: true },
    Method { id: "2a", name: "bcrypt ($2a$)", usable: true },
    Method { id: "6", name: "sha512crypt", usable: true },
    Method { id: "5", name: "sha256crypt", usable: false },
    Method { id: "1", name: "md5crypt", usable: false },
    Method { id: "2x", name: "bcrypt ($2x$)", usable: false },
    Method { id: "3", name: "NT hash", usable: false },
    Method { id: "md5", name: "SunMD5", usable: false },
    Method { id: "sha1", name: "sha1crypt", usable: false },
    Method { id: "argon2id", name: "argon2id", usable: false },
    Method { id: "argon2i", name: "argon2i", usable: false },
    Method { id: "argon2d", name: "argon2d", usable: false },
];

const MAKE_ONE: &str = "put the output of `mkpasswd -m yescrypt` (one line) in the file";

fn problem(message: impl Into<String>, hint: impl Into<String>) -> Problem {
    Problem { message: message.into(), hint: hint.into() }
}

fn not_a_hash() -> Problem {
    problem(
        "the password hash file does not hold a crypt(5) password hash (its content is not shown, \
         in case it is a password)",
        format!(
            "{MAKE_ONE}; if the file holds a plain password, use `password_file` instead of \
             `password_hash_file`"
        ),
    )
}

fn malformed(name: &str) -> Problem {
    problem(
        format!(
            "the password hash file holds something that begins like a {name} hash but is not a \
             well-formed one (its content is not shown)"
        ),
        format!("{MAKE_ONE}; a hash is not truncated, wrapped or padded"),
    )
}

/// `./0-9A-Za-z`, the alphabet of every crypt(5) base64 variant (bcrypt's too, in another order).
fn is_b64(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/')
}

fn b64_len(s: &str, len: usize) -> bool {
    s.len() == len && is_b64(s)
}

/// Structure of a hash whose method is known and usable; `fields` are the `$`-separated parts
/// after the method id.
fn well_formed(id: &str, fields: &[&str]) -> bool {
    match id {
        // $y$<params>$<salt>$<43>
        "y" | "gy" | "sm3y" => match fields {
            [params, salt, hash] => {
                !params.is_empty() && is_b64(params) && !salt.is_empty() && is_b64(salt) && b64_len(hash, 43)
            }
            _ => false,
        },
        // $7$<N r p: 11 chars><salt>$<43>
        "7" => match fields {
            [setting, hash] => setting.len() >= 11 && is_b64(setting) && b64_len(hash, 43),
            _ => false,
        },
        // $2b$<two-digit cost 04..31>$<22 salt + 31 hash>
        "2b" | "2y" | "2a" => match fields {
            [cost, rest] => {
                cost.len() == 2 && cost.parse::<u8>().is_ok_and(|c| (4..=31).contains(&c)) && b64_len(rest, 53)
            }
            _ => false,
        },
        // $6$[rounds=<n>$]<salt, ≤16>$<86>
        "6" => {
            let (salt, hash) = match fields {
                [rounds, salt, hash] => {
                    let n = rounds.strip_prefix("rounds=").unwrap_or("");
                    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                        return false;
                    }
                    (salt, hash)
                }
                [salt, hash] => (salt, hash),
                _ => return false,
            };
            salt.len() <= 16 && is_b64(salt) && b64_len(hash, 86)
        }
        _ => false,
    }
}

/// Vets the content of a `password_hash_file`: one trailing newline (`\n` or `\r\n`) is removed;
/// what remains must be a single well-formed crypt(5) hash of a method NixOS's libxcrypt accepts
/// (`$y$`, `$gy$`, `$sm3y$`, `$7$`, `$2b$`, `$2y$`, `$2a$`, `$6$`). Returns the hash.
///
/// The problem never contains the text: a file meant to hold a hash may hold a password.
pub fn check_hash_text(text: &str) -> Result<String, Problem> {
    let line = text.strip_suffix('\n').map_or(text, |t| t.strip_suffix('\r').unwrap_or(t));
    if line.trim().is_empty() {
        return Err(problem("the password hash file is empty", MAKE_ONE));
    }
    if line.contains(['\n', '\r']) {
        return Err(problem(
            "the password hash file holds more than one line; it must hold exactly one hash",
            MAKE_ONE,
        ));
    }
    if line.starts_with(['!', '*']) {
        return Err(problem(
            "the password hash file holds a locked-account marker (`!` or `*`), not a hash",
            "to lock the account, use password = \"locked\" instead of a hash file",
        ));
    }
    if line.chars().any(char::is_whitespace) {
        return Err(problem(
            "the password hash file holds spaces or tabs around or inside the text; a crypt(5) \
             hash has none (its content is not shown)",
            format!("{MAKE_ONE}; if the file holds a plain password, use `password_file` instead"),
        ));
    }
    let Some(rest) = line.strip_prefix('$') else {
        return Err(not_a_hash());
    };
    let mut parts = rest.split('$');
    let id = parts.next().unwrap_or("");
    let fields: Vec<&str> = parts.collect();
    // SunMD5 writes `$md5,rounds=…$`.
    let id = if id.starts_with("md5,") { "md5" } else { id };
    let Some(method) = METHODS.iter().find(|m| m.id == id) else {
        return Err(not_a_hash());
    };
    if !method.usable {
        return Err(problem(
            format!(
                "the password hash file holds a {} hash, which NixOS cannot check at login: its \
                 libxcrypt is built with only strong methods (yescrypt, scrypt, bcrypt, sha512crypt)",
                method.name
            ),
            "make a new hash with `mkpasswd -m yescrypt` and put it in the file",
        ));
    }
    if !well_formed(id, &fields) {
        return Err(malformed(method.name));
    }
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Made by `mkpasswd -m yescrypt --stdin` (whois 5.5.17, libxcrypt 4.4.33) from "hello".
    const HELLO_Y: &str = "$y$j9T$gQS8Rpmh1JMk3jM4ilJXU/$SJzNkbW7Uv/uF8BLrtuRfOF0Qbsccn5O39t9spanmCD";

    fn secret(s: &str) -> Secret {
        Secret::new(s.to_string())
    }

    #[test]
    fn hash_has_mkpasswd_shape() {
        let h = hash_password(&secret("hello")).unwrap();
        let fields: Vec<&str> = h.split('$').collect();
        assert_eq!(fields.len(), 5, "{h}");
        assert_eq!(fields[1], "y");
        assert_eq!(fields[2], "j9T");
        assert_eq!(fields[3].len(), 22);
        assert_eq!(fields[4].len(), 43);
        assert_eq!(check_hash_text(&h).unwrap(), h);
    }

    #[test]
    fn hash_round_trips_and_salts_differ() {
        let a = hash_password(&secret("correct horse")).unwrap();
        let b = hash_password(&secret("correct horse")).unwrap();
        assert_ne!(a, b, "two hashes of one password must have different salts");
        assert!(verify("correct horse", &a));
        assert!(verify("correct horse", &b));
        assert!(!verify("correct horse ", &a));
        assert!(!verify("", &a));
    }

    #[test]
    fn empty_password_hashes() {
        let h = hash_password(&secret("")).unwrap();
        assert!(verify("", &h));
        assert!(!verify(" ", &h));
    }

    #[test]
    fn verifies_mkpasswd_hash() {
        assert!(verify("hello", HELLO_Y));
        assert!(!verify("hello\n", HELLO_Y));
        assert!(!verify("Hello", HELLO_Y));
    }

    #[test]
    fn verify_rejects_other_and_broken_hashes() {
        assert!(!verify("hello", ""));
        assert!(!verify("hello", "hello"));
        assert!(!verify("hello", &format!("{HELLO_Y}\n")));
        assert!(!verify("hello", &HELLO_Y[..HELLO_Y.len() - 1]));
        assert!(!verify("hello", "$y$"));
        assert!(!verify("hello", "$y$j9T$"));
        assert!(!verify("hello", "$y$j9T$$"));
        assert!(!verify("hello", "$y$$$"));
        // sha512crypt of "hello" (`mkpasswd -m sha512crypt`): a method `verify` does not compute.
        assert!(!verify(
            "hello",
            "$6$f/wRgWlZBRjcXGe2$qDnyJU3lB5Sfj2.9Pup7xdZhBghNofjLO7UZonSK1eOBg0yhsrJPh8jW93wYYyP39xhDJSMogz4OoaFrmWEIl0"
        ));
    }

    #[test]
    fn verify_refuses_huge_params_without_allocating() {
        // jNT: N = 2^26, r = 32 (256 GiB); jbT: N = 2^40; j9T.km: p = 100; j9T/0: t = 1.
        let salt_hash = &HELLO_Y["$y$j9T".len()..];
        for params in ["jNT", "jbT", "j9T.km", "j9T/0", "jzT", "j.T"] {
            let h = format!("$y${params}{salt_hash}");
            let start = std::time::Instant::now();
            assert!(!verify("hello", &h), "{h}");
            assert!(start.elapsed() < std::time::Duration::from_millis(100), "{h} was computed");
        }
    }

    #[test]
    fn accepts_every_usable_method() {
        // Real hashes of "hello" from `mkpasswd -m <method>`, except the $2y$/$2a$ ones, which
        // only need the bcrypt shape.
        let good = [
            HELLO_Y,
            "$gy$j9T$LQrpLnPLv/zSCL0GzuOVp.$.fwCroxXvl.oEu1JGZAZRohZK93Fi14Pt0PlxmfwcX5",
            "$7$CU..../....jO2/Avs8Gb52wUVc7/nAb1$ME3MYntIf7TWUpvCwUsZdRoR6SIs6i1tSNH1STngRrD",
            "$2b$05$dV9XMuak9WGlHLklWCntW.kNiQTchHHOON0b4stQoRPnVETkOyoZO",
            "$2y$12$abcdefghijklmnopqrstuuHq2WXr1mWkTdb5V5GhKkcUfEZ8Yb5/.",
            "$2a$10$abcdefghijklmnopqrstuuHq2WXr1mWkTdb5V5GhKkcUfEZ8Yb5/.",
            "$6$f/wRgWlZBRjcXGe2$qDnyJU3lB5Sfj2.9Pup7xdZhBghNofjLO7UZonSK1eOBg0yhsrJPh8jW93wYYyP39xhDJSMogz4OoaFrmWEIl0",
            "$6$rounds=10000$BwGRrquMiLbBQ50X$CouPFSWf7n9AXiclN2lRoEHnL2bRB1e2.BpeRFgfRjM37dufuNkxiklmJoMCf.jq6BMS7EiQWRR6LXJ8M40Cs/",
        ];
        for h in good {
            assert_eq!(check_hash_text(h).as_deref(), Ok(h), "{h}");
            assert_eq!(check_hash_text(&format!("{h}\n")).as_deref(), Ok(h), "{h}");
            assert_eq!(check_hash_text(&format!("{h}\r\n")).as_deref(), Ok(h), "{h}");
        }
    }

    fn rejected(text: &str) -> Problem {
        let p = check_hash_text(text).expect_err(text);
        let shown = format!("{} {}", p.message, p.hint);
        let words = text.split(|c: char| c.is_whitespace() || c == '$');
        for word in words.filter(|w| w.len() >= 3 && !METHODS.iter().any(|m| m.id == *w)) {
            assert!(!shown.contains(word), "problem echoes {word:?}: {shown}");
        }
        p
    }

    #[test]
    fn rejects_empty_and_blank() {
        for t in ["", "\n", "\r\n", "   \n", "\t"] {
            assert!(rejected(t).message.contains("empty"), "{t:?}");
        }
    }

    #[test]
    fn rejects_more_than_one_line() {
        let p = rejected(&format!("{HELLO_Y}\n\n"));
        assert!(p.message.contains("more than one line"));
        rejected(&format!("{HELLO_Y}\n{HELLO_Y}\n"));
        rejected("hunter2\nhunter2\n");
    }

    #[test]
    fn rejects_locked_markers() {
        for t in ["!", "*", "!\n", "!!", &format!("!{HELLO_Y}")] {
            let p = rejected(t);
            assert!(p.message.contains("locked"), "{t}: {}", p.message);
            assert!(p.hint.contains("password = \"locked\""));
        }
    }

    #[test]
    fn rejects_plain_passwords_without_echoing() {
        for t in [
            "hunter2",
            "Tr0ub4dor&3\n",
            "correct horse battery staple",
            " $y$j9T$gQS8Rpmh1JMk3jM4ilJXU/$SJzNkbW7Uv/uF8BLrtuRfOF0Qbsccn5O39t9spanmCD",
            "$ecretPassword",
            "$money$bags$",
            "pässwörd",
            "abcdefghijklm", // 13 chars: looks like DES, which NixOS cannot use either
        ] {
            let p = rejected(t);
            assert!(p.hint.contains("mkpasswd -m yescrypt"), "{t}");
        }
    }

    #[test]
    fn rejects_methods_nixos_lacks() {
        for (t, name) in [
            ("$5$ULPlboLJYFJ0HaJX$7yVb1yPHX.8Tfp6WDChXeTe/33yU5v7TK9kp6VFGYu1", "sha256crypt"),
            ("$1$5G53czdH$lKhAhVzIUsufVdRaFusVo1", "md5crypt"),
            ("$3$$8846f7eaee8fb117ad06bdd830b7586c", "NT hash"),
            ("$md5,rounds=5000$GUBv0xjJ$$mSwgIswdjlTY0YxV7HBVm0", "SunMD5"),
            ("$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$abc", "argon2id"),
        ] {
            let p = rejected(t);
            assert!(p.message.contains(name), "{t}: {}", p.message);
            assert!(p.message.contains("cannot check at login"), "{}", p.message);
        }
    }

    #[test]
    fn rejects_malformed_hashes_of_known_methods() {
        let truncated = &HELLO_Y[..HELLO_Y.len() - 5];
        for t in [
            truncated,
            "$y$j9T$gQS8Rpmh1JMk3jM4ilJXU/",
            "$y$j9T$$SJzNkbW7Uv/uF8BLrtuRfOF0Qbsccn5O39t9spanmCD",
            "$y$",
            "$6$",
            "$6$f/wRgWlZBRjcXGe2$qDnyJU3lB5Sfj2",
            "$6$rounds=abc$YkLdJ2vXbHJ6hgHj$1Jo9QZ0jo5.ivCoJZ3Ww8sh/WZwR6R5MPRbkHU.zVW/W0EsLgB3R0PbC7s3yGDNGe/QXf5yYgIwYMZ8pMdwtE1",
            "$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$2b$32$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
            "$7$short$xgkUBH5fEXMBDsHZETuTAQE5YFhzj.IvFGDJZYi3yE/",
            "$y$j9T$gQS8Rpmh1JMk3jM4ilJXU/$SJzNkbW7Uv/uF8BLrtuRfOF0Qbsccn5O39t9spanmC:",
        ] {
            let p = rejected(t);
            assert!(p.message.contains("not a well-formed"), "{t}: {}", p.message);
        }
    }

    #[test]
    fn rejects_inner_whitespace() {
        let p = rejected(&format!("{HELLO_Y} \n"));
        assert!(p.message.contains("spaces"));
        rejected(&format!("{HELLO_Y}\t"));
    }
}
