#!/usr/bin/env python3
"""cni_driver.py: the CNI benchmark's runtime (bench/cni_bench.sh starts it; not meant by hand).

Execs CNI plugins as a runtime does (CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME,
CNI_PATH in the environment, the network configuration on stdin) and times each exec with
time.perf_counter_ns() from just before the spawn until the plugin has exited and its output is
read. Each plugin runs in its own lab host namespace: the calling thread setns()es into it before
spawning (outside the timed region), so the spawn path (posix_spawn/vfork from the same small
Python process) is the same for every plugin. A `floor` plugin (/bin/true) measures that path.

Plugins are interleaved (container i of plugin A, then container i of plugin B, the order
swapped every container) so that a change in the machine's load hits both alike.

Input: a JSON file (argv[1]) with
  plugins: [{name, binary, host_ns (path of the host namespace), conf (object), netns (list of
             container namespace paths), mac_of_result: bool}]
  containers, churn, parallel, parallel_pairs, floor_binary, cni_path
Output (stdout): one JSON object with every sample (ns) and, for plugins with mac_of_result,
the container's MAC and the wall-clock start of its ADD (for the remote-reachability join).
"""
import ctypes
import json
import os
import subprocess
import sys
import threading
import time

CLONE_NEWNET = 0x40000000
libc = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {path}: {os.strerror(e)}")
    finally:
        os.close(fd)


class Plugin:
    def __init__(self, spec, cni_path):
        self.name = spec["name"]
        self.binary = spec["binary"]
        self.host_ns = spec["host_ns"]
        self.conf = json.dumps(spec.get("conf", {})).encode()
        self.netns = spec.get("netns", [])
        self.mac_of_result = spec.get("mac_of_result", False)
        self.cni_path = cni_path

    def run(self, command, i, ifname="eth0"):
        """One exec: (ns elapsed, wall-clock start in s, stdout). The caller is in host_ns."""
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": f"bench{i}",
            "CNI_NETNS": self.netns[i] if self.netns else "",
            "CNI_IFNAME": ifname,
            "CNI_PATH": self.cni_path,
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        }
        wall = time.time()
        t0 = time.perf_counter_ns()
        p = subprocess.Popen([self.binary], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, close_fds=True)
        out, err = p.communicate(self.conf)
        dt = time.perf_counter_ns() - t0
        if p.returncode != 0:
            raise RuntimeError(f"{self.name} {command} {i}: exit {p.returncode}: "
                               f"{out.decode(errors='replace')} {err.decode(errors='replace')}")
        return dt, wall, out


def mac_of(out):
    r = json.loads(out)
    return next(x["mac"] for x in r["interfaces"] if x.get("sandbox"))


def main():
    cfg = json.load(open(sys.argv[1]))
    plugins = [Plugin(p, cfg["cni_path"]) for p in cfg["plugins"]]
    n = cfg["containers"]
    churn = cfg["churn"]
    par = cfg["parallel"]
    par_pairs = cfg["parallel_pairs"]
    res = {p.name: {"add": [], "del": [], "mac": [], "add_wall": [], "churn": [],
                    "parallel": []} for p in plugins}
    floor = Plugin({"name": "floor", "binary": cfg["floor_binary"],
                    "host_ns": plugins[0].host_ns}, cfg["cni_path"])
    log = lambda m: print(f"{time.strftime('%H:%M:%S')} [driver] {m}", file=sys.stderr, flush=True)

    def order(i):
        return plugins if i % 2 == 0 else plugins[::-1]

    # Warm-up: one ADD and DEL per plugin on the last namespace (the bridge plugin makes its
    # bridge, both page their binaries in); an isthmus agent still starting answers 11.
    for p in plugins:
        setns(p.host_ns)
        for attempt in range(100):
            try:
                p.run("ADD", n)
                break
            except RuntimeError as e:
                if '"code": 11' not in str(e) and '"code":11' not in str(e) or attempt == 99:
                    raise
                time.sleep(0.1)
        p.run("DEL", n)
    setns(floor.host_ns)
    res["floor"] = [floor.run("ADD", 0)[0] for _ in range(n)]

    log(f"ADD of {n} containers per plugin")
    for i in range(n):
        for p in order(i):
            setns(p.host_ns)
            dt, wall, out = p.run("ADD", i)
            res[p.name]["add"].append(dt)
            if p.mac_of_result:
                res[p.name]["mac"].append(mac_of(out))
                res[p.name]["add_wall"].append(wall)
    # The harness checks the remote side while the containers exist: the MACs go to
    # added_file, and the DELs wait until the harness creates go_file.
    with open(cfg["added_file"] + ".tmp", "w") as f:
        json.dump({p.name: {"mac": res[p.name]["mac"], "add_wall": res[p.name]["add_wall"]}
                   for p in plugins if p.mac_of_result}, f)
    os.rename(cfg["added_file"] + ".tmp", cfg["added_file"])
    go = cfg.get("go_file")
    if go:
        while not os.path.exists(go):
            time.sleep(0.05)
    log(f"DEL of {n} containers per plugin")
    for i in range(n):
        for p in order(i):
            setns(p.host_ns)
            res[p.name]["del"].append(p.run("DEL", i)[0])

    log(f"churn: {churn} sequential ADD+DEL pairs per plugin")
    for i in range(churn):
        for p in order(i):
            setns(p.host_ns)
            c = i % n
            a = p.run("ADD", c)[0]
            d = p.run("DEL", c)[0]
            res[p.name]["churn"].append(a + d)

    if par > 1:
        log(f"churn: {par} parallel workers, {par_pairs} pairs each, per plugin, twice")
        for rnd in range(2):
            for p in (plugins if rnd == 0 else plugins[::-1]):
                errors = []

                def worker(w, p=p, errors=errors):
                    try:
                        setns(p.host_ns)  # this thread only
                        for k in range(par_pairs):
                            c = (w * par_pairs + k) % n
                            p.run("ADD", c)
                            p.run("DEL", c)
                    except Exception as e:  # noqa: BLE001
                        errors.append(str(e))

                threads = [threading.Thread(target=worker, args=(w,)) for w in range(par)]
                t0 = time.perf_counter_ns()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                dt = time.perf_counter_ns() - t0
                if errors:
                    raise RuntimeError(f"{p.name} parallel churn: {errors[0]}")
                res[p.name]["parallel"].append([par * par_pairs, dt])
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
