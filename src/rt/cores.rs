//! How many shards to run: the CPUs this process may run on (its affinity
//! mask), further limited by a cgroup CPU quota (`cpu.max` in cgroup v2,
//! `cpu.cfs_quota_us`/`cpu.cfs_period_us` in v1), as a Kubernetes pod with a
//! CPU limit has it.

use std::fs;

/// The CPUs in this process's affinity mask, read from
/// `/proc/self/status` (`Cpus_allowed_list`). Falls back to
/// `std::thread::available_parallelism` numbering when that is unreadable.
pub fn affinity_cpus() -> Vec<usize> {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                .map(|v| parse_cpu_list(v.trim()))
        })
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n).collect()
        })
}

/// Parses a kernel CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let mut ends = part.splitn(2, '-');
        let lo = ends.next().and_then(|x| x.parse::<usize>().ok());
        let hi = ends.next().map(|x| x.parse::<usize>().ok());
        match (lo, hi) {
            (Some(lo), None) => out.push(lo),
            (Some(lo), Some(Some(hi))) if hi >= lo && hi - lo < 65_536 => out.extend(lo..=hi),
            _ => {}
        }
    }
    out
}

/// The cgroup CPU quota in whole CPUs (rounded up), if one is set.
pub fn cgroup_quota_cpus() -> Option<usize> {
    if let Ok(s) = fs::read_to_string("/sys/fs/cgroup/cpu.max") {
        return quota_from_v2(&s);
    }
    let quota = fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").ok()?;
    let period = fs::read_to_string("/sys/fs/cgroup/cpu/cpu.cfs_period_us").ok()?;
    quota_from_parts(quota.trim(), period.trim())
}

fn quota_from_v2(s: &str) -> Option<usize> {
    let mut it = s.split_whitespace();
    let quota = it.next()?;
    let period = it.next().unwrap_or("100000");
    quota_from_parts(quota, period)
}

fn quota_from_parts(quota: &str, period: &str) -> Option<usize> {
    let q: i64 = quota.parse().ok()?; // "max" does not parse: no quota.
    let p: i64 = period.parse().ok()?;
    if q <= 0 || p <= 0 {
        return None;
    }
    Some(((q + p - 1) / p).max(1) as usize)
}

/// One shard per usable core: the affinity mask, capped by the cgroup quota.
pub fn available_cores() -> usize {
    let n = affinity_cpus().len().max(1);
    cgroup_quota_cpus().map_or(n, |q| q.min(n)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list("5"), vec![5]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("3-1,x,2"), vec![2]);
    }

    #[test]
    fn quotas() {
        assert_eq!(quota_from_v2("max 100000\n"), None);
        assert_eq!(quota_from_v2("150000 100000\n"), Some(2));
        assert_eq!(quota_from_v2("50000 100000"), Some(1));
        assert_eq!(quota_from_parts("-1", "100000"), None);
        assert_eq!(quota_from_parts("400000", "100000"), Some(4));
    }
}
