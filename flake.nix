# blankroot's flake. Usage, the flake.lock situation and what was and was not verified:
# docs/packaging.md.
#
# nixpkgs facts relied on (see also nix/package.nix), read in Swarsel/nixpkgs @ 4aa6836a
# (26.11-pre) except the hooks' shell scripts (NixOS/nixpkgs):
# - pkgs/top-level/stage.nix: `pkgsStatic` is nixpkgs re-evaluated with a musl crossSystem and
#   `isStatic = true` ("Fully static packages. Currently uses Musl on Linux").
# - pkgs/build-support/mkshell/default.nix: mkShell's `packages` go to nativeBuildInputs; other
#   attributes (RUST_SRC_PATH) become environment variables of the shell.
# - pkgs/development/compilers/rust/make-rust-platform.nix: `rustPlatform.rustLibSrc` (the std
#   sources rust-analyzer reads through RUST_SRC_PATH).
# - pkgs/build-support/rust/hooks/cargo-{build,install}-hook.sh: a derivation that sets its own
#   buildPhase/installPhase replaces cargoBuildHook/cargoInstallHook (used by checks.clippy),
#   while cargoSetupHook still points cargo at the vendored crates.
# - NixOS/nix pull request 11297: `nix flake check` warns about an app without meta.description.
{
  description = "blankroot: install NixOS with root on ZFS on LUKS, rolled back to a blank snapshot on every boot";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: lib.genAttrs systems (system: f system nixpkgs.legacyPackages.${system});
      # The static binary is the one users copy onto the NixOS minimal ISO (no nix needed to run
      # it, no /lib64 loader needed); it is offered where it matters, x86_64-linux.
      hasStatic = system: system == "x86_64-linux";
      appOf = pkg: {
        type = "app";
        program = "${pkg}/bin/blankroot";
        meta.description = pkg.meta.description;
      };
    in
    {
      packages = forAllSystems (
        system: pkgs:
        {
          default = pkgs.callPackage ./nix/package.nix { };
        }
        // lib.optionalAttrs (hasStatic system) {
          # musl, fully static: `file result/bin/blankroot` says "statically linked".
          static = pkgs.pkgsStatic.callPackage ./nix/package.nix { };
        }
      );

      # `nix run <flake> -- plan --example`
      apps = forAllSystems (
        system: _pkgs:
        {
          default = appOf self.packages.${system}.default;
        }
        // lib.optionalAttrs (hasStatic system) {
          static = appOf self.packages.${system}.static;
        }
      );

      devShells = forAllSystems (
        _system: pkgs: {
          default = pkgs.mkShell {
            packages = with pkgs; [
              cargo
              rustc
              clippy
              rustfmt
              rust-analyzer
              # What the tests and scripts/test run (.ci/run installs the Debian equivalents).
              nix # nix-instantiate: generated Nix is parsed and evaluated
              mkpasswd # yescrypt hashes (Debian: whois)
              util-linux # lsblk, blkid, findmnt, sfdisk (Debian: fdisk)
              dosfstools # mkfs.fat
              libvirt # virsh, virt-xml-validate, libvirtd
              (lib.getBin libxml2) # xmllint
              qemu # the VM tiers
              cpio # the stage-1 tier's initrd
              acl # setfacl/getfacl
              attr # setfattr/getfattr
              time # GNU time (the diff benchmark)
              python3
              jq
              mandoc # the man pages are linted
              zsh # the completions are checked by their shells
              fish
              binutils # readelf, nm: the static binary
              file
            ];
            RUST_SRC_PATH = "${pkgs.rustPlatform.rustLibSrc}";
          };
        }
      );

      checks = forAllSystems (
        system: pkgs:
        let
          blankroot = self.packages.${system}.default;
        in
        {
          # The release build, its completions and man pages (postInstall runs the binary).
          package = blankroot;

          # CI's lint (.ci/run): `cargo clippy --all-targets --locked -- -D warnings`, offline
          # against the crates vendored from Cargo.lock. Its source adds tests/: the tests, the
          # benchmarks' #[path] modules (tests/it/common) and the unit tests' include_str!
          # fixtures (tests/fixtures) live there. A nixpkgs clippy newer than CI's can bring
          # lints CI does not have yet.
          clippy = blankroot.overrideAttrs (old: {
            pname = "blankroot-clippy";
            src = lib.fileset.toSource {
              root = ./.;
              fileset = lib.fileset.unions [
                ./Cargo.toml
                ./Cargo.lock
                ./src
                ./benches
                ./tests
              ];
            };
            nativeBuildInputs = old.nativeBuildInputs ++ [ pkgs.clippy ];
            buildPhase = ''
              runHook preBuild
              cargo clippy --offline --locked -j "$NIX_BUILD_CORES" --all-targets -- -D warnings
              runHook postBuild
            '';
            installPhase = "touch $out";
          });

          # rustfmt on every crate root cargo fmt would format (it follows `mod` from each),
          # with the repository's rustfmt.toml (found from the files' directories upwards).
          fmt =
            pkgs.runCommand "blankroot-fmt"
              {
                nativeBuildInputs = [ pkgs.rustfmt ];
                src = lib.fileset.toSource {
                  root = ./.;
                  fileset = lib.fileset.unions [
                    ./rustfmt.toml
                    (lib.fileset.fileFilter (file: file.hasExt "rs") ./src)
                    (lib.fileset.fileFilter (file: file.hasExt "rs") ./benches)
                    (lib.fileset.fileFilter (file: file.hasExt "rs") ./tests)
                  ];
                };
              }
              ''
                cd "$src"
                shopt -s nullglob
                rustfmt --check --edition 2024 src/lib.rs src/main.rs benches/*.rs tests/*.rs tests/*/main.rs
                touch "$out"
              '';
        }
        // lib.optionalAttrs (hasStatic system) {
          static = self.packages.${system}.static;
        }
      );

      # programs.blankroot.enable = true; keeps blankroot on the installed system.
      nixosModules.default = import ./nix/module.nix { inherit (self) packages; };
    };
}
