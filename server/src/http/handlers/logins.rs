//! Mini program login, login tickets and password login.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use meeteasy_protocol::{
    LoginTicketResponse, PasswordLoginRequest, TicketExchangeRequest, TokenResponse,
    WeChatLoginRequest, WeChatLoginResponse,
};

use super::Service;
use crate::http::caller::AnyCaller;
use crate::http::error::ApiError;
use crate::http::extract::{JsonBody, Peer};

/// A scene that could not be confirmed goes inside the login's 200 (`scene_error`); a fault
/// behind it is attached for the observing layer to log, as an error answer's is.
pub async fn wechat_login(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<WeChatLoginRequest>,
) -> Result<Response, ApiError> {
    let login = service.wechat_login(request, &from).await?;
    let described = login
        .scene_error
        .map(|error| ApiError::from(error).body_and_cause());
    let (scene_error, cause) = described.unzip();
    let cause = cause.flatten();
    let answer = WeChatLoginResponse {
        scene_error,
        ..login.response
    };
    let mut response = Json(answer).into_response();
    if let Some(cause) = cause {
        response.extensions_mut().insert(cause);
    }
    Ok(response)
}

pub async fn mint_ticket(
    service: Service,
    AnyCaller(claims): AnyCaller,
) -> Result<(StatusCode, Json<LoginTicketResponse>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.mint_ticket(&claims).await?),
    ))
}

pub async fn exchange_ticket(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<TicketExchangeRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(service.exchange_ticket(request, &from).await?))
}

pub async fn password_login(
    service: Service,
    Peer(from): Peer,
    JsonBody(request): JsonBody<PasswordLoginRequest>,
) -> Result<Json<TokenResponse>, ApiError> {
    Ok(Json(service.password_login(request, &from).await?))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, header};
    use meeteasy_protocol::CreateSceneRequest;
    use tower::ServiceExt as _;

    use crate::domain::{
        AuthService, Calls, ClientAddr, Fault, FaultyStore, TestWeChat, store_keys, test_settings,
    };
    use crate::http::error::FaultCause;
    use crate::http::pages::PageAddOns;
    use crate::metrics::Metrics;
    use crate::wechat::WeChatSession;

    /// The one-step login whose scene step meets a store failure answers 200 (the login stands)
    /// with `scene_error`, and the fault's cause goes to the log and to `/metrics` as an error
    /// answer's does.
    #[tokio::test]
    async fn a_one_step_login_whose_scene_step_fails_logs_the_cause() {
        let store = FaultyStore::new();
        let wechat = Arc::new(TestWeChat(Some(WeChatSession {
            openid: "o-ann".into(),
            unionid: None,
        })));
        let settings = Arc::new(test_settings(|_| {}));
        let (_shutdown, shutting_down) = tokio::sync::watch::channel(false);
        let metrics = Arc::new(Metrics::default());
        let started = AuthService::start(
            store.clone(),
            wechat,
            settings,
            None,
            metrics.clone(),
            shutting_down,
        );
        let service = Arc::new(started.await.expect("the service starts"));
        let from = ClientAddr("192.0.2.7".into());
        let created = service.create_scene(CreateSceneRequest::default(), &from);
        let scene = created.await.expect("a scene").scene;
        store.fail_next(Calls::Write, &store_keys::scene(&scene), Fault::FailBefore);

        let body = serde_json::json!({"code": "dev:ann", "scene": scene}).to_string();
        let request = Request::post("/auth/wechat/login")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body))
            .expect("a request");
        let app = crate::http::app(service, &PageAddOns::default());
        let response = app.oneshot(request).await.expect("answered");
        assert_eq!(response.status(), 200);
        assert!(store.all_faults_hit());
        let cause = response.extensions().get::<FaultCause>();
        assert!(
            cause.is_some_and(|cause| cause.detail.contains("store")),
            "{cause:?}"
        );
        assert!(
            metrics.render().contains("meeteasy_store_errors_total 1\n"),
            "the store error is counted though the login stands"
        );
    }
}
