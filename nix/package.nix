# blankroot, built by nixpkgs' rustPlatform.buildRustPackage from the repository's Cargo.lock.
# Called with `callPackage` by ../flake.nix, once from `pkgs` (glibc, dynamic) and once from
# `pkgs.pkgsStatic` (musl, fully static).
#
# nixpkgs sources relied on (paths in nixpkgs; read in Swarsel/nixpkgs @ 4aa6836a, 26.11-pre,
# unless noted):
# - pkgs/build-support/rust/build-rust-package/default.nix: `cargoLock` goes to
#   `importCargoLock cargoLock` (no cargoHash); `doCheck` defaults to true; `meta.platforms`
#   is intersected with rustc's target platforms.
# - pkgs/build-support/rust/import-cargo-lock.nix: `lockFile` argument; registry crates are
#   fetched by the checksum in Cargo.lock; only git dependencies would need `outputHashes`
#   (Cargo.lock has none).
# - pkgs/build-support/rust/hooks/cargo-setup-hook.sh (NixOS/nixpkgs): the build fails unless
#   `src` has a Cargo.lock identical to `lockFile`, so Cargo.lock is in the fileset.
# - pkgs/build-support/rust/hooks/cargo-install-hook.sh (NixOS/nixpkgs): binaries are copied to
#   $out/bin before `postInstall` runs, so postInstall can run $out/bin/blankroot.
# - pkgs/by-name/in/installShellFiles/setup-hook.sh (NixOS/nixpkgs): `installShellCompletion
#   --cmd NAME --bash <(...)` (named pipes need a shell flag and --cmd or --name) and
#   `installManPage` (section taken from the file's suffix, .1 -> share/man/man1).
# - pkgs/by-name/fd/fd/package.nix: the `stdenv.buildPlatform.canExecute stdenv.hostPlatform`
#   guard around running the built binary (cross builds cannot run it).
# - lib/fileset/default.nix (faukah/nixpkgs): `toSource { root; fileset; }`, `unions`,
#   `maybeMissing` (an empty set for a missing path); any other missing path is an error.
{
  lib,
  stdenv,
  rustPlatform,
  installShellFiles,
}:

let
  root = ../.;
  manifest = lib.importTOML ../Cargo.toml;
  # Cargo checks, when it loads Cargo.toml for any command (`cargo build` too), that the file of
  # every declared target exists: Cargo.toml declares [[bench]] targets, hence benches/. A
  # [[test]] or [[example]] declared later gets its file added here (its `path`, or Cargo's
  # default tests/NAME.rs or tests/NAME/main.rs), so such a manifest change does not break the
  # build; the rest of tests/ stays out. Auto-discovered targets need nothing: without tests/
  # there are none to discover.
  targetFiles =
    dir: target:
    if target ? path then
      root + "/${target.path}"
    else
      lib.fileset.unions [
        (lib.fileset.maybeMissing (root + "/${dir}/${target.name}.rs"))
        (lib.fileset.maybeMissing (root + "/${dir}/${target.name}/main.rs"))
      ];
  declaredTargetFiles =
    map (targetFiles "tests") (manifest.test or [ ])
    ++ map (targetFiles "examples") (manifest.example or [ ])
    ++ map (targetFiles "benches") (manifest.bench or [ ]);
in
rustPlatform.buildRustPackage {
  pname = "blankroot";
  # One version, Cargo.toml's: the binary reports it (`blankroot --version`, plan records).
  inherit (manifest.package) version;

  # Only what `cargo build` reads: a change to tests/, docs/ or scripts/ does not rebuild.
  # src/ includes src/example/*.{json,txt} (include_str! of the built-in example machine).
  src = lib.fileset.toSource {
    inherit root;
    fileset = lib.fileset.unions (
      [
        ../Cargo.toml
        ../Cargo.lock
        ../src
        ../benches
      ]
      ++ declaredTargetFiles
    );
  };

  cargoLock.lockFile = ../Cargo.lock;

  nativeBuildInputs = [ installShellFiles ];

  # The test suite cannot run in the Nix build sandbox: it needs root (mount, losetup), real
  # disk tools (sfdisk, mkfs.fat, cryptsetup, zfs), nix-instantiate, mkpasswd, a libvirtd and
  # QEMU for the VM tiers; even some unit tests mount a tmpfs. `./scripts/test` runs it.
  doCheck = false;

  # The shell completions and man pages come from the built binary itself, so they always
  # match its flags. Skipped when the binary cannot run on the build machine (cross builds).
  # pkgsStatic's musl binary runs on the same-CPU glibc build machine (canExecute compares CPU,
  # kernel, Android-ness and gcc.arch, not the libc: lib/systems/default.nix), so the static
  # package gets them too.
  postInstall = lib.optionalString (stdenv.buildPlatform.canExecute stdenv.hostPlatform) ''
    installShellCompletion --cmd blankroot \
      --bash <($out/bin/blankroot completions bash) \
      --zsh <($out/bin/blankroot completions zsh) \
      --fish <($out/bin/blankroot completions fish)

    manpages=$(mktemp -d)
    $out/bin/blankroot manpages "$manpages"
    installManPage "$manpages"/*.1
  '';

  meta = {
    description = "Install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every boot";
    # No `license`: Cargo.toml declares none and the repository has no LICENSE file.
    mainProgram = "blankroot";
    platforms = lib.platforms.linux;
  };
}
