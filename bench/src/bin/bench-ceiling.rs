//! `bench-ceiling`: the ceiling of the stack `meeteasy-auth` stands on. Bare axum on tokio answers
//! the requests the benchmark sends with the JSON the server would send, and does nothing else.
//! No store, no tokens, no checks. `meeteasy-bench` measures it on the server's CPU, so the
//! server's rates read as a share of what the stack itself allows.

use std::process::ExitCode;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long)]
    listen: std::net::SocketAddr,
}

const SCENE: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";

fn user() -> Value {
    json!({"id": "u-bench", "display_name": "bench", "avatar_url": null, "roles": ["organizer"]})
}

fn token() -> Value {
    json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 7200, "user": user()})
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let scene = json!({
        "scene": SCENE, "poll_token": "p".repeat(43), "expires_in": 120, "interval": 2,
        "qr": {"png_url": format!("/auth/scenes/{SCENE}/qr.png"), "content": null},
    });
    let mut login = token();
    login["login_ticket"] = json!("t".repeat(43));
    login["login_ticket_expires_in"] = json!(120);
    let ticket = json!({"login_ticket": "t".repeat(43), "expires_in": 120});
    let app = Router::new()
        .route("/readyz", get(|| async { "ready\n" }))
        .route(
            "/auth/scenes",
            post(|| async { (StatusCode::CREATED, axum::Json(scene)) }),
        )
        .route(
            "/auth/scenes/{scene}/islogin",
            get(|| async { axum::Json(json!({"status": "pending"})) }),
        )
        .route("/auth/wechat/login", post(|| async { axum::Json(login) }))
        .route(
            "/auth/login-ticket",
            post(|| async { (StatusCode::CREATED, axum::Json(ticket)) }),
        )
        .route(
            "/auth/login-ticket/exchange",
            post(|| async { axum::Json(token()) }),
        );
    let served = match tokio::net::TcpListener::bind(args.listen).await {
        Ok(listener) => axum::serve(listener, app).await,
        Err(error) => Err(error),
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench-ceiling: {error}");
            ExitCode::FAILURE
        }
    }
}
