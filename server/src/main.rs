//! The `clavis` binary.

use std::{io::BufRead, process::ExitCode};

use clap::Parser;
use server::{
    StartError,
    config::{Cli, Command, Config},
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_settings(&cli.settings) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("clavis: {e}");
            return ExitCode::from(2);
        }
    };
    server::telemetry::init(&config);
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
    match runtime.block_on(run(cli.command.unwrap_or(Command::Serve), config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("clavis: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), StartError> {
    match command {
        Command::Serve => server::serve(config).await,
        Command::Migrate => {
            server::open_database(&config).await?;
            eprintln!("clavis: migrations applied");
            Ok(())
        }
        Command::CreateUser { email } => {
            let (pool, _) = server::open_database(&config).await?;
            let mut password = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut password)
                .map_err(|e| {
                    StartError::Other(format!("cannot read the password from standard input: {e}"))
                })?;
            let password = password.trim_end_matches(['\r', '\n']).to_owned();
            let user = clavis::accounts::sign_up(&pool, &email, password, clavis::now())
                .await
                .map_err(|e| StartError::Other(format!("cannot create the account: {e}")))?;
            println!("created account {} (id {})", user.email, user.id);
            Ok(())
        }
    }
}
