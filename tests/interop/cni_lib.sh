# shellcheck shell=bash
# tests/interop/cni_lib.sh: what the CNI runtime tests (cni_podman.sh, cni_containerd.sh) share.
# Source it after lab/lib.sh, and call cni_private_mounts "$@" first thing (before lab_init).
#
#   cni_private_mounts "$@"   re-exec the script in a mount namespace of its own, with empty tmpfs
#                             over /run, /var/lib and /opt and over /etc/cni (an overlay over /etc
#                             when /etc/cni does not exist): what the runtimes write there (netns
#                             bind mounts in /run/netns, runc state in /run/runc, libcni's cache in
#                             /var/lib/cni, podman's blob cache in /var/lib/containers, ctr's
#                             /etc/cni/net.d and /opt/cni/bin) stays in this run and vanishes with it.
#                             The lab's own namespaces live in that /run/netns too; processes started
#                             with `ip netns exec` (the agents) get a slave copy of it, so they see
#                             the network namespaces the runtimes create (in /run/netns) afterwards.
#   cni_cleanup               after lab_cleanup: remove the /etc overlay's directory, if one was made
#   cni_busybox_rootfs DIR    a root file system from busybox-static: DIR/bin/busybox + applet links
#   cni_unmount_under DIR     unmount everything mounted below DIR (container storage), deepest first
#   cni_api SOCK JSON         one request to an agent's API socket, prints the response

cni_private_mounts() {
  if [[ ${ISTHMUS_CNI_MOUNTNS:-} != "$$" ]]; then
    [[ ${EUID} -eq 0 ]] || { echo "cni: must run as root" >&2; exit 1; }
    # exec keeps the PID: ctest's timeout still kills this process, lab_init's prefix uses it.
    exec unshare --mount --propagation private env ISTHMUS_CNI_MOUNTNS=$$ bash "$0" "$@"
  fi
  mount --make-rprivate /
  local d
  for d in /run /var/lib /opt; do mount -t tmpfs -o mode=0755 cni-test "${d}"; done
  if [[ -d /etc/cni ]]; then
    mount -t tmpfs -o mode=0755 cni-test /etc/cni
  else
    # /etc/cni would have to be created on the machine: overlay /etc instead (writes go to /tmp).
    CNI_ETC_OVERLAY=$(mktemp -d /tmp/cni-etc.XXXXXX)
    mkdir "${CNI_ETC_OVERLAY}/upper" "${CNI_ETC_OVERLAY}/work"
    mount -t overlay cni-test -o "lowerdir=/etc,upperdir=${CNI_ETC_OVERLAY}/upper,workdir=${CNI_ETC_OVERLAY}/work" /etc
  fi
  mkdir -p /etc/cni/net.d /opt/cni/bin
}

cni_cleanup() {
  if [[ -n ${CNI_ETC_OVERLAY:-} ]]; then
    umount -l /etc 2>/dev/null || true
    rm -rf "${CNI_ETC_OVERLAY}"
  fi
  return 0
}

cni_busybox_rootfs() {
  local dir=$1 a
  mkdir -p "${dir}/bin" "${dir}/etc" "${dir}/tmp"
  cp /bin/busybox "${dir}/bin/busybox"
  for a in $(/bin/busybox --list); do
    [[ ${a} == busybox ]] || ln -sf busybox "${dir}/bin/${a}"
  done
  echo 'root:x:0:0:root:/:/bin/sh' >"${dir}/etc/passwd"
  echo 'root:x:0:' >"${dir}/etc/group"
}

cni_unmount_under() {
  local dir=$1 m
  # mountinfo field 5 is the mount point (octal escapes for spaces; LAB_DIR has none).
  for m in $(awk -v d="${dir}/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r); do
    umount -l "${m}" 2>/dev/null || true
  done
}

cni_api() {
  python3 - "$1" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
print(out.decode().strip())
PY
}

# cni_podman_hosts BIN_DIR "I..." "NETWORK..." [CHAINED]: podman on each host I of the lab, in that
# host's network namespace (P I ARGS... runs it), with a private containers.conf, storage, tmp_dir
# and CNI config dir in ${LAB_DIR}/podmanI; each NETWORK a conflist of isthmus-cni (the host's
# agent at ${LAB_DIR}/agentI.api), then CHAINED (a plugin type of /usr/lib/cni) if given; the
# image localhost/isthmus-busybox:test imported. isthmus-cni is ${ISTHMUS_CNI}.
cni_podman_hosts() {
  local bin=$1 hosts=$2 networks=$3 chained=${4:-} i d net plugins
  mkdir -p "${bin}"
  cp "${ISTHMUS_CNI}" "${bin}/isthmus-cni"
  [[ -z ${chained} ]] || cp "/usr/lib/cni/${chained}" "${bin}/${chained}"
  cni_busybox_rootfs "${LAB_DIR}/rootfs"
  tar -C "${LAB_DIR}/rootfs" -cf "${LAB_DIR}/busybox.tar" .
  for i in ${hosts}; do
    d=${LAB_DIR}/podman${i}
    mkdir -p "${d}/root" "${d}/runroot" "${d}/tmp" "${d}/net.d"
    cat >"${d}/containers.conf" <<TOML
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["${bin}"]
network_config_dir = "${d}/net.d"
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "none"
tmp_dir = "${d}/tmp"
TOML
    for net in ${networks}; do
      plugins="{\"type\": \"isthmus-cni\", \"agent_socket\": \"${LAB_DIR}/agent${i}.api\"}"
      [[ -z ${chained} ]] || plugins+=", {\"type\": \"${chained}\", \"capabilities\": {\"portMappings\": true}}"
      cat >"${d}/net.d/${net}.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "${net}", "plugins": [${plugins}]}
JSON
    done
    P "${i}" import "${LAB_DIR}/busybox.tar" localhost/isthmus-busybox:test >/dev/null ||
      lab_fail "podman import on host ${i}"
  done
}

# P I ARGS...: podman of host I (cni_podman_hosts), in host I's network namespace.
P() {
  local i=$1 d=${LAB_DIR}/podman$1
  shift
  CONTAINERS_CONF=${d}/containers.conf nsenter --net="/run/netns/$(lab_ns "${i}")" \
    podman --root "${d}/root" --runroot "${d}/runroot" "$@"
}

# cni_podman_cleanup "I...": every container of those hosts' podman removed, every podman network
# namespace left deleted, the mounts under the lab's directory gone.
cni_podman_cleanup() {
  set +e
  trap - ERR
  local i ns p
  for i in $1; do
    [[ -f ${LAB_DIR}/podman${i}/containers.conf ]] || continue
    P "${i}" rm -af -t 0 >/dev/null 2>&1 || true
  done
  for ns in $(ip netns list 2>/dev/null | awk '$1 ~ /^netns-/ {print $1}'); do
    for p in $(ip netns pids "${ns}" 2>/dev/null); do kill -KILL "${p}" 2>/dev/null || true; done
    ip netns delete "${ns}" 2>/dev/null || true
  done
  cni_unmount_under "${LAB_DIR}"
}
