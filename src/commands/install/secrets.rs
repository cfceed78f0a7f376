//! Gathering the secrets an install needs, before any step runs: the LUKS passphrase (asked
//! twice, or read from `--passphrase-file`) and each account's password hash (asked twice and
//! hashed in-process with yescrypt, read from a password file and hashed, or taken ready from a
//! hash file). Values live in [`Secret`]s and leave only on a program's stdin. Hashing runs on
//! its own thread while the install goes on; every input is read and checked up front.

use crate::config::PasswordSource;
use crate::error::{Error, Result};
use crate::hash;
use crate::infra::prompt::Prompter;
use crate::infra::secret::Secret;
use crate::plan::{Plan, SecretName};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;

/// One secret: ready, or a password hash still being computed on its own thread (yescrypt
/// costs tens of milliseconds, a third of a second under emulation; it overlaps the disk
/// steps, and the hash is needed only when the password files are written).
enum Slot {
    Ready(Arc<Secret>),
    Hashing(Mutex<Option<JoinHandle<Result<String>>>>, OnceLock<Result<Arc<Secret>>>),
}

/// The secrets of one install, by the names the plan uses. Debug shows names only. Each value
/// stays in its [`Secret`] (shared, never copied) until a program reads it on stdin.
#[derive(Default)]
pub struct Secrets {
    values: BTreeMap<SecretName, Slot>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets").field("names", &self.names()).finish()
    }
}

impl Secrets {
    /// The secret called `name`; waits for its hash if it is still being computed.
    pub fn get(&self, name: &SecretName) -> Result<Arc<Secret>> {
        match self.values.get(name) {
            None => Err(Error::internal(format!("the secret {name} was not gathered"))),
            Some(Slot::Ready(s)) => Ok(Arc::clone(s)),
            Some(Slot::Hashing(job, done)) => done
                .get_or_init(|| {
                    let job = job.lock().ok().and_then(|mut j| j.take());
                    let hashed = job
                        .ok_or_else(|| Error::internal(format!("the hash of {name} was lost")))?
                        .join()
                        .map_err(|_| Error::internal(format!("hashing {name} panicked")))??;
                    Ok(Arc::new(Secret::new(hashed)))
                })
                .as_ref()
                .map(Arc::clone)
                .map_err(Clone::clone),
        }
    }
    pub fn insert(&mut self, name: SecretName, value: Secret) {
        self.values.insert(name, Slot::Ready(Arc::new(value)));
    }
    /// Stores the yescrypt hash of `password` under `name`, computed on another thread.
    pub(crate) fn insert_hash_of(&mut self, name: SecretName, password: Secret) {
        let job = std::thread::spawn(move || hash::hash_password(&password));
        self.values.insert(name, Slot::Hashing(Mutex::new(Some(job)), OnceLock::new()));
    }
    /// The names of the gathered secrets (never their values).
    pub fn names(&self) -> Vec<String> {
        self.values.keys().map(ToString::to_string).collect()
    }
}

fn ask_twice(p: &mut dyn Prompter, what: &str, how_else: &str) -> Result<Secret> {
    if !p.interactive() {
        return Err(
            Error::input(format!("{what} must be typed, but no terminal is attached")).hint(how_else.to_string())
        );
    }
    for _ in 0..3 {
        let a = p.secret(&format!("{what}: "))?;
        if a.is_empty() {
            crate::output::note("It must not be empty.");
            continue;
        }
        let b = p.secret(&format!("{what} (again): "))?;
        if a.expose() == b.expose() {
            return Ok(a);
        }
        crate::output::note("They differ; again.");
    }
    Err(Error::input(format!("{what}: three attempts did not give the same value twice")).hint("run install again"))
}

fn read_secret_file(path: &Path, what: &str) -> Result<Secret> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::input(format!("cannot read {what} from {}", path.display()))
            .caused_by(e)
            .hint("check the path; the file must be readable by root")
    })?;
    // One trailing newline is the file's, not the secret's.
    let value = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text).to_string();
    drop(Secret::new(text));
    if value.is_empty() {
        return Err(Error::input(format!("{} is empty", path.display())).hint(format!("put {what} in it")));
    }
    Ok(Secret::new(value))
}

/// Gathers every secret the plan names.
pub fn gather(plan: &Plan, passphrase_file: Option<&Path>, p: &mut dyn Prompter) -> Result<Secrets> {
    let mut out = Secrets::default();
    let passphrase = match passphrase_file {
        Some(f) => read_secret_file(f, "the LUKS passphrase")?,
        None => {
            ask_twice(p, "LUKS passphrase", "pass --passphrase-file FILE (mode 0600) to install without a terminal")?
        }
    };
    out.insert(SecretName::LuksPassphrase, passphrase);
    for (account, source) in plan.config.accounts() {
        let name = account.name().to_string();
        let key = SecretName::Password(account);
        match source {
            PasswordSource::Locked => continue,
            PasswordSource::Prompt => {
                let how = format!(
                    "give {name} a password_file or password_hash_file in blankroot.toml to install without a terminal"
                );
                out.insert_hash_of(key, ask_twice(p, &format!("password for {name}"), &how)?);
            }
            PasswordSource::File { path } => {
                let text = read_secret_file(Path::new(path), &format!("{name}'s password"))?;
                // The password is the file's first line: an empty one would be an empty password.
                let first = Secret::new(text.expose().lines().next().unwrap_or_default().to_string());
                if first.expose().is_empty() {
                    return Err(Error::input(format!("the first line of {path} is empty")).hint(format!(
                        "{name}'s password is the first line of password_file: put it there (an empty password is never set)"
                    )));
                }
                out.insert_hash_of(key, first);
            }
            PasswordSource::HashFile { path } => {
                let text = read_secret_file(Path::new(path), &format!("{name}'s password hash"))?;
                let hash = hash::check_hash_text(text.expose())
                    .map_err(|pr| Error::input(format!("{path}: {}", pr.message)).hint(pr.hint))?;
                out.insert(key, Secret::new(hash));
            }
        }
    }
    Ok(out)
}
