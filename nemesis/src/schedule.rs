//! `--nemesis` as written: which faults a run takes turns with, and which
//! of them start together. `kill,pause` is two steps taken in turn;
//! `partition+pause` is one step whose faults are in force at once (a
//! node paused inside a partition); `all` is every fault the system
//! supports, alone and in Jepsen-like pairs — which of them it supports
//! is for the caller to find out and `retain`.

use crate::Fault;

/// The steps a nemesis takes in turn; each starts all its faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The steps, in order.
    pub steps: Vec<Vec<Fault>>,
    /// Written as `all`: faults a system lacks are dropped, not refused.
    pub all: bool,
}

/// What `all` means before the system is asked: every fault that leaves
/// the cluster as it found it (not `corrupt`, after which a node may
/// never start again, nor `client-pause`, which is about the test's own
/// workers), with pairs that strike at once among them — early, so a
/// short run meets one.
const ALL: &[&[Fault]] = &[
    &[Fault::Partition],
    &[Fault::Kill],
    &[Fault::Partition, Fault::Pause],
    &[Fault::Pause],
    &[Fault::Delay],
    &[Fault::Partition, Fault::Kill],
    &[Fault::Loss],
    &[Fault::Blackhole],
    &[Fault::LoseUnsynced],
    &[Fault::Delay, Fault::Pause],
    &[Fault::Clock],
    &[Fault::Strobe],
];

impl Schedule {
    /// Parses `none`, `all`, or steps separated by commas whose faults
    /// are joined by `+`.
    pub fn parse(s: &str) -> Result<Schedule, String> {
        let mut steps: Vec<Vec<Fault>> = Vec::new();
        let mut all = false;
        for part in s.split(',').map(str::trim) {
            match part {
                "none" => {}
                "all" => {
                    all = true;
                    steps.extend(ALL.iter().map(|s| s.to_vec()));
                }
                step => {
                    let mut faults = Vec::new();
                    for name in step.split('+').map(str::trim) {
                        let f: Fault = name.parse()?;
                        if faults.contains(&f) {
                            return Err(format!("{step:?} names {f} twice"));
                        }
                        faults.push(f);
                    }
                    steps.push(faults);
                }
            }
        }
        let mut seen: Vec<Vec<Fault>> = Vec::new();
        steps.retain(|s| {
            let new = !seen.contains(s);
            seen.push(s.clone());
            new
        });
        Ok(Schedule { steps, all })
    }

    /// Every fault named, once each, in order of first mention.
    pub fn faults(&self) -> Vec<Fault> {
        let mut out: Vec<Fault> = Vec::new();
        for f in self.steps.iter().flatten() {
            if !out.contains(f) {
                out.push(*f);
            }
        }
        out
    }

    /// Drops the steps with a fault `keep` refuses.
    pub fn retain(&mut self, mut keep: impl FnMut(Fault) -> bool) {
        self.steps.retain(|s| s.iter().all(|&f| keep(f)));
    }

    /// The schedule as `--nemesis` would take it (steps apart by ", ").
    pub fn describe(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| s.iter().map(Fault::to_string).collect::<Vec<_>>().join("+"))
            .collect();
        if steps.is_empty() {
            "none".into()
        } else {
            steps.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_steps_pairs_and_all() {
        let s = Schedule::parse("kill,partition+pause").unwrap();
        assert_eq!(
            s.steps,
            vec![vec![Fault::Kill], vec![Fault::Partition, Fault::Pause]]
        );
        assert_eq!(s.faults(), vec![Fault::Kill, Fault::Partition, Fault::Pause]);
        assert!(!s.all);
        assert_eq!(Schedule::parse("none").unwrap().steps, Vec::<Vec<Fault>>::new());
        assert_eq!(
            Schedule::parse("kill,kill,loss").unwrap().describe(),
            "kill, loss"
        );
        assert!(Schedule::parse("flood")
            .unwrap_err()
            .contains("unknown fault \"flood\""));
        assert!(Schedule::parse("kill+kill").is_err());

        let mut all = Schedule::parse("all").unwrap();
        assert!(all.all);
        assert!(all.faults().contains(&Fault::LoseUnsynced));
        assert!(!all.faults().contains(&Fault::Corrupt));
        assert!(all.steps.iter().any(|s| s.len() == 2));
        // A system without clocks loses the clock steps only.
        all.retain(|f| !f.moves_clocks());
        assert!(all.faults().iter().all(|f| !f.moves_clocks()));
        assert!(all.steps.contains(&vec![Fault::Partition, Fault::Pause]));
    }
}
