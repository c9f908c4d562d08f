#!/usr/bin/env bash
# Installs the Debian 12 packages that Isthmus needs, as root. What is needed depends on what
# the machine is for; name one or more purposes (each includes the ones before it):
#
#   run     a production node: the runtime libraries of isthmusd, isthmusctl and isthmus-cni
#   build   run + the compiler, CMake, Ninja and the headers of the libraries
#   demo    build + what lab/demo.sh and lab/lab start: iproute2, ping, FRR, BIRD
#   test    demo + GoogleTest, clang (fuzzing, clang-format), every real peer and runtime the
#           tests start: GoBGP, ExaBGP, podman, containerd, the reference CNI plugins; and what
#           the benchmarks (bench/) add to those: iperf3
#
#   scripts/install-deps.sh test          (no purpose given: test, i.e. everything)
#   scripts/install-deps.sh --list run    print the packages of a purpose and install nothing
#
# Idempotent: when every package is already installed it exits without touching apt.
#
# Services. The routing daemons and runtimes (frr, bird2, gobgpd, exabgp, containerd) are only
# programs that the lab and the tests start by hand inside network namespaces, but their Debian
# packages start a system service on install. For a package this run installs, the service is
# kept from starting (a policy-rc.d that forbids only those services) and is disabled after the
# install. A package that was installed before this run is never touched: an FRR that routes
# this machine, or the containerd of a Docker host, keeps running and stays enabled.
set -euo pipefail

RUN=(libyaml-cpp0.7 libfmt9 libmnl0 libnftables1)
BUILD=(cmake ninja-build g++ pkg-config libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libmnl-dev
  libnftables-dev)
DEMO=(iproute2 procps psmisc iputils-ping python3 frr bird2)
TEST=(
  clang clang-format libclang-rt-14-dev libgtest-dev libgmock-dev tcpdump socat
  # the nft command: the tests read the agent's nftables table with it
  nftables
  # gobgpd ships both gobgpd and the gobgp CLI
  gobgpd exabgp
  # real CNI runtimes and the reference plugins: podman with runc (crun fails on hybrid
  # cgroups), containerd for `ctr run --cni`, an image from busybox-static
  podman runc containerd containernetworking-plugins busybox-static
  # the benchmarks' traffic (bench/tenant_bench.sh)
  iperf3
)
# package -> the services its install would start
declare -A SERVICES=([frr]=frr [bird2]=bird [gobgpd]=gobgpd [exabgp]=exabgp [containerd]=containerd)

usage() {
  sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

list=0
purposes=()
for a in "$@"; do
  case "$a" in
    --list) list=1 ;;
    run | build | demo | test) purposes+=("$a") ;;
    -h | --help) usage ;;
    *)
      echo "install-deps.sh: unknown purpose \"$a\" (run, build, demo or test)" >&2
      exit 2
      ;;
  esac
done
((${#purposes[@]})) || purposes=(test)

packages=()
for p in "${purposes[@]}"; do
  case "$p" in
    run) packages+=("${RUN[@]}") ;;
    build) packages+=("${RUN[@]}" "${BUILD[@]}") ;;
    demo) packages+=("${RUN[@]}" "${BUILD[@]}" "${DEMO[@]}") ;;
    test) packages+=("${RUN[@]}" "${BUILD[@]}" "${DEMO[@]}" "${TEST[@]}") ;;
  esac
done
mapfile -t packages < <(printf '%s\n' "${packages[@]}" | awk '!seen[$0]++')

if ((list)); then
  printf '%s\n' "${packages[@]}"
  exit 0
fi

if [[ ${EUID} -ne 0 ]]; then
  echo "install-deps.sh: run as root (it installs Debian packages)" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [[ ${status} == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "install-deps.sh: all ${#packages[@]} packages already installed"
  exit 0
fi

# The services of the packages this run installs; nothing else is ever stopped or disabled.
ours=()
for p in "${missing[@]}"; do
  [[ -n ${SERVICES[$p]:-} ]] && ours+=("${SERVICES[$p]}")
done

echo "install-deps.sh: installing ${missing[*]}"
# policy-rc.d (Debian's invoke-rc.d policy interface): exit 101 forbids the action. Ours forbids
# only the services of the packages being installed; an administrator's own policy is left in
# place (it then decides, and the services are stopped below if it let them start).
policy=/usr/sbin/policy-rc.d
added_policy=0
if ((${#ours[@]})) && [[ ! -e ${policy} ]]; then
  pattern=$(IFS='|' && echo "${ours[*]}")
  {
    echo '#!/bin/sh'
    echo '# Written by isthmus scripts/install-deps.sh for the length of one apt-get install.'
    echo 'while [ "${1#--}" != "$1" ]; do shift; done'
    echo 'case "$1" in'
    echo "  ${pattern}) exit 101 ;;"
    echo 'esac'
    echo 'exit 0'
  } >"${policy}"
  chmod 755 "${policy}"
  added_policy=1
fi
trap 'if ((added_policy)); then rm -f "${policy}"; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"

# Disable what the packages enabled, so that a reboot does not start them either, and stop any
# that started all the same (a policy-rc.d of the administrator's that allowed it).
for s in "${ours[@]}"; do
  if command -v systemctl >/dev/null 2>&1 &&
    systemctl list-unit-files "${s}.service" 2>/dev/null | grep -q "^${s}.service"; then
    systemctl disable "${s}.service" >/dev/null 2>&1 || true
    if [[ -d /run/systemd/system ]]; then
      systemctl stop "${s}.service" >/dev/null 2>&1 || true
    fi
  fi
  if [[ ! -d /run/systemd/system && -x /etc/init.d/${s} ]]; then
    /etc/init.d/"${s}" stop >/dev/null 2>&1 || true
  fi
done
echo "install-deps.sh: done"
