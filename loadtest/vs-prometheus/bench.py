# Times queries against Prometheus alone and the Sluice querier (a warm-up each, then 11 rounds that
# alternate between them, so drift in this machine's speed hits both alike; the median and the range
# are reported), and checks the answers are equal.
import time, urllib.request, urllib.parse, json, sys
targets={"prometheus (complete, alone)":"http://127.0.0.1:19190","sluice query (2 sidecars, dedup)":"http://127.0.0.1:19490"}
qs=[("rate(http_requests_total[5m])","range"),("sum by (job) (rate(http_requests_total[5m]))","range"),
    ("histogram_quantile(0.9, sum by (le) (rate(http_requests_total[5m])))","range"),
    ("rate(http_requests_total[5m]) / ignoring(job) group_left rate(http_requests_total[5m])","skip"),
    ("rate(http_requests_total[5m]) / rate(http_requests_total[10m])","range"),
    ("quantile by (job) (0.9, rate(http_requests_total[5m]))","range"),
    ("topk(5, rate(http_requests_total[5m]))","range"),
    ("sum by (job) (rate(http_requests_total[5m]))","instant")]
start=1700000000+600; end=1700000000+6*3600-15
def get(base,q,kind):
    if kind=="range":
        u=f"{base}/api/v1/query_range?"+urllib.parse.urlencode({"query":q,"start":start,"end":end,"step":60})
    else:
        u=f"{base}/api/v1/query?"+urllib.parse.urlencode({"query":q,"time":end})
    t=time.time(); body=urllib.request.urlopen(u,timeout=120).read(); return time.time()-t, body
for q,kind in qs:
    if kind=="skip": continue
    names=list(targets); times={n:[] for n in names}; bodies={}
    for n in names: get(targets[n],q,kind)  # warm-up
    for _ in range(11):
        for n in names:
            dt,b=get(targets[n],q,kind); times[n].append(dt); bodies[n]=b
    med={n:sorted(times[n])[5] for n in names}
    same = json.loads(bodies[names[0]])["data"]==json.loads(bodies[names[1]])["data"]
    cell=lambda n: f"{med[n]*1000:.0f} ms ({min(times[n])*1000:.0f}-{max(times[n])*1000:.0f})"
    print(f"| `{q}` ({kind}) | " + " | ".join(cell(n) for n in names) + f" | {med[names[0]]/med[names[1]]:.2f}x | {'yes' if same else 'NO'} |")
