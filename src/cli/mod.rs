//! What only the binary does: the command line (`args.rs`), the signal handlers (`signals.rs`),
//! the service loop of rounds (`service.rs`), its status (`status.rs`) and, with the "metrics"
//! feature, its `/metrics` and `/healthz` (`metrics.rs`, `endpoint.rs`), logging and the
//! progress bar (`progress.rs`, `watch.rs`), `pagecrawl try` (`try_page.rs`), and the demo
//! command (`demo.rs`, with the "demo" feature). The library crawls; this module decides what to
//! crawl, when, and what to tell the world about it.

use std::path::Path;

use anyhow::{Result, bail};
use clap::CommandFactory;
use log::info;
use pagecrawl::{Config, ExitCode, OutputLock, OwnerLock, Seeded, Shutdown};

use args::{Cli, Command, RunArgs};
use progress::Progress;
use service::Overrides;

pub mod args;
#[cfg(feature = "demo")]
mod demo;
#[cfg(feature = "demo")]
mod demo_leftovers;
#[cfg(feature = "demo")]
mod demo_watch;
#[cfg(feature = "metrics")]
mod endpoint;
#[cfg(feature = "metrics")]
mod metrics;
pub mod progress;
mod service;
mod signals;
mod status;
mod try_page;
mod watch;

/// Runs the command `cli` asks for.
pub fn run(cli: Cli, progress: Option<Progress>) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Run(args)) => crawl(args, progress),
        None if cli.run.config.is_some() => crawl(cli.run, progress),
        None => {
            Cli::command().print_help()?;
            Ok(ExitCode::Usage)
        }
        Some(Command::Seed { config }) => {
            let report = pagecrawl::seed(&load_config(&config)?)?;
            match report.seeded {
                Seeded::Now(pages) => println!("seeded {}: {pages} pages", report.stream),
                Seeded::Already { requeued } => println!(
                    "{} was seeded already; {requeued} failed pages put back",
                    report.stream
                ),
                Seeded::NextRound { round, pages } => {
                    println!("{}: round {round} starts: {pages} pages", report.stream)
                }
                Seeded::Running { round, waiting } => {
                    println!(
                        "{}: round {round} goes on: waiting for {waiting}",
                        report.stream
                    )
                }
            }
            Ok(ExitCode::Success)
        }
        Some(Command::Check { config }) => {
            print!("{}", load_config(&config)?.describe());
            println!("\n# config OK");
            // What `check` cannot know: whether the selectors find anything on the real site.
            println!(
                "# to see what it extracts from a page: pagecrawl try --config {}",
                config.display()
            );
            Ok(ExitCode::Success)
        }
        Some(Command::Try {
            config,
            page,
            items,
        }) => try_page::command(&load_config(&config)?, page, items as usize),
        #[cfg(feature = "demo")]
        Some(Command::Demo(args)) => demo::command(args),
    }
}

/// Reads and validates the config file at `path`, and refuses what this build cannot do.
pub fn load_config(path: &Path) -> Result<Config> {
    let config = Config::load(path)?;
    #[cfg(not(feature = "metrics"))]
    if config.service.listen.is_some() {
        anyhow::bail!(
            "in config file {}: `service.listen` needs the \"metrics\" feature, and this \
             pagecrawl was built without it (rebuild with `--features metrics`, a default \
             feature, or remove `service.listen`)",
            path.display()
        );
    }
    Ok(config)
}

/// `pagecrawl run`: one crawl, or a service of rounds.
fn crawl(args: RunArgs, progress: Option<Progress>) -> Result<ExitCode> {
    let Some(path) = args.config else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "`pagecrawl run` needs --config PATH",
            )
            .exit();
    };
    let mut config = load_config(&path)?;
    if args.once && config.schedule.is_none() {
        bail!(
            "--once runs one round of a `[schedule]` service, and {} has no `[schedule]`: \
             without it, `pagecrawl run` crawls once anyway",
            path.display()
        );
    }
    let overrides = Overrides {
        crawlers: args.crawlers,
        parsers: args.parsers,
        once: args.once,
    };
    overrides.apply(&mut config);
    // Before anything is moved or opened, and held until the process ends (every round).
    let _owner = OwnerLock::acquire(&config.output)?;
    if args.fresh {
        for (from, to) in pagecrawl::start_fresh(&config.output)? {
            info!(
                "--fresh: moved {} aside to {}",
                from.display(),
                to.display()
            );
        }
    }
    let shutdown = Shutdown::new();
    let output_lock = OutputLock::default();
    let reloads = signals::install(shutdown.clone(), output_lock.clone())?;
    service::run(
        &path,
        overrides,
        config,
        &shutdown,
        &output_lock,
        progress,
        reloads,
    )
}
