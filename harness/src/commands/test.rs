//! `faultline test`: run the validated configuration (as many times as
//! asked) and print the verdict, the anomaly in one sentence and the run
//! folder.

use anyhow::Result;
use checkers::Verdict;

use crate::cli::TestArgs;
use crate::run::controller::{self, ClusterSpec, TestConfig};

/// The cluster in words, for the opening line.
fn describe(cfg: &TestConfig) -> String {
    match &cfg.cluster {
        ClusterSpec::Start { backend } => format!("{} ({})", cfg.system.describe(), backend.describe()),
        ClusterSpec::Existing { endpoints, access } => format!(
            "an existing {} cluster ({} endpoint{}; {}) that faultline did not start: {}",
            cfg.system.name(),
            endpoints.len(),
            if endpoints.len() == 1 { "" } else { "s" },
            cfg.system.describe(),
            match access {
                None => "no faults are injected".to_string(),
                Some(a) => format!("faults through {}", a.backend.describe()),
            }
        ),
    }
}

pub fn test(args: TestArgs, matches: &clap::ArgMatches) -> Result<u8> {
    let mut cfg = crate::cli::config::config(&args, matches)?;
    let argv: Vec<String> = std::env::args().collect();
    let rt = super::runtime()?;
    let mut verdicts = Vec::new();
    for i in 0..args.test_count {
        if i > 0 {
            cfg.seed = cfg.seed.wrapping_add(1);
        }
        eprintln!(
            "faultline test: {} on {}{}, faults: {}, {} s, seed {}",
            cfg.workload,
            describe(&cfg),
            cfg.client
                .as_ref()
                .map(|c| format!(", clients: {c}"))
                .unwrap_or_default(),
            cfg.schedule.describe(),
            cfg.time_limit.as_secs_f64(),
            cfg.seed
        );
        let out = rt.block_on(controller::run(&cfg, &argv))?;
        super::print_finding(
            out.verdict,
            &format!("{}, at {:.0} ops/s", out.sentence, out.ops_per_sec),
            out.note.as_deref(),
            &out.dir,
        );
        // The verdict stands, but a node left unhealed is an error the
        // exit code must carry.
        if let Some(left) = out.left_behind {
            eprintln!("error: tearing the cluster down: {left}");
            return Ok(crate::error::INTERNAL);
        }
        verdicts.push(out.verdict);
        if out.interrupted {
            break;
        }
    }
    let composed = Verdict::compose(verdicts.iter().copied());
    if args.test_count > 1 {
        println!("{composed}: {}", runs(&verdicts, args.test_count));
    }
    Ok(composed.exit_code() as u8)
}

/// The runs of `--test-count` in words: how many ran, and each verdict's
/// count (`2 runs: 2 valid, 0 invalid, 0 unknown`).
fn runs(verdicts: &[Verdict], asked: usize) -> String {
    let count = |v: Verdict| verdicts.iter().filter(|&&w| w == v).count();
    let ran = if verdicts.len() == asked {
        format!("{asked} runs")
    } else {
        format!("{} of {asked} runs (interrupted)", verdicts.len())
    };
    format!(
        "{ran}: {} valid, {} invalid, {} unknown",
        count(Verdict::Valid),
        count(Verdict::Invalid),
        count(Verdict::Unknown)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runs_line_counts_what_ran() {
        use Verdict::*;
        assert_eq!(runs(&[Valid, Valid], 2), "2 runs: 2 valid, 0 invalid, 0 unknown");
        assert_eq!(
            runs(&[Invalid], 3),
            "1 of 3 runs (interrupted): 0 valid, 1 invalid, 0 unknown"
        );
    }
}
