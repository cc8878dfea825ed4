#!/usr/bin/env bash
# Slow, benchmark-style check (not for CI): README's two commands on a fresh Debian 12. Builds a
# `debootstrap bookworm` root (priorities required and important, what a new Debian install has), clones
# this repository's HEAD into it, and runs `./run.sh` then `./test.sh` there as root, timing both.
# The chroot has no /usr/local/cuda, so this proves the CPU-only build a user without the CUDA toolkit
# gets; CI (./test.sh on the development machine) covers the CUDA build and scripts/check_install_list.sh.
#
#   sudo scripts/fresh_debian_check.sh [ROOT]      # ROOT defaults to /var/tmp/sublinear-fresh
#
# Environment: MIRROR [http://deb.debian.org/debian], KEEP=1 keeps ROOT afterwards, RUN_ARGS extra
# arguments for ./run.sh (e.g. "--steps 50"). Writes ROOT.log with everything the two commands printed.
# Needs root, Debian's package mirror, about 4 GiB of disk and 30 to 45 minutes on 2 cores.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
root="${1:-/var/tmp/sublinear-fresh}"
mirror="${MIRROR:-http://deb.debian.org/debian}"
log="$root.log"
[[ "$(id -u)" -eq 0 ]] || { echo "fresh_debian_check: needs root (debootstrap, chroot, mounts)" >&2; exit 2; }
[[ -e "$root" ]] && { echo "fresh_debian_check: $root exists; remove it or name another folder" >&2; exit 2; }
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
fi

mounted=()
cleanup() {
  local m
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  if [[ "${KEEP:-0}" != 1 && -d "$root" ]]; then rm -rf --one-file-system "$root"; fi
}
trap cleanup EXIT
stamp() { date +%s; }
say() { echo "fresh_debian_check: $*" | tee -a "$log"; }
: > "$log"

t0=$(stamp)
say "debootstrap bookworm into $root from $mirror"
debootstrap --arch=amd64 bookworm "$root" "$mirror" >> "$log" 2>&1 \
  || { say "debootstrap failed (see $log)"; exit 1; }
# A real install also has the updates and security suites.
cat > "$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb ${mirror%/debian}/debian-security bookworm-security main
EOF
t1=$(stamp)
say "debootstrap took $((t1 - t0)) s; $(chroot "$root" dpkg-query -W | wc -l) packages installed"

for m in proc sys dev dev/pts; do
  mkdir -p "$root/$m"
  case "$m" in
    proc) mount -t proc proc "$root/proc" ;;
    sys) mount -t sysfs sys "$root/sys" ;;
    *) mount --bind "/$m" "$root/$m" ;;
  esac
  mounted+=("$root/$m")
done
cp -L /etc/resolv.conf "$root/etc/resolv.conf"

# A fresh clone of HEAD: what a user would get, without this tree's build folders or uncommitted edits.
git clone -q --no-local "$repo" "$root/root/sublinear"
say "cloned $(git -C "$repo" rev-parse --short HEAD) into /root/sublinear"
[[ -e "$root/usr/local/cuda" ]] && say "warning: the chroot has /usr/local/cuda"

in_chroot() {
  env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    chroot "$root" /bin/bash -c "cd /root/sublinear && $1" >> "$log" 2>&1
}
rc_run=0 rc_test=0
t2=$(stamp)
say "running ./run.sh ${RUN_ARGS:-}"
in_chroot "./run.sh ${RUN_ARGS:-}" || rc_run=$?
t3=$(stamp)
say "./run.sh exited $rc_run after $((t3 - t2)) s"
say "running ./test.sh"
in_chroot "./test.sh" || rc_test=$?
t4=$(stamp)
say "./test.sh exited $rc_test after $((t4 - t3)) s"
say "ctest: $(grep -E 'tests passed|tests failed' "$log" | tail -n 1)"
say "install list: $(grep -E '^check_install_list: ok' "$log" | tail -n 1)"
say "quickstart: $(grep -E '^trained' "$log" | tail -n 1)"
say "total $((t4 - t0)) s; log in $log"
[[ $rc_run -eq 0 && $rc_test -eq 0 ]]
