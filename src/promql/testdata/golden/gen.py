# Generates a dataset (OpenMetrics) and a list of queries for a differential
# test of Sluice's PromQL engine against Prometheus 2.42.
import random, math, sys
random.seed(42)
T0 = 1_600_000_000  # seconds
DUR = 80 * 60
series = []  # (name, labels dict, [(t_ms, v)])

def add(name, labels, samples):
    series.append((name, labels, samples))

# Counters with jittered scrapes and resets.
for job in ["api", "db"]:
    for inst in ["0", "1"]:
        t = T0 * 1000 + random.randint(0, 14999)
        v = random.uniform(0, 100)
        s = []
        while t < (T0 + DUR) * 1000:
            s.append((t, v))
            t += 15000 + random.randint(-700, 700)
            if random.random() < 0.01:
                v = random.uniform(0, 5)
            else:
                v += random.expovariate(0.3) * random.choice([1, 1, 1, 10])
        add("http_requests_total", {"job": job, "instance": inst}, s)

# Gauges with negatives, a gap, and occasional NaN.
for i in range(3):
    t = T0 * 1000 + i * 1234
    s = []
    while t < (T0 + DUR) * 1000:
        if not (T0 * 1000 + 2400_000 < t < T0 * 1000 + 3000_000 and i == 1):
            v = random.gauss(0, 10 ** random.randint(-3, 6))
            if random.random() < 0.01:
                v = float("nan")
            s.append((t, v))
        t += 30000 + random.randint(0, 3000)
    add("temperature", {"room": "r%d" % i}, s)

# Large magnitudes.
for i in range(2):
    s = [(T0 * 1000 + k * 60000, random.uniform(1e300, 1.7e308) * (1 if i == 0 else -1)) for k in range(DUR // 60)]
    add("huge", {"i": str(i)}, s)

# Classic histogram buckets, cumulative.
bounds = ["0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"]
for inst in ["a", "b"]:
    counts = [0.0] * len(bounds)
    s = {b: [] for b in bounds}
    t = T0 * 1000 + 500
    while t < (T0 + DUR) * 1000:
        for _ in range(random.randint(0, 40)):
            x = random.lognormvariate(-2, 1.5)
            for j, b in enumerate(bounds):
                if b == "+Inf" or x <= float(b):
                    counts[j] += 1
        for j, b in enumerate(bounds):
            s[b].append((t, counts[j]))
        t += 30000
    for b in bounds:
        add("request_seconds_bucket", {"instance": inst, "le": b}, s[b])

# A sparse series: samples every 7 minutes.
add("sparse", {}, [(T0 * 1000 + k * 420000, float(k)) for k in range(DUR // 420)])

def fmt_labels(name, labels):
    if not labels:
        return name
    return name + "{" + ",".join('%s="%s"' % (k, v) for k, v in sorted(labels.items())) + "}"

with open(sys.argv[1], "w") as f:
    fams = {}
    for name, labels, s in series:
        fams.setdefault(name, []).append((labels, s))
    for name, ss in fams.items():
        f.write("# TYPE %s unknown\n" % name)
        for labels, s in ss:
            for t, v in s:
                vs = "NaN" if math.isnan(v) else repr(v)
                f.write("%s %s %d.%03d\n" % (fmt_labels(name, labels), vs, t // 1000, t % 1000))
    f.write("# EOF\n")
