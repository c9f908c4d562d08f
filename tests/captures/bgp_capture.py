#!/usr/bin/env python3
"""bgp_capture.py: a passive BGP listener that records every message a peer sends (stdlib only).

It accepts one connection on --listen ADDR:--port (or connects to --connect ADDR), answers the
peer's OPEN with its own (multiprotocol capabilities for --families, 4-octet AS, route refresh),
keeps the session up with KEEPALIVEs, and writes every message it receives as one JSON line
{"t": time, "type": N, "hex": "<whole message, marker included>"} to --out. It sends no routes
(unless given --send FILE: whole messages in hex, one a line, sent once the session is up).

Used by tests/captures/evpn_capture.sh to record the UPDATEs FRR and GoBGP send; the bytes end up
in src/bgp/wire/evpn_capture_test.cc and in the fuzz seed corpora.
"""

import argparse
import json
import socket
import struct
import sys
import threading
import time

MARKER = b"\xff" * 16
FAMILIES = {
    "ipv4-unicast": (1, 1),
    "ipv6-unicast": (2, 1),
    "l2vpn-evpn": (25, 70),
}


def message(mtype, body):
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def open_message(asn, router_id, hold, families):
    caps = b""
    for fam in families:
        afi, safi = FAMILIES[fam]
        caps += struct.pack("!BBHBB", 1, 4, afi, 0, safi)  # RFC 4760 multiprotocol
    caps += struct.pack("!BBI", 65, 4, asn)  # RFC 6793 4-octet AS
    caps += struct.pack("!BB", 2, 0)  # RFC 2918 route refresh
    params = struct.pack("!BB", 2, len(caps)) + caps
    my_as = asn if asn <= 0xFFFF else 23456
    body = struct.pack("!BHH4sB", 4, my_as, hold, socket.inet_aton(router_id), len(params))
    return message(1, body + params)


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen")
    ap.add_argument("--connect")
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--asn", type=int, required=True)
    ap.add_argument("--router-id", required=True)
    ap.add_argument("--hold", type=int, default=90)
    ap.add_argument("--families", default="l2vpn-evpn")
    ap.add_argument("--out", required=True)
    ap.add_argument("--send", help="file of whole messages in hex to send once established")
    args = ap.parse_args()
    families = args.families.split(",")
    family = socket.AF_INET6 if ":" in (args.listen or args.connect) else socket.AF_INET

    if args.listen:
        srv = socket.socket(family, socket.SOCK_STREAM)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((args.listen, args.port))
        srv.listen(1)
        sock, _ = srv.accept()
    else:
        sock = socket.create_connection((args.connect, args.port), timeout=30)
        sock.settimeout(None)

    out = open(args.out, "a", buffering=1)
    lock = threading.Lock()

    def send(data):
        with lock:
            sock.sendall(data)

    send(open_message(args.asn, args.router_id, args.hold, families))

    hold = [args.hold]  # lowered to the peer's hold time once its OPEN is in (RFC 4271 §4.2)

    def keepalives():
        last = time.monotonic()
        while True:
            time.sleep(0.5)
            if time.monotonic() - last < max(1, hold[0] // 3):
                continue
            last = time.monotonic()
            try:
                send(message(4, b""))
            except OSError:
                return

    threading.Thread(target=keepalives, daemon=True).start()
    sent_routes = False
    try:
        while True:
            header = read_exact(sock, 19)
            length, mtype = struct.unpack("!HB", header[16:19])
            body = read_exact(sock, length - 19)
            out.write(json.dumps({"t": round(time.time(), 3), "type": mtype,
                                  "hex": (header + body).hex()}) + "\n")
            if mtype == 1:
                peer_hold = struct.unpack("!H", body[3:5])[0]
                if peer_hold:
                    hold[0] = min(hold[0], peer_hold)
                send(message(4, b""))
            elif mtype == 4 and args.send and not sent_routes:
                sent_routes = True
                for line in open(args.send):
                    if line.strip():
                        send(bytes.fromhex(line.strip()))
            elif mtype == 3:
                break
    except EOFError:
        pass
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
