# Asks a running Prometheus 2.42 for the answers to a list of queries over the
# dataset from gen.py and writes them in a line format the Rust test reads.
import json, sys, urllib.parse, urllib.request
URL = sys.argv[1]
OUT = sys.argv[2]
T0 = 1_600_000_000
exprs = [
    "http_requests_total",
    "http_requests_total offset 3m",
    "http_requests_total @ 1600002000",
    "-http_requests_total",
    "rate(http_requests_total[5m])",
    "rate(http_requests_total[1m])",
    "rate(http_requests_total[17m] offset 90s)",
    "irate(http_requests_total[5m])",
    "increase(http_requests_total[10m])",
    "delta(temperature[10m])",
    "idelta(temperature[10m])",
    "deriv(temperature[15m])",
    "deriv(http_requests_total[30m])",
    "predict_linear(http_requests_total[30m], 3600)",
    "predict_linear(temperature[1h], 600)",
    "holt_winters(temperature[30m], 0.3, 0.6)",
    "holt_winters(http_requests_total[20m], 0.1, 0.9)",
    "resets(http_requests_total[1h])",
    "changes(temperature[1h])",
    "sum_over_time(temperature[10m])",
    "avg_over_time(temperature[10m])",
    "avg_over_time(http_requests_total[1h])",
    "avg_over_time(huge[10m])",
    "sum_over_time(huge[10m])",
    "min_over_time(temperature[10m])",
    "max_over_time(temperature[10m])",
    "count_over_time(temperature[10m])",
    "last_over_time(temperature[10m])",
    "present_over_time(sparse[2m])",
    "absent_over_time(sparse[2m])",
    "stddev_over_time(temperature[20m])",
    "stdvar_over_time(http_requests_total[20m])",
    "quantile_over_time(0.9, temperature[30m])",
    "quantile_over_time(0.25, http_requests_total[30m])",
    "sum(http_requests_total)",
    "sum by (job) (rate(http_requests_total[5m]))",
    "sum without (instance) (http_requests_total)",
    "avg(temperature)",
    "avg(huge)",
    "avg by (job) (http_requests_total)",
    "stddev(http_requests_total)",
    "stdvar by (job) (http_requests_total)",
    "min(temperature)",
    "max by (instance) (http_requests_total)",
    "count(temperature)",
    "group by (job) (http_requests_total)",
    "quantile(0.3, http_requests_total)",
    "quantile by (job) (0.75, rate(http_requests_total[5m]))",
    "topk(2, http_requests_total)",
    "bottomk(3, temperature)",
    "topk by (job) (1, rate(http_requests_total[5m]))",
    "count_values(\"value\", floor(temperature))",
    "count_values without (instance) (\"c\", round(rate(http_requests_total[5m]), 0.01))",
    "sort(rate(http_requests_total[5m]))",
    "sort_desc(http_requests_total)",
    "histogram_quantile(0.9, rate(request_seconds_bucket[5m]))",
    "histogram_quantile(0.5, sum by (le) (rate(request_seconds_bucket[10m])))",
    "histogram_quantile(0.99, request_seconds_bucket)",
    "histogram_quantile(0.01, sum by (le, instance) (increase(request_seconds_bucket[7m])))",
    "http_requests_total / on(instance) group_left sum by (instance) (http_requests_total)",
    "rate(http_requests_total[5m]) / ignoring(job) group_left max without (job) (rate(http_requests_total[5m]))",
    "http_requests_total > 1000",
    "http_requests_total > bool 1000",
    "1000 < http_requests_total",
    "http_requests_total and on(instance) (http_requests_total{job=\"api\"} > 500)",
    "http_requests_total unless on(job) temperature",
    "temperature or on() vector(1)",
    "http_requests_total % 7",
    "http_requests_total ^ 2",
    "http_requests_total ^ 0.5",
    "temperature ^ 3",
    "2 ^ (temperature / 1000)",
    "http_requests_total atan2 temperature",
    "exp(temperature / 100)",
    "ln(http_requests_total)",
    "log2(http_requests_total)",
    "log10(http_requests_total)",
    "sqrt(http_requests_total)",
    "sin(http_requests_total)",
    "cos(temperature)",
    "tan(http_requests_total / 1000)",
    "asin(clamp(temperature / 100, -1, 1))",
    "acos(clamp(temperature / 100, -1, 1))",
    "atan(temperature)",
    "sinh(clamp(temperature, -50, 50))",
    "cosh(clamp(temperature, -50, 50))",
    "tanh(temperature)",
    "asinh(temperature)",
    "acosh(http_requests_total + 1)",
    "atanh(clamp(temperature / 1000000, -0.999, 0.999))",
    "deg(temperature)",
    "rad(temperature)",
    "round(temperature, 0.1)",
    "round(http_requests_total / 7)",
    "ceil(temperature)",
    "floor(temperature)",
    "abs(temperature)",
    "sgn(temperature)",
    "clamp_min(temperature, 0)",
    "clamp_max(temperature, 0)",
    "timestamp(http_requests_total)",
    "timestamp(sparse)",
    "time() - timestamp(http_requests_total)",
    "hour(timestamp(http_requests_total))",
    "day_of_week()",
    "minute()",
    "days_in_month(vector(time()))",
    "label_replace(http_requests_total, \"x\", \"$1-$2\", \"job\", \"(a)(.*)\")",
    "label_join(http_requests_total, \"x\", \"/\", \"job\", \"instance\")",
    "scalar(sum(http_requests_total))",
    "vector(scalar(count(temperature)))",
    "absent(nonexistent{job=\"x\"})",
    "sum_over_time(rate(http_requests_total[5m])[30m:1m])",
    "max_over_time(deriv(temperature[10m])[20m:2m])",
    "rate(sum(http_requests_total)[15m:])",
    "avg_over_time(http_requests_total[10m:37s] offset 2m)",
    "sum_over_time(temperature[10m:1m] @ 1600003000)",
    "rate(http_requests_total[5m] @ 1600003500)",
    "predict_linear(http_requests_total[10m] @ 1600003500, 60)",
    "sparse",
    "sparse offset 8m",
    "temperature @ 1600002900",
    "pi() * 2",
    "time()",
    "1 / 0",
    "-1 / 0 * 0",
    "sum(huge) / count(huge)",
    "stddev(huge)",
    "sum by (le) (request_seconds_bucket) / ignoring(le) group_left sum(request_seconds_bucket{le=\"+Inf\"})",
]
instants = [T0 + 2700, T0 + 2707.5, T0 + 4000.123]
ranges = [(T0 + 1200, T0 + 1800, 60), (T0 + 2500, T0 + 4500, 137)]

def get(path, params):
    url = URL + path + "?" + urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(url) as r:
            return json.load(r)
    except urllib.error.HTTPError as e:
        return json.load(e)

def ms(t):
    return int(round(float(t) * 1000))

def lab(m):
    return "\x1f".join("%s=%s" % (k, v) for k, v in sorted(m.items()))

out = open(OUT, "w")
def emit(res):
    if res["status"] != "success":
        out.write("E\t%s\t%s\n" % (res["errorType"], res["error"]))
        return
    d = res["data"]
    out.write("T\t%s\n" % d["resultType"])
    if d["resultType"] == "vector":
        for s in d["result"]:
            out.write("V\t%s\t%d\t%s\n" % (lab(s["metric"]), ms(s["value"][0]), s["value"][1]))
    elif d["resultType"] == "scalar":
        out.write("S\t%d\t%s\n" % (ms(d["result"][0]), d["result"][1]))
    elif d["resultType"] == "matrix":
        for s in d["result"]:
            out.write("M\t%s\n" % lab(s["metric"]))
            for t, v in s["values"]:
                out.write("P\t%d\t%s\n" % (ms(t), v))

for e in exprs:
    for t in instants:
        out.write("Q\ti\t%d\t%s\n" % (ms(t), e))
        emit(get("/api/v1/query", {"query": e, "time": repr(t)}))
    for (s, en, st) in ranges:
        out.write("Q\tr\t%d\t%d\t%d\t%s\n" % (ms(s), ms(en), st * 1000, e))
        emit(get("/api/v1/query_range", {"query": e, "start": s, "end": en, "step": st}))
out.close()
