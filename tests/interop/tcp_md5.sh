#!/usr/bin/env bash
# Interop: TCP-MD5 (RFC 2385) between isthmusd and FRR 8.4 bgpd, iBGP AS 65000.
#   h1 isthmusd, listening dual-stack ([::]:179, so an IPv4 peer's key sits on the IPv6 socket as
#      ::ffff:a.b.c.d), two neighbors:
#        198.18.0.2  password (v4_key)  active (connects, and accepts)
#        fd00:18::2  password (v6_key)  passive: true (only the key on the listening socket)
#   h2 FRR with "neighbor X password" for both; 100.64.2.0/24 over v4, fd00:64:2::/48 over v6
# Checks:
#   1. both sessions establish with matching keys; routes flow; for the passive one FRR is the
#      side that connected (its remote port is 179)
#   2. FRR's key for the v4 session changed: the session goes down and stays down for 10 s while
#      the kernel counts MD5 failures in both namespaces (TcpExt TCPMD5Failure: h1 = FRR's SYNs
#      against isthmusd's listening-socket key, h2 = isthmusd's signed SYNs); the v6 session is
#      untouched throughout; the right key brings the v4 session back
#   3. FRR with no key at all (isthmusd still has one): stays down for 10 s; h1 counts FRR's
#      unsigned SYNs (TCPMD5NotFound), h2 counts isthmusd's signed ones (TCPMD5Unexpected);
#      the key back: the session returns
#   4. the keys never appear in isthmusd's log or in isthmusctl's output
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

v4_key=v4-key-Xq3 v6_key=v6-key-Zr7

lab_frr_start 2 frr "$(cat <<CONF
frr defaults datacenter
hostname frr
log stdout informational
router bgp 65000
 bgp router-id 198.18.0.2
 no bgp default ipv4-unicast
 no bgp network import-check
 bgp graceful-restart-disable
 neighbor 198.18.0.1 remote-as 65000
 neighbor 198.18.0.1 timers connect 1
 neighbor 198.18.0.1 password ${v4_key}
 neighbor fd00:18::1 remote-as 65000
 neighbor fd00:18::1 timers connect 1
 neighbor fd00:18::1 password ${v6_key}
 address-family ipv4 unicast
  network 100.64.2.0/24
  neighbor 198.18.0.1 activate
 exit-address-family
 address-family ipv6 unicast
  network fd00:64:2::/48
  neighbor fd00:18::1 activate
 exit-address-family
CONF
)"

lab_isthmusd_start 1 isthmusd "$(cat <<YAML
control_socket: $(lab_isthmus_sock isthmusd)
bgp:
  asn: 65000
  router_id: 198.18.0.1
  listen: { port: 179 }
  hold_time: 9
  connect_retry: 1
  neighbors:
    - { address: 198.18.0.2, remote_as: 65000, password: "${v4_key}", families: [ipv4-unicast] }
    - { address: "fd00:18::2", remote_as: 65000, password: "${v6_key}", passive: true, families: [ipv6-unicast] }
  originate:
    - { prefix: 100.64.1.0/24 }
    - { prefix: "fd00:64:1::/48" }
YAML
)"

not_established() { ! lab_isthmus_established "$@"; }
frr_has() { lab_vtysh frr "show bgp $1 unicast $2 json" | lab_check_json "any(p.get('valid') for p in j.get('paths', []))"; }
stat_above() { (($(lab_tcp_stat "$1" "$2") > $3)); } # stat_above HOST COUNTER N

# --- 1. Matching keys ------------------------------------------------------------------------------
lab_wait_for 60 "isthmusd: 198.18.0.2 Established with TCP-MD5 (IPv4)" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 60 "isthmusd: fd00:18::2 Established with TCP-MD5 (IPv6, isthmusd passive)" lab_isthmus_established isthmusd fd00:18::2
lab_wait_for 30 "frr: 198.18.0.1 Established" lab_frr_established frr 198.18.0.1
lab_wait_for 30 "frr: fd00:18::1 Established" lab_frr_established frr fd00:18::1
lab_wait_for 30 "isthmusd has 100.64.2.0/24 over the keyed IPv4 session" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24
lab_wait_for 30 "isthmusd has fd00:64:2::/48 over the keyed IPv6 session" lab_isthmus_has_route isthmusd ipv6 fd00:64:2::/48
lab_wait_for 30 "FRR has 100.64.1.0/24 from isthmusd" frr_has ipv4 100.64.1.0/24
lab_wait_for 30 "FRR has fd00:64:1::/48 from isthmusd" frr_has ipv6 fd00:64:1::/48
lab_assert_eq "passive neighbor: FRR connected to isthmusd (FRR's remote port)" \
  "$(lab_vtysh frr "show bgp neighbors fd00:18::1 json" | lab_json "j['fd00:18::1'].get('portForeign')")" 179
v6_drops0=$(lab_vtysh frr "show bgp neighbors fd00:18::1 json" | lab_json "j['fd00:18::1']['connectionsDropped']")

# --- 2. Wrong key on FRR's side ---------------------------------------------------------------------
fail1=$(lab_tcp_stat 1 TCPMD5Failure) fail2=$(lab_tcp_stat 2 TCPMD5Failure)
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor 198.18.0.1 password wrong-key" >/dev/null
# FRR resets the session when its key changes; isthmusd sees it go (Cease or hold timer, 9 s).
lab_wait_for 30 "isthmusd: v4 session down after FRR changed its key" not_established isthmusd 198.18.0.2
lab_never 10 "isthmusd: v4 session must not establish with mismatched keys" lab_isthmus_established isthmusd 198.18.0.2
lab_frr_established frr 198.18.0.1 && lab_fail "FRR: v4 session Established with mismatched keys"
# h1: FRR's SYNs, signed with the wrong key, checked against the key on isthmusd's listening
# socket (an IPv4-mapped address on the dual-stack socket). h2: isthmusd's SYNs, signed with its key.
lab_wait_for 20 "h1 kernel: TCPMD5Failure > ${fail1} (FRR's wrong key vs isthmusd's listening socket)" stat_above 1 TCPMD5Failure "${fail1}"
lab_wait_for 20 "h2 kernel: TCPMD5Failure > ${fail2} (isthmusd's signed SYNs vs FRR's key)" stat_above 2 TCPMD5Failure "${fail2}"
lab_log "TCPMD5Failure: h1 $(lab_tcp_stat 1 TCPMD5Failure), h2 $(lab_tcp_stat 2 TCPMD5Failure)"
lab_isthmus_established isthmusd fd00:18::2 || lab_fail "the IPv6 session (other key) went down with the IPv4 key change"
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor 198.18.0.1 password ${v4_key}" >/dev/null
lab_wait_for 60 "isthmusd: v4 session back with the right key" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 30 "isthmusd has 100.64.2.0/24 again" lab_isthmus_has_route isthmusd ipv4 100.64.2.0/24

# --- 3. No key on FRR's side, a key on isthmusd's -----------------------------------------------
nf1=$(lab_tcp_stat 1 TCPMD5NotFound)
un2=$(lab_tcp_stat 2 TCPMD5Unexpected)
lab_vtysh frr "configure terminal" "router bgp 65000" "no neighbor 198.18.0.1 password" >/dev/null
# Removing the key may not reset an established session in FRR: reset it explicitly.
lab_vtysh frr "clear bgp 198.18.0.1" >/dev/null
lab_wait_for 30 "isthmusd: v4 session down after FRR dropped its key" not_established isthmusd 198.18.0.2
lab_never 10 "isthmusd: v4 session must not establish when only isthmusd has a key" lab_isthmus_established isthmusd 198.18.0.2
lab_wait_for 20 "h1 kernel: TCPMD5NotFound > ${nf1} (FRR's unsigned SYNs, isthmusd expects a key)" stat_above 1 TCPMD5NotFound "${nf1}"
lab_wait_for 20 "h2 kernel: TCPMD5Unexpected > ${un2} (isthmusd still signs its SYNs)" stat_above 2 TCPMD5Unexpected "${un2}"
lab_log "TCPMD5NotFound: h1 $(lab_tcp_stat 1 TCPMD5NotFound), h2 $(lab_tcp_stat 2 TCPMD5NotFound); TCPMD5Unexpected: h1 $(lab_tcp_stat 1 TCPMD5Unexpected), h2 $(lab_tcp_stat 2 TCPMD5Unexpected)"
lab_vtysh frr "configure terminal" "router bgp 65000" "neighbor 198.18.0.1 password ${v4_key}" >/dev/null
lab_wait_for 60 "isthmusd: v4 session back once FRR has the key again" lab_isthmus_established isthmusd 198.18.0.2

lab_isthmus_established isthmusd fd00:18::2 || lab_fail "the IPv6 session went down during the IPv4 key tests"
lab_assert_eq "FRR: IPv6 session never dropped (connectionsDropped)" \
  "$(lab_vtysh frr "show bgp neighbors fd00:18::1 json" | lab_json "j['fd00:18::1']['connectionsDropped']")" "${v6_drops0}"

# --- 4. Keys are never shown -----------------------------------------------------------------------
shown="$(lab_isthmusctl isthmusd show bgp neighbor -o json) $(lab_isthmusctl isthmusd show bgp summary)"
for k in "${v4_key}" "${v6_key}"; do
  if grep -qF -- "${k}" "${LAB_DIR}/isthmusd.log" || [[ ${shown} == *"${k}"* ]]; then
    lab_fail "the TCP-MD5 key '${k}' appears in isthmusd's log or isthmusctl output"
  fi
done
lab_log "ok: keys appear neither in isthmusd.log nor in isthmusctl output"

echo "PASS: tcp_md5"
