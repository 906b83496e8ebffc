//! The process-wide rayon pool intake checks signatures on: one worker per core, named
//! `dawn-verify-N`, each kept to its own core.
//!
//! Why keep workers to cores: with free placement the kernel often woke both workers on
//! the same core (the waker's) and left the other idle for milliseconds at a time (seen
//! with `perf sched timehist` under `dawn bench ingest`, about 3% of the cores' time).
//! Work stealing already balances the work between workers; what pinning removes is two
//! workers queued on one core. Other threads (tokio, exec, the log syncer) stay free.

/// Builds the global rayon pool with `threads` workers (0: one per core). With `pin`,
/// worker `i` is kept to the `i`-th core this process may run on, when it may run on at
/// least `threads` cores. Does nothing if the global pool is already built (it is built
/// once per process; the first caller's settings hold).
pub fn init_verify_pool(threads: usize, pin: bool) {
    let threads =
        if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let cores = if pin { allowed_cores().filter(|c| c.len() >= threads) } else { None };
    let built = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("dawn-verify-{i}"))
        .start_handler(move |i| {
            if let Some(cores) = &cores {
                let _ = pin_current_thread(cores[i]);
            }
        })
        .build_global();
    if built.is_ok() {
        tracing::debug!(target: "dawn::node", threads, pin, "verify pool ready");
    }
}

/// The cores this process may run on, in order.
#[cfg(target_os = "linux")]
pub(super) fn allowed_cores() -> Option<Vec<usize>> {
    // SAFETY: `set` is a plain bit set that the call fills; its size is passed.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if r != 0 {
        return None;
    }
    // SAFETY: CPU_ISSET reads a bit of the set filled above; `c` is within its size.
    Some((0..libc::CPU_SETSIZE as usize).filter(|&c| unsafe { libc::CPU_ISSET(c, &set) }).collect())
}

#[cfg(not(target_os = "linux"))]
pub(super) fn allowed_cores() -> Option<Vec<usize>> {
    None
}

/// The affinity set of `cpus`, for `sched_setaffinity`.
#[cfg(target_os = "linux")]
pub(super) fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: a zeroed set is empty; CPU_SET sets one bit of it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    set
}

/// Keeps the calling thread to `core`; whether it could. A failure only costs placement,
/// so it is logged, and the caller decides what it means.
#[cfg(target_os = "linux")]
pub(super) fn pin_current_thread(core: usize) -> bool {
    let set = cpu_set(&[core]);
    // SAFETY: pid 0 is the calling thread; the set's size is passed.
    let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if r != 0 {
        tracing::debug!(target: "dawn::node", core, error = %std::io::Error::last_os_error(), "could not keep a thread to its core");
    }
    r == 0
}

#[cfg(not(target_os = "linux"))]
pub(super) fn pin_current_thread(_: usize) -> bool {
    false
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn this_process_may_run_somewhere() {
        let cores = super::allowed_cores().expect("sched_getaffinity works");
        assert!(!cores.is_empty());
        assert!(cores.windows(2).all(|w| w[0] < w[1]));
    }
}
