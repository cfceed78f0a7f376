# A NixOS module: `programs.blankroot.enable = true;` keeps blankroot on the installed system
# (for `blankroot diff`, `persist`, `doctor`, `regenerate`, `verify-rollback`). Takes the
# flake's `packages` so the default is this flake's build for the host's system.
{ packages }:
{
  config,
  lib,
  pkgs,
  ...
}:
let
  cfg = config.programs.blankroot;
in
{
  options.programs.blankroot = {
    enable = lib.mkEnableOption "blankroot (install NixOS with root on ZFS on LUKS; the rollback's day-2 commands)";
    package = lib.mkOption {
      type = lib.types.package;
      default = packages.${pkgs.stdenv.hostPlatform.system}.default;
      defaultText = lib.literalExpression "blankroot.packages.\${pkgs.stdenv.hostPlatform.system}.default";
      description = "The blankroot package to install.";
    };
  };

  config = lib.mkIf cfg.enable {
    environment.systemPackages = [ cfg.package ];
  };
}
