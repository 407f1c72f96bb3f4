//! What each command line verb does, once its arguments are parsed.

use std::io::BufRead as _;

use tokio::net::TcpListener;

use crate::args::{AddUserArgs, GrantArgs, RotateKeysArgs, ServeArgs};
use meeteasy_auth::config::{self, ConfigError, Settings, StoreLocation};
use meeteasy_auth::domain::{Admin, AuthError, NewPasswordUser, Rotation, UserRef};
use meeteasy_auth::http::pages::PageAddOns;
use meeteasy_auth::server::{Server, StartError, open_store};
use meeteasy_protocol::Secret;

#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot read the password from standard input: {0}")]
    Stdin(std::io::Error),
    #[error("{0}")]
    Refused(#[from] AuthError),
    #[cfg(feature = "dev-tools")]
    #[error("cannot start dev mode: {0}")]
    DevMode(std::io::Error),
    #[cfg(not(feature = "dev-tools"))]
    #[error("dev mode is not in this build (it was built without the `dev-tools` feature)")]
    NoDevTools,
}

pub async fn serve(args: &ServeArgs) -> Result<(), CommandError> {
    let mut settings = config::load(&args.overrides())?;
    let page_add_ons = if settings.dev {
        tracing::warn!(
            "DEV MODE: `dev:<name>` codes log anyone in and WeChat is faked. Never run this in production."
        );
        start_dev_mode(&mut settings).await?
    } else {
        PageAddOns::default()
    };
    let listener =
        TcpListener::bind(settings.listen)
            .await
            .map_err(|source| CommandError::Listen {
                addr: settings.listen,
                source,
            })?;
    let store = match &settings.store {
        StoreLocation::Embedded { data_dir } => format!("embedded ({})", data_dir.display()),
        StoreLocation::Redis(redis) => redis.deployment.kind().to_owned(),
    };
    let keys_at_rest = if settings.key_encryption_key.is_some() {
        "sealed"
    } else {
        "in clear"
    };
    let public_url = settings.public_url.clone();
    let server = Server::build(settings, page_add_ons).await?;
    tracing::info!(addr = %settings_addr(&listener), %public_url, %store, signing_keys = keys_at_rest, "listening");
    server.run(listener, shutdown_signal()).await?;
    Ok(())
}

#[cfg(feature = "dev-tools")]
async fn start_dev_mode(settings: &mut Settings) -> Result<PageAddOns, CommandError> {
    let dev_mode = meeteasy_devtools::dev_mode::start(settings)
        .await
        .map_err(CommandError::DevMode)?;
    Ok(dev_mode.pages)
}

#[cfg(not(feature = "dev-tools"))]
async fn start_dev_mode(_settings: &mut Settings) -> Result<PageAddOns, CommandError> {
    Err(CommandError::NoDevTools)
}

fn settings_addr(listener: &TcpListener) -> String {
    listener
        .local_addr()
        .map_or_else(|_| "?".to_owned(), |addr| addr.to_string())
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

pub async fn add_user(args: &AddUserArgs) -> Result<(), CommandError> {
    let location = config::store_location(&args.store.overrides())?;
    let mut password = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut password)
        .map_err(CommandError::Stdin)?;
    let password = password.trim_end_matches(['\r', '\n']);
    let admin = Admin::new(open_store(&location).await?);
    let user = admin
        .add_password_user(NewPasswordUser {
            login: args.login.clone(),
            display_name: args.name.clone(),
            roles: args.roles.clone(),
            password: Secret::new(password),
        })
        .await?;
    println!(
        "added user {} ({}) with roles [{}]",
        user.id,
        user.display_name,
        user.roles.join(", ")
    );
    Ok(())
}

pub async fn grant(args: &GrantArgs) -> Result<(), CommandError> {
    let location = config::store_location(&args.store.overrides())?;
    let admin = Admin::new(open_store(&location).await?);
    let user = admin.grant(&UserRef::parse(&args.user), &args.role).await?;
    println!(
        "user {} ({}) now has roles [{}]",
        user.id,
        user.display_name,
        user.roles.join(", ")
    );
    Ok(())
}

pub async fn rotate_keys(args: &RotateKeysArgs) -> Result<(), CommandError> {
    let overrides = args.store.overrides();
    let location = config::store_location(&overrides)?;
    let key_encryption_key = config::key_encryption_key(&overrides)?;
    let admin = Admin::new(open_store(&location).await?);
    let rotation = if args.compromised {
        Rotation::Compromised
    } else {
        Rotation::Scheduled
    };
    let keys = admin
        .rotate_keys(rotation, key_encryption_key.as_ref())
        .await?;
    println!("signing with key {}; next key {}", keys.current, keys.next);
    match rotation {
        Rotation::Compromised => {
            println!("no earlier key is accepted: every session must log in again");
        }
        Rotation::Scheduled => println!(
            "still accepted for tokens signed before: {}",
            keys.retired.join(", ")
        ),
    }
    Ok(())
}
