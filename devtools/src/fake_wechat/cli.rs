//! `meeteasy-auth fake-wechat`: the fake served on its own, for people and for tests that run the server
//! and the phone simulator as separate processes.

use std::net::SocketAddr;

use super::{FakeApp, FakeWeChat};
use meeteasy_protocol::Secret;

#[derive(Debug, Clone, clap::Args)]
pub struct FakeWeChatArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,
    /// A mini program: `APPID:SECRET:PAGE[,PAGE...][:unionid]` (the first page is the home page;
    /// `unionid` marks the app as bound to an Open Platform account). Repeat for several apps.
    #[arg(long = "app", required = true, value_parser = parse_fake_app)]
    pub apps: Vec<FakeApp>,
    /// Also accept `dev:<name>` codes, as user `dev-<name>`.
    #[arg(long)]
    pub accept_dev_codes: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum FakeWeChatError {
    #[error("cannot listen on {address}: {source}")]
    Listen {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the fake WeChat stopped: {0}")]
    Serve(#[source] std::io::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("expected APPID:SECRET:PAGE[,PAGE...][:unionid], got {0:?}")]
pub struct FakeAppSyntaxError(String);

fn parse_fake_app(text: &str) -> Result<FakeApp, FakeAppSyntaxError> {
    let fields: Vec<&str> = text.split(':').collect();
    let (appid, secret, pages, unionid_bound) = match fields.as_slice() {
        [appid, secret, pages] => (appid, secret, pages, false),
        [appid, secret, pages, "unionid"] => (appid, secret, pages, true),
        _ => return Err(FakeAppSyntaxError(text.to_owned())),
    };
    let pages: Vec<String> = pages
        .split(',')
        .filter(|page| !page.is_empty())
        .map(str::to_owned)
        .collect();
    if appid.is_empty() || secret.is_empty() || pages.is_empty() {
        return Err(FakeAppSyntaxError(text.to_owned()));
    }
    Ok(FakeApp {
        appid: (*appid).to_owned(),
        secret: Secret::new(*secret),
        pages,
        unionid_bound,
    })
}

/// Serves the fake until Ctrl-C.
pub async fn run(args: FakeWeChatArgs) -> Result<(), FakeWeChatError> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|source| FakeWeChatError::Listen {
            address: args.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(FakeWeChatError::Serve)?;
    let fake = FakeWeChat::new(args.apps).accept_dev_codes(args.accept_dev_codes);
    println!("fake WeChat listening on http://{address}");
    axum::serve(listener, fake.router())
        .with_graceful_shutdown(async {
            // If the signal cannot be watched, serve until killed.
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        })
        .await
        .map_err(FakeWeChatError::Serve)
}

#[cfg(test)]
mod tests {
    use super::parse_fake_app;

    #[test]
    fn app_flags_parse() {
        let app = parse_fake_app("wx1:s3cret:pages/scan/index,pages/home/index:unionid").unwrap();
        assert_eq!(app.appid, "wx1");
        assert_eq!(app.secret.expose(), "s3cret");
        assert_eq!(app.pages, ["pages/scan/index", "pages/home/index"]);
        assert!(app.unionid_bound);
        assert!(!parse_fake_app("wx1:s:pages/a").unwrap().unionid_bound);
        for bad in [
            "wx1",
            "wx1:s",
            "wx1::pages/a",
            "wx1:s:pages/a:other",
            ":s:p",
        ] {
            assert!(parse_fake_app(bad).is_err(), "{bad}");
        }
    }
}
