//! Checks that io_uring can be set up before shards start, and turns a
//! failure into an error that says which limit is in the way and what to
//! change: the `kernel.io_uring_disabled` sysctl, a seccomp filter (Docker's
//! and containerd's default profiles block io_uring), or too little locked
//! memory (`ulimit -l`).

use std::fmt;
use std::fs;

/// The runtime could not start.
#[derive(Debug, Clone)]
pub struct RuntimeError {
    /// What failed, with the cause and the remedy.
    pub message: String,
}

impl fmt::Display for RuntimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for RuntimeError {}

/// glommio refuses to start below this RLIMIT_MEMLOCK (glommio 0.9
/// `sys/uring.rs`, `MIN_MEMLOCK_LIMIT`).
const MIN_MEMLOCK: u64 = 512 * 1024;

/// Raises the soft RLIMIT_MEMLOCK to the hard limit, as databases on
/// io_uring do: container runtimes often start processes with a 64 KiB soft
/// limit and a larger hard one. Returns the soft limit in force afterwards.
pub fn raise_memlock() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own and pass by pointer;
    // RLIMIT_MEMLOCK is a valid resource.
    #[allow(unsafe_code)]
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) } == 0;
    if !ok {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit only reads the struct; raising the soft limit up
        // to the hard limit needs no privilege.
        #[allow(unsafe_code)]
        let ok = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } == 0;
        if ok {
            return Some(raised.rlim_cur);
        }
    }
    Some(lim.rlim_cur)
}

/// Builds one executor on a scratch thread to see whether io_uring works.
pub fn check() -> Result<(), RuntimeError> {
    if let Some(limit) = raise_memlock() {
        if limit < MIN_MEMLOCK {
            return Err(RuntimeError {
                message: format!(
                    "cannot start the runtime: too little locked memory for io_uring \
                     (RLIMIT_MEMLOCK is {limit} bytes, at least {MIN_MEMLOCK} are needed); \
                     raise it (ulimit -l, or the container runtime's memlock rlimit, \
                     e.g. containerd's LimitMEMLOCK=infinity)"
                ),
            });
        }
    }
    // glommio panics (rather than returning an error) when io_uring is
    // refused, with a message that blames the kernel's age; keep that off
    // the terminal and explain the real cause below. Nothing else runs yet.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let probe = std::thread::Builder::new()
        .name("sluice-preflight".into())
        .spawn(|| {
            glommio::LocalExecutorBuilder::new(glommio::Placement::Unbound)
                .make()
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .map(|t| t.join());
    std::panic::set_hook(default_hook);
    match probe {
        Err(e) => Err(RuntimeError {
            message: format!("cannot start a thread: {e}"),
        }),
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(diagnose(&e)),
        Ok(Err(_)) => Err(diagnose("glommio could not set up io_uring")),
    }
}

/// Explains an executor start-up failure from what the system tells.
pub fn diagnose(err: &str) -> RuntimeError {
    let lower = err.to_ascii_lowercase();
    let cause = if let Some(v) = sysctl_disabled() {
        format!(
            "io_uring is disabled by the kernel.io_uring_disabled sysctl (value {v}); \
             set it to 0 (sysctl -w kernel.io_uring_disabled=0), or on a shared node \
             allow this process's group through kernel.io_uring_group"
        )
    } else if lower.contains("memlock") || lower.contains("locked memory") {
        format!(
            "too little locked memory for io_uring rings (RLIMIT_MEMLOCK is {}); \
             raise it (ulimit -l, or the container's memlock rlimit) to at least 512 KiB",
            memlock_limit().unwrap_or_else(|| "unknown".into())
        )
    } else if seccomp_filtered() {
        // Under a seccomp filter the likeliest cause, whatever glommio
        // says (it panics with a message about the kernel's age).
        "io_uring system calls are blocked by a seccomp filter (the default profiles \
         of Docker and containerd block io_uring_setup); run with a seccomp profile \
         that allows io_uring_setup, io_uring_enter and io_uring_register \
         (Kubernetes: securityContext.seccompProfile, or type Unconfined)"
            .to_string()
    } else if lower.contains("not implemented") {
        "this kernel has no io_uring (Linux 5.8 or newer is needed)".to_string()
    } else {
        "io_uring could not be set up".to_string()
    };
    RuntimeError {
        message: format!("cannot start the runtime: {cause} (error: {err})"),
    }
}

fn sysctl_disabled() -> Option<String> {
    let v = fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?;
    let v = v.trim().to_string();
    (v != "0" && !v.is_empty()).then_some(v)
}

fn seccomp_filtered() -> bool {
    fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Seccomp:"))
                .map(|v| v.trim() == "2")
        })
        .unwrap_or(false)
}

fn memlock_limit() -> Option<String> {
    let s = fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max locked memory"))?;
    let soft = line.split_whitespace().nth(3)?;
    Some(format!("{soft} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diagnosis_names_a_cause() {
        let e = diagnose("Reactor error: MemLock limit");
        assert!(e.message.contains("cannot start the runtime"));
        assert!(e.message.contains("MemLock limit"));
    }
}
