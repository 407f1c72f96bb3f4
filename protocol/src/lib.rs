//! Wire types of the MeetEasy auth protocol v1 (with its v1.1 additions), shared by the auth server and its Rust clients.
//!
//! Every type here is exactly what travels as JSON; nothing in this crate knows about HTTP libraries,
//! stores or WeChat. Unknown fields are ignored on input (serde's default), as the contract requires.

mod error;
mod redact;
mod scene;
mod secret;
mod session;
mod team;
mod token;

pub use error::{ErrorBody, ErrorCode};
pub use scene::{
    AccountInfo, ConsoleInfo, CreateSceneRequest, CreateSceneResponse, IsLoginResponse,
    LinkPollResponse, QrInfo, ScanResponse, ScannerProfile, ScenePurpose, SceneRequest,
};
pub use secret::Secret;
pub use session::{RevokedSessions, Session, SessionsResponse};
pub use team::{
    ADMIN_ROLE, AcceptInviteResponse, CreateInviteRequest, CreateInviteResponse,
    InspectInviteResponse, Invite, InviteCodeRequest, Inviter, InvitesResponse, LoginMethod,
    Member, SetPasswordRequest, TeamResponse, TeamRole,
};
pub use token::{
    Audience, Claims, ClientKind, Jwk, Jwks, LoginTicketResponse, PasswordLoginRequest,
    TicketExchangeRequest, TokenResponse, User, VerifyRequest, VerifyResponse, WeChatLoginRequest,
    WeChatLoginResponse,
};

/// The only `token_type` the server issues.
pub const BEARER: &str = "Bearer";

/// The role a user needs to log a desktop console in.
pub const ORGANIZER_ROLE: &str = "organizer";
