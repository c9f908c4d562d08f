#!/usr/bin/env python3
"""raw_bgp.py: a tiny BGP speaker for interop tests (python3 stdlib only).

It opens a session (RFC 4271 OPEN/KEEPALIVE), then does what it is told on stdin, one command a
line, and reports every event as one JSON object a line on stdout:

  connect                        (re)open the TCP connection and the BGP session
  send NAME PREFIX [ARG]         send a crafted UPDATE (names below) for PREFIX
  raw HEX                        send HEX as the body of an UPDATE (type 2, header added)
  rawmsg HEX                     send HEX as a whole message (marker/length/type included)
  blast NET COUNT                announce COUNT consecutive host routes of NET, one UPDATE each,
                                 each with its own community ASN:i (so that they cannot share an
                                 UPDATE, here or after export)
  unblast NET COUNT              withdraw them, one UPDATE each
  stall                          stop reading the socket (keepalives still go out): a peer that
                                 does not process what it is sent (RFC 9687)
  throttle BYTES                 read at most BYTES octets a second: a slow reader
  unthrottle                     read as fast as the peer sends
  rib                            report the IPv4 routes received so far: {"event": "rib", "count",
                                 "digest"} (a hash of every prefix with its communities and MED)
  close                          send NOTIFICATION Cease/Administrative Shutdown and close
  quit                           exit (also on end of stdin)

UPDATEs (RFC 4271 §4.3; every malformed one targets one rule of RFC 7606):
  good PREFIX                    ORIGIN igp, AS_PATH (own AS), NEXT_HOP/MP_REACH, MED 0
  withdraw PREFIX                withdrawal (IPv4 withdrawn routes or MP_UNREACH for IPv6)
  bad-origin PREFIX              ORIGIN = 7                             (§7.1 treat-as-withdraw)
  bad-aspath-segtype PREFIX      AS_PATH segment type 5                 (§7.2 treat-as-withdraw)
  attr-overrun PREFIX            the last attribute's length runs past the Total Path Attribute
                                 Length; the NLRI can still be found    (§4 treat-as-withdraw)
  total-attr-overrun PREFIX      Total Path Attribute Length runs past the end of the message
                                 (RFC 4271 §6.3, RFC 7606 §4: session reset 3/1 Malformed
                                 Attribute List)
  dup-mp-reach PREFIX            MP_REACH_NLRI twice (IPv6 prefix)      (§3.g session reset 3/1)
  dup-med PREFIX FIRST           two MED attributes: FIRST then FIRST+1 (§3.g keep the first)
  bad-mp-nhlen PREFIX            MP_REACH_NLRI with next hop length 5   (§7.11 reset / AFI off)
  as4 PREFIX AS4PATH             2-octet speaker relaying a 4-octet path: AS_PATH = own AS then
                                 AS_TRANS for each 4-octet AS, AS4_PATH = AS4PATH (RFC 6793 §4.2.2);
                                 AS4PATH is comma separated

Events: {"event": "connected"|"open"|"established"|"update"|"notification"|"keepalive"|
"route-refresh"|"closed"|"sent"|"error", ...}. A received UPDATE is decoded (withdrawn, NLRI,
ORIGIN, AS_PATH, AS4_PATH, NEXT_HOP, MED, LOCAL_PREF, communities, MP_REACH/MP_UNREACH) so
tests can assert what the peer under test sent. A NOTIFICATION gives "code" and "subcode".
"""

import argparse
import hashlib
import ipaddress
import json
import socket
import struct
import sys
import threading
import time

MARKER = b"\xff" * 16
OPEN, UPDATE, NOTIFICATION, KEEPALIVE, ROUTE_REFRESH = 1, 2, 3, 4, 5
AS_TRANS = 23456

# Path attribute type codes (RFC 4271 §5, 4760, 6793, 1997, 4456).
ORIGIN, AS_PATH, NEXT_HOP, MED, LOCAL_PREF = 1, 2, 3, 4, 5
COMMUNITIES, ORIGINATOR_ID, CLUSTER_LIST = 8, 9, 10
MP_REACH, MP_UNREACH, AS4_PATH, LARGE_COMMUNITIES = 14, 15, 17, 32
WELL_KNOWN = 0x40
OPTIONAL = 0x80
EXT_LEN = 0x10

out_lock = threading.Lock()


def emit(**kv):
    kv.setdefault("t", round(time.time(), 3))
    with out_lock:
        sys.stdout.write(json.dumps(kv) + "\n")
        sys.stdout.flush()


def msg(mtype, body):
    return MARKER + struct.pack("!HB", 19 + len(body), mtype) + body


def attr(flags, code, value):
    if len(value) > 255:
        flags |= EXT_LEN
    if flags & EXT_LEN:
        return struct.pack("!BBH", flags, code, len(value)) + value
    return struct.pack("!BBB", flags, code, len(value)) + value


def encode_prefix(net):
    nbytes = (net.prefixlen + 7) // 8
    return bytes([net.prefixlen]) + net.network_address.packed[:nbytes]


def decode_prefixes(data, afi):
    size = 4 if afi == 1 else 16
    out, i = [], 0
    while i < len(data):
        plen = data[i]
        nbytes = (plen + 7) // 8
        raw = data[i + 1:i + 1 + nbytes] + bytes(size - nbytes)
        addr = ipaddress.ip_address(raw)
        out.append(f"{addr}/{plen}")
        i += 1 + nbytes
    return out


class Speaker:
    def __init__(self, args):
        self.args = args
        self.sock = None
        self.established = threading.Event()
        self.closed = threading.Event()
        self.send_lock = threading.Lock()
        self.stalled = threading.Event()
        self.rate = 0  # octets a second the reader takes; 0: no limit
        self.rib = {}  # IPv4 unicast prefix -> (communities, MED) received
        self.rib_lock = threading.Lock()
        self.asn4 = not args.no_asn4
        self.peer_asn4 = False

    # --- encoding --------------------------------------------------------------------------

    def as_seg(self, segtype, asns, four):
        fmt = "!I" if four else "!H"
        return bytes([segtype, len(asns)]) + b"".join(struct.pack(fmt, a) for a in asns)

    def own_as_path(self):
        # What goes in AS_PATH: 4-octet ASNs only when both sides said so (RFC 6793 §4.1).
        four = self.asn4 and self.peer_asn4
        my_as = self.args.asn if (four or self.args.asn <= 0xFFFF) else AS_TRANS
        return self.as_seg(2, [my_as], four)

    def reach(self, net, extra_attrs=b"", origin=0, as_path=None, mp_nh_len=None):
        """UPDATE body announcing net with the given twists."""
        as_path = self.own_as_path() if as_path is None else as_path
        attrs = attr(WELL_KNOWN, ORIGIN, bytes([origin]))
        attrs += attr(WELL_KNOWN, AS_PATH, as_path)
        nlri = b""
        if net.version == 4:
            attrs += attr(WELL_KNOWN, NEXT_HOP, ipaddress.ip_address(self.args.next_hop4).packed)
            nlri = encode_prefix(net)
        else:
            nh = ipaddress.ip_address(self.args.next_hop6).packed
            if mp_nh_len is not None:
                nh = (nh + bytes(32))[:mp_nh_len]
            mp = struct.pack("!HBB", 2, 1, len(nh)) + nh + b"\x00" + encode_prefix(net)
            attrs += attr(OPTIONAL, MP_REACH, mp)
        attrs += extra_attrs
        return struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs + nlri

    def withdraw(self, net):
        if net.version == 4:
            w = encode_prefix(net)
            return struct.pack("!H", len(w)) + w + struct.pack("!H", 0)
        mp = struct.pack("!HB", 2, 1) + encode_prefix(net)
        attrs = attr(OPTIONAL, MP_UNREACH, mp)
        return struct.pack("!H", 0) + struct.pack("!H", len(attrs)) + attrs

    def build(self, name, net, rest):
        med0 = attr(OPTIONAL, MED, struct.pack("!I", 0))
        if name == "good":
            return self.reach(net, med0)
        if name == "withdraw":
            return self.withdraw(net)
        if name == "bad-origin":
            return self.reach(net, med0, origin=7)
        if name == "bad-aspath-segtype":
            four = self.asn4 and self.peer_asn4
            return self.reach(net, med0, as_path=self.as_seg(5, [self.args.asn], four))
        if name == "dup-med":
            first = int(rest[0]) if rest else 10
            dup = attr(OPTIONAL, MED, struct.pack("!I", first))
            dup += attr(OPTIONAL, MED, struct.pack("!I", first + 1))
            return self.reach(net, dup)
        if name == "bad-mp-nhlen":
            if net.version != 6:
                raise ValueError("bad-mp-nhlen needs an IPv6 prefix (sent in MP_REACH_NLRI)")
            return self.reach(net, med0, mp_nh_len=5)
        if name == "attr-overrun":
            # A well formed IPv4 UPDATE whose last attribute (MED) claims 8 bytes where only 4
            # remain inside the total path attribute length; the NLRI follows, so the message
            # as a whole is consistent and only the attribute walk overruns (RFC 7606 §4).
            if net.version != 4:
                raise ValueError("attr-overrun takes an IPv4 prefix")
            body = bytearray(self.reach(net, med0))
            attrs_len = struct.unpack("!H", body[2:4])[0]
            med_len_at = 4 + attrs_len - 4 - 1
            assert body[med_len_at - 1] == MED and body[med_len_at] == 4, body.hex()
            body[med_len_at] = 8
            return bytes(body)
        if name == "total-attr-overrun":
            # Total Path Attribute Length larger than what is left of the message: the NLRI
            # cannot be located any more, so nothing short of a reset works (RFC 7606 §4).
            if net.version != 4:
                raise ValueError("total-attr-overrun takes an IPv4 prefix")
            body = bytearray(self.reach(net, med0))
            attrs_len = struct.unpack("!H", body[2:4])[0]
            nlri_len = len(body) - 4 - attrs_len
            body[2:4] = struct.pack("!H", attrs_len + nlri_len + 8)
            return bytes(body)
        if name == "dup-mp-reach":
            if net.version != 6:
                raise ValueError("dup-mp-reach needs an IPv6 prefix")
            body = self.reach(net, med0)
            attrs_len = struct.unpack("!H", body[2:4])[0]
            attrs = body[4:4 + attrs_len]
            # Find MP_REACH in the attributes and append a second copy.
            i = 0
            while i < len(attrs):
                flags, code = attrs[i], attrs[i + 1]
                hl = 4 if flags & EXT_LEN else 3
                ln = struct.unpack("!H", attrs[i + 2:i + 4])[0] if flags & EXT_LEN else attrs[i + 2]
                if code == MP_REACH:
                    attrs = attrs + attrs[i:i + hl + ln]
                    break
                i += hl + ln
            return struct.pack("!HH", 0, len(attrs)) + attrs
        if name == "as4":
            if not rest:
                raise ValueError("as4 needs AS4PATH, e.g. 4200000099,65011")
            path4 = [int(a) for a in rest[0].split(",")]
            if self.asn4 and self.peer_asn4:
                raise ValueError("as4 is for a 2-octet session (start with --no-asn4)")
            # RFC 6793 §4.2.2: AS_TRANS stands in for each 4-octet AS in AS_PATH, AS4_PATH
            # carries the real path (not including the sender's own 2-octet AS prepended here).
            path2 = [self.args.asn] + [a if a <= 0xFFFF else AS_TRANS for a in path4]
            as_path = self.as_seg(2, path2, False)
            as4 = attr(OPTIONAL | 0x40, AS4_PATH, self.as_seg(2, path4, True))  # optional transitive
            return self.reach(net, med0 + as4, as_path=as_path)
        raise ValueError(f"unknown update name {name!r}")

    # --- session ---------------------------------------------------------------------------

    def open_body(self):
        caps = b""
        for fam in self.args.families.split(","):
            afi, safi = {"ipv4-unicast": (1, 1), "ipv6-unicast": (2, 1)}[fam]
            caps += struct.pack("!BBHBB", 1, 4, afi, 0, safi)
        caps += bytes([2, 0])  # route refresh (RFC 2918)
        if self.asn4:
            caps += struct.pack("!BBI", 65, 4, self.args.asn)
        params = bytes([2, len(caps)]) + caps
        my_as = self.args.asn if self.args.asn <= 0xFFFF else AS_TRANS
        rid = ipaddress.IPv4Address(self.args.router_id).packed
        return struct.pack("!BHH", 4, my_as, self.args.hold) + rid + bytes([len(params)]) + params

    def send(self, mtype, body):
        with self.send_lock:
            if self.sock is None:
                raise OSError("not connected")
            self.sock.sendall(msg(mtype, body))

    def connect(self):
        """Connect and exchange OPENs; retry (the peer may hold off after a reset: RFC 4271
        IdleHoldTimer, "connect_retry") until Established or --connect-timeout."""
        host, port = self.args.peer, self.args.port
        deadline = time.time() + self.args.connect_timeout
        last = None
        while time.time() < deadline:
            try:
                if self.args.rcvbuf:
                    # Set before connecting, so that the window offered stays that small.
                    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
                    s = socket.socket(fam, socket.SOCK_STREAM)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.args.rcvbuf)
                    if self.args.local:
                        s.bind((self.args.local, 0))
                    s.settimeout(5)
                    s.connect((host, port))
                else:
                    s = socket.create_connection((host, port), timeout=5,
                                                 source_address=(self.args.local, 0) if self.args.local else None)
            except OSError as e:
                last = e
                time.sleep(0.3)
                continue
            s.settimeout(None)
            self.established.clear()
            self.closed.clear()
            with self.send_lock:
                self.sock = s
            emit(event="connected", peer=host, port=port)
            # OPEN goes out before the reader starts: the reader answers the peer's OPEN with a
            # KEEPALIVE, and a KEEPALIVE before our OPEN is an FSM error (RFC 4271 §8.2.2).
            try:
                self.send(OPEN, self.open_body())
            except OSError:
                pass
            threading.Thread(target=self.reader, args=(s,), daemon=True).start()
            while time.time() < deadline:
                if self.established.wait(0.1):
                    return
                if self.closed.is_set():
                    break
            last = "closed before Established"
            time.sleep(1)
        emit(event="error", what=f"connect to {host}:{port} failed: {last}")

    def recv_exact(self, s, n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def reader(self, s):
        budget, since = 0.0, time.monotonic()
        try:
            while True:
                while self.stalled.is_set():
                    time.sleep(0.1)
                hdr = self.recv_exact(s, 19)
                length, mtype = struct.unpack("!HB", hdr[16:19])
                body = self.recv_exact(s, length - 19)
                self.handle(mtype, body)
                if self.rate:
                    # A token bucket of one second: sleep once the octets read are ahead of it.
                    now = time.monotonic()
                    budget = min(float(self.rate), budget + (now - since) * self.rate) - length
                    since = now
                    if budget < 0:
                        time.sleep(-budget / self.rate)
        except (EOFError, OSError) as e:
            emit(event="closed", reason=str(e) or "eof")
        finally:
            with self.send_lock:
                if self.sock is s:
                    self.sock = None
            self.established.clear()
            self.closed.set()
            try:
                s.close()
            except OSError:
                pass

    def handle(self, mtype, body):
        if mtype == OPEN:
            version, peer_as, hold = struct.unpack("!BHH", body[:5])
            rid = str(ipaddress.IPv4Address(body[5:9]))
            caps = self.parse_caps(body[10:10 + body[9]])
            self.peer_asn4 = 65 in caps
            four = struct.unpack("!I", caps[65][0])[0] if 65 in caps else None
            emit(event="open", version=version, asn=peer_as, asn4=four, hold=hold, router_id=rid,
                 capabilities=sorted(caps))
            self.send(KEEPALIVE, b"")
        elif mtype == KEEPALIVE:
            if not self.established.is_set():
                self.established.set()
                emit(event="established", asn4=self.asn4 and self.peer_asn4)
        elif mtype == UPDATE:
            u = self.decode_update(body)
            with self.rib_lock:
                for p in u["withdrawn"]:
                    self.rib.pop(p, None)
                for p in u["nlri"]:
                    self.rib[p] = (tuple(u.get("communities", ())), u.get("med"))
            if not self.args.quiet_updates:
                emit(event="update", **u)
        elif mtype == NOTIFICATION:
            emit(event="notification", code=body[0], subcode=body[1], data=body[2:].hex())
        elif mtype == ROUTE_REFRESH:
            afi, _, safi = struct.unpack("!HBB", body[:4])
            emit(event="route-refresh", afi=afi, safi=safi)
        else:
            emit(event="unknown-message", type=mtype, data=body.hex())

    def parse_caps(self, params):
        caps, i = {}, 0
        while i + 2 <= len(params):
            ptype, plen = params[i], params[i + 1]
            if ptype == 2:
                j, p = 0, params[i + 2:i + 2 + plen]
                while j + 2 <= len(p):
                    code, clen = p[j], p[j + 1]
                    caps.setdefault(code, []).append(p[j + 2:j + 2 + clen])
                    j += 2 + clen
            i += 2 + plen
        return caps

    def decode_as_path(self, data, four):
        size = 4 if four else 2
        segs, i = [], 0
        while i + 2 <= len(data):
            stype, n = data[i], data[i + 1]
            asns = [int.from_bytes(data[i + 2 + k * size:i + 2 + (k + 1) * size], "big") for k in range(n)]
            segs.append({"type": {1: "set", 2: "sequence"}.get(stype, stype), "asns": asns})
            i += 2 + n * size
        return segs

    def decode_update(self, body):
        wlen = struct.unpack("!H", body[:2])[0]
        out = {"withdrawn": decode_prefixes(body[2:2 + wlen], 1)}
        alen = struct.unpack("!H", body[2 + wlen:4 + wlen])[0]
        attrs = body[4 + wlen:4 + wlen + alen]
        out["nlri"] = decode_prefixes(body[4 + wlen + alen:], 1)
        four = self.asn4 and self.peer_asn4
        i = 0
        while i < len(attrs):
            flags, code = attrs[i], attrs[i + 1]
            if flags & EXT_LEN:
                ln = struct.unpack("!H", attrs[i + 2:i + 4])[0]
                v = attrs[i + 4:i + 4 + ln]
                i += 4 + ln
            else:
                ln = attrs[i + 2]
                v = attrs[i + 3:i + 3 + ln]
                i += 3 + ln
            if code == ORIGIN:
                out["origin"] = {0: "igp", 1: "egp", 2: "incomplete"}.get(v[0], v[0])
            elif code == AS_PATH:
                out["as_path"] = self.decode_as_path(v, four)
            elif code == AS4_PATH:
                out["as4_path"] = self.decode_as_path(v, True)
            elif code == NEXT_HOP:
                out["next_hop"] = str(ipaddress.IPv4Address(v))
            elif code == MED:
                out["med"] = struct.unpack("!I", v)[0]
            elif code == LOCAL_PREF:
                out["local_pref"] = struct.unpack("!I", v)[0]
            elif code == COMMUNITIES:
                out["communities"] = [f"{v[k] << 8 | v[k + 1]}:{v[k + 2] << 8 | v[k + 3]}" for k in range(0, len(v), 4)]
            elif code == ORIGINATOR_ID:
                out["originator_id"] = str(ipaddress.IPv4Address(v))
            elif code == CLUSTER_LIST:
                out["cluster_list"] = [str(ipaddress.IPv4Address(v[k:k + 4])) for k in range(0, len(v), 4)]
            elif code == MP_REACH:
                afi, safi, nhl = struct.unpack("!HBB", v[:4])
                nh = v[4:4 + nhl]
                out["mp_reach"] = {
                    "afi": afi, "safi": safi,
                    "next_hop": [str(ipaddress.ip_address(nh[k:k + 16])) for k in range(0, nhl, 16)]
                    if afi == 2 else nh.hex(),
                    "nlri": decode_prefixes(v[5 + nhl:], afi),
                }
            elif code == MP_UNREACH:
                afi, safi = struct.unpack("!HB", v[:3])
                out["mp_unreach"] = {"afi": afi, "safi": safi, "withdrawn": decode_prefixes(v[3:], afi)}
            else:
                out.setdefault("other_attrs", []).append({"flags": flags, "code": code, "value": v.hex()})
        return out

    def keepalives(self):
        while True:
            time.sleep(self.args.keepalive)
            try:
                if self.established.is_set():
                    self.send(KEEPALIVE, b"")
            except OSError:
                pass

    def wait_established(self):
        if not self.established.wait(self.args.connect_timeout):
            raise OSError("session not established")

    def run(self):
        threading.Thread(target=self.keepalives, daemon=True).start()
        if not self.args.no_connect:
            self.connect()
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            cmd = words[0]
            try:
                if cmd == "connect":
                    self.connect()
                elif cmd == "send":
                    net = ipaddress.ip_network(words[2])
                    self.wait_established()
                    self.send(UPDATE, self.build(words[1], net, words[3:]))
                    emit(event="sent", what=words[1], prefix=words[2])
                elif cmd == "raw":
                    self.wait_established()
                    self.send(UPDATE, bytes.fromhex(words[1]))
                    emit(event="sent", what="raw")
                elif cmd == "rawmsg":
                    self.wait_established()
                    with self.send_lock:
                        self.sock.sendall(bytes.fromhex(words[1]))
                    emit(event="sent", what="rawmsg")
                elif cmd in ("blast", "unblast"):
                    net = ipaddress.ip_network(words[1])
                    count = int(words[2])
                    self.wait_established()
                    bits = 32 if net.version == 4 else 128
                    for i in range(count):
                        host = ipaddress.ip_network(f"{net.network_address + i}/{bits}")
                        if cmd == "blast":
                            comm = struct.pack("!HH", self.args.asn & 0xFFFF, i & 0xFFFF)
                            body = self.reach(host, attr(OPTIONAL | 0x40, COMMUNITIES, comm))
                        else:
                            body = self.withdraw(host)
                        self.send(UPDATE, body)
                    emit(event="sent", what=cmd, prefix=words[1], count=count)
                elif cmd == "stall":
                    self.stalled.set()
                    emit(event="stalled")
                elif cmd == "throttle":
                    self.rate = int(words[1])
                    emit(event="throttled", rate=self.rate)
                elif cmd == "unthrottle":
                    self.rate = 0
                    emit(event="unthrottled")
                elif cmd == "rib":
                    with self.rib_lock:
                        routes = dict(self.rib)
                    text = "\n".join(f"{p} {c} {m}" for p, (c, m) in sorted(routes.items()))
                    emit(event="rib", count=len(routes), digest=hashlib.sha256(text.encode()).hexdigest())
                elif cmd == "close":
                    self.send(NOTIFICATION, bytes([6, 2]))
                    time.sleep(0.2)
                    with self.send_lock:
                        if self.sock:
                            self.sock.shutdown(socket.SHUT_RDWR)
                elif cmd == "quit":
                    break
                else:
                    emit(event="error", what=f"unknown command {cmd!r}")
            except (OSError, ValueError, IndexError) as e:
                emit(event="error", what=f"{line.strip()}: {e}")
        emit(event="exit")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peer", required=True, help="address of the speaker under test")
    ap.add_argument("--port", type=int, default=179)
    ap.add_argument("--local", help="source address")
    ap.add_argument("--asn", type=int, required=True)
    ap.add_argument("--router-id", required=True)
    ap.add_argument("--hold", type=int, default=30)
    ap.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of the connection (0: default)")
    ap.add_argument("--keepalive", type=float, default=3.0)
    ap.add_argument("--families", default="ipv4-unicast")
    ap.add_argument("--next-hop4", default="198.18.0.2")
    ap.add_argument("--next-hop6", default="fd00:18::2")
    ap.add_argument("--no-asn4", action="store_true", help="do not send the 4-octet AS capability")
    ap.add_argument("--no-connect", action="store_true", help="wait for a connect command")
    ap.add_argument("--connect-timeout", type=float, default=60.0)
    ap.add_argument("--quiet-updates", action="store_true",
                    help="no event per UPDATE received (the routes are still kept for `rib`)")
    Speaker(ap.parse_args()).run()


if __name__ == "__main__":
    main()
