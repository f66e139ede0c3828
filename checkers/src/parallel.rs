//! Jobs spread over threads: each thread takes the next job from a shared
//! counter until none is left, and the results come back in job order,
//! so what runs in parallel reads the same as what runs in turn. It is
//! not a pool: threads live for one call.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(0)`, `f(1)`, … `f(jobs - 1)`, on at most `threads` threads (none
/// spawned for one thread or one job), in job order.
pub(crate) fn map<T: Send>(jobs: usize, threads: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let workers = threads.min(jobs);
    if workers <= 1 {
        return (0..jobs).map(f).collect();
    }
    let next = AtomicUsize::new(0);
    let done: Vec<(usize, T)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        if j >= jobs {
                            break mine;
                        }
                        mine.push((j, f(j)));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(mine) => mine,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let mut slots: Vec<Option<T>> = (0..jobs).map(|_| None).collect();
    for (j, t) in done {
        slots[j] = Some(t);
    }
    slots
        .into_iter()
        .map(|t| t.expect("every job ran once"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_job_order_whatever_the_threads() {
        for threads in [1, 2, 3, 8] {
            let out = map(50, threads, |j| {
                // Early jobs take longest, so threads finish out of order.
                std::thread::sleep(std::time::Duration::from_micros((50 - j as u64) * 20));
                j * j
            });
            assert_eq!(
                out,
                (0..50).map(|j| j * j).collect::<Vec<_>>(),
                "{threads} threads"
            );
        }
        assert!(map(0, 4, |j| j).is_empty());
    }
}
