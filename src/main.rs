//! The `pagecrawl` command line: parses arguments and calls into the library.
//!
//! Nothing here crawls; it picks a subcommand, maps its result to an exit code, and prints errors
//! with their whole context chain.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use clap::{Args, CommandFactory, Parser, Subcommand};

use log::info;
use pagecrawl::ExitCode;
use pagecrawl::OwnerLock;
use pagecrawl::Seeded;
use pagecrawl::cli::demo::{self, DemoOptions};
use pagecrawl::cli::progress::{self, Progress};
use pagecrawl::cli::service::{self, Overrides};
use pagecrawl::config::{Config, SyncMode, limits};
use pagecrawl::shutdown::{self, OutputLock, Shutdown};

/// Crawl page-numbered listings into JSON Lines, and stop without losing an item.
#[derive(Debug, Parser)]
#[command(name = "pagecrawl", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// `pagecrawl --config PATH` is short for `pagecrawl run --config PATH`.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Crawl as the config file says.
    Run(RunArgs),
    /// Crawl the built-in demo site (no internet needed), or serve it alone with --serve.
    Demo(DemoArgs),
    /// Validate a config file and print the effective settings.
    Check {
        /// The config file.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
    /// Put the page range of a `[frontier] kind = "redis"` crawl into Redis (daemons also do
    /// it when they start; this is the same, exactly once), and put back pages that failed.
    Seed {
        /// The config file.
        #[arg(long, short, value_name = "PATH")]
        config: PathBuf,
    },
}

#[derive(Debug, Args)]
struct RunArgs {
    /// The config file (TOML).
    #[arg(long, short, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Crawler threads, overriding `threads.crawlers`.
    #[arg(long, value_name = "N", value_parser = crawlers_arg)]
    crawlers: Option<NonZeroUsize>,
    /// Parser threads, overriding `threads.parsers`.
    #[arg(long, value_name = "N", value_parser = parsers_arg)]
    parsers: Option<NonZeroUsize>,
    /// Start over: move the old output and state aside (renamed, never deleted) instead of
    /// resuming from them.
    #[arg(long)]
    fresh: bool,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Pages with items on the demo site (25 items each).
    #[arg(long, default_value_t = 200, value_name = "N")]
    pages: u64,
    /// Where the demo crawl writes its items (replaced at each demo run).
    #[arg(long, default_value = "out/demo.jsonl", value_name = "PATH")]
    out: PathBuf,
    /// Crawler threads.
    #[arg(long, value_name = "N", value_parser = crawlers_arg)]
    crawlers: Option<NonZeroUsize>,
    /// Parser threads.
    #[arg(long, value_name = "N", value_parser = parsers_arg)]
    parsers: Option<NonZeroUsize>,
    /// Latency the site adds to every response, in milliseconds.
    #[arg(long, default_value_t = 0, value_name = "L")]
    latency_ms: u64,
    /// When the demo crawl syncs its output and state: page, batch or never.
    #[arg(long, default_value = "batch", value_name = "MODE", value_parser = ["page", "batch", "never"])]
    sync: String,
    /// Only serve the site, on --listen, until Ctrl-C.
    #[arg(long, conflicts_with = "verify")]
    serve: bool,
    /// Do not crawl: check the JSON Lines file PATH (any crawler's, with `title` and `link`
    /// fields) against the site of --pages pages, and print the counts as JSON.
    #[arg(long, value_name = "PATH")]
    verify: Option<PathBuf>,
    /// The address to serve on with --serve.
    #[arg(
        long,
        default_value = "127.0.0.1:8000",
        value_name = "ADDR",
        requires = "serve"
    )]
    listen: SocketAddr,
}

/// `--crawlers`, within the bounds of `threads.crawlers`.
fn crawlers_arg(text: &str) -> Result<NonZeroUsize, String> {
    thread_count(limits::CRAWLERS, text)
}

/// `--parsers`, within the bounds of `threads.parsers`.
fn parsers_arg(text: &str) -> Result<NonZeroUsize, String> {
    thread_count(limits::PARSERS, text)
}

/// A thread count from the command line, held to the same bound as the config file's.
fn thread_count(bound: limits::Bound, text: &str) -> Result<NonZeroUsize, String> {
    let n: usize = text.parse().map_err(|err| format!("{err}"))?;
    bound.check_usize(n).map_err(|err| err.to_string())?;
    NonZeroUsize::new(n).ok_or_else(|| "must be at least 1".to_string())
}

fn main() -> std::process::ExitCode {
    tune_malloc();
    let progress = progress::init_logging();
    let cli = Cli::parse();
    match run(cli, progress) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("pagecrawl: error: {err:#}");
            ExitCode::Error.into()
        }
    }
}

/// Tunes glibc's malloc for a long crawl, unless the environment already does
/// (`MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`).
///
/// - At most four arenas: glibc gives each thread that allocates its own, up to eight per core,
///   and each keeps the memory it once held. With 32 crawlers that was 3 MiB of the resident set.
///   Four cost no measurable speed on the benchmark; two halved it.
/// - Blocks of 32 KiB and more straight from mmap: page bodies (about 70 KB on the demo site)
///   are allocated by a crawler and freed by a parser, and in the arenas they fragmented the heap
///   as a crawl went on (peak RSS 16.2 MiB after 1,000 pages, 19.2 MiB after 100,000). With the
///   threshold it stays flat, for about 15 % more CPU per page (`bench/allocator.py`).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only tunes the allocator, and this runs before any other thread
            // exists; a refused setting (return value 0) leaves glibc's default.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 4);
            }
        }
        if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024);
            }
        }
    }
}

fn run(cli: Cli, progress: Option<Progress>) -> Result<ExitCode> {
    match cli.command {
        Some(Command::Run(args)) => crawl(args, progress),
        None if cli.run.config.is_some() => crawl(cli.run, progress),
        None => {
            Cli::command().print_help()?;
            Ok(ExitCode::Usage)
        }
        Some(Command::Seed { config }) => {
            let config = Config::load(&config)?;
            let report = pagecrawl::seed(&config)?;
            match report.seeded {
                Seeded::Now(pages) => println!("seeded {}: {pages} pages", report.stream),
                Seeded::Already { requeued } => println!(
                    "{} was seeded already; {requeued} failed pages put back",
                    report.stream
                ),
            }
            Ok(ExitCode::Success)
        }
        Some(Command::Check { config }) => {
            let config = Config::load(&config)?;
            print!("{}", config.describe());
            println!("\n# config OK");
            Ok(ExitCode::Success)
        }
        Some(Command::Demo(args)) => {
            if let Some(path) = &args.verify {
                return demo::verify_file(path, args.pages);
            }
            let shutdown = Shutdown::new();
            let output_lock = OutputLock::default();
            // Nothing to reload in a demo: SIGHUP is logged and ignored.
            drop(shutdown::install_signal_handler(
                shutdown.clone(),
                output_lock.clone(),
            )?);
            let latency = Duration::from_millis(args.latency_ms);
            if args.serve {
                return demo::serve(args.listen, args.pages, latency, &shutdown);
            }
            let opts = DemoOptions {
                pages: args.pages,
                out: args.out,
                crawlers: args.crawlers,
                parsers: args.parsers,
                latency,
                sync: match args.sync.as_str() {
                    "page" => SyncMode::Page,
                    "never" => SyncMode::Never,
                    _ => SyncMode::Batch,
                },
            };
            demo::run(&opts, &shutdown, &output_lock)
        }
    }
}

fn crawl(args: RunArgs, progress: Option<Progress>) -> Result<ExitCode> {
    let Some(path) = args.config else {
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "`pagecrawl run` needs --config PATH",
            )
            .exit();
    };
    let mut config = Config::load(&path)?;
    let overrides = Overrides {
        crawlers: args.crawlers,
        parsers: args.parsers,
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
    let reloads = shutdown::install_signal_handler(shutdown.clone(), output_lock.clone())?;
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
