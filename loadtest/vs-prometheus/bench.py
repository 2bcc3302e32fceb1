# Times queries (median of 5 after a warm-up) against Prometheus alone and the Sluice querier, and checks the answers are equal.
import time, urllib.request, urllib.parse, json, sys
targets={"prometheus (complete, alone)":"http://127.0.0.1:19190","sluice query (2 sidecars, dedup)":"http://127.0.0.1:19490"}
qs=[("rate(http_requests_total[5m])","range"),("sum by (job) (rate(http_requests_total[5m]))","range"),
    ("histogram_quantile(0.9, sum by (le) (rate(http_requests_total[5m])))","range"),
    ("rate(http_requests_total[5m]) / ignoring(job) group_left rate(http_requests_total[5m])","skip"),
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
    row=[]; bodies=[]
    for name,base in targets.items():
        get(base,q,kind)  # warm-up
        ts=[]
        for _ in range(5):
            dt,b=get(base,q,kind); ts.append(dt)
        ts.sort(); row.append((name, ts[2])); bodies.append(json.loads(b))
    same = bodies[0]["data"]==bodies[1]["data"]
    print(f"| `{q}` ({kind}) | " + " | ".join(f"{t*1000:.0f} ms" for _,t in row) + f" | {row[0][1]/row[1][1]:.2f}x | {'yes' if same else 'NO'} |")
