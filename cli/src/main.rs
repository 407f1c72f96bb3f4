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
use tracing_subscriber::fmt::MakeWriter;

use crate::admin::AdminRequest;
use crate::args::{Cli, Command, KeysCommand, UsersCommand};
use crate::team_args::SessionsCommand;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The server logs a line per request: through a buffer its own thread writes out (see
    // `log_writer`). Another command's lines stay in step with what it prints.
    let flusher = if let Command::Serve(_) = &cli.command {
        match log_writer::start(std::io::stdout()) {
            Ok((log, flusher)) => {
                init_log(log);
                Some(flusher)
            }
            Err(error) => return fail(&format!("cannot start the log's thread: {error}")),
        }
    } else {
        init_log(std::io::stdout);
        None
    };
    wechat::client::install_tls_provider();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&format!("cannot start the async runtime: {error}")),
    };
    let code = runtime.block_on(run(&cli));
    // The runtime's tasks end first, so what they log on their way out is written too.
    drop(runtime);
    drop(flusher);
    code
}

fn init_log<W: for<'a> MakeWriter<'a> + Send + Sync + 'static>(writer: W) {
    tracing_subscriber::fmt()
        .with_writer(writer)
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        // Colours for a person at a terminal; a log file, journald or a container's log gets plain
        // text (and the server spends nothing on escape codes per request).
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}

async fn run(cli: &Cli) -> ExitCode {
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
        Command::Users(UsersCommand::UnlinkWechat(args)) => {
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
