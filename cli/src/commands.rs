//! What each command line verb does, once its arguments are parsed.

use base64::Engine as _;
use std::io::{BufRead, IsTerminal as _};

use tokio::net::TcpListener;

use crate::admin::{
    self, AdminClientError, AdminReply, AdminRequest, AdminSocket, AdminSocketError, Dispatcher,
    UserListing,
};
use crate::args::{AddUserArgs, ServeArgs, StoreArgs};
use crate::team_args::InviteArgs;
use meeteasy_auth::config::{
    self, AppSettings, ConfigError, QrMode, Settings, StoreLocation, WeChatSettings,
};
use meeteasy_auth::domain::{Admin, AuthError, is_hidden_or_reordering};
use meeteasy_auth::http::pages::PageAddOns;
use meeteasy_auth::qr::{self, QrError};
use meeteasy_auth::server::{Server, StartError, Stopped};
use meeteasy_protocol::{LoginMethod, Secret};

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
    #[error(
        "--password-stdin reads the password from a pipe, not a terminal, where it would show as typed: e.g. `read -rs PW && printf '%s\\n' \"$PW\" | meeteasy-auth users add ...`"
    )]
    PasswordFromTerminal,
    #[error("the password on standard input is longer than {MAX_PASSWORD_BYTES} bytes")]
    PasswordTooLong,
    #[error("{0}")]
    Refused(#[from] AuthError),
    #[error(transparent)]
    Stopped(Stopped),
    #[error(transparent)]
    AdminSocket(#[from] AdminSocketError),
    #[error(transparent)]
    AdminClient(#[from] AdminClientError),
    /// A server whose admin socket answered a command with another command's reply.
    #[error("the server answered the invite with something else; is it the same version?")]
    UnexpectedReply,
    #[error(
        "{leading_again} WeChat keys lead to the account again (a WeChat login at that very moment): run the command again"
    )]
    UnlinkUnfinished { leading_again: usize },
    #[error("cannot draw the invite's QR: {0}")]
    Qr(#[from] QrError),
    #[error("cannot write the invite's QR to {path}: {source}")]
    QrFile {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the database {path} is in use, but no server answers on its admin socket: if a server is starting or stopping, try again in a moment"
    )]
    LockedWithoutAdminSocket { path: std::path::PathBuf },
    #[error(
        "there is no store at {path}: no server or command has used this data directory yet (is --data-dir right?)"
    )]
    NoStore { path: std::path::PathBuf },
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
        // Whole: a relative data directory is the working directory's, which commands run
        // elsewhere would not find.
        StoreLocation::Embedded { data_dir } => {
            format!("embedded ({})", whole(data_dir.clone()).display())
        }
        StoreLocation::Redis(redis) => redis.deployment.kind().to_owned(),
    };
    let keys_at_rest = if settings.key_encryption_key.is_some() {
        "sealed"
    } else {
        "in clear"
    };
    let public_url = settings.public_url.clone();
    let configured_url = settings.public_url_given.then(|| public_url.clone());
    let key_encryption_key = settings.key_encryption_key.clone();
    let embedded_data_dir = match &settings.store {
        StoreLocation::Embedded { data_dir } => Some(data_dir.clone()),
        StoreLocation::Redis(_) => None,
    };
    // Before the store opens and the keys load: a data directory too deep for the socket is
    // said at once, not after the start.
    if let Some(data_dir) = &embedded_data_dir {
        admin::socket_path(data_dir)?;
    }
    let server = Server::build(settings, page_add_ons).await?;
    // Bound once the store is open: its lock says no other server uses this data directory.
    let admin_socket = match embedded_data_dir {
        Some(data_dir) => {
            let socket = AdminSocket::bind(&data_dir).await?;
            tracing::info!(path = %socket.path().display(), "admin socket ready");
            // Only an origin it was given: one guessed from the listen address (`0.0.0.0`, port
            // 0) would put a link no phone reaches into an invite.
            // Invites drawn as the server draws the console's: mini program codes in `wxacode`.
            let mut admin = Admin::new(server.store().clone());
            if let Some(codes) = server.service().invite_codes() {
                admin = admin.with_invite_codes(codes);
            }
            let dispatcher = Dispatcher::new(admin, key_encryption_key, configured_url);
            Some(socket.serve(std::sync::Arc::new(dispatcher)))
        }
        // Commands reach a shared Redis directly.
        None => None,
    };
    tracing::info!(addr = %settings_addr(&listener), %public_url, %store, signing_keys = keys_at_rest, "listening");
    let served = server.run(listener, shutdown_signal()).await;
    if let Some(admin_socket) = admin_socket {
        admin_socket.stop().await;
    }
    // Keys it can no longer open, or a store that can serve nothing more, end the server with an
    // error (a non-zero exit).
    served.map_err(CommandError::Stopped)
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

/// `users add`: the password comes from standard input, never the command line.
pub async fn add_user(args: &AddUserArgs) -> Result<(), CommandError> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Err(CommandError::PasswordFromTerminal);
    }
    let password = first_line(stdin.lock())?;
    admin_command(&args.store, args.request(password)).await
}

/// Far more than any password (the domain takes 1,024 characters, at most 4 bytes each); a read is
/// bounded by it, whatever the pipe holds.
const MAX_PASSWORD_BYTES: usize = 4096;

/// The first line of `input` without its line break, of [`MAX_PASSWORD_BYTES`] at most: the read
/// takes no more than that and a `\r\n`.
fn first_line(input: impl BufRead) -> Result<Secret, CommandError> {
    let mut line = String::new();
    let mut bounded = input.take(MAX_PASSWORD_BYTES as u64 + 2);
    bounded.read_line(&mut line).map_err(CommandError::Stdin)?;
    let password = line.trim_end_matches(['\r', '\n']);
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(CommandError::PasswordTooLong);
    }
    Ok(Secret::new(password))
}

/// `path` as a message says it: absolute, since a relative one is the working directory's, which
/// may not be the server's (as it is, if the working directory cannot be read).
pub(crate) fn whole(path: std::path::PathBuf) -> std::path::PathBuf {
    std::path::absolute(&path).unwrap_or(path)
}

/// Runs an operator command where the store can take it (see [`admin::run`]) and prints what it did.
pub async fn admin_command(store: &StoreArgs, request: AdminRequest) -> Result<(), CommandError> {
    let reply = admin::run(config::command_config(&store.overrides())?, request).await?;
    print_reply(&reply);
    finished(&reply)
}

/// Whether the command did all it was asked: a script must not take a half-done unlink for a done
/// one.
fn finished(reply: &AdminReply) -> Result<(), CommandError> {
    if let AdminReply::WechatUnlinked { leading_again, .. } = *reply
        && leading_again > 0
    {
        return Err(CommandError::UnlinkUnfinished { leading_again });
    }
    Ok(())
}

/// A file only its owner can read, emptied: the invite's QR is the invite (an admin invite makes
/// its holder an admin). A file of this account already there is made owner-only too (it would
/// keep its mode); anything else already there is refused rather than changed: a device or a pipe,
/// a symbolic link (it would have this account, root perhaps, overwrite where it points), a file
/// another account owns (it could read the invite, whatever the mode), or one with other names
/// (a hard link to a file of this account's elsewhere, which writing would empty).
fn owner_only_file(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _};
    let not_regular = || std::io::Error::other("not a regular file");
    // Before opening too: opening a pipe would wait for a reader.
    if let Ok(existing) = std::fs::symlink_metadata(path)
        && !existing.is_file()
    {
        return Err(not_regular());
    }
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .mode(0o600)
        // A link put there after the check above is refused, not followed; a pipe put there is
        // opened without waiting for a reader, and refused below.
        .custom_flags(
            (rustix::fs::OFlags::NOFOLLOW | rustix::fs::OFlags::NONBLOCK)
                .bits()
                .cast_signed(),
        )
        .open(path)?;
    // Checked on what was opened, before anything in it changes.
    let opened = file.metadata()?;
    if !opened.is_file() {
        return Err(not_regular());
    }
    if opened.uid() != rustix::process::geteuid().as_raw() {
        return Err(std::io::Error::other(
            "it belongs to another account, which could read the invite",
        ));
    }
    if opened.nlink() > 1 {
        return Err(std::io::Error::other(
            "it has other names (a hard link), which writing it would empty",
        ));
    }
    file.set_len(0)?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    Ok(file)
}

/// `invite`: makes the invite, prints its link, draws its QR in the terminal (when standard output
/// is one) and, with `--qr`, writes it as a PNG to send in a chat.
pub async fn invite(args: &InviteArgs) -> Result<(), CommandError> {
    let qr_file_error = |path: &std::path::Path| {
        let path = path.to_owned();
        move |source| CommandError::QrFile { path, source }
    };
    // Read first: a configuration error leaves no QR file behind.
    let config = config::command_config(&args.overrides())?;
    // Opened before the invite is made: a path it cannot be written to fails the command with no
    // invite made, rather than after one is stored (and a retry makes another).
    let qr_file = match &args.qr {
        Some(path) => Some((path, owner_only_file(path).map_err(qr_file_error(path))?)),
        None => None,
    };
    let request = args.request(config.public_url.clone());
    let reply = match admin::run_drawing_invites(config, request, || invite_app(args)).await {
        Ok(reply) => reply,
        Err(error) => {
            // No invite, so no QR: the empty file just made would only mislead. Failing to remove
            // it changes nothing the error does not already say.
            if let Some((path, _)) = &qr_file {
                drop(std::fs::remove_file(path));
            }
            return Err(error);
        }
    };
    print_reply(&reply);
    let AdminReply::InviteMade {
        link,
        mini_program_code,
        ..
    } = &reply
    else {
        return Err(CommandError::UnexpectedReply);
    };
    let mini_program_code = match mini_program_code {
        Some(base64) => Some(
            base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|_not_base64| CommandError::UnexpectedReply)?,
        ),
        None => None,
    };
    match &mini_program_code {
        // A terminal can draw a QR of the link, not WeChat's round mini program code.
        Some(_) if qr_file.is_none() => println!(
            "Its QR is the app's mini program code (qr_mode = \"wxacode\"), which a terminal cannot draw: give --qr FILE to write it, or have an admin show it from the console's Team page."
        ),
        Some(_) => {}
        None if std::io::stdout().is_terminal() => print!("\n{}", qr::terminal(link)?),
        None => {}
    }
    if let Some((path, mut file)) = qr_file {
        let png = match mini_program_code {
            Some(png) => png,
            None => qr::png(link, qr::DEFAULT_WIDTH)?,
        };
        std::io::Write::write_all(&mut file, &png).map_err(qr_file_error(path))?;
        println!("QR written to {}", path.display());
    }
    Ok(())
}

/// The app an invite made on the store itself is drawn for, and how WeChat is reached, from the
/// configuration the server runs with, when that draws mini program codes (`wxacode`). Otherwise
/// the invite is drawn as a QR of its link, which needs neither the app nor a WeChat client; a
/// configuration that cannot be read here is said so.
fn invite_app(args: &InviteArgs) -> Option<(AppSettings, WeChatSettings)> {
    match config::load(&args.overrides()) {
        Ok(settings) => {
            let app = settings.app(None)?;
            let app = (app.qr_mode == QrMode::Wxacode).then(|| app.clone())?;
            Some((app, settings.wechat.clone()))
        }
        Err(error) => {
            tracing::warn!(%error, "the app's configuration cannot be read here (give --config as the server has it): the invite's QR encodes its link, which opens the mini program only where WeChat's \"scan ordinary link\" rule sends /m/invite/ to it");
            None
        }
    }
}

fn print_reply(reply: &AdminReply) {
    match reply {
        AdminReply::UserAdded { user } => println!(
            "added user {} ({}) with roles [{}]",
            user.id,
            printable(&user.display_name),
            user.roles.join(", ")
        ),
        AdminReply::RoleGranted { user } | AdminReply::RoleRevoked { user } => println!(
            "user {} ({}) now has roles [{}]",
            user.id,
            printable(&user.display_name),
            user.roles.join(", ")
        ),
        AdminReply::KeysRotated {
            current,
            next,
            retired,
            compromised,
        } => {
            println!("signing with key {current}; next key {next}");
            if *compromised {
                println!("no earlier key is accepted: every session must log in again");
            } else {
                println!(
                    "still accepted for tokens signed before: {}",
                    retired.join(", ")
                );
            }
        }
        AdminReply::Users { users } => {
            for listed in users {
                print_user(listed);
            }
            println!("{} users", users.len());
        }
        AdminReply::UserShown { user } => print_user(user),
        AdminReply::SessionsEnded { user, ended } => {
            println!("ended {ended} sessions of {user}");
        }
        AdminReply::WechatUnlinked {
            user,
            identities,
            sessions_ended,
            // Keys leading to the account again fail the command: see `admin_command`.
            leading_again: _,
        } => {
            println!(
                "user {} ({}): {identities} WeChat identity keys unlinked, {sessions_ended} sessions a WeChat login opened ended",
                user.id,
                printable(&user.display_name),
            );
        }
        AdminReply::InviteMade { invite, link, .. } => {
            println!(
                "invite {} to join as {}, valid until {} (Unix time)",
                invite.id,
                invite.role.as_str(),
                invite.expires_at
            );
            println!("{link}");
        }
    }
}

/// `text` with its control, invisible and reordering characters escaped (`\u{1b}`, `\n`,
/// `\u{202e}`): a name from a phone, or stored before names were checked, can move a terminal's
/// cursor, break a listing's lines or turn its text around.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if is_hidden_or_reordering(c) {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn print_user(listed: &UserListing) {
    println!("{}", user_line(listed));
}

/// One line per user: id, name, roles, ways in, login, last login.
fn user_line(listed: &UserListing) -> String {
    let methods: Vec<&str> = listed
        .methods
        .iter()
        .map(|method| match method {
            LoginMethod::Wechat => "wechat",
            LoginMethod::Password => "password",
        })
        .collect();
    let last_login = listed
        .last_login_at
        .map_or_else(|| "never".to_owned(), |at| at.to_string());
    let claiming = listed.claiming.as_ref().map(|login| {
        format!(
            "\tclaiming {} (a change stopped half way)",
            printable(login)
        )
    });
    format!(
        "{}\t{}\troles [{}]\tways in [{}]\tlogin {}\tlast login {}{}",
        listed.user.id,
        printable(&listed.user.display_name),
        listed.user.roles.join(", "),
        methods.join(", "),
        listed
            .login
            .as_deref()
            .map_or_else(|| "-".to_owned(), printable),
        last_login,
        claiming.unwrap_or_default()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_printed_without_their_control_characters() {
        assert_eq!(printable("Ann \u{1b}[31mLee\n"), "Ann \\u{1b}[31mLee\\n");
        assert_eq!(printable("会 Ann"), "会 Ann");
        assert_eq!(printable("Ann\u{202E}nimda"), "Ann\\u{202e}nimda");
    }

    /// An unlink that found keys leading to the account again fails, so a script sees it.
    #[test]
    fn an_unlink_left_half_done_fails_the_command() {
        let user = meeteasy_protocol::User {
            id: "u-1".into(),
            display_name: "Ann".into(),
            avatar_url: None,
            roles: Vec::new(),
        };
        let unlinked = |leading_again| AdminReply::WechatUnlinked {
            user: user.clone(),
            identities: 2,
            sessions_ended: 1,
            leading_again,
        };
        assert!(finished(&unlinked(0)).is_ok());
        assert!(matches!(
            finished(&unlinked(1)),
            Err(CommandError::UnlinkUnfinished { leading_again: 1 })
        ));
    }

    /// A login stored before logins were checked cannot rewrite the listing's line either.
    #[test]
    fn logins_are_printed_without_their_control_characters() {
        let listed = UserListing {
            user: meeteasy_protocol::User {
                id: "u-1".into(),
                display_name: "Ann".into(),
                avatar_url: None,
                roles: vec!["admin".into()],
            },
            login: Some("a\u{1b}[2K@x.io".into()),
            claiming: Some("b\u{1b}[2K@x.io".into()),
            methods: vec![LoginMethod::Password],
            last_login_at: None,
        };
        let line = user_line(&listed);
        assert!(!line.contains('\u{1b}'), "{line:?}");
        assert!(line.contains("login a\\u{1b}[2K@x.io"), "{line:?}");
        assert!(line.contains("claiming b\\u{1b}[2K@x.io"), "{line:?}");
    }

    /// The password is the first line, without its line break, and a read stops at the bound
    /// whatever the pipe holds.
    #[test]
    fn the_password_is_the_first_line_of_a_bounded_read() {
        let read = |input: &[u8]| first_line(input);
        let password = read(b"s3cret pass\r\nnext line\n").expect("read");
        assert_eq!(password.expose(), "s3cret pass");
        assert_eq!(read(b"").expect("read").expose(), "");
        // 1,365 three-byte characters and one more byte: the bound exactly, with its line break.
        let mut at_bound = "会".repeat(MAX_PASSWORD_BYTES / 3).into_bytes();
        at_bound.extend(b"x\r\n");
        let password = read(&at_bound).expect("read");
        assert_eq!(password.expose().len(), MAX_PASSWORD_BYTES);
        let too_long = vec![b'x'; MAX_PASSWORD_BYTES + 1];
        assert!(matches!(
            read(&too_long),
            Err(CommandError::PasswordTooLong)
        ));
    }
}
