//! The generated `.nix` files checked by the real Nix evaluator before anything is done with
//! them: `plan` and `install` evaluate every file of the plan with stub module arguments
//! (`nix-instantiate --eval --strict`, where it exists: the NixOS installer has it), so a
//! file that would not evaluate is refused while nothing has been touched. Doctor evaluates
//! an installed `blankroot.nix` with the same stubs.

use crate::error::{Error, Result};
use crate::infra::host::Host;
use crate::infra::runner::Cmd;
use crate::plan::{Content, Plan};

/// Module arguments for evaluating a generated file outside NixOS: blankroot's files use only
/// `lib.mkAfter` (the `lib.mk*` priorities are identities here) and `pkgs.runCommandLocal`
/// (here the arguments it was given, as nixpkgs' trivial builder takes them: a name, an
/// attribute set, a build script).
pub const STUB_ARGS: &str = r#"{ config = {}; pkgs = { runCommandLocal = name: env: buildCommand: { inherit name env buildCommand; }; }; modulesPath = "/"; lib = { mkAfter = x: x; mkBefore = x: x; mkDefault = x: x; mkForce = x: x; }; }"#;

/// nix-instantiate's stderr without its note about a missing `nixbld` group (it evaluates
/// without a store all the same).
pub(crate) fn nix_stderr(stderr: &[u8]) -> String {
    let err = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = err.lines().filter(|l| !l.contains("build-users-group")).collect();
    lines.join(" | ")
}

/// The expression that forces a module file completely (its `imports` are paths NixOS reads,
/// not values: left out).
fn forced(text: &str) -> String {
    format!("let m = ({text}\n) {STUB_ARGS}; in builtins.deepSeq (removeAttrs m [ \"imports\" ]) true")
}

/// `None` when nix-instantiate cannot be started; else whether `expr` evaluated (its stderr
/// when not).
fn evaluate(host: &dyn Host, expr: &str) -> Option<std::result::Result<(), String>> {
    let cmd = Cmd::new(["nix-instantiate", "--eval", "--strict", "--json", "-"]).stdin(expr.as_bytes().to_vec());
    let out = host.output(&cmd).ok()?;
    Some(if out.success() { Ok(()) } else { Err(nix_stderr(&out.stderr)) })
}

/// Evaluates one generated file's text; an error naming `path` when it does not evaluate
/// (nothing is claimed when nix-instantiate is not there).
pub(crate) fn check_text(host: &dyn Host, path: &str, text: &str) -> Result<()> {
    match evaluate(host, &forced(text)) {
        Some(Err(stderr)) => Err(Error::internal(format!("the generated {path} does not evaluate"))
            .caused_by(stderr)
            .hint("nothing was changed; this is a bug in blankroot: please report it with your blankroot.toml")),
        _ => Ok(()),
    }
}

/// Evaluates every `.nix` file the plan writes. `Ok(false)` when `nix-instantiate` is not
/// there to ask (nothing is claimed then); an error naming the file when one does not
/// evaluate.
pub fn check(host: &dyn Host, plan: &Plan) -> Result<bool> {
    let files: Vec<(&str, &str)> = plan
        .steps
        .iter()
        .flat_map(|s| &s.files)
        .filter(|f| f.path.ends_with(".nix"))
        .filter_map(|f| match &f.content {
            Content::Text(t) => Some((f.path.as_str(), t.as_str())),
            Content::Hash(_) | Content::Blankroot(_) => None,
        })
        .collect();
    // One evaluator for all files (it starts in ~40 ms); only when that fails, one per file to
    // name the culprit.
    let all = format!("[ {} ]", files.iter().map(|(_, t)| format!("({})", forced(t))).collect::<Vec<_>>().join(" "));
    match evaluate(host, &all) {
        None => return Ok(false),
        Some(Ok(())) => return Ok(true),
        Some(Err(_)) => {}
    }
    for (path, text) in files {
        check_text(host, path, text)?;
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expression_forces_the_module_and_skips_imports() {
        let e = forced("{ lib, ... }: { imports = [ ./x.nix ]; a = 1; }");
        assert!(e.contains("removeAttrs m [ \"imports\" ]") && e.contains("deepSeq"));
        assert!(e.contains(STUB_ARGS));
    }
}
