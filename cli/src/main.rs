//! `meeteasy-auth`: parses the command line and runs the verb.

mod admin;
mod allocator;
mod args;
mod commands;
mod log_writer;
mod team_args;

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Parser as _;
use meeteasy_auth::wechat;
use tracing_subscriber::EnvFilter;

use crate::admin::AdminRequest;
use crate::args::{Cli, Command, KeysCommand, UsersCommand};
use crate::team_args::SessionsCommand;

#[tokio::main]
async fn main() -> ExitCode {
    // Dropped as `main` ends, after the last line worth keeping: it writes out what is left.
    let (log, _flusher) = match log_writer::start(std::io::stdout()) {
        Ok(started) => started,
        Err(error) => return fail(&format!("cannot start the log's thread: {error}")),
    };
    tracing_subscriber::fmt()
        .with_writer(log)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours for a person at a terminal; a log file, journald or a container's log gets plain
        // text (and the server spends nothing on escape codes per request).
        .with_ansi(std::io::stdout().is_terminal())
        .init();
    wechat::client::install_tls_provider();
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Serve(args) => commands::serve(args).await,
        Command::Users(UsersCommand::Add(args)) => commands::add_user(args).await,
        Command::Users(UsersCommand::Grant(args)) => {
            commands::admin_command(&args.store, args.request()).await
        }
        Command::Users(UsersCommand::List(args)) => {
            commands::admin_command(&args.store, AdminRequest::ListUsers).await
        }
        Command::Users(UsersCommand::Show(args)) => {
            commands::admin_command(&args.store, args.request()).await
        }
        Command::Users(UsersCommand::RevokeRole(args)) => {
            commands::admin_command(&args.store, args.request()).await
        }
        Command::Invite(args) => commands::invite(args).await,
        Command::Sessions(SessionsCommand::Revoke(args)) => {
            commands::admin_command(&args.store, args.request()).await
        }
        Command::Keys(KeysCommand::Rotate(args)) => {
            commands::admin_command(&args.store, args.request()).await
        }
        #[cfg(feature = "dev-tools")]
        Command::FakeWechat(args) => {
            return match meeteasy_devtools::fake_wechat::run(args.clone()).await {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => fail(&error),
            };
        }
        #[cfg(feature = "dev-tools")]
        Command::Phone(args::PhoneCommand::Scan(args)) => {
            return meeteasy_devtools::phone::run(args).await;
        }
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("meeteasy-auth: {error}");
    ExitCode::FAILURE
}
