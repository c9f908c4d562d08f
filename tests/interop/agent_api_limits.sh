#!/usr/bin/env bash
# What a local client can do to the agent's endpoint API (docs/agent-api.md, docs/operations.md
# "Local sockets"), with BGP running beside it: a FIFO given as netns is refused at once (it used
# to block the daemon's one thread) while another client is answered; the agent's own namespace
# is refused and the host's default route stays; a default route the container has is not
# replaced and the ADD leaves nothing; clients over the cap are closed at once and the others
# served; an idle client is closed after 10 s. The session to the RR stays Established throughout.
#   h1 isthmusd RR 198.18.0.1     h2 agent 198.18.0.2 (API), container c1
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
source "${HERE}/../../lab/lib.sh"

lab_init
lab_require_isthmus
lab_underlay 2

lab_isthmus_rr_start 1 2
lab_isthmusd_start 2 agent2 "$(lab_agent_conf 2 <<YAML
  - { name: blue, vni: 100, subnet: 100.64.1.0/24, subnet6: "fd00:64:1::/64", pool: 100.64.1.32/28, pool6: "fd00:64:1::2:0/112" }
YAML
)"
lab_wait_for 60 "rr: 198.18.0.2 Established" lab_isthmus_established rr 198.18.0.2
api_sock="${LAB_DIR}/agent2.api"
lab_wait_for 20 "the API socket" test -S "${api_sock}"

# client.py SOCKET SCENARIO [ARGS]: one scenario's outcome as JSON on stdout.
cat >"${LAB_DIR}/client.py" <<'PY'
import json, socket, sys, time

path, scenario = sys.argv[1], sys.argv[2]

def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s

def answer(s, timeout):
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return out.decode()
            out += b
    except socket.timeout:
        return None

def request(msg, timeout=5):
    s = connect()
    s.sendall(json.dumps(msg).encode() + b"\n")
    r = answer(s, timeout)
    s.close()
    return json.loads(r) if r else r

if scenario == "fifo":
    # The FIFO request is sent first; a version request on another connection right after it.
    add = {"op": "add", "network": "blue", "container_id": "cf", "ifname": "eth0",
           "netns": sys.argv[3]}
    a = connect()
    a.sendall(json.dumps(add).encode() + b"\n")
    t0 = time.monotonic()
    version = request({"op": "version"}, timeout=5)
    fifo = answer(a, 5)
    print(json.dumps({"version": version, "fifo": json.loads(fifo) if fifo else None,
                      "seconds": time.monotonic() - t0}))
elif scenario == "add":
    print(json.dumps(request({"op": "add", "network": "blue", "container_id": sys.argv[3],
                              "ifname": "eth0", "netns": sys.argv[4]})))
elif scenario == "list":
    print(json.dumps(request({"op": "list"})))
elif scenario == "cap":
    # 64 silent clients, then more: those are closed at once without an answer; the silent ones
    # go, and a request is answered again.
    held = [connect() for _ in range(64)]
    time.sleep(0.5)
    over = []
    for _ in range(3):
        s = connect()
        t0 = time.monotonic()
        r = answer(s, 3)
        over.append({"answer": r, "seconds": time.monotonic() - t0})
        s.close()
    for s in held:
        s.close()
    time.sleep(0.5)
    print(json.dumps({"over": over, "after": request({"op": "version"})}))
elif scenario == "idle":
    s = connect()
    half = connect()
    half.sendall(b'{"op": "ver')
    t0 = time.monotonic()
    r = answer(s, 30)
    r2 = answer(half, 30)
    print(json.dumps({"answer": r, "seconds": time.monotonic() - t0, "half": r2}))
PY
client() { python3 "${LAB_DIR}/client.py" "${api_sock}" "$@"; }
h2=$(lab_ns 2)

# A FIFO as netns: refused at once, with what it is; the other client is answered meanwhile.
mkfifo "${LAB_DIR}/fifo"
out=$(client fifo "${LAB_DIR}/fifo")
lab_check_json "j['version'] is not None and j['version']['ok'] is True" <<<"${out}" ||
  lab_fail "a version request was not answered while a FIFO was the netns of another: ${out}"
lab_check_json "j['fifo'] is not None and j['fifo']['ok'] is False and j['fifo']['code'] == 5 and j['fifo']['error'] == 'network namespace ${LAB_DIR}/fifo is a FIFO, not a network namespace'" <<<"${out}" ||
  lab_fail "the FIFO request: ${out}"
lab_check_json "j['seconds'] < 2" <<<"${out}" || lab_fail "the FIFO request took long: ${out}"
lab_log "a FIFO as netns is refused at once; another client is answered: ${out}"

# Other paths that are no namespace of a workload's.
for case in "/dev/null|is a character device, not a network namespace" \
  "${LAB_DIR}|is a directory, not a network namespace" \
  "${LAB_DIR}/nothing|does not exist" \
  "/proc/self/ns/mnt|is a mount namespace, not a network namespace"; do
  path=${case%%|*} why=${case#*|}
  out=$(client add cx "${path}")
  lab_check_json "j['ok'] is False and j['code'] == 5 and j['error'] == 'network namespace ${path} ${why}'" <<<"${out}" ||
    lab_fail "netns ${path}: ${out}"
done

# The agent's own namespace (host 2's): refused, the host's default route stays.
ip -n "${h2}" route add default via 198.18.0.254 dev eth0
out=$(client add cx "/var/run/netns/${h2}")
lab_check_json "j['ok'] is False and j['code'] == 5 and j['error'].endswith(\"is the agent's own network namespace (the host's), not a workload's\")" <<<"${out}" ||
  lab_fail "the agent's own namespace: ${out}"
lab_shows "^default via 198.18.0.254 dev eth0" ip -n "${h2}" route show default ||
  lab_fail "host 2's default route changed: $(ip -n "${h2}" route show default)"
lab_log "the agent's own namespace is refused; host 2's default route stays"

# A container with a default route of its own: not replaced, and the ADD leaves nothing.
c1=$(lab_ns c1)
lab_new_ns "${c1}"
ip -n "${c1}" link add ext0 type veth peer name ext0p
ip -n "${c1}" link set ext0p up
ip -n "${c1}" link set ext0 up
ip -n "${c1}" addr add 100.64.9.2/24 dev ext0
ip -n "${c1}" route add default via 100.64.9.1 dev ext0
out=$(client add c1 "/var/run/netns/${c1}")
lab_check_json "j['ok'] is False and j['code'] == 5 and 'a default route 0.0.0.0/0 via 100.64.9.1 is there already' in j['error']" <<<"${out}" ||
  lab_fail "an ADD over the container's default route: ${out}"
lab_shows "^default via 100.64.9.1 dev ext0" ip -n "${c1}" route show default ||
  lab_fail "c1's default route changed: $(ip -n "${c1}" route show default)"
! ip -n "${c1}" link show eth0 >/dev/null 2>&1 || lab_fail "c1's eth0 is left"
lab_shows "veth" ip -n "${h2}" -o link show master br100 && lab_fail "a veth is left on br100"
out=$(client list)
lab_check_json "j['ok'] is True and j['result']['endpoints'] == []" <<<"${out}" ||
  lab_fail "an attachment is left on record: ${out}"
# Without it, the same ADD succeeds.
ip -n "${c1}" route del default via 100.64.9.1 dev ext0
out=$(client add c1 "/var/run/netns/${c1}")
lab_check_json "j['ok'] is True" <<<"${out}" || lab_fail "add: ${out}"
lab_shows "^default via 100.64.1.1 dev eth0" ip -n "${c1}" route show default ||
  lab_fail "c1 has no default route via the gateway: $(ip -n "${c1}" route show default)"
lab_log "a container's default route is not replaced; the failed ADD left nothing"

# 64 clients at most: more are closed at once, and served again once there is room.
out=$(client cap)
lab_check_json "all(o['answer'] == '' and o['seconds'] < 1 for o in j['over']) and j['after']['ok'] is True" <<<"${out}" ||
  lab_fail "clients over the cap: ${out}"
[[ $(grep -c "refusing more" "${LAB_DIR}/agent2.log") == 1 ]] ||
  lab_fail "the refusals were not logged once: $(grep "refusing more" "${LAB_DIR}/agent2.log")"
lab_isthmus_established rr 198.18.0.2 || lab_fail "the session went down"
lab_log "clients over the cap are closed at once and logged once; the others are served"

# A silent client and one that stops half-way are closed after 10 s.
out=$(client idle)
lab_check_json "j['answer'] == '' and 9 <= j['seconds'] <= 15 and j['half'] == ''" <<<"${out}" ||
  lab_fail "an idle client: ${out}"
lab_isthmus_established rr 198.18.0.2 || lab_fail "the session went down"
lab_log "idle clients are closed after 10 s: ${out}"
lab_log "PASS"
