//! The fake's HTTP face: WeChat's paths, query and body shapes, and its habits on the wire (errors as
//! HTTP 200 JSON with a `rid`, sns answers labelled `text/plain`, images labelled `image/jpeg`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;

use super::world::{Errcode, World, errcode, unique_hex};
use super::{FakeEndpoint, FakeFault, lock};

type Shared = State<Arc<Mutex<World>>>;
type Params = Query<HashMap<String, String>>;

const JSON: &str = "application/json; encoding=utf-8";

pub(super) fn router(world: Arc<Mutex<World>>) -> Router {
    Router::new()
        .route("/sns/jscode2session", get(code_to_session))
        .route("/cgi-bin/stable_token", post(stable_token))
        .route("/wxa/getwxacodeunlimit", post(unlimited_qr_code))
        .route("/fake/wx.login", post(wx_login))
        .with_state(world)
}

/// Counts the call and plays the fault queued for it, if any.
async fn faulted(world: &Mutex<World>, endpoint: FakeEndpoint) -> Option<Response> {
    let fault = lock(world).begin_call(endpoint)?;
    let errcode = match fault {
        FakeFault::SystemError => errcode::SYSTEM_ERROR,
        FakeFault::DailyQuota => errcode::DAILY_QUOTA,
        FakeFault::MinuteQuota => errcode::MINUTE_QUOTA,
        FakeFault::Errcode(errcode) => errcode,
        FakeFault::Hang => std::future::pending().await,
    };
    Some(error(errcode))
}

/// WeChat's error answer: HTTP 200, JSON, the errmsg ending in a request id.
fn error(errcode: Errcode) -> Response {
    let rid = unique_hex();
    let errmsg = format!(
        "{} rid: {}-{}-{}",
        errmsg(errcode),
        &rid[..8],
        &rid[8..16],
        &rid[16..24]
    );
    (
        [(header::CONTENT_TYPE, JSON)],
        json!({"errcode": errcode, "errmsg": errmsg}).to_string(),
    )
        .into_response()
}

fn errmsg(errcode: Errcode) -> &'static str {
    match errcode {
        errcode::SYSTEM_ERROR => "system error",
        errcode::INVALID_CREDENTIAL => "invalid credential, access_token is invalid or not latest",
        errcode::INVALID_GRANT_TYPE => "invalid grant_type",
        errcode::INVALID_APPID => "invalid appid",
        errcode::INVALID_CODE => "invalid code",
        errcode::INVALID_ARGS => "invalid args",
        errcode::INVALID_APPSECRET => "invalid appsecret",
        errcode::INVALID_SCENE => "invalid scene",
        errcode::CODE_BEEN_USED => "code been used",
        errcode::INVALID_SCENE_LENGTH => "invalid length for scene, or the data is not json string",
        errcode::CODE_BLOCKED => "code blocked",
        errcode::ACCESS_TOKEN_MISSING => "access_token missing",
        errcode::APPID_MISSING => "appid missing",
        errcode::CODE_MISSING => "missing code",
        errcode::INVALID_PAGE => "invalid page",
        errcode::ACCESS_TOKEN_EXPIRED => "access_token expired",
        errcode::DAILY_QUOTA => "reach max api daily quota limit",
        errcode::MINUTE_QUOTA => "api minute-quota reach limit mustslower retry next minute",
        errcode::DATA_FORMAT_ERROR => "data format error",
        _ => "error",
    }
}

fn json_answer(content_type: &'static str, body: serde_json::Value) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.to_string()).into_response()
}

async fn code_to_session(State(world): Shared, Query(query): Params) -> Response {
    if let Some(fault) = faulted(&world, FakeEndpoint::Code2Session).await {
        return fault;
    }
    let session = lock(&world).code_to_session(&query);
    match session {
        // sns answers come labelled text/plain: clients must parse the bytes whatever the label.
        Ok(session) => {
            let mut body = json!({"session_key": session.session_key, "openid": session.openid});
            if let Some(unionid) = session.unionid {
                body["unionid"] = unionid.into();
            }
            json_answer("text/plain", body)
        }
        Err(errcode) => error(errcode),
    }
}

async fn stable_token(State(world): Shared, body: Bytes) -> Response {
    if let Some(fault) = faulted(&world, FakeEndpoint::StableToken).await {
        return fault;
    }
    let granted = lock(&world).stable_token(&body);
    match granted {
        Ok(granted) => json_answer(
            JSON,
            json!({"access_token": granted.access_token, "expires_in": granted.expires_in}),
        ),
        Err(errcode) => error(errcode),
    }
}

async fn unlimited_qr_code(State(world): Shared, Query(query): Params, body: Bytes) -> Response {
    if let Some(fault) = faulted(&world, FakeEndpoint::UnlimitedQrCode).await {
        return fault;
    }
    let order = lock(&world).unlimited_qr(query.get("access_token"), &body);
    match order.map(|order| meeteasy_auth::qr::png(&order.content, order.width)) {
        Ok(Ok(png)) => (
            [
                // Real WeChat labels its PNG codes image/jpeg.
                (header::CONTENT_TYPE, "image/jpeg"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"wxacode.jpeg\"",
                ),
            ],
            png,
        )
            .into_response(),
        Ok(Err(render_failure)) => {
            tracing::error!(%render_failure, "fake WeChat cannot draw a code");
            error(errcode::SYSTEM_ERROR)
        }
        Err(errcode) => error(errcode),
    }
}

#[derive(Deserialize)]
struct WxLoginRequest {
    appid: String,
    openid: String,
    #[serde(default)]
    unionid: Option<String>,
}

/// Fake-only: the code `wx.login` would give `openid` in `appid`, for phones simulated in another process.
async fn wx_login(State(world): Shared, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<WxLoginRequest>(&body) else {
        return error(errcode::DATA_FORMAT_ERROR);
    };
    if request.appid.is_empty() || request.openid.is_empty() {
        return error(errcode::DATA_FORMAT_ERROR);
    }
    let code = lock(&world).mint_code(&request.appid, &request.openid, request.unionid.as_deref());
    json_answer(JSON, json!({"code": code}))
}
