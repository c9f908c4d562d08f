#!/usr/bin/env bash
# Install everything Isthmus needs to build, test and demo on a fresh Debian 12, as root.
# Idempotent: when every package is already installed it exits without touching apt.
# The routing daemons (frr, bird2, gobgpd, exabgp) are only used as programs that the tests and
# the lab start by hand inside network namespaces, so their packaged services are kept from
# starting during install and are disabled afterwards.
set -euo pipefail

PACKAGES=(
  # build
  cmake ninja-build g++ clang clang-format libclang-rt-14-dev pkg-config
  libgtest-dev libgmock-dev libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libmnl-dev
  # lab and tests
  iproute2 procps psmisc tcpdump iputils-ping socat python3
  # real BGP peers (gobgpd ships both gobgpd and the gobgp CLI)
  frr bird2 gobgpd exabgp
  # real CNI runtimes and the reference plugins (issue 5): podman with runc (see LAB.md),
  # containerd for `ctr run --cni`, an image from busybox-static
  podman runc containerd containernetworking-plugins busybox-static
)
# Packaged services we never want running: the lab starts the daemons itself.
SERVICES=(frr bird gobgpd exabgp containerd)

if [[ ${EUID} -ne 0 ]]; then
  echo "install-deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ ${status} == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#PACKAGES[@]} packages already installed"
else
  echo "install-deps.sh: installing ${missing[*]}"
  # Keep postinst scripts from starting daemons (policy-rc.d protocol: exit 101 = action
  # forbidden). Only install our own policy if none exists, and always remove what we added.
  policy=/usr/sbin/policy-rc.d
  added_policy=0
  if [[ ! -e ${policy} ]]; then
    printf '#!/bin/sh\nexit 101\n' >"${policy}"
    chmod 755 "${policy}"
    added_policy=1
  fi
  trap 'if [[ ${added_policy} == 1 ]]; then rm -f "${policy}"; fi' EXIT
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Services: disable so that a reboot does not start them, stop any that an earlier install started.
for s in "${SERVICES[@]}"; do
  if command -v systemctl >/dev/null 2>&1; then
    if systemctl list-unit-files "${s}.service" 2>/dev/null | grep -q "^${s}.service"; then
      systemctl disable "${s}.service" >/dev/null 2>&1 || true
      if [[ -d /run/systemd/system ]]; then
        systemctl stop "${s}.service" >/dev/null 2>&1 || true
      fi
    fi
  fi
  if [[ ! -d /run/systemd/system && -x /etc/init.d/${s} ]]; then
    /etc/init.d/"${s}" stop >/dev/null 2>&1 || true
  fi
done
echo "install-deps.sh: done"
