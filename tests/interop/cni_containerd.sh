#!/usr/bin/env bash
# containerd 1.6 + `ctr run --cni` attach a container through isthmus-cni:
#   h1 isthmusd RR 198.18.0.1
#   h2 agent 198.18.0.2 + containerd (own root, state, socket; runc) with container c1 (blue)
#   h3 agent 198.18.0.3 + a workload w3 100.64.1.53 on blue
# The test runs in a mount namespace of its own (cni_lib.sh) with tmpfs over /etc/cni and /opt:
# ctr reads /etc/cni/net.d and /opt/cni/bin there, the machine's are not touched. containerd and
# ctr run in host 2's network namespace. The image is a docker archive of a busybox-static root
# file system, built here and loaded with `ctr image import`.
# Proves: c1 gets eth0 with an address from host 2's pool (the plugin's result, CNI_NETNS being
# /proc/<pid>/ns/net), reaches w3 on host 3 and back over VXLAN, `show endpoint` lists it; when
# its task is killed, ctr deletes the task, calls CNI DEL and removes the container (ctr 1.6 runs
# DEL only in a `ctr run` that waits for its task, not in `ctr task kill`/`ctr container rm`:
# those have no CNI code in 1.6), and nothing is left: no record, no veth, no remote FDB entry,
# no neighbour entry, no task, no container. A detached c2 (`ctr run -d --cni`), killed and
# removed with ctr task kill/delete and ctr container rm, gets no DEL in ctr 1.6; the agent sees
# its veth go with the namespace and forgets the attachment, and nothing is left either.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"
source "${HERE}/cni_lib.sh"
cni_private_mounts "$@"

for t in containerd ctr runc containerd-shim-runc-v2 /usr/lib/cni/loopback /bin/busybox nsenter; do
  command -v "${t}" >/dev/null || { echo "cni_containerd: ${t} is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
done

lab_init
lab_require_isthmus
ISTHMUS_CNI=${ISTHMUS_CNI:-$(dirname "${ISTHMUSD}")/isthmus-cni}
[[ -x ${ISTHMUS_CNI} ]] || lab_fail "isthmus-cni not found: set ISTHMUS_CNI, got '${ISTHMUS_CNI}'"

cd_dir=${LAB_DIR}/containerd
# The containerd namespace is this run's prefix: runc puts the task's cgroups under /<namespace>/,
# which the cleanup removes.
ctr_ns=${LAB_PREFIX}
C() { nsenter --net="/run/netns/$(lab_ns 2)" ctr --address "${cd_dir}/containerd.sock" --namespace "${ctr_ns}" "$@"; }
# Before lab_cleanup (which stops containerd and the agents): kill and remove what ctr left,
# kill container processes (they are in namespaces of their own), unmount the snapshots.
containerd_cleanup() {
  set +e
  trap - ERR
  local c p
  if [[ -S ${cd_dir}/containerd.sock ]]; then
    for c in $(C task list -q 2>/dev/null); do
      for p in $(C task ps "${c}" 2>/dev/null | awk 'NR > 1 {print $1}'); do kill -KILL "${p}" 2>/dev/null || true; done
      C task delete -f "${c}" >/dev/null 2>&1 || true
    done
    for c in $(C container list -q 2>/dev/null); do C container delete "${c}" >/dev/null 2>&1 || true; done
  fi
  lab_stop containerd
  cni_unmount_under "${LAB_DIR}"
  for c in /sys/fs/cgroup/*/"${ctr_ns}" /sys/fs/cgroup/"${ctr_ns}"; do
    [[ -d ${c} ]] && find "${c}" -depth -type d -exec rmdir {} \; 2>/dev/null
  done
  return 0
}
on_exit() {
  local rc=$?
  containerd_cleanup
  (exit "${rc}")
  lab_cleanup
  cni_cleanup
}
trap on_exit EXIT

lab_underlay 3
agent_conf() { # agent_conf ID
  lab_agent_conf "$1" <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, pool: 100.64.1.$((16 * $1))/28 }
YAML
}
lab_isthmus_rr_start 1 2 3
lab_isthmusd_start 2 agent2 "$(agent_conf 2)"
lab_isthmusd_start 3 agent3 "$(agent_conf 3)"

# ctr's CNI paths are fixed: /etc/cni/net.d (the first configuration) and /opt/cni/bin, both
# this run's tmpfs. ctr also runs the loopback plugin for lo.
cp "${ISTHMUS_CNI}" /opt/cni/bin/isthmus-cni
cp /usr/lib/cni/loopback /opt/cni/bin/loopback
cat >/etc/cni/net.d/10-blue.conflist <<JSON
{
  "cniVersion": "1.0.0",
  "name": "blue",
  "plugins": [{"type": "isthmus-cni", "agent_socket": "${LAB_DIR}/agent2.api"}]
}
JSON

# containerd with its own root, state and socket, only what ctr needs.
mkdir -p "${cd_dir}"
cat >"${cd_dir}/config.toml" <<TOML
version = 2
root = "${cd_dir}/root"
state = "${cd_dir}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "${cd_dir}/containerd.sock"
[ttrpc]
  address = "${cd_dir}/containerd.sock.ttrpc"
[debug]
  address = "${cd_dir}/debug.sock"
TOML
# Not lab_spawn: `ip netns exec` remounts /sys for the namespace, without the cgroup mounts runc
# needs ("no cgroup mount found in mountinfo"); nsenter --net keeps this run's mounts.
nsenter --net="/run/netns/$(lab_ns 2)" containerd --config "${cd_dir}/config.toml" \
  >>"${LAB_DIR}/containerd.log" 2>&1 </dev/null &
echo "$! containerd" >>"${LAB_DIR}/pids"
echo "$!" >"${LAB_DIR}/containerd.pid.lab"
lab_critical containerd
lab_wait_for 30 "containerd answers" C version

# The image: a docker archive (manifest.json, config, one layer) of a busybox-static root file system.
cni_busybox_rootfs "${LAB_DIR}/rootfs"
tar -C "${LAB_DIR}/rootfs" -cf "${LAB_DIR}/layer.tar" .
python3 - "${LAB_DIR}/layer.tar" "${LAB_DIR}/busybox-image.tar" localhost/isthmus-busybox:test <<'PY'
import hashlib, io, json, platform, sys, tarfile
layer_path, out, name = sys.argv[1:4]
layer = open(layer_path, "rb").read()
arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
config = json.dumps({
    "architecture": arch, "os": "linux",
    "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh"]},
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [name], "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for n, data in ((config_name, config), ("layer.tar", layer), ("manifest.json", manifest)):
        info = tarfile.TarInfo(n)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
PY
out=$(C image import "${LAB_DIR}/busybox-image.tar" 2>&1) || lab_fail "ctr image import: ${out}"
image=localhost/isthmus-busybox:test
for peer in 198.18.0.2 198.18.0.3; do
  lab_wait_for 60 "rr: ${peer} Established" lab_isthmus_established rr "${peer}"
done

lab_attach_workload 3 100 w3 100.64.1.53/24
lab_wait_for 30 "w3 reaches its gateway" lab_exec 3 true
ip netns exec "$(lab_ns w3)" ping -c1 -W2 100.64.1.1 >/dev/null || lab_fail "w3 cannot reach its gateway"

api() { cni_api "${LAB_DIR}/agent$1.api" "$2"; }
shows() { local out; out=$("${@:2}" 2>&1) || true; grep -q -- "$1" <<<"${out}"; }

# ctr run --cni, waiting for its task (in the background): it runs CNI ADD once the task exists.
nsenter --net="/run/netns/$(lab_ns 2)" ctr --address "${cd_dir}/containerd.sock" --namespace "${ctr_ns}" \
  run --rm --cni "${image}" c1 sleep 600 >"${LAB_DIR}/ctr-run.log" 2>&1 </dev/null &
ctr_run=$!
echo "${ctr_run} ctr-run" >>"${LAB_DIR}/pids"
has_record() { api 2 '{"op": "list"}' | lab_check_json "len(j['result']['endpoints']) == 1"; }
lab_wait_for 30 "agent 2 has c1's attachment" has_record
rec=$(api 2 '{"op": "list"}' | lab_json "j['result']['endpoints'][0]")
lab_log "c1's attachment: ${rec}"
# go-cni names the attachment <namespace>-<container>.
lab_assert_eq "c1's container id" "$(lab_json "j['container_id']" <<<"${rec}")" "${ctr_ns}-c1"
pid=$(C task list | awk '$1 == "c1" {print $2}')
lab_assert_eq "c1's netns" "$(lab_json "j['netns']" <<<"${rec}")" "/proc/${pid}/ns/net"
addr=$(lab_json "j['ips'][0].split('/')[0]" <<<"${rec}")
mac=$(lab_json "j['mac']" <<<"${rec}")
host_if=$(lab_json "j['host_ifname']" <<<"${rec}")
python3 -c 'import ipaddress,sys; sys.exit(ipaddress.ip_address(sys.argv[1]) not in ipaddress.ip_network("100.64.1.32/28"))' "${addr}" ||
  lab_fail "c1's ${addr} is not from host 2's pool 100.64.1.32/28"
shows "master br100" lab_exec 2 ip link show "${host_if}" || lab_fail "c1's host end ${host_if} is not on br100"
x() { C task exec --exec-id "x${RANDOM}" c1 "$@"; }
shows "inet ${addr}/24" x ip addr show eth0 || lab_fail "c1's eth0 lacks ${addr}: $(x ip addr 2>&1)"
lab_isthmusctl agent2 show endpoint -o json | lab_check_json "[e['container_id'] for e in j] == ['${ctr_ns}-c1']" ||
  lab_fail "show endpoint: $(lab_isthmusctl agent2 show endpoint -o json)"
pings_w3() { x ping -c1 -W1 100.64.1.53 >/dev/null 2>&1; }
lab_wait_for 30 "c1 (h2, containerd) pings w3 (h3)" pings_w3
ip netns exec "$(lab_ns w3)" ping -c1 -W2 "${addr}" >/dev/null || lab_fail "w3 cannot ping c1"
lab_wait_for 30 "host 3 has c1's MAC" lab_fdb_has 3 vxlan100 "${mac}" 198.18.0.2
lab_log "c1 ${addr} (${mac}) reaches w3 on host 3"

# Kill the task: ctr run deletes it, runs CNI DEL (netns ""), removes the container (--rm).
out=$(C task kill -s SIGKILL c1 2>&1) || lab_fail "ctr task kill: ${out}"
ctr_done() { ! kill -0 "${ctr_run}" 2>/dev/null; }
lab_wait_for 30 "ctr run returns" ctr_done
wait "${ctr_run}" || true
lab_check_json "j['result']['endpoints'] == []" <<<"$(api 2 '{"op": "list"}')" || lab_fail "records left: $(api 2 '{"op": "list"}'); ctr: $(cat "${LAB_DIR}/ctr-run.log")"
! lab_exec 2 ip link show "${host_if}" >/dev/null 2>&1 || lab_fail "c1's veth ${host_if} is left"
shows "${addr} " lab_exec 2 ip neigh show dev br100 && lab_fail "host 2 still has c1's neighbour entry"
no_c1() { ! lab_fdb_has 3 vxlan100 "${mac}" 198.18.0.2; }
lab_wait_for 30 "host 3 forgets c1's MAC" no_c1
lab_assert_eq "tasks left" "$(C task list -q)" ""
lab_assert_eq "containers left" "$(C container list -q)" ""
lab_log "c1 killed: ctr ran DEL, nothing left"

# A detached `ctr run -d --cni`: ADD the same way; `ctr task kill` + `ctr task delete` +
# `ctr container rm` run no DEL in ctr 1.6 (1.7 added it to kill), so the attachment outlives the
# container's namespace; its veth goes with it, and the agent forgets the attachment then.
out=$(C run -d --cni "${image}" c2 sleep 600 2>&1) || lab_fail "ctr run -d --cni c2: ${out}"
lab_wait_for 30 "agent 2 has c2's attachment" has_record
rec=$(api 2 '{"op": "list"}' | lab_json "j['result']['endpoints'][0]")
mac=$(lab_json "j['mac']" <<<"${rec}")
host_if=$(lab_json "j['host_ifname']" <<<"${rec}")
lab_wait_for 30 "host 3 has c2's MAC" lab_fdb_has 3 vxlan100 "${mac}" 198.18.0.2
out=$(C task kill -s SIGKILL c2 2>&1) || lab_fail "ctr task kill c2: ${out}"
task_gone() { ! shows RUNNING C task list; }
lab_wait_for 30 "c2's task stops" task_gone
out=$(C task delete c2 2>&1) || lab_fail "ctr task delete c2: ${out}"
out=$(C container rm c2 2>&1) || lab_fail "ctr container rm c2: ${out}"
# No DEL came, but the container's namespace went and took the veth with it: the agent forgets
# the attachment by itself (its addresses are free again).
no_record() { api 2 '{"op": "list"}' | lab_check_json "j['result']['endpoints'] == []"; }
lab_wait_for 30 "agent 2 forgets c2 when its veth goes" no_record
lab_check_json "j['result']['endpoints'] == []" <<<"$(api 2 '{"op": "list"}')" || lab_fail "records left: $(api 2 '{"op": "list"}')"
shows veth lab_exec 2 ip -o link show && lab_fail "a veth is left on host 2: $(lab_exec 2 ip -o link show)"
lab_wait_for 30 "host 3 forgets c2's MAC" no_c1
lab_log "PASS"
