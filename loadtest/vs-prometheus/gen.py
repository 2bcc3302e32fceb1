# Writes N counter series of H hours at 15 s as OpenMetrics (data.om), deterministic.
import sys
n_series=int(sys.argv[1]); hours=int(sys.argv[2])
t0=1700000000; step=15; points=hours*3600//step
out=open('data.om','w')
out.write('# TYPE http_requests counter\n')
for s in range(n_series):
    job=f"job{s%10}"; inst=f"host{s//10}"
    v=0.0
    lines=[]
    for k in range(points):
        v+= (s%7)+1 + (k%5)*0.5
        lines.append(f'http_requests_total{{instance="{inst}",job="{job}"}} {v} {t0+k*step}\n')
    out.write(''.join(lines))
out.write('# EOF\n')
