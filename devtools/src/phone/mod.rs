//! `meeteasy-auth phone scan`: a phone without a phone. Reads the console's QR, gets a code as
//! `wx.login` would (from the fake WeChat, or a `dev:<name>` code for a `--dev` server), logs in as the
//! mini program, scans, shows what the phone user would see, then confirms or declines.

mod qr;
mod report;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use meeteasy_protocol::{
    ConsoleInfo, ErrorBody, ErrorCode, ScanResponse, User, WeChatLoginRequest, WeChatLoginResponse,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// The longest the simulator waits for any one answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["qr", "scene"])))]
pub struct PhoneScanArgs {
    /// The console's QR image (PNG or JPEG).
    #[arg(long, value_name = "FILE")]
    pub qr: Option<PathBuf>,
    /// The scene, when there is no image to read.
    #[arg(long)]
    pub scene: Option<String>,
    /// Who scans: the fake WeChat user's name (openid `openid-<NAME>`, or the dev user `<NAME>`).
    #[arg(long = "as", value_name = "NAME")]
    pub name: String,
    /// Decline instead of confirming.
    #[arg(long)]
    pub decline: bool,
    /// The auth server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// The fake WeChat to get a login code from; without it the code is `dev:<NAME>` (for `--dev` servers).
    #[arg(long, value_name = "URL", requires = "appid")]
    pub wechat: Option<String>,
    /// The mini program (the server's app key) to log in from; the server's default without it.
    #[arg(long, value_name = "KEY")]
    pub app: Option<String>,
    /// The mini program's AppID, for the fake WeChat's `wx.login`.
    #[arg(long)]
    pub appid: Option<String>,
}

/// What happened on the phone.
#[derive(Debug, Clone)]
pub struct PhoneReport {
    pub scene: String,
    /// The app the server says the scan belongs to.
    pub app: String,
    pub user: User,
    pub console: ConsoleInfo,
    pub decision: Decision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Confirmed,
    Declined,
}

#[derive(Debug, thiserror::Error)]
pub enum PhoneError {
    #[error("cannot read {path}: {source}")]
    ReadQr {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read a QR code: {0}")]
    QrUnreadable(String),
    #[error("this QR code is not a console login code: {0:?}")]
    NotAScanCode(String),
    #[error("the fake WeChat gave no login code: {0}")]
    NoCode(String),
    #[error("cannot reach {0}")]
    Unreachable(String),
    /// The server refused a step with a contract error.
    #[error("{step}: {code} ({message})")]
    Refused {
        step: &'static str,
        code: ErrorCode,
        message: String,
    },
    #[error("{step}: unexpected answer (HTTP {status})")]
    UnexpectedAnswer { step: &'static str, status: u16 },
}

impl PhoneError {
    /// The contract's error code, when the server refused a step.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            Self::Refused { code, .. } => Some(*code),
            Self::ReadQr { .. }
            | Self::QrUnreadable(_)
            | Self::NotAScanCode(_)
            | Self::NoCode(_)
            | Self::Unreachable(_)
            | Self::UnexpectedAnswer { .. } => None,
        }
    }
}

/// Scans and confirms (or declines) as `args.name`.
pub async fn scan(args: &PhoneScanArgs) -> Result<PhoneReport, PhoneError> {
    let scene = match (&args.qr, &args.scene) {
        (Some(path), _) => qr::scene_in(&qr::read_qr(path)?)?,
        (None, Some(scene)) => scene.clone(),
        (None, None) => return Err(PhoneError::NotAScanCode(String::new())),
    };
    meeteasy_auth::wechat::client::install_tls_provider();
    let http = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|error| PhoneError::Unreachable(error.to_string()))?;
    let server = args.server.trim_end_matches('/');
    let code = login_code(&http, args).await?;

    let login = WeChatLoginRequest {
        code,
        app: args.app.clone(),
        scene: None,
        device_name: None,
    };
    let response = http
        .post(format!("{server}/auth/wechat/login"))
        .json(&login)
        .send()
        .await;
    let session: WeChatLoginResponse = answer("log in", response, 200).await?;

    let bearer = format!("Bearer {}", session.access_token);
    let response = http
        .post(format!("{server}/auth/scenes/{scene}/scan"))
        .header(reqwest::header::AUTHORIZATION, &bearer)
        .send()
        .await;
    let scanned: ScanResponse = answer("scan", response, 200).await?;

    let (step, decision) = if args.decline {
        ("cancel", Decision::Declined)
    } else {
        ("confirm", Decision::Confirmed)
    };
    let response = http
        .post(format!("{server}/auth/scenes/{scene}/{step}"))
        .header(reqwest::header::AUTHORIZATION, &bearer)
        .send()
        .await;
    no_content(step, response).await?;
    Ok(PhoneReport {
        scene,
        app: scanned.app,
        user: session.user,
        console: scanned.console,
        decision,
    })
}

/// Runs [`scan`] and prints what the phone user saw.
pub async fn run(args: &PhoneScanArgs) -> ExitCode {
    match scan(args).await {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("phone: {error}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Deserialize)]
struct MintedCode {
    code: Option<String>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

/// What `wx.login` would give this user: a code minted by the fake WeChat, or a dev code.
async fn login_code(http: &reqwest::Client, args: &PhoneScanArgs) -> Result<String, PhoneError> {
    let (Some(wechat), Some(appid)) = (&args.wechat, &args.appid) else {
        return Ok(format!("dev:{}", args.name));
    };
    let body = serde_json::json!({"appid": appid, "openid": format!("openid-{}", args.name)});
    let url = format!("{}/fake/wx.login", wechat.trim_end_matches('/'));
    let response = http
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|_error| PhoneError::Unreachable(url))?;
    let minted: MintedCode = response
        .json()
        .await
        .map_err(|error| PhoneError::NoCode(error.to_string()))?;
    match minted {
        MintedCode {
            code: Some(code), ..
        } => Ok(code),
        MintedCode {
            errcode, errmsg, ..
        } => Err(PhoneError::NoCode(format!(
            "errcode {} {}",
            errcode.unwrap_or_default(),
            errmsg.unwrap_or_default()
        ))),
    }
}

async fn answer<T: DeserializeOwned>(
    step: &'static str,
    response: Result<reqwest::Response, reqwest::Error>,
    expected: u16,
) -> Result<T, PhoneError> {
    let response =
        response.map_err(|error| PhoneError::Unreachable(error.without_url().to_string()))?;
    let status = response.status().as_u16();
    let body = response
        .bytes()
        .await
        .map_err(|error| PhoneError::Unreachable(error.without_url().to_string()))?;
    if status == expected {
        return serde_json::from_slice(&body)
            .map_err(|_invalid| PhoneError::UnexpectedAnswer { step, status });
    }
    Err(refusal(step, status, &body))
}

async fn no_content(
    step: &'static str,
    response: Result<reqwest::Response, reqwest::Error>,
) -> Result<(), PhoneError> {
    let response =
        response.map_err(|error| PhoneError::Unreachable(error.without_url().to_string()))?;
    let status = response.status().as_u16();
    if status == 204 {
        return Ok(());
    }
    let body = response
        .bytes()
        .await
        .map_err(|error| PhoneError::Unreachable(error.without_url().to_string()))?;
    Err(refusal(step, status, &body))
}

fn refusal(step: &'static str, status: u16, body: &[u8]) -> PhoneError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(error) => PhoneError::Refused {
            step,
            code: error.error,
            message: error.message,
        },
        Err(_not_contract) => PhoneError::UnexpectedAnswer { step, status },
    }
}
