//! `--nemesis` as written: which faults a run takes turns with, and which
//! of them start together. `kill,pause` is two steps taken in turn;
//! `partition+pause` is one step whose faults are in force at once (a
//! node paused inside a partition); `all` is every fault the system
//! supports, alone and in Jepsen-like pairs — which of them it supports
//! is for the caller to find out: [`Schedule::leave_out`] drops what it
//! cannot take and keeps the reason, so each fault left out is named once.

use crate::{Fault, FAULTS};

/// The steps a nemesis takes in turn; each starts all its faults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// The steps, in order.
    pub steps: Vec<Vec<Fault>>,
    /// Written as `all`: faults a system lacks are dropped, not refused.
    pub all: bool,
    /// Under `all`, the faults left out, grouped by the reason (each
    /// reason once): first those `all` never takes, then what
    /// [`Schedule::leave_out`] dropped.
    pub left_out: Vec<(Vec<Fault>, String)>,
}

/// What `all` means before the system is asked: every fault the table
/// admits to `all` (a test holds the two to each other), with pairs that
/// strike at once among them — early, so a short run meets one.
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
        let mut schedule = Schedule {
            steps,
            all,
            left_out: Vec::new(),
        };
        // Named as well as `all` (`all,corrupt`): not left out.
        let named = schedule.faults();
        for d in FAULTS.iter().filter(|d| all && !named.contains(&d.fault)) {
            if let Err(why) = d.in_all {
                schedule.note(d.fault, why.to_string());
            }
        }
        Ok(schedule)
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

    /// Under `all`, drops the steps with a fault `why` gives a reason
    /// against, and notes each such fault with its reason. A schedule
    /// written fault by fault is left as it is: what it names is the
    /// caller's to refuse.
    pub fn leave_out(&mut self, mut why: impl FnMut(Fault) -> Option<String>) {
        if !self.all {
            return;
        }
        for f in self.faults() {
            if let Some(why) = why(f) {
                self.steps.retain(|s| !s.contains(&f));
                self.note(f, why);
            }
        }
    }

    fn note(&mut self, fault: Fault, why: String) {
        match self.left_out.iter_mut().find(|(_, w)| *w == why) {
            Some((faults, _)) => faults.push(fault),
            None => self.left_out.push((vec![fault], why)),
        }
    }

    /// What `all` left out, one line per reason, the reason said once
    /// (`without clock (why); strobe likewise`).
    pub fn left_out_lines(&self) -> Vec<String> {
        self.left_out
            .iter()
            .map(|(faults, why)| {
                let others: Vec<String> = faults[1..].iter().map(Fault::to_string).collect();
                let likewise = if others.is_empty() {
                    String::new()
                } else {
                    format!("; {} likewise", others.join(" and "))
                };
                format!("without {} ({why}){likewise}", faults[0])
            })
            .collect()
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
        // A system without clocks loses the clock steps only, named once
        // with their one reason.
        all.leave_out(|f| f.moves_clocks().then(|| "no clocks here".to_string()));
        assert!(all.faults().iter().all(|f| !f.moves_clocks()));
        assert!(all.steps.contains(&vec![Fault::Partition, Fault::Pause]));
        let lines = all.left_out_lines();
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert!(
            lines.contains(&"without clock (no clocks here); strobe likewise".to_string()),
            "{lines:?}"
        );
        // A schedule written by name is not pruned.
        let mut named = Schedule::parse("clock").unwrap();
        named.leave_out(|_| Some("no".into()));
        assert_eq!(named.faults(), vec![Fault::Clock]);
        assert!(named.left_out.is_empty());
    }

    #[test]
    fn all_takes_exactly_what_the_table_admits_and_names_the_rest() {
        let all = Schedule::parse("all").unwrap();
        for d in FAULTS {
            assert_eq!(all.faults().contains(&d.fault), d.in_all.is_ok(), "{}", d.name);
        }
        let lines = all.left_out_lines();
        for d in FAULTS {
            if let Err(why) = d.in_all {
                let line = format!("without {} ({why})", d.name);
                assert!(lines.contains(&line), "{line} not in {lines:?}");
            }
        }
        // Named as well, a fault is taken and not said to be left out.
        let with = Schedule::parse("all,corrupt").unwrap();
        assert!(with.faults().contains(&Fault::Corrupt));
        assert!(with.left_out_lines().iter().all(|l| !l.contains("corrupt")));
    }
}
