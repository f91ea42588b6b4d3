//! The command line: subcommands, exit codes, and a clear message for every bad config.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Knobs, TestEnv, check_pages, files_in, num, run_bin, summary_of};
use demo_site::SiteOptions;

const LIMIT: Duration = Duration::from_secs(120);

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn run_crawls_and_exits_zero() {
    let env = TestEnv::with_pages(5);
    let config = env.write_config(&Knobs {
        last_page: Some(4),
        ..Knobs::default()
    });
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let summary = summary_of(&stderr);
    assert_eq!(num(&summary, "pages_fetched"), 5);
    assert_eq!(num(&summary, "items"), 125);
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 5);

    // `pagecrawl --config` is the same as `run`, and the CLI thread counts override the config's.
    // Everything is committed already, so this run resumes and fetches nothing.
    let out = run_bin(
        &[
            "--config",
            config.to_str().unwrap(),
            "--crawlers",
            "1",
            "--parsers",
            "1",
        ],
        LIMIT,
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("with 1 crawlers and 1 parsers"), "{stderr}");
    let summary = summary_of(&stderr);
    assert_eq!(num(&summary, "pages_fetched"), 0);
    assert_eq!(num(&summary, "pages_resumed"), 5);
    assert_eq!(env.items().len(), 125, "nothing fetched twice");
    assert_eq!(env.site.requests_for(2), 1);
}

#[test]
fn check_prints_effective_settings() {
    let env = TestEnv::with_pages(1);
    let config = env.write_config(&Knobs::default());
    let out = run_bin(&["check", "--config", config.to_str().unwrap()], LIMIT);
    assert_eq!(out.status.code(), Some(0));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("crawlers = 4"), "{stdout}");
    assert!(stdout.contains("retries = 2"), "{stdout}");
    assert!(
        stdout.ends_with(&format!(
            "\n# config OK\n# to see what it extracts from a page: pagecrawl try --config {}\n",
            config.display()
        )),
        "{stdout}"
    );
    assert!(!env.out_path().exists(), "check has no side effects");
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["run", "--config", "x.toml", "--crawlers", "0"][..],
        &["run", "--bogus"],
        &["run"],
        &["frobnicate"],
        &[],
    ] {
        let out = run_bin(args, LIMIT);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

/// Writes `config` and expects `run` and `check` to fail with exit 1 and `message`.
fn rejects(config: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config).unwrap();
    for cmd in ["run", "check"] {
        let out = run_bin(&[cmd, "--config", path.to_str().unwrap()], LIMIT);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {stderr}");
        assert!(
            stderr.contains(message),
            "{cmd}: expected {message:?} in:\n{stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[test]
fn bad_configs_exit_1_with_a_clear_message() {
    let env = TestEnv::with_pages(1);
    let good = env.config_toml(&Knobs::default());
    rejects(
        &good.replace("parsers = 2", "parsers = 2\nparsrs = 3"),
        "unknown field `parsrs`",
    );
    rejects(
        &good.replace("crawlers = 4", "crawlers = \"four\""),
        "invalid type",
    );
    rejects(
        &good.replace("crawlers = 4", "crawlers = 0"),
        "`threads.crawlers` must be at least 1",
    );
    rejects(
        &good.replace("parsers = 2", "parsers = 0"),
        "`threads.parsers` must be at least 1",
    );
    rejects(
        &good.replace("html = 8", "html = 0"),
        "`queues.html` must be at least 1",
    );
    rejects(
        &good.replace("?start={offset}", "?start=0"),
        "must contain `{page}` or `{offset}`",
    );
    rejects(
        &good.replace("title = \"a\"", "title = \"a:nth-child(\""),
        "`extract.fields.title`: invalid CSS selector",
    );
    rejects(
        &good.replace("item = \"div.pl2\"", "item = \"div >> p\""),
        "`extract.item`: invalid CSS selector",
    );
    rejects("this is not toml", "TOML parse error");

    // The path of the config itself, when it is missing.
    let out = run_bin(&["run", "--config", "/nonexistent/pagecrawl.toml"], LIMIT);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("reading config file /nonexistent/pagecrawl.toml"));
}

#[test]
fn configs_that_would_crash_run_are_refused_by_check_and_run() {
    let env = TestEnv::with_pages(1);
    let good = env.config_toml(&Knobs::default());
    // A 16 TB allocation, 100,000 threads, and a selector long enough to overflow a stack.
    rejects(
        &good.replace("pages = 8", "pages = 1000000000000"),
        "`queues.pages` must be at most 65536, got 1000000000000",
    );
    rejects(
        &good.replace("crawlers = 4", "crawlers = 100000"),
        "`threads.crawlers` must be at most 512, got 100000",
    );
    let selector = "div ".repeat(200_000);
    rejects(
        &good.replace("item = \"div.pl2\"", &format!("item = \"{selector}\"")),
        "`extract.item` is 800000 bytes long, over the limit of 1024 bytes",
    );
    rejects(
        &good.replace("delay_ms = 0", "delay_ms = 3600001"),
        "`http.delay_ms` must be at most 3600000, got 3600001",
    );
    rejects(
        &good.replace("retries = 2", "retries = 1000"),
        "`http.retries` must be at most 20, got 1000",
    );
    rejects(
        &format!("{good}\n# {}\n", "x".repeat(1 << 20)),
        "a config file may be at most 1048576 bytes",
    );
    // The command line's thread counts are held to the same bounds (a usage error).
    let path = env.write_config(&Knobs::default());
    let out = run_bin(
        &[
            "run",
            "--config",
            path.to_str().unwrap(),
            "--crawlers",
            "100000",
        ],
        LIMIT,
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("`threads.crawlers` must be at most 512"));
}

#[test]
fn only_a_regular_file_is_read_as_config() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.toml");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    // /dev/zero never ends and a FIFO without a writer never answers: both are refused at once
    // (LIMIT would fail the test long before either finished reading).
    for path in [fifo.as_path(), std::path::Path::new("/dev/zero")] {
        for cmd in ["run", "check"] {
            let out = run_bin(&[cmd, "--config", path.to_str().unwrap()], LIMIT);
            let stderr = text(&out.stderr);
            assert_eq!(out.status.code(), Some(1), "{cmd} {path:?}: {stderr}");
            assert!(
                stderr.contains(&format!("reading config file {}", path.display()))
                    && stderr.contains("not a regular file"),
                "{stderr}"
            );
        }
    }
}

#[test]
fn output_that_cannot_be_created_exits_1() {
    let env = TestEnv::with_pages(1);
    let blocker = env.dir.path().join("file");
    std::fs::write(&blocker, "not a folder").unwrap();
    let config = env.config_toml(&Knobs::default()).replace(
        &format!("{:?}", env.out_path().display().to_string()),
        &format!("{:?}", blocker.join("items.jsonl").display().to_string()),
    );
    let path = env.dir.path().join("c.toml");
    std::fs::write(&path, config).unwrap();
    let out = run_bin(&["run", "--config", path.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    // The parent "folder" is a regular file: the error names it.
    assert!(stderr.contains("creating output folder"), "{stderr}");
    assert!(stderr.contains(blocker.to_str().unwrap()), "{stderr}");
    assert_eq!(
        env.site.total_requests(),
        0,
        "nothing fetched before setup succeeds"
    );
}

#[test]
fn a_terminal_gets_a_progress_bar_and_a_pipe_gets_log_lines() {
    let env = TestEnv::new(SiteOptions {
        pages: 30,
        latency: Duration::from_millis(100),
        ..SiteOptions::default()
    });
    // About 1.5 s: long enough for a bar to be drawn, or a progress line to be logged.
    let config = env.write_config(&Knobs {
        last_page: Some(29),
        crawlers: 2,
        stats_interval_secs: 1,
        ..Knobs::default()
    });
    // `script` runs the binary on a pseudo-terminal and copies what it draws to stdout.
    let command = format!("{} run --config {}", common::bin(), config.display());
    let child = std::process::Command::new("script")
        .args(["-qfec", &command, "/dev/null"])
        .env("RUST_LOG", "info")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("running `script` (util-linux)");
    let out = common::wait_bounded(child, LIMIT);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let screen = text(&out.stdout);
    assert!(screen.contains("round 1 ["), "no bar drawn:\n{screen}");
    assert!(
        screen.contains("/30 pages") && screen.contains("ETA"),
        "{screen}"
    );
    assert!(
        !screen.contains("progress: "),
        "progress lines beside the bar"
    );
    // Log lines are printed whole, after the bar's line is cleared (`\r`, erase line), never
    // through it.
    let summary = screen
        .split(['\r', '\n'])
        .find(|l| l.contains("summary: pages_fetched="))
        .unwrap_or_else(|| panic!("no summary line:\n{screen}"));
    assert!(
        summary.contains("pages_fetched=30") && summary.contains("round=1"),
        "{summary:?}"
    );
    assert!(!summary.contains("ETA"), "{summary:?}");
    assert_eq!(check_pages(&env.items(), &env.site.options()).len(), 30);

    // Piped: no bar, no escape sequences, the periodic line instead.
    env.reset();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains("ETA"),
        "{stderr}"
    );
    assert!(stderr.contains("progress: "), "{stderr}");
}

/// The lines of `stderr` that contain `needle`.
fn lines_with(stderr: &str, needle: &str) -> usize {
    stderr.lines().filter(|line| line.contains(needle)).count()
}

#[test]
fn a_selector_that_finds_nothing_is_warned_of_once_per_round() {
    let env = TestEnv::with_pages(10);
    // A field typo: null on every item of every page, warned of once, by the parsers together.
    let config = env.write_config(&Knobs {
        extra_fields: "isbn = \"span.isbn\"\n",
        ..Knobs::default()
    });
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "items"), 250);
    let warning = "`extract.fields.isbn` = \"span.isbn\" is null on all 25 items of page ";
    assert_eq!(lines_with(&stderr, warning), 1, "{stderr}");
    assert_eq!(lines_with(&stderr, "is null on all"), 1, "{stderr}");
    assert_eq!(lines_with(&stderr, "matched nothing"), 0, "{stderr}");

    // An item typo: every page of the range is empty, warned of once.
    env.reset();
    let text_config = env
        .config_toml(&Knobs::default())
        .replace("item = \"div.pl2\"", "item = \"div.pl3\"");
    std::fs::write(&config, text_config).unwrap();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 10);
    let warning = "`extract.item` = \"div.pl3\" matched nothing on page ";
    assert_eq!(lines_with(&stderr, warning), 1, "{stderr}");
    assert_eq!(lines_with(&stderr, "is null on all"), 0, "{stderr}");
}

#[test]
fn until_empty_warns_of_an_empty_first_page_not_of_the_end_of_the_listing() {
    let env = TestEnv::with_pages(4);
    let config = env.write_config(&Knobs {
        last_page: None,
        ..Knobs::default()
    });
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(env.items().len(), 100);
    // Page 4 and the pages fetched past it are large and empty: the end, not a typo.
    assert!(env.site.requests_for(4) == 1, "{stderr}");
    assert_eq!(lines_with(&stderr, "matched nothing"), 0, "{stderr}");

    env.reset();
    let text_config = env
        .config_toml(&Knobs {
            last_page: None,
            ..Knobs::default()
        })
        .replace("item = \"div.pl2\"", "item = \"li.item\"");
    std::fs::write(&config, text_config).unwrap();
    let out = run_bin(&["run", "--config", config.to_str().unwrap()], LIMIT);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    let warning = "`extract.item` = \"li.item\" matched nothing on page 0 ";
    assert_eq!(lines_with(&stderr, warning), 1, "{stderr}");
    assert_eq!(lines_with(&stderr, "matched nothing"), 1, "{stderr}");
}

#[test]
fn check_refuses_unknown_placeholders_in_the_site_url() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let check = |url: &str| {
        let body = format!(
            "[site]\nurl = {url:?}\nlast_page = 1\n[extract]\nitem = \"div\"\n\
             [extract.fields]\nt = \"a\"\n[output]\npath = \"o.jsonl\"\n"
        );
        std::fs::write(&config, body).unwrap();
        run_bin(&["check", "--config", config.to_str().unwrap()], LIMIT)
    };
    for (url, says) in [
        (
            "http://127.0.0.1:1/list?p={pgae}",
            "`site.url` has an unknown placeholder `{pgae}`: did you mean `{page}`? (only \
             `{page}` and `{offset}` exist)",
        ),
        (
            "http://127.0.0.1:1/list?start={start}",
            "`site.url` has an unknown placeholder `{start}`: did you mean `{offset}`? (only \
             `{page}` and `{offset}` exist)",
        ),
        (
            "http://127.0.0.1:1/list",
            "`site.url` must contain `{page}` or `{offset}`: \"http://127.0.0.1:1/list\" (for a \
             listing paged by next links, set `site.next` to the link, and `site.url` is its \
             first page)",
        ),
        (
            "http://127.0.0.1:1/list?p={page",
            "`site.url`: unclosed `{` at character 27 (write `{{` for a literal brace)",
        ),
    ] {
        let out = check(url);
        assert_eq!(out.status.code(), Some(1), "{url}");
        assert_eq!(
            text(&out.stderr),
            format!(
                "pagecrawl: error: in config file {}: {says}\n",
                config.display()
            )
        );
        assert_eq!(text(&out.stdout), "");
    }
    // Doubled braces are literal ones.
    let out = check("http://127.0.0.1:1/q?f={{\"a\":{page}}}");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("# first url: http://127.0.0.1:1/q?f={\"a\":0}"),
        "{stdout}"
    );
}

#[test]
fn an_output_in_dev_needs_its_state_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    let write = |path: &Path, state: &str| {
        let body = format!(
            "[site]\nurl = \"http://127.0.0.1:1/?p={{page}}\"\nlast_page = 1\n[extract]\n\
             item = \"div\"\n[extract.fields]\nt = \"a\"\n[output]\npath = {:?}\n{state}",
            path.display().to_string()
        );
        std::fs::write(&config, body).unwrap();
    };
    for path in [Path::new("/dev/stdout"), Path::new("/dev/null")] {
        write(path, "");
        for cmd in ["check", "run", "try"] {
            let out = run_bin(&[cmd, "--config", config.to_str().unwrap()], LIMIT);
            assert_eq!(out.status.code(), Some(1), "{cmd} {path:?}");
            assert_eq!(
                text(&out.stderr),
                format!(
                    "pagecrawl: error: in config file {}: `output.path` {} is in /dev, where \
                     its state cannot be kept (as {}.state): set `output.state` to a file \
                     elsewhere, or write to a file and follow it (`tail -F out/items.jsonl | \
                     …`). A pipe or a device cannot be resumed: a later run sends every item \
                     again\n",
                    config.display(),
                    path.display(),
                    path.display()
                )
            );
        }
        assert!(!Path::new(&format!("{}.state", path.display())).exists());
        assert!(!Path::new(&format!("{}.state.lock", path.display())).exists());
        // With the state elsewhere, it is a valid config.
        let state = dir.path().join("s.state");
        write(
            path,
            &format!("state = {:?}\n", state.display().to_string()),
        );
        let out = run_bin(&["check", "--config", config.to_str().unwrap()], LIMIT);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
    assert_eq!(files_in(dir.path()), ["c.toml"]);
}

#[test]
fn a_pipe_output_with_its_state_set_gets_every_item_each_run_and_is_never_moved() {
    let env = TestEnv::with_pages(4);
    let fifo = env.dir.path().join("items.fifo");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo has no other preconditions.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0, "mkfifo");
    let state = env.dir.path().join("items.state");
    let text_config = env
        .config_toml(&Knobs {
            last_page: Some(3),
            ..Knobs::default()
        })
        .replace(
            &format!("path = {:?}", env.out_path().display().to_string()),
            &format!(
                "path = {:?}\nstate = {:?}",
                fifo.display().to_string(),
                state.display().to_string()
            ),
        );
    let config = env.dir.path().join("pagecrawl.toml");
    std::fs::write(&config, text_config).unwrap();
    // A pipe cannot be resumed (nothing says what its reader got): every run sends every item,
    // and `--fresh` leaves the pipe where it is.
    for args in [&["run"][..], &["run"], &["run", "--fresh"]] {
        // The reader ends when the crawl closes the pipe.
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
        };
        let out = run_bin(
            &[args, &["--config", config.to_str().unwrap()]].concat(),
            LIMIT,
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert_eq!(num(&summary_of(&stderr), "pages_fetched"), 4, "{stderr}");
        let lines = reader.join().unwrap();
        assert_eq!(lines.lines().count(), 100, "{args:?}");
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind));
    }
    // `--fresh` moved the state aside, not the pipe.
    let files = files_in(env.dir.path());
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(
        files[2].starts_with("items.state.") && files[2].ends_with(".old"),
        "{files:?}"
    );
    assert_eq!(
        [&files[..2], &files[3..]].concat(),
        [
            "items.fifo",
            "items.state",
            "items.state.lock",
            "pagecrawl.toml"
        ]
    );
}
