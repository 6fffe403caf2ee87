//! The `clavis` binary: the server, and the operator's commands ([`cli`]).

use std::{io::BufRead, process::ExitCode};

use server::config::{Cli, Command, Config, SecretCommand};

mod cli;

/// mimalloc instead of glibc's allocator: interleaved runs of bench/profile.sh (medians
/// of 2–3 rounds) gave /mcp whoami 28,549 -> 38,879 calls/s, the static route 66,773 ->
/// 78,912, tokens 35,128 -> 37,188, the gateway 26,888 -> 28,015. Without transparent
/// huge pages (`no_thp`): with them the idle server held 41 MiB instead of 27.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse_args();
    // Offline: needs neither settings nor a database.
    if let Some(Command::Secret {
        action: SecretCommand::Check,
    }) = cli.command
    {
        return check_secret(std::io::stdin().lock());
    }
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("clavis: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("clavis: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Traces only from the server: the commands make no spans.
    let serving = matches!(cli.command, None | Some(Command::Serve(_)));
    // Held to the end of `main`: dropping it writes out the lines still buffered, after
    // the runtime has stopped.
    let mut log = match server::telemetry::init(&config, serving.then(|| runtime.handle())) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("clavis: {e}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(cli::run(cli.command, config));
    // The last spans go out through the runtime, before it stops.
    log.stop_traces();
    drop(runtime);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clavis: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `clavis secret check`: the format and checksum of the secret on the first line of
/// `input`. Exit 0 when well-formed, 1 otherwise; the reason goes to standard error.
fn check_secret(mut input: impl BufRead) -> ExitCode {
    let mut line = String::new();
    if let Err(e) = input.read_line(&mut line) {
        eprintln!("clavis: cannot read the secret from standard input: {e}");
        return ExitCode::FAILURE;
    }
    match clavis::credentials::ClientSecret::parse(line.trim()) {
        Ok(_) => {
            println!("valid: a well-formed Clavis client secret (prefix, length and checksum)");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("invalid: {e}");
            ExitCode::FAILURE
        }
    }
}
