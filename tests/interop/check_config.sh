#!/usr/bin/env bash
# The command-line contract of isthmusd --check-config and isthmusctl (no namespaces, no BGP
# traffic; an isthmusd with `listen: false` only opens its control socket in a temp dir).
# Checks:
#   - a valid file (the docs' reference example, plus one with every neighbor field) exits 0 and
#     says "configuration is valid"; a file with warnings exits 0 and prints them on stderr
#   - a dozen invalid files exit 1 and print exactly the expected FILE:LINE: FIELD: why lines
#     (formats from src/config/config_test.cc); a missing file exits 1; a password is never echoed
#   - bad usage of isthmusd exits 2 with the usage text
#   - isthmusctl against a missing socket exits 1 with "cannot reach isthmusd"; no command or a
#     bad -o exits 2; an unknown command (daemon running) exits 1 naming the command and the
#     valid ones; a malformed argument is reported
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ISTHMUSD=${ISTHMUSD:-$(realpath -m "${HERE}/../../build/bin/isthmusd")}
ISTHMUSCTL=${ISTHMUSCTL:-$(realpath -m "${HERE}/../../build/bin/isthmusctl")}
[[ -x ${ISTHMUSD} && -x ${ISTHMUSCTL} ]] || { echo "FAIL: binaries not found (ISTHMUSD=${ISTHMUSD})" >&2; exit 1; }

DIR=$(mktemp -d /tmp/isthmus-check-config.XXXXXX)
DAEMON_PID=""
cleanup() {
  [[ -n ${DAEMON_PID} ]] && kill "${DAEMON_PID}" 2>/dev/null && wait "${DAEMON_PID}" 2>/dev/null
  rm -rf "${DIR}"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

FAILS=0
CHECKS=0
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
ok() { CHECKS=$((CHECKS + 1)); echo "ok: $*" >&2; }

# run_cmd OUTFILE ERRFILE CMD...: sets RC.
run_cmd() {
  local out=$1 err=$2
  shift 2
  RC=0
  "$@" >"${out}" 2>"${err}" || RC=$?
}

# expect_valid NAME YAML [WARNING-SUBSTRING]
expect_valid() {
  local name=$1 yaml=$2 warn=${3:-} f="${DIR}/$1.yaml"
  printf '%s' "${yaml}" >"${f}"
  run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSD}" --check-config "${f}"
  if [[ ${RC} != 0 ]]; then
    fail "${name}: exit ${RC}, want 0; stderr: $(cat "${DIR}/err")"
    return
  fi
  if [[ $(cat "${DIR}/out") != "${f}: configuration is valid" ]]; then
    fail "${name}: stdout '$(cat "${DIR}/out")', want '${f}: configuration is valid'"
    return
  fi
  if [[ -n ${warn} ]]; then
    grep -qF -- "warning: ${f}:${warn}" "${DIR}/err" ||
      { fail "${name}: stderr lacks 'warning: ${f}:${warn}': $(cat "${DIR}/err")"; return; }
  elif [[ -s ${DIR}/err ]]; then
    fail "${name}: unexpected stderr: $(cat "${DIR}/err")"
    return
  fi
  ok "${name}: valid (exit 0)"
}

# expect_invalid NAME YAML EXPECTED: EXPECTED is the full stderr with "config.yaml" standing for
# the file's path (as in config_test.cc).
expect_invalid() {
  local name=$1 yaml=$2 want=$3 f="${DIR}/$1.yaml"
  printf '%s' "${yaml}" >"${f}"
  want=${want//config.yaml/${f}}
  run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSD}" --check-config "${f}"
  local got
  got=$(cat "${DIR}/err")
  if [[ ${RC} != 1 ]]; then
    fail "${name}: exit ${RC}, want 1; stderr: ${got}"
  elif [[ ${got} != "${want}" ]]; then
    fail "${name}: stderr differs"$'\n'"  got:  ${got//$'\n'/$'\n'        }"$'\n'"  want: ${want//$'\n'/$'\n'        }"
  elif [[ -s ${DIR}/out ]]; then
    fail "${name}: an invalid file printed on stdout: $(cat "${DIR}/out")"
  else
    ok "${name}: exit 1 with the expected message"
  fi
}

BGP=$'bgp:\n  asn: 65000\n  router_id: 198.18.0.1\n'

# ---- Valid ------------------------------------------------------------------------------------
expect_valid reference "control_socket: /run/isthmus/isthmusd.sock
log_level: info
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { address: 198.18.0.1, port: 179 }
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast, ipv6-unicast] }
    - { address: 127.0.0.2, port: 1790, remote_as: 65002, passive: true, families: [ipv4-unicast], import: accept-all, export: accept-all }
  originate:
    - { prefix: 100.64.0.0/16 }
"
expect_valid every-field "${BGP}  cluster_id: 198.18.255.1
  listen: false
  hold_time: 30
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65001, password: s3cret, ttl_security: 1, import: accept-all, export: accept-all }
    - { address: 198.18.0.3, remote_as: 65001, ebgp_multihop: 2, import: accept-all, export: accept-all, hold_time: 9 }
    - { address: 'fd00:18::4', remote_as: 65000, next_hop_self: true, shutdown: true, graceful_restart: false }
  neighbor_ranges:
    - { prefix: 198.18.0.0/24, remote_as: 65000, route_reflector_client: true, families: [ipv4-unicast], max: 10 }
  originate:
    - { prefix: 100.64.0.0/16, communities: [65000:1, no-export, '65000:1:2', 'rt:65000:100'], med: 10, local_pref: 200 }
    - { prefix: 'fd00:64::/48' }
"
expect_valid warning "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65001 }
" "5: bgp.neighbors[0]: eBGP neighbor without import or export policy: no routes will be exchanged (RFC 8212); name a policy, e.g. accept-all"

# ---- Invalid: exact messages -----------------------------------------------------------------
expect_invalid bad-remote-as "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000 }
    - { address: 198.18.0.3, remote_as: abc }
" 'config.yaml:6: bgp.neighbors[1].remote_as: "abc" is not an AS number (expected 1..4294967295)'

expect_invalid as-trans $'bgp:\n  asn: 23456\n  router_id: 198.18.0.1\n' \
  'config.yaml:2: bgp.asn: 23456 is AS_TRANS, a placeholder for 4-octet AS numbers (RFC 6793), not a real AS'

expect_invalid router-id-v6 $'bgp:\n  asn: 65000\n  router_id: \'fd00::1\'\n' \
  'config.yaml:3: bgp.router_id: "fd00::1" is not an IPv4 address (a BGP identifier is 32 bits, RFC 6286)'

expect_invalid missing-router-id $'bgp:\n  asn: 65000\n' \
  'config.yaml:2: bgp: missing required key "router_id"'

expect_invalid unknown-key "${BGP}  neighbours:
    - { address: 198.18.0.2, remote_as: 65000 }
" 'config.yaml:4: bgp.neighbours: unknown key (did you mean "neighbors"?)'

expect_invalid unknown-family "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, families: [ipv4-unicast, ipv4-multicast, ipv4-unicast] }
" 'config.yaml:5: bgp.neighbors[0].families[1]: "ipv4-multicast" is not a supported address family (expected one of: ipv4-unicast, ipv6-unicast, l2vpn-evpn, ipv4-rtc)
config.yaml:5: bgp.neighbors[0].families[2]: "ipv4-unicast" is listed twice'

expect_invalid prefix-host-bits "${BGP}  originate:
    - { prefix: 100.64.0.1/16 }
" 'config.yaml:5: bgp.originate[0].prefix: "100.64.0.1/16" has host bits set (did you mean 100.64.0.0/16?)'

expect_invalid prefix-length "${BGP}  originate:
    - { prefix: 100.64.0.0/33 }
" 'config.yaml:5: bgp.originate[0].prefix: "100.64.0.0/33" is not a valid prefix (length must be 0..32)'

expect_invalid duplicate-neighbor "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000 }
    - { address: 198.18.0.3, remote_as: 65000 }
    - { address: 198.18.0.2, remote_as: 65000 }
" 'config.yaml:7: bgp.neighbors[2].address: 198.18.0.2 is already configured as bgp.neighbors[0]'

expect_invalid rr-client-ebgp "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65001, route_reflector_client: true, import: accept-all, export: accept-all }
" 'config.yaml:5: bgp.neighbors[0].route_reflector_client: only an iBGP neighbor can be a route reflector client (remote_as 65001 differs from bgp.asn 65000)'

expect_invalid ttl-security-and-multihop "${BGP}  neighbors:
    - address: 198.18.0.2
      remote_as: 65001
      ttl_security: true
      ebgp_multihop: 2
      import: accept-all
      export: accept-all
" 'config.yaml:5: bgp.neighbors[0]: ttl_security and ebgp_multihop cannot both be set (GTSM sends with TTL 255 and checks the hop count on receipt, RFC 5082)'

expect_invalid multihop-ibgp "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, ebgp_multihop: 2 }
" 'config.yaml:5: bgp.neighbors[0].ebgp_multihop: applies to eBGP neighbors only (remote_as 65000 is bgp.asn)'

expect_invalid ttl-security-255 "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, ttl_security: 255 }
" 'config.yaml:5: bgp.neighbors[0].ttl_security: 255 is not a hop count (expected true, false or 1..254)'

key=$(printf 'k%.0s' $(seq 81))
expect_invalid password-too-long "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, password: ${key} }
" 'config.yaml:5: bgp.neighbors[0].password: the key is 81 characters long; TCP-MD5 keys are at most 80 (RFC 2385)'
if grep -qF "${key}" "${DIR}/err"; then fail "password-too-long: the key is echoed"; else ok "password-too-long: the key is not echoed"; fi

expect_invalid hold-time "${BGP}  hold_time: 2
" 'config.yaml:4: bgp.hold_time: 2 is not a hold time (expected 0 or 3..65535 seconds, RFC 4271 §4.2)'

expect_invalid keepalive "${BGP}  hold_time: 9
  keepalive: 9
" 'config.yaml:5: bgp.keepalive: 9 does not fit hold_time 9 (keepalive must be less than hold_time; usually a third)'

expect_invalid unknown-policy "${BGP}  neighbors:
    - { address: 198.18.0.2, remote_as: 65001, import: from-transit, export: accept-all }
" 'config.yaml:5: bgp.neighbors[0].import: no policy named "from-transit" (defined: accept-all, reject-all)'

expect_invalid wrong-type "${BGP}  neighbors: { address: 198.18.0.2 }
" 'config.yaml:4: bgp.neighbors: expected a list, got a mapping'

expect_invalid ranges "${BGP}  neighbor_ranges:
    - { prefix: 198.18.0.0/15, remote_as: 65000, max: 0 }
    - { prefix: 198.18.0.0/15, remote_as: 65000, port: 1 }
" 'config.yaml:5: bgp.neighbor_ranges[0].max: 0 is not a session limit (expected 1..65535)
config.yaml:6: bgp.neighbor_ranges[1].port: applies to neighbors only (a range accepts connections from any address in its prefix and never connects)
config.yaml:6: bgp.neighbor_ranges[1].prefix: 198.18.0.0/15 is already configured as bgp.neighbor_ranges[0]'

expect_invalid many-errors 'bgp:
  asn: abc
  router_id: x
  neighbors:
    - { address: 198.19.0.4, remote_as: 0 }
    - { address: 198.19.0.5, remote_as: 65000, families: [foo] }
' 'config.yaml:2: bgp.asn: "abc" is not an AS number (expected 1..4294967295)
config.yaml:3: bgp.router_id: "x" is not an IPv4 address (a BGP identifier is 32 bits, RFC 6286)
config.yaml:5: bgp.neighbors[0].remote_as: 0 is not an AS number (expected 1..4294967295)
config.yaml:6: bgp.neighbors[1].families[0]: "foo" is not a supported address family (expected one of: ipv4-unicast, ipv6-unicast, l2vpn-evpn, ipv4-rtc)'

expect_invalid yaml-syntax $'bgp:\n  asn: [65000\n' \
  'config.yaml:3:1: not valid YAML: end of sequence flow not found'

expect_invalid empty '' 'config.yaml: the configuration is empty'

# A missing file.
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSD}" --check-config "${DIR}/nonexistent.yaml"
if [[ ${RC} == 1 && $(cat "${DIR}/err") == "${DIR}/nonexistent.yaml: cannot read the file: No such file or directory" ]]; then
  ok "missing file: exit 1, cannot read the file"
else
  fail "missing file: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi

# Bad usage of isthmusd.
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSD}" --frobnicate
if [[ ${RC} == 2 ]] && grep -q "^usage: isthmusd --config FILE" "${DIR}/err"; then
  ok "isthmusd --frobnicate: exit 2 with usage"
else
  fail "isthmusd --frobnicate: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi

# ---- isthmusctl -------------------------------------------------------------------------------
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${DIR}/nobody.sock" show bgp summary
if [[ ${RC} == 1 ]] && grep -qF "isthmusctl: cannot reach isthmusd at ${DIR}/nobody.sock: No such file or directory" "${DIR}/err"; then
  ok "isthmusctl, missing socket: exit 1, cannot reach isthmusd"
else
  fail "isthmusctl, missing socket: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" env ISTHMUS_SOCKET="${DIR}/env.sock" "${ISTHMUSCTL}" show bgp summary
if [[ ${RC} == 1 ]] && grep -qF "cannot reach isthmusd at ${DIR}/env.sock" "${DIR}/err"; then
  ok "isthmusctl honours \$ISTHMUS_SOCKET"
else
  fail "isthmusctl with ISTHMUS_SOCKET: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${DIR}/nobody.sock"
if [[ ${RC} == 2 ]] && grep -q "^usage: isthmusctl" "${DIR}/err"; then
  ok "isthmusctl without a command: exit 2 with usage"
else
  fail "isthmusctl without a command: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" -o yaml show bgp summary
if [[ ${RC} == 2 ]] && grep -qF 'output format "yaml" is not known' "${DIR}/err"; then
  ok "isthmusctl -o yaml: exit 2"
else
  fail "isthmusctl -o yaml: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi

# A daemon that only opens its control socket (no listener, no neighbors: no BGP traffic).
sock="${DIR}/isthmusd.ctl"
printf 'control_socket: %s\n%s  listen: false\n' "${sock}" "${BGP}" >"${DIR}/daemon.yaml"
"${ISTHMUSD}" --config "${DIR}/daemon.yaml" >"${DIR}/daemon.log" 2>&1 &
DAEMON_PID=$!
for _ in $(seq 1 100); do
  [[ -S ${sock} ]] && break
  kill -0 "${DAEMON_PID}" 2>/dev/null || break
  sleep 0.1
done
[[ -S ${sock} ]] || { fail "isthmusd did not open ${sock}: $(cat "${DIR}/daemon.log")"; exit 1; }

run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${sock}" -o json show bgp summary
if [[ ${RC} == 0 ]] && python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if j["neighbors"] == [] else 1)' "${DIR}/out"; then
  ok "isthmusctl show bgp summary against the daemon: exit 0, no neighbors"
else
  fail "show bgp summary: exit ${RC}, out '$(cat "${DIR}/out")' err '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${sock}" show bgp frobnicate
if [[ ${RC} == 1 ]] && grep -qF 'isthmusctl: unknown command "show bgp frobnicate"; try: show bgp summary' "${DIR}/err"; then
  ok "isthmusctl unknown command: exit 1, names the command and the valid ones"
else
  fail "isthmusctl unknown command: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${sock}" show bgp neighbor 198.18.0.99
if [[ ${RC} == 1 ]] && grep -qF 'no BGP neighbor 198.18.0.99' "${DIR}/err"; then
  ok "isthmusctl show bgp neighbor UNKNOWN: exit 1, no BGP neighbor"
else
  fail "show bgp neighbor unknown: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${sock}" show bgp ipv4 unicast 100.64.0.0/33
if [[ ${RC} == 1 && -s ${DIR}/err ]]; then
  ok "isthmusctl bad prefix: exit 1 ($(cat "${DIR}/err"))"
else
  fail "show bgp ipv4 unicast 100.64.0.0/33: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
run_cmd "${DIR}/out" "${DIR}/err" "${ISTHMUSCTL}" --socket "${sock}" show bgp ipv4 unicast fd00::/8
if [[ ${RC} == 1 ]] && grep -qF '"fd00::/8" is not an address of family ipv4-unicast' "${DIR}/err"; then
  ok "isthmusctl wrong-family prefix: exit 1"
else
  fail "show bgp ipv4 unicast fd00::/8: exit ${RC}, stderr '$(cat "${DIR}/err")'"
fi
kill -0 "${DAEMON_PID}" 2>/dev/null || fail "isthmusd died while answering bad commands: $(cat "${DIR}/daemon.log")"

if ((FAILS > 0)); then
  echo "FAIL: check_config: ${FAILS} failed, ${CHECKS} passed" >&2
  exit 1
fi
echo "PASS: check_config (${CHECKS} checks)"
