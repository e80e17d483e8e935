#!/usr/bin/env python3
"""Side-by-side benchmark: warren and the reference RabbitMQ, same machine, same PerfTest flags.

    bench/compare.py [--quick] [--rounds N] [--seconds S] [--only NAME,NAME...] [--list]

Starts warren (bin/warren, its own config and data dir) and the reference RabbitMQ
(bench/reference-rabbitmq.sh), then runs every scenario against both alternately (A B A B ...,
N rounds), and prints per scenario each broker's median send and receive rate, the median of
PerfTest's consumer latency percentiles, the broker's CPU seconds per million messages received
(cpu/M, from /proc), its peak RSS during the scenario, and the CPU that everything else on the
machine used meanwhile (so a noisy run shows itself). --quick: 1 round of 5 s per side, a few
minutes in all. Needs `mvn -q -B -DskipTests package` first and PerfTest 2.22.1 (resolved from
Maven Central through bench/pom.xml). WARREN_ONLY=1 skips the reference broker.
"""

import argparse
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
CLK = os.sysconf("SC_CLK_TCK")

# name -> (description, PerfTest flags). Durations and rounds come from the command line.
SCENARIOS = [
    ("transient-100B", "1 producer, 1 consumer, 100 B, auto-ack", ["-x", "1", "-y", "1", "-s", "100", "-a"]),
    ("transient-16B-4x4", "4 producers, 4 consumers, 16 B, auto-ack (LavinMQ's shape)",
     ["-x", "4", "-y", "4", "-s", "16", "-a"]),
    ("persistent-confirms", "1 KB persistent, confirms (1000 in flight), manual multi-ack, durable queue",
     ["-x", "1", "-y", "1", "-s", "1000", "-f", "persistent", "-c", "1000", "-q", "1000",
      "--multi-ack-every", "100", "-u", "bench-durable", "-ad", "false"]),
    ("fanout-10", "fanout exchange to 10 queues, 100 B, auto-ack",
     ["-x", "1", "-y", "10", "-s", "100", "-a", "-t", "fanout", "-e", "bench-fanout",
      "--queue-pattern", "bench-fan-%d", "--queue-pattern-from", "1", "--queue-pattern-to", "10"]),
    ("topic", "topic exchange, random routing keys, 100 B, auto-ack",
     ["-x", "1", "-y", "1", "-s", "100", "-a", "-t", "topic", "-e", "bench-topic", "-k", "#", "-K"]),
    ("body-64KB", "64 KB bodies, auto-ack", ["-x", "1", "-y", "1", "-s", "65536", "-a"]),
    ("body-1MB", "1 MB bodies, auto-ack", ["-x", "1", "-y", "1", "-s", "1048576", "-a"]),
    ("latency-5000", "latency at 5,000 msg/s", ["-x", "1", "-y", "1", "-s", "100", "-a", "-r", "5000"]),
    ("many-queues", "100 queues, 100 producers and 100 consumers at 100 msg/s each (10,000 msg/s in all), 100 B",
     ["-x", "100", "-y", "100", "-s", "100", "-a", "-r", "100", "--queue-pattern", "bench-many-%d",
      "--queue-pattern-from", "1", "--queue-pattern-to", "100"]),
    ("sync-1", "1 KB persistent, confirms with ONE message in flight, durable queue (bound by the disk's sync "
     "latency; the disk's own single-threaded sync rate is measured beside it)",
     ["-x", "1", "-y", "1", "-s", "1000", "-f", "persistent", "-c", "1", "-a", "-u", "bench-sync", "-ad", "false"]),
    # With a consumer that takes each message at once, a broker may confirm it without writing it
    # (RabbitMQ and warren both do): here nobody consumes, so every confirm waits for its own fsync.
    ("sync-1-alone", "as sync-1 with no consumer: every confirm waits for its message's own fsync (rates are "
     "sends)", ["-x", "1", "-y", "0", "-s", "1000", "-f", "persistent", "-c", "1", "-u", "bench-sync-alone",
                "-ad", "false"]),
]

# Scenarios that are not one timed PerfTest run: name -> (description, kind, parameters). A
# backlog fills one queue with no consumer (PerfTest -C), then drains it (-D); idle opens
# connections (bench/src/IdleConnections.java) and measures RSS per connection.
SPECIAL = [
    ("backlog-1M", "1,000,000 x 1 KB transient into one queue with no consumer, then drained", "backlog",
     {"count": 1_000_000, "quick_count": 200_000, "flags": ["-s", "1000"], "drain": ["-q", "1000"]}),
    ("persistent-200k", "200,000 x 1 KB persistent with confirms (1000 in flight) into a durable queue, then drained",
     "backlog", {"count": 200_000, "quick_count": 50_000,
                 "flags": ["-s", "1000", "-f", "persistent", "-c", "1000"], "drain": ["-q", "1000"]}),
    ("idle-1000", "1,000 idle connections with a channel each: RSS per connection", "idle",
     {"count": 1000, "quick_count": 1000}),
    ("idle-10000", "10,000 idle connections with a channel each: RSS per connection", "idle",
     {"count": 10000, "quick_count": 2000}),
]


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def machine_ticks():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    values = [int(v) for v in parts]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler(threading.Thread):
    """Peak RSS of a process, sampled every 0.2 s."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, rss_kb(self.pid))
            self.done.wait(0.2)


def run_perftest(cp, port, flags, seconds, broker_pid):
    cmd = ["java", "-cp", cp, "com.rabbitmq.perf.PerfTest", "-h", f"amqp://guest:guest@127.0.0.1:{port}",
           *flags, "-z", str(seconds)]
    sampler = Sampler(broker_pid)
    sampler.start()
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    b0, m0, t0 = cpu_ticks(broker_pid), machine_ticks(), time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=seconds + 180)
    b1, m1, t1 = cpu_ticks(broker_pid), machine_ticks(), time.time()
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError("PerfTest failed:\n" + "\n".join(out.splitlines()[-20:]))
    # PerfTest is this script's only child while it runs: its CPU is the children's rusage delta.
    return {
        "perftest_cpu": (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime),
        "send": last_float(out, r"sending rate avg: (\d+)"),
        "recv": last_float(out, r"receiving rate avg: (\d+)"),
        "latency": last_latency(out),
        "second_p99": per_second_p99(out, WARM_UP_SECONDS),
        "broker_cpu": (b1 - b0) / CLK,
        "machine_cpu": (m1 - m0) / CLK,
        "wall": t1 - t0,
        "rss_mb": sampler.peak / 1024.0,
        "seconds": seconds,
    }


def run_perftest_to_end(cp, port, flags, broker_pid, timeout):
    """One PerfTest run that stops by itself (-C / -D): its output, the broker's CPU and peak RSS."""
    cmd = ["java", "-cp", cp, "com.rabbitmq.perf.PerfTest", "-h", f"amqp://guest:guest@127.0.0.1:{port}", *flags]
    sampler = Sampler(broker_pid)
    sampler.start()
    b0, t0 = cpu_ticks(broker_pid), time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out += "\n(timed out: messages missing?)"
        proc.returncode = -1
    b1, t1 = cpu_ticks(broker_pid), time.time()
    sampler.done.set()
    sampler.join()
    if proc.returncode != 0:
        raise RuntimeError("PerfTest failed:\n" + "\n".join(out.splitlines()[-20:]))
    return out, (b1 - b0) / CLK, t1 - t0, sampler.peak / 1024.0


def run_backlog(cp, port, pid, params, count, queue):
    """Fills QUEUE with COUNT messages and no consumer, then drains it; rates from wall time."""
    fill = ["-x", "1", "-y", "0", "-C", str(count), "-u", queue, "-ad", "false", *params["flags"]]
    out, fill_cpu, fill_s, fill_rss = run_perftest_to_end(cp, port, fill, pid, 1800)
    full_rss = rss_kb(pid) / 1024.0
    # The same queue flags (durable when persistent), so the drain's declare matches the fill's.
    durable = ["-f", "persistent"] if "persistent" in params["flags"] else []
    drain = ["-x", "0", "-y", "1", "-D", str(count), "-u", queue, "-ad", "false", *durable, *params["drain"]]
    out, drain_cpu, drain_s, drain_rss = run_perftest_to_end(cp, port, drain, pid, 1800)
    return {"fill": count / fill_s, "drain": count / drain_s, "fill_rss": fill_rss, "full_rss": full_rss,
            "drain_rss": drain_rss, "cpu_per_m": (fill_cpu + drain_cpu) / (count / 1e6)}


def run_idle(cp, pid, port, count):
    """Opens COUNT idle connections (one channel each): the broker's RSS growth per connection."""
    time.sleep(1)
    rss0 = rss_kb(pid)
    proc = subprocess.Popen(["java", "-cp", cp, os.path.join(HERE, "src", "IdleConnections.java"), "127.0.0.1",
                             str(port), str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    line = ""
    for line in proc.stdout:  # the client's own log lines come first
        if line.startswith("opened"):
            break
    opened = line.startswith("opened")
    time.sleep(2)
    rss1 = rss_kb(pid)
    if opened:
        proc.stdin.write("close\n")
        proc.stdin.flush()
    rest = proc.communicate(timeout=300)[0]
    if not opened:
        raise RuntimeError(f"could not open {count} connections:\n{line}{rest[-2000:]}")
    time.sleep(2)  # the broker closes them before the next round
    return {"rss0_mb": rss0 / 1024.0, "rss1_mb": rss1 / 1024.0, "per_conn_kb": (rss1 - rss0) / count}


def latency_floor(work, rate, seconds):
    """What two loopback hops through a relay process cost on this machine at RATE: LatencyFloor's summary."""
    src = os.path.join(HERE, "src", "LatencyFloor.java")
    port = int(os.environ.get("LATENCY_FLOOR_PORT", "5697"))
    relay = subprocess.Popen(["java", src, "relay", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        out = ""
        for _ in range(100):  # the relay compiles its source first
            client = subprocess.run(["java", src, "client", str(port), str(rate), str(seconds)],
                                    capture_output=True, text=True, timeout=seconds + 120)
            out = client.stdout + client.stderr
            if client.returncode == 0 or "Connection refused" not in out:
                break
            time.sleep(0.2)
        p99s = [float(v) for second, v in re.findall(r"second (\d+) p50 \d+ p99 (\d+)", out)
                if int(second) > WARM_UP_SECONDS]
        summary = re.findall(r"all \d+: (.*)", out)
        if not summary:
            return "failed: " + out[-300:]
        return (f"{summary[-1]}; per-second p99 after the first {WARM_UP_SECONDS} s: median "
                f"{fmt(median(p99s), ' us')}, worst {fmt(max(p99s, default=None), ' us')}")
    finally:
        try:
            relay.wait(timeout=10)  # it exits when the client closes
        except subprocess.TimeoutExpired:
            relay.kill()
            relay.wait()


def disk_sync_rate(directory):
    """The disk's single-threaded sync rate (4 KiB writes, each synced: dd oflag=dsync), per second."""
    target = os.path.join(directory, "dd-sync.test")
    n = 500
    r = subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=4k", f"count={n}", "oflag=dsync"],
                       capture_output=True, text=True)
    try:
        os.unlink(target)
    except OSError:
        pass
    found = re.findall(r", ([\d.,]+) s,", r.stderr)
    return n / float(found[-1].replace(",", ".")) if found else None


def last_float(text, pattern):
    found = re.findall(pattern, text)
    return float(found[-1]) if found else 0.0


def last_latency(text):
    found = re.findall(r"consumer latency min/median/75th/95th/99th (\d+)/(\d+)/(\d+)/(\d+)/(\d+) (µs|ms)", text)
    if not found:
        return None
    values = [float(v) for v in found[-1][:5]]
    if found[-1][5] == "ms":
        values = [v * 1000 for v in values]
    return values  # µs


# PerfTest's whole-run percentiles include its own JVM's first seconds (and a new connection's):
# the per-second p99s after these many seconds show the steady state beside them.
WARM_UP_SECONDS = 3


def per_second_p99(text, warm_up):
    """PerfTest's per-second consumer latency p99s (µs) after the first WARM_UP seconds."""
    found = re.findall(r"time ([\d.]+) s, .*consumer latency: \d+/\d+/\d+/\d+/(\d+) (µs|ms)", text)
    return [float(v) * (1000 if unit == "ms" else 1) for t, v, unit in found if float(t) > warm_up + 0.5]


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def messages(r):
    """Messages per second a run is measured by: received, or sent where nobody consumes."""
    return r["recv"] or r["send"]


def summarize(runs):
    recv = median([messages(r) for r in runs])
    cpu_per_m = median([r["broker_cpu"] / (messages(r) * r["seconds"] / 1e6) if messages(r) else None
                        for r in runs])
    lat = [r["latency"] for r in runs if r["latency"]]
    return {
        "send": median([r["send"] for r in runs]),
        "recv": recv,
        "p50": median([x[1] for x in lat]) if lat else None,
        "p99": median([x[4] for x in lat]) if lat else None,
        # every round's per-second p99s after the warm-up, pooled: their median and the worst
        "steady_p99": median([v for r in runs for v in r["second_p99"]]),
        "steady_p99_max": max([v for r in runs for v in r["second_p99"]], default=None),
        "cpu_per_m": cpu_per_m,
        "rss_mb": max(r["rss_mb"] for r in runs),
        "perftest": median([r["perftest_cpu"] / r["wall"] for r in runs]),
        "others": median([max(0.0, r["machine_cpu"] - r["broker_cpu"] - r["perftest_cpu"]) / r["wall"] for r in runs]),
    }


def fmt(v, unit="", digits=0):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}{unit}"


def start_warren(work):
    port = int(os.environ.get("WARREN_BENCH_PORT", "5699"))
    conf = os.path.join(work, "warren.conf")
    with open(conf, "w") as f:
        f.write(f"listeners.tcp.default = 127.0.0.1:{port}\nmanagement.tcp.port = {port + 10000}\n"
                f"prometheus.tcp.port = {port + 10100}\n"
                f"data_dir = {work}/data\nlog.file = {work}/warren.log\nlog.level = warning\n")
    subprocess.run([os.path.join(TOP, "bin/warren"), "start", "--config", conf], check=True,
                   stdout=subprocess.DEVNULL)
    with open(os.path.join(work, "data", "warren.pid")) as f:
        return port, int(f.read().strip()), conf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 round of 5 s per broker and scenario")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--only", help="comma-separated scenario names")
    ap.add_argument("--list", action="store_true", help="list the scenarios and exit")
    args = ap.parse_args()
    if args.list:
        for name, desc, flags in SCENARIOS:
            print(f"{name:22} {desc}\n{'':22} PerfTest {' '.join(flags)}")
    if args.list:
        for name, desc, kind, params in SPECIAL:
            print(f"{name:22} {desc}\n{'':22} ({kind}: {params['count']:,}; --quick: {params['quick_count']:,})")
        return 0
    rounds, seconds = (1, 5) if args.quick else (args.rounds, args.seconds)
    only = args.only.split(",") if args.only else None
    chosen = [s for s in SCENARIOS if not only or s[0] in only]
    special = [s for s in SPECIAL if not only or s[0] in only]
    if not chosen and not special:
        ap.error("no scenario matches --only")

    # 10,000 idle connections need as many descriptors, in both brokers (they inherit this).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 65536)), hard))
    work = tempfile.mkdtemp(prefix="warren-compare.")
    cp_file = os.path.join(work, "cp.txt")
    subprocess.run(["mvn", "-q", "-B", "-f", os.path.join(HERE, "pom.xml"), "dependency:build-classpath",
                    f"-Dmdep.outputFile={cp_file}"], check=True, stdout=subprocess.DEVNULL)
    with open(cp_file) as f:
        cp = f.read().strip()

    brokers = []
    warren_port, warren_pid, conf = start_warren(work)
    brokers.append(("warren", warren_port, warren_pid))
    rabbit_port = int(os.environ.get("RABBIT_BENCH_PORT", "5698"))
    reference = os.path.join(HERE, "reference-rabbitmq.sh")
    try:
        if not os.environ.get("WARREN_ONLY"):
            subprocess.run([reference, "start", str(rabbit_port)], check=True, stdout=subprocess.DEVNULL)
            pid = subprocess.run([reference, "pid", str(rabbit_port)], check=True, capture_output=True,
                                 text=True).stdout.strip()
            brokers.append(("rabbitmq", rabbit_port, int(pid)))
        java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()[0]
        print(f"# {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, "
              f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') // 2**30} GiB, {java}; "
              f"{rounds} round(s) x {seconds} s, alternating brokers; medians")
        results = {}
        for name, desc, flags in chosen:
            runs = {b[0]: [] for b in brokers}
            for _ in range(rounds):
                for broker, port, pid in brokers:
                    runs[broker].append(run_perftest(cp, port, flags, seconds, pid))
            results[name] = {b: summarize(r) for b, r in runs.items()}
            print_scenario(name, desc, results[name])
            if name in ("sync-1", "sync-1-alone"):
                # Measured right after the rounds, three times (the disk's rate varies with the
                # machine's load as much as the brokers' do).
                rate = median([disk_sync_rate(work) for _ in range(3)])
                w = results[name]["warren"]["recv"]
                print(f"\ndisk's single-threaded sync rate (dd bs=4k count=500 oflag=dsync in {work}, median of 3): "
                      f"{fmt(rate, '/s')}; warren reaches {fmt(w / rate * 100 if rate else None, '%')} of it")
            if name == "latency-5000":
                floor = latency_floor(work, 5000, seconds)
                print(f"\nthe machine's floor, no broker (bench/src/LatencyFloor.java: producer -> relay JVM -> "
                      f"consumer over loopback, 100 B at 5,000/s for {seconds} s): {floor}")
        for name, desc, kind, params in special:
            count = params["quick_count"] if args.quick else params["count"]
            runs = {b[0]: [] for b in brokers}
            for i in range(1 if kind == "idle" else rounds):
                for broker, port, pid in brokers:
                    if kind == "backlog":
                        runs[broker].append(run_backlog(cp, port, pid, params, count, f"bench-{name}-{i}"))
                    else:
                        runs[broker].append(run_idle(cp, pid, port, count))
            print_special(name, desc.replace(f"{params['count']:,}", f"{count:,}"), kind, runs)
        return 0
    finally:
        subprocess.run([os.path.join(TOP, "bin/warren"), "stop", "--config", conf], stdout=subprocess.DEVNULL)
        if not os.environ.get("WARREN_ONLY"):
            subprocess.run([reference, "stop", str(rabbit_port)], stdout=subprocess.DEVNULL)


def print_scenario(name, desc, by_broker):
    print(f"\n## {name}: {desc}")
    print("| broker | send msg/s | receive msg/s | latency p50 / p99 | cpu/M (CPU-s per 1M received, or sent with no consumer) | peak RSS | "
          "PerfTest CPU | others' CPU |")
    print("|---|---|---|---|---|---|---|---|")
    for broker, s in by_broker.items():
        lat = "-" if s["p50"] is None else f"{fmt(s['p50'], ' µs')} / {fmt(s['p99'], ' µs')}"
        print(f"| {broker} | {fmt(s['send'])} | {fmt(s['recv'])} | {lat} | {fmt(s['cpu_per_m'], '', 2)} | "
              f"{fmt(s['rss_mb'], ' MB')} | {fmt(s['perftest'] * 100, '%')} | {fmt(s['others'] * 100, '%')} |")
    for broker, s in by_broker.items():
        if s["p50"] is not None and s["steady_p99"] is not None:
            print(f"\n{broker}: per-second p99 after the first {WARM_UP_SECONDS} s: median "
                  f"{fmt(s['steady_p99'], ' µs')}, worst {fmt(s['steady_p99_max'], ' µs')}")
    if "warren" in by_broker and "rabbitmq" in by_broker:
        w, r = by_broker["warren"], by_broker["rabbitmq"]
        rate = w["recv"] / r["recv"] if r["recv"] else None
        cpu = w["cpu_per_m"] / r["cpu_per_m"] if w["cpu_per_m"] and r["cpu_per_m"] else None
        print(f"\nwarren / rabbitmq: receive rate {fmt(rate, 'x', 2)}, cpu/M {fmt(cpu, 'x', 2)}, "
              f"peak RSS {fmt(w['rss_mb'] / r['rss_mb'] if r['rss_mb'] else None, 'x', 2)}")
    sys.stdout.flush()


def print_special(name, desc, kind, runs):
    print(f"\n## {name}: {desc}")
    if kind == "backlog":
        print("| broker | fill msg/s | drain msg/s | cpu/M (fill + drain) | peak RSS filling / full / draining |")
        print("|---|---|---|---|---|")
        for broker, rs in runs.items():
            print(f"| {broker} | {fmt(median([r['fill'] for r in rs]))} | {fmt(median([r['drain'] for r in rs]))} | "
                  f"{fmt(median([r['cpu_per_m'] for r in rs]), '', 2)} | {fmt(max(r['fill_rss'] for r in rs), ' MB')} / "
                  f"{fmt(max(r['full_rss'] for r in rs), ' MB')} / {fmt(max(r['drain_rss'] for r in rs), ' MB')} |")
        if "warren" in runs and "rabbitmq" in runs:
            w, r = runs["warren"], runs["rabbitmq"]
            print(f"\nwarren / rabbitmq: fill {fmt(median([x['fill'] for x in w]) / median([x['fill'] for x in r]), 'x', 2)}, "
                  f"drain {fmt(median([x['drain'] for x in w]) / median([x['drain'] for x in r]), 'x', 2)}")
    else:
        print("| broker | RSS before | RSS with them open | per connection |")
        print("|---|---|---|---|")
        for broker, rs in runs.items():
            r = rs[0]
            print(f"| {broker} | {fmt(r['rss0_mb'], ' MB')} | {fmt(r['rss1_mb'], ' MB')} | {fmt(r['per_conn_kb'], ' KB')} |")
    sys.stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
