//! The command line as `main` parses it: the clap command of `cli.rs`, with
//! each system's flags added to `test`, and the help of every flag that
//! lists things — `--db`, `--workload`, `--nemesis`, `check --model`,
//! `--consistency-models` — written from the lists themselves (the
//! systems, the workloads, the fault table, the models), so that help
//! cannot name fewer than exist. A test here holds README.md's tables to
//! the same lists.

use checkers::txn::{Model, Workload as TxnWorkload};
use checkers::ModelKind;
use clap::CommandFactory;
use nemesis::FAULTS;
use workloads::Workload;

use crate::cli::Cli;
use crate::systems::{self, SYSTEMS};

/// The full command: what `main` parses and prints help for.
pub fn command() -> clap::Command {
    Cli::command()
        .mut_subcommand("test", |t| {
            systems::augment(t)
                .mut_arg("db", |a| a.help(db()))
                .mut_arg("workload", |a| a.help(workload()))
                .mut_arg("nemesis", |a| a.help(nemesis()))
                .mut_arg("consistency_models", |a| a.help(consistency_models()))
        })
        .mut_subcommand("check", |c| {
            c.mut_arg("model", |a| a.help(model()))
                .mut_arg("consistency_models", |a| a.help(consistency_models()))
        })
}

/// `a, b or c`.
fn either(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}

fn db() -> String {
    let systems: Vec<String> = SYSTEMS
        .iter()
        .map(|e| format!("{} ({})", e.name, e.what))
        .collect();
    let flags: Vec<String> = SYSTEMS
        .iter()
        .filter_map(|e| {
            let own = e.flags();
            (!own.is_empty()).then(|| format!("{} {}", e.name, own.join(", ")))
        })
        .collect();
    format!(
        "The system under test: {}. Each has flags of its own ({}); another system's flag is refused, not ignored.",
        either(&systems),
        flags.join("; ")
    )
}

fn workload() -> String {
    let all: Vec<String> = Workload::ALL
        .iter()
        .map(|w| format!("{} ({})", w.name(), w.about()))
        .collect();
    format!(
        "What the clients do: {}. --db's system may run only some.",
        either(&all)
    )
}

fn nemesis() -> String {
    let faults: Vec<String> = FAULTS
        .iter()
        .map(|d| format!("{} ({})", d.name, d.words))
        .collect();
    let not_in_all: Vec<String> = FAULTS
        .iter()
        .filter_map(|d| d.in_all.err().map(|why| format!("{} ({why})", d.name)))
        .collect();
    format!(
        "Faults: {}. Steps separated by commas take turns; faults joined by + strike at once \
         (partition+pause). none: no faults. all: every fault the system and its nodes can take, some in \
         pairs, each one left out named with the reason; never {}. Default: kill,pause (none with \
         --endpoints).",
        faults.join(", "),
        either(&not_in_all)
    )
}

/// The transactional workloads' names (Elle's checkers).
fn txn_workloads() -> Vec<String> {
    TxnWorkload::ALL.iter().map(|w| w.name().to_string()).collect()
}

fn model() -> String {
    let models: Vec<String> = ModelKind::ALL.iter().map(|m| m.name().to_string()).collect();
    let txn = txn_workloads();
    format!(
        "The model: {}; or, for transactional histories, {} (Elle's checkers). Default: the format's own \
         (etcd logs: etcd, kv logs: kv), else guessed from the functions and micro-ops used.",
        models.join(", "),
        either(&txn)
    )
}

fn consistency_models() -> String {
    let txn = txn_workloads();
    let models: Vec<String> = Model::ALL.iter().map(|m| m.name().to_string()).collect();
    format!(
        "For {}: the consistency models the history must satisfy, comma-separated: {}. Default: {}.",
        txn.join(" and "),
        models.join(", "),
        models[0]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The long help of `faultline SUB --help`, as a user sees it.
    fn help(sub: &str) -> String {
        let mut cmd = command();
        cmd.build();
        cmd.find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string()
    }

    /// Whether `text` names `name` as a word (not inside a longer name:
    /// `kill` is not found in `skill`, nor `set` in `reset`).
    fn names(text: &str, name: &str) -> bool {
        text.match_indices(name).any(|(i, _)| {
            let before = text[..i].chars().next_back();
            let after = text[i + name.len()..].chars().next();
            let edge = |c: Option<char>| c.is_none_or(|c| !(c.is_alphanumeric() || c == '-' || c == '_'));
            edge(before) && edge(after)
        })
    }

    #[test]
    fn test_help_names_every_system_workload_and_fault() {
        let text = help("test");
        let section = |flag: &str| {
            let at = text
                .find(&format!("--{flag} "))
                .unwrap_or_else(|| panic!("no --{flag} in {text}"));
            let end = text[at + 2..].find("\n  -").map_or(text.len(), |e| at + 2 + e);
            text[at..end].to_string()
        };
        let db = section("db");
        for e in SYSTEMS {
            assert!(names(&db, e.name), "--db's help leaves out {}: {db}", e.name);
        }
        let workload = section("workload");
        for w in Workload::ALL {
            assert!(
                names(&workload, w.name()),
                "--workload's help leaves out {w}: {workload}"
            );
        }
        let nemesis = section("nemesis");
        for d in FAULTS {
            assert!(
                names(&nemesis, d.name),
                "--nemesis's help leaves out {}: {nemesis}",
                d.name
            );
        }
        let models = section("consistency-models");
        for m in Model::ALL {
            assert!(
                names(&models, m.name()),
                "--consistency-models' help leaves out {m}"
            );
        }
    }

    #[test]
    fn check_help_names_every_model() {
        let text = help("check");
        for m in ModelKind::ALL {
            assert!(names(&text, m.name()), "check --help leaves out {m}: {text}");
        }
        for w in TxnWorkload::ALL {
            assert!(names(&text, w.name()), "check --help leaves out {}", w.name());
        }
        let mut top = command();
        let top = top.render_help().to_string();
        assert!(!top.contains("for linearizability"), "{top}");
    }

    /// README.md's section from the heading `title` to the next heading.
    fn readme_section(title: &str) -> String {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
        let at = readme
            .lines()
            .position(|l| l.starts_with('#') && l.trim_start_matches('#').trim() == title)
            .unwrap_or_else(|| panic!("README.md has no heading {title:?}"));
        readme
            .lines()
            .skip(at + 1)
            .take_while(|l| !l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The first cells of a Markdown table's rows.
    fn first_cells(section: &str) -> Vec<String> {
        section
            .lines()
            .filter(|l| l.starts_with('|') && !l.starts_with("|---"))
            .skip(1)
            .filter_map(|l| l.split('|').nth(1).map(str::to_string))
            .collect()
    }

    #[test]
    fn the_readme_tables_name_every_system_and_fault() {
        let reference = readme_section("`faultline test [options]`");
        let db_row = reference
            .lines()
            .find(|l| l.starts_with("| `--db D` |"))
            .expect("README.md's --db row");
        for e in SYSTEMS {
            assert!(
                db_row.contains(&format!("`{}`", e.name)),
                "README.md's --db row leaves out {}",
                e.name
            );
        }
        // The demo cluster is introduced before, in "A test, start to
        // finish"; every real system has its rows here.
        let real = readme_section("Real systems, and what each should show");
        let commands = first_cells(&real).join(" ");
        for e in SYSTEMS.iter().filter(|e| e.name != "demo") {
            assert!(
                names(&commands, &format!("--db {}", e.name)),
                "README.md's \"Real systems\" table has no row for --db {}",
                e.name
            );
        }

        let faults = readme_section("Faults");
        let named: Vec<String> = first_cells(&faults)
            .iter()
            .flat_map(|c| {
                c.split('/')
                    .map(|f| f.trim().trim_matches('`').to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        for d in FAULTS {
            assert!(
                named.iter().any(|n| n == d.name),
                "README.md's Faults table leaves out {}",
                d.name
            );
        }
        for n in &named {
            assert!(
                FAULTS.iter().any(|d| d.name == n),
                "README.md's Faults table lists {n}, no fault"
            );
        }
        // The paragraph on `all` names what it takes and what it does not.
        let all = faults
            .split("\n\n")
            .find(|p| p.starts_with("`all`"))
            .expect("README.md's paragraph on `all`");
        for d in FAULTS {
            assert!(
                all.contains(&format!("`{}`", d.name)),
                "README.md on `all` leaves out {}",
                d.name
            );
        }
    }
}
