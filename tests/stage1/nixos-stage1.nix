# NixOS's own stage-1 units for a root pool, reproduced from nixpkgs (a 26.11-pre tree, read
# 2026-12-02) in the shape of `boot.initrd.systemd.{services,targets,mounts}` options, so that
# the stage-1 tier renders them with the same code as the units blankroot.nix declares
# (tests/it/common/stage1.rs merges the two as NixOS's module system would: lists concatenate).
# Not NixOS: store paths are replaced by the initrd's /bin, which holds the same tools.
#
# - nixos/modules/tasks/filesystems/zfs.nix, `importLib` and `createImportService` (verbatim
#   script; awk and zpool from extraBin), instantiated for the root pool with
#   force = boot.zfs.forceImportRoot and prefix = "/sysroot"; `targets.zfs.wantedBy` and
#   `targets.zfs-import.wantedBy`.
# - nixos/modules/system/boot/systemd/initrd.nix: `initrd-find-nixos-closure`,
#   `initrd-nixos-activation` (RequiresMountsFor=/sysroot/run), the `initrd-switch-root`
#   override, and the /run -> /sysroot/run rbind mount. `resolve-in-root` (from nixos-init) is
#   not available here; the init path the tests boot holds no symlinks, so it is the identity.
#
# poolMounts: the mount units of the pool's file systems under /sysroot (zfs.nix
# `getPoolMounts "/sysroot" pool`: every zfs file system of the pool, escaped).
{ pool, devNodes, force, poolMounts }:
let
  importLib = ''
    # shellcheck disable=SC2013
    for o in $(cat /proc/cmdline); do
      case $o in
        zfs_force|zfs_force=1|zfs_force=y)
          ZFS_FORCE="-f"
          ;;
      esac
    done
    poolReady() {
      pool="$1"
      state="$("/bin/zpool" import -d "${devNodes}" 2>/dev/null | "/bin/awk" "/pool: $pool/ { found = 1 }; /state:/ { if (found == 1) { print \$2; exit } }; END { if (found == 0) { print \"MISSING\" } }")"
      if [[ "$state" = "ONLINE" ]]; then
        return 0
      else
        echo "Pool $pool in state $state, waiting"
        return 1
      fi
    }
    poolImported() {
      pool="$1"
      "/bin/zpool" list "$pool" >/dev/null 2>/dev/null
    }
    poolImport() {
      pool="$1"
      # shellcheck disable=SC2086
      "/bin/zpool" import -d "${devNodes}" -N $ZFS_FORCE "$pool"
    }
  '';
in
{
  services = {
    "zfs-import-${pool}" = {
      after = [ "systemd-modules-load.service" "systemd-ask-password-console.service" ];
      before = poolMounts ++ [ "shutdown.target" "zfs-import.target" ];
      conflicts = [ "shutdown.target" ];
      description = "Import ZFS pool \"${pool}\"";
      environment.ZFS_FORCE = if force then "-f" else "";
      requiredBy = poolMounts ++ [ "zfs-import.target" ];
      script = importLib + ''
        if ! poolImported "${pool}"; then
          echo -n "importing ZFS pool \"${pool}\"..."
          # Loop across the import until it succeeds, because the devices needed may not be discovered yet.
          for _ in $(seq 1 60); do
            poolReady "${pool}" && poolImport "${pool}" && break
            sleep 1
          done
          poolImported "${pool}" || poolImport "${pool}"  # Try one last time, e.g. to import a degraded pool.
        fi
        if poolImported "${pool}"; then


          echo "Successfully imported ${pool}"
        else
          exit 1
        fi
      '';
      serviceConfig = { RemainAfterExit = true; Type = "oneshot"; };
      unitConfig.DefaultDependencies = "no";
    };

    initrd-find-nixos-closure = {
      before = [ "initrd.target" "shutdown.target" ];
      conflicts = [ "shutdown.target" ];
      description = "Find NixOS closure";
      requiredBy = [ "initrd.target" ];
      script = ''
        set -uo pipefail
        export PATH="/bin"

        # Figure out what closure to boot
        closure=
        for o in $(< /proc/cmdline); do
            case $o in
                init=*)
                    IFS="=" read -r -a initParam <<< "$o"
                    closure="''${initParam[1]}"
                    ;;
            esac
        done

        # Sanity check
        if [ -z "''${closure:-}" ]; then
          echo 'No init= parameter on the kernel command line' >&2
          exit 1
        fi

        # Resolve symlinks in the init parameter. (resolve-in-root: identity here, see above.)

        # Assume the directory containing the init script is the closure.
        closure="$(dirname "$closure")"

        ln --symbolic "$closure" /nixos-closure

        # If we are not booting a NixOS closure (e.g. init=/bin/sh),
        # we don't know what root to prepare so we don't do anything
        if ! [ -x "/sysroot$(readlink "/sysroot$closure/prepare-root" || echo "$closure/prepare-root")" ]; then
          echo "NEW_INIT=''${initParam[1]}" > /etc/switch-root.conf
          echo "$closure does not look like a NixOS installation - not activating"
          exit 0
        fi
        echo 'NEW_INIT=' > /etc/switch-root.conf
      '';
      serviceConfig = { RemainAfterExit = true; Type = "oneshot"; };
      unitConfig = { DefaultDependencies = false; RequiresMountsFor = "/sysroot/nix/store"; };
    };

    initrd-nixos-activation = {
      after = [ "initrd-switch-root.target" ];
      before = [ "initrd-switch-root.service" ];
      description = "NixOS Activation";
      requiredBy = [ "initrd-switch-root.service" ];
      script = ''
        set -uo pipefail
        export PATH="/bin"

        # A non-NixOS closure (e.g. init=/bin/sh) has no prepare-root;
        # initrd-find-nixos-closure records this as a non-empty NEW_INIT.
        # Skip activation and let initrd-switch-root hand over to it directly.
        if [ -n "''${NEW_INIT:-}" ]; then
          echo "$NEW_INIT is not a NixOS system - not activating"
          exit 0
        fi

        closure="$(realpath /nixos-closure)"

        # Initialize the system
        export IN_NIXOS_SYSTEMD_STAGE1=true
        exec chroot /sysroot "$closure/prepare-root"
      '';
      serviceConfig = { EnvironmentFile = "-/etc/switch-root.conf"; Type = "oneshot"; };
      unitConfig = {
        AssertPathExists = "/etc/initrd-release";
        RequiresMountsFor = [ "/sysroot/run" ];
        DefaultDependencies = false;
      };
    };

    # An override of the upstream unit: rendered as a drop-in.
    initrd-switch-root = {
      serviceConfig = {
        EnvironmentFile = "-/etc/switch-root.conf";
        ExecStart = [ "" ''systemctl --no-block switch-root /sysroot "''${NEW_INIT}"'' ];
      };
    };
  };

  targets = {
    zfs.wantedBy = [ "initrd.target" ];
    zfs-import.wantedBy = [ "zfs.target" ];
  };

  mounts = [
    {
      options = "rbind";
      before = [ "initrd-fs.target" ];
      requiredBy = [ "initrd-fs.target" ];
      unitConfig.DefaultDependencies = false;
      what = "/run";
      where = "/sysroot/run";
    }
  ];
}
