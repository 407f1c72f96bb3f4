//! `bench-ceiling`: bare axum on tokio answering the benchmark's requests with the JSON the server
//! would send and nothing else (no store, tokens or checks): the ceiling of the stack itself.

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    /// The address to listen on.
    #[arg(long)]
    listen: std::net::SocketAddr,
}

const SCENE: &str = "AbCdEfGhIjKlMnOpQrStUvWxYz012345";
/// As long as the server's sealed tickets (`{hint}.{salt}.{sealed}`), so requests weigh the same.
const TICKET_LEN: usize = 262;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let scene = json!({
        "scene": SCENE, "poll_token": "p".repeat(43), "expires_in": 120, "interval": 2,
        "qr": {"png_url": format!("/auth/scenes/{SCENE}/qr.png"), "content": null},
    });
    let token = json!({
        "access_token": "a.b.c", "token_type": "Bearer", "expires_in": 7200, "user": {
            "id": "u-bench", "display_name": "bench", "avatar_url": null, "roles": ["organizer"],
        },
    });
    let mut login = token.clone();
    login["login_ticket"] = json!("t".repeat(TICKET_LEN));
    login["login_ticket_expires_in"] = json!(120);
    let ticket = json!({"login_ticket": "t".repeat(TICKET_LEN), "expires_in": 120});
    let pending = json!({"status": "pending"});
    // Each handler answers its JSON, whatever it is asked.
    let reply = |status, body: Value| move || std::future::ready((status, Json(body.clone())));
    let (ok, created) = (StatusCode::OK, StatusCode::CREATED);
    let app = Router::new()
        .route("/auth/scenes", post(reply(created, scene)))
        .route("/auth/scenes/{scene}/islogin", get(reply(ok, pending)))
        .route("/auth/wechat/login", post(reply(ok, login)))
        .route("/auth/login-ticket", post(reply(created, ticket)))
        .route("/auth/login-ticket/exchange", post(reply(ok, token)));
    let listener = tokio::net::TcpListener::bind(Args::parse().listen).await?;
    // What `meeteasy-bench` waits for, written as `meeteasy-auth serve` logs it.
    println!("bench-ceiling listening addr={}", listener.local_addr()?);
    axum::serve(listener, app).await
}
