//! The `faultline` command: parse the command line, dispatch, and turn the
//! outcome into Jepsen's exit codes (0 valid, 1 invalid, 2 unknown, 254 bad
//! arguments or input, 255 internal error). Everything else is the
//! `harness` library.

use std::process::ExitCode;

use clap::FromArgMatches;

use harness::cli::{Cli, Command};
use harness::commands;
use harness::error::{UsageError, BAD_INPUT, INTERNAL};

fn main() -> ExitCode {
    // Each system adds its own flags to `test`; lists in help come from
    // the registries.
    let parsed = harness::cli::help::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(p) => p,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { BAD_INPUT } else { 0 });
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("FAULTLINE_LOG")
                .unwrap_or_else(|_| "warn,zookeeper_client=error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Check(args) => {
            // `faultline check --json | head`: a closed pipe ends the
            // command quietly, as it does cat or grep (nothing to heal here).
            #[allow(unsafe_code)]
            // SAFETY: no other thread exists yet and no handler is replaced.
            unsafe {
                let _ = nix::sys::signal::signal(
                    nix::sys::signal::Signal::SIGPIPE,
                    nix::sys::signal::SigHandler::SigDfl,
                );
            }
            commands::check::run(args)
        }
        Command::Bench(args) => commands::bench::run(args),
        Command::Test(args) => commands::test::test(
            *args,
            matches.subcommand_matches("test").expect("the test command"),
        ),
        Command::Analyze(args) | Command::Report(args) => commands::analyze::run(args),
        Command::Cleanup => commands::cleanup::run(),
        Command::Serve(args) => commands::serve::run(args),
        Command::DemoNode(a) => harness::demo::node::run(harness::demo::node::NodeArgs {
            id: a.id,
            mode: a.mode,
            peers: a.peers,
            dir: a.dir,
        })
        .map(|_| 0),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            let bad_input = e
                .chain()
                .any(|c| c.is::<checkers::InputError>() || c.is::<UsageError>());
            ExitCode::from(if bad_input { BAD_INPUT } else { INTERNAL })
        }
    }
}
