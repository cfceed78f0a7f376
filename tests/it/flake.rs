//! The flake (flake.nix, nix/*.nix) evaluated by the real Nix (`nix-instantiate`, Debian
//! nix-bin) against a STUB nixpkgs (none here, no network). Proves: the files parse; flake.nix
//! has a description and one input, nixpkgs; packages.{x86_64,aarch64}-linux.default (from
//! `pkgs`) and x86_64-linux.static (from `pkgsStatic`) are buildRustPackage calls with pname
//! blankroot, Cargo.toml's version (a changed Cargo.toml changes it), lockFile = this Cargo.lock
//! (same bytes), a source of existing Cargo.toml, Cargo.lock, src/, benches/ (not tests/; a
//! declared [[test]] brings just its file), a postInstall installing bash/zsh/fish completions
//! and man pages from the binary only when the build machine can run it; the apps run those
//! packages' bin/blankroot; the dev shell, the checks (packages, CI's clippy with tests/, fmt)
//! and the module (systemPackages when enabled) are wired as docs/packaging.md says.
//! Does NOT prove: that real nixpkgs accepts these arguments or that anything builds (no `nix
//! build`/`nix flake check`, no real lib.fileset), that `blankroot completions`/`manpages`
//! exist, that the static binary is static, or that the module works in NixOS.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// A stub nixpkgs: `lib` with what the flake uses; package sets whose builders return their
/// arguments, tagged with the set (`pkgs` or `pkgsStatic`) they came from. Returns a summary.
const STUB: &str = r#"
{ rootStr, canExec ? true }:
let
  root = /. + rootStr;
  genAttrs = names: f: builtins.listToAttrs (map (name: { inherit name; value = f name; }) names);
  str = p: if builtins.pathExists p then toString p else throw "flake names a missing path: ${toString p}";
  file = name: { inherit name; type = "regular"; hasExt = e: builtins.match ".*\\.${e}" name != null; };
  lib = {
    inherit genAttrs;
    optionalString = c: s: if c then s else ""; optionalAttrs = c: a: if c then a else { };
    importTOML = f: builtins.fromTOML (builtins.readFile f); getBin = p: p;
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
    fileset = {
      unions = map (x: if builtins.isPath x then str x else x);
      maybeMissing = p: if builtins.pathExists p then toString p else null;
      fileFilter = pred: p: { dir = str p; rs = pred (file "a.rs"); json = pred (file "a.json"); };
      toSource = { root, fileset }: { root = str root; inherit fileset; };
    };
    mkIf = condition: content: { inherit condition content; };
    mkOption = o: o; mkEnableOption = d: { enableOption = d; }; types.package = "package"; literalExpression = t: t;
  };
  drv = set: args: args // { inherit set; outPath = "/stub/${set}/${args.pname or args.name}";
    overrideAttrs = f: drv set (args // f args); };
  leaves = [ "installShellFiles" "cargo" "rustc" "clippy" "rustfmt" "rust-analyzer" "nix" "mkpasswd"
    "util-linux" "dosfstools" "libvirt" "libxml2" "qemu" "cpio" "acl" "attr" "time" "python3" "jq"
    "mandoc" "zsh" "fish" "binutils" "file" ];
  mkPkgs = set: system: let self = genAttrs leaves (n: { outPath = "/stub/${set}/${n}"; }) // {
    inherit lib;
    stdenv = { buildPlatform.canExecute = _: canExec; hostPlatform = { inherit system; }; };
    rustPlatform = { buildRustPackage = drv set; rustLibSrc = "/stub/${set}/rust-lib-src"; };
    callPackage = fn: extra: let f = if builtins.isFunction fn then fn else import fn;
      in f (builtins.intersectAttrs (builtins.functionArgs f) self // extra);
    mkShell = args: drv set ({ name = "shell"; } // args);
    runCommand = name: env: script: drv set (env // { inherit name script; });
    pkgsStatic = mkPkgs "pkgsStatic" system;
  }; in self;
  nixpkgs = { inherit lib; legacyPackages = genAttrs [ "x86_64-linux" "aarch64-linux" ] (mkPkgs "pkgs"); };
  top = import (root + "/flake.nix");
  out = top.outputs { self = out // { outPath = toString root; }; inherit nixpkgs; };
  show = d: builtins.removeAttrs d [ "overrideAttrs" "outPath" ] // { out = d.outPath; }
    // (if d ? cargoLock then { cargoLock = { lockFile = str d.cargoLock.lockFile;
      text = builtins.readFile d.cargoLock.lockFile; }; } else { });
  showAll = builtins.mapAttrs (_: builtins.mapAttrs (_: show));
  module = out.nixosModules.default { inherit lib; pkgs = mkPkgs "pkgs" "x86_64-linux";
    config.programs.blankroot = { enable = "ENABLE"; package = "PKG"; }; };
in {
  top = { names = builtins.attrNames top; inputs = builtins.attrNames top.inputs;
    inherit (top) description; url = top.inputs.nixpkgs.url or null; };
  packages = showAll out.packages;
  devShells = showAll out.devShells;
  checks = showAll out.checks;
  inherit (out) apps;
  module = { inherit (module) config; default = module.options.programs.blankroot.package.default; };
}
"#;

fn nix(args: &[&str]) -> (bool, String) {
    // --store dummy://: evaluation only, nothing is written to (or needed from) /nix/store.
    let out = Command::new("nix-instantiate")
        .args(["--store", "dummy://"])
        .args(args)
        .output()
        .expect("nix-instantiate must be installed (Debian package nix-bin); .ci/run installs it");
    let text = if out.status.success() { out.stdout } else { out.stderr };
    (out.status.success(), String::from_utf8_lossy(&text).into())
}

fn eval_at(root: &Path, can_exec: bool) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let stub = dir.path().join("stub.nix");
    std::fs::write(&stub, STUB).unwrap();
    let exec = if can_exec { "true" } else { "false" };
    let root = root.to_str().unwrap();
    let args =
        ["--eval", "--strict", "--json", stub.to_str().unwrap(), "--argstr", "rootStr", root, "--arg", "canExec", exec];
    let (ok, text) = nix(&args);
    assert!(ok, "the flake does not evaluate against the stub nixpkgs:\n{text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn eval() -> &'static Value {
    static EVAL: OnceLock<Value> = OnceLock::new();
    EVAL.get_or_init(|| eval_at(Path::new(ROOT), true))
}

fn s<'a>(v: &'a Value, path: &str) -> &'a str {
    let p = format!("/{}", path.replace('.', "/"));
    v.pointer(&p).and_then(Value::as_str).unwrap_or_else(|| panic!("{path} is not a string in {v:#}"))
}

/// Every string in a JSON value, nested lists included (a fileset's `unions` nest).
fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map_or_else(|| v.as_str().map(String::from).into_iter().collect(), |a| a.iter().flat_map(strings).collect())
}

fn cargo_toml_version(manifest: &str) -> String {
    let package = manifest.split("\n[").find(|sec| sec.trim_start_matches('[').starts_with("package]")).unwrap();
    let line = package.lines().find(|l| l.trim_start().starts_with("version")).expect("no version in [package]");
    line.split('=').nth(1).unwrap().trim().trim_matches('"').to_string()
}

#[test]
fn every_nix_file_parses() {
    let nix_dir = std::fs::read_dir(Path::new(ROOT).join("nix")).unwrap().map(|e| e.unwrap().path());
    let mut files: Vec<PathBuf> = nix_dir.filter(|p| p.extension().is_some_and(|e| e == "nix")).collect();
    assert!(files.iter().any(|f| f.ends_with("nix/package.nix")), "nix/package.nix missing: {files:?}");
    files.push(PathBuf::from(ROOT).join("flake.nix"));
    for f in &files {
        let (ok, err) = nix(&["--parse", f.to_str().unwrap()]);
        assert!(ok, "{} does not parse:\n{err}", f.display());
    }
}

#[test]
fn flake_has_a_description_and_only_nixpkgs_as_input() {
    let top = &eval()["top"];
    assert!(!s(top, "description").trim().is_empty(), "empty description");
    assert_eq!(top["inputs"], serde_json::json!(["nixpkgs"]), "inputs must be exactly nixpkgs");
    assert!(s(top, "url").starts_with("github:NixOS/nixpkgs/"), "{top}");
    for name in top["names"].as_array().unwrap() {
        let known = ["description", "inputs", "outputs", "nixConfig"];
        assert!(known.contains(&name.as_str().unwrap()), "unknown flake attribute {name}");
    }
}

#[test]
fn packages_are_blankroot_built_from_cargo_lock() {
    let v = eval();
    let version = cargo_toml_version(&std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap());
    let lock = std::fs::read_to_string(Path::new(ROOT).join("Cargo.lock")).unwrap();
    let pkgs = &v["packages"];
    assert!(pkgs["aarch64-linux"]["default"].is_object(), "no packages.aarch64-linux.default");
    for (name, set) in [("default", "pkgs"), ("static", "pkgsStatic")] {
        let p = &pkgs["x86_64-linux"][name];
        assert!(p.is_object(), "no packages.x86_64-linux.{name}: {pkgs:#}");
        assert_eq!(s(p, "set"), set, "{name} must be built through {set}");
        assert_eq!(s(p, "pname"), "blankroot");
        assert_eq!(s(p, "version"), version, "{name}: version differs from Cargo.toml's");
        assert_eq!(s(p, "cargoLock.lockFile"), format!("{ROOT}/Cargo.lock"));
        assert!(s(p, "cargoLock.text") == lock, "{name}: lockFile's contents are not Cargo.lock's");
        assert_eq!(p["doCheck"], Value::Bool(false));
        assert_eq!(s(p, "meta.mainProgram"), "blankroot");
        assert!(!s(p, "meta.description").is_empty());
        assert!(p["meta"]["platforms"].as_array().unwrap().contains(&"x86_64-linux".into()));
        assert!(p["nativeBuildInputs"].as_array().unwrap().contains(&format!("/stub/{set}/installShellFiles").into()));
        assert_eq!(s(p, "src.root"), ROOT);
        let files = strings(&p["src"]["fileset"]);
        for want in ["Cargo.toml", "Cargo.lock", "src", "benches"] {
            assert!(files.contains(&format!("{ROOT}/{want}")), "{name}: {want} not in the source: {files:?}");
        }
        for not in ["tests", "target", "docs"] {
            assert!(!files.iter().any(|f| f.starts_with(&format!("{ROOT}/{not}"))), "{name}: {not} in the source");
        }
        let post = s(p, "postInstall");
        for want in
            ["installShellCompletion --cmd blankroot", "completions bash", "completions zsh", "completions fish"]
        {
            assert!(post.contains(want), "{name}: postInstall lacks `{want}`:\n{post}");
        }
        assert!(post.contains("$out/bin/blankroot manpages") && post.contains("installManPage"), "{post}");
    }
}

#[test]
fn postinstall_runs_only_when_the_build_machine_can_execute_the_binary() {
    let v = eval_at(Path::new(ROOT), false);
    for name in ["default", "static"] {
        assert_eq!(s(&v["packages"]["x86_64-linux"][name], "postInstall"), "", "{name}: not guarded");
    }
}

#[test]
fn the_package_follows_cargo_toml() {
    // A copy of the flake beside a Cargo.toml with another version and a declared [[test]]: the
    // package takes that version, and the test's file (only it, not tests/) joins the source.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let manifest = std::fs::read_to_string(Path::new(ROOT).join("Cargo.toml")).unwrap();
    let old = cargo_toml_version(&manifest);
    let changed = manifest.replacen(&format!("version = \"{old}\""), "version = \"9.8.7-flake\"", 1)
        + "\n[[test]]\nname = \"flake-probe\"\n";
    assert_eq!(cargo_toml_version(&changed), "9.8.7-flake");
    std::fs::write(root.join("Cargo.toml"), changed).unwrap();
    for f in ["flake.nix", "Cargo.lock", "rustfmt.toml"] {
        std::fs::copy(Path::new(ROOT).join(f), root.join(f)).unwrap();
    }
    for d in ["nix", "src", "benches", "tests"] {
        std::fs::create_dir(root.join(d)).unwrap();
    }
    for path in std::fs::read_dir(Path::new(ROOT).join("nix")).unwrap().map(|e| e.unwrap().path()) {
        if path.is_file() {
            std::fs::copy(&path, root.join("nix").join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::create_dir(root.join("tests/flake-probe")).unwrap();
    std::fs::write(root.join("tests/flake-probe/main.rs"), "").unwrap();
    let v = eval_at(root, true);
    let probe = format!("{}/tests/flake-probe/main.rs", root.display());
    for name in ["default", "static"] {
        let p = &v["packages"]["x86_64-linux"][name];
        assert_eq!(s(p, "version"), "9.8.7-flake");
        let files = strings(&p["src"]["fileset"]);
        assert!(files.contains(&probe), "{name}: the declared test's file is not in the source: {files:?}");
        assert!(!files.contains(&format!("{}/tests", root.display())), "{name}: all of tests/ in the source");
    }
}

#[test]
fn apps_dev_shell_checks_and_module() {
    let v = eval();
    let pkg_out = |name: &str| s(&v["packages"]["x86_64-linux"][name], "out").to_string();
    for name in ["default", "static"] {
        let app = &v["apps"]["x86_64-linux"][name];
        assert_eq!(s(app, "type"), "app");
        assert_eq!(s(app, "program"), format!("{}/bin/blankroot", pkg_out(name)), "apps.{name}");
        assert!(!s(app, "meta.description").is_empty());
    }
    let shell = &v["devShells"]["x86_64-linux"]["default"];
    let tools = shell["packages"].as_array().expect("devShell without packages");
    for t in ["cargo", "rustc", "clippy", "rustfmt", "rust-analyzer", "nix", "mkpasswd", "util-linux"] {
        assert!(tools.contains(&format!("/stub/pkgs/{t}").into()), "devShell lacks {t}: {tools:?}");
    }
    assert_eq!(s(shell, "RUST_SRC_PATH"), "/stub/pkgs/rust-lib-src");
    let checks = &v["checks"]["x86_64-linux"];
    assert_eq!(s(checks, "package.out"), pkg_out("default"));
    assert_eq!(s(checks, "static.out"), pkg_out("static"));
    assert_eq!(s(checks, "static.set"), "pkgsStatic");
    let clippy = s(checks, "clippy.buildPhase");
    assert!(clippy.contains("cargo clippy --offline --locked") && clippy.contains("--all-targets -- -D warnings"));
    assert!(strings(&checks["clippy"]["src"]["fileset"]).contains(&format!("{ROOT}/tests")), "no tests/ for clippy");
    assert_eq!(s(checks, "clippy.installPhase"), "touch $out", "clippy must not install the package");
    assert!(s(checks, "fmt.script").contains("rustfmt --check --edition 2024 src/lib.rs src/main.rs"));
    let fmt_files = checks["fmt"]["src"]["fileset"].as_array().unwrap();
    assert!(fmt_files.contains(&format!("{ROOT}/rustfmt.toml").into()), "fmt without rustfmt.toml");
    assert!(fmt_files.iter().filter(|f| f["rs"] == true && f["json"] == false).count() == 3, "{fmt_files:?}");
    assert!(v["checks"]["aarch64-linux"]["package"].is_object());
    let m = &v["module"];
    assert_eq!(s(m, "config.condition"), "ENABLE", "the module's config is not gated by its enable: {m}");
    assert_eq!(m["config"]["content"]["environment"]["systemPackages"], serde_json::json!(["PKG"]));
    assert_eq!(s(m, "default"), pkg_out("default"), "the module's default package");
}
