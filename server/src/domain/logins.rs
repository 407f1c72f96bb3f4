//! The ways in: mini program login (WeChat code2Session), login-ticket minting and exchange, and
//! password login.

use std::time::Duration;

use meeteasy_protocol::{
    ADMIN_ROLE, Audience, Claims, ClientKind, LoginTicketResponse, ORGANIZER_ROLE,
    PasswordLoginRequest, TicketExchangeRequest, TokenResponse, WeChatLoginRequest,
    WeChatLoginResponse,
};

use crate::config::AppSettings;
use crate::metrics::LoginMethod;
use crate::wechat::{WeChatError, WeChatSession};
use meeteasy_protocol::Secret;

use super::service::{NewSession, SessionUser};
use super::sessions::{self, ParentSession};
use super::tickets::Redeemable;
use super::users::{self, NewWeChatProfile, UserRecord};
use super::{
    AuthError, AuthService, ClientAddr, device_names, limits, passwords, scenes, store_keys,
    tickets, tokens, unix_now,
};

const MAX_CODE_LEN: usize = 256;

/// A WeChat login's account and the mini program session opened for it.
struct WeChatSignedIn {
    user: UserRecord,
    token: TokenResponse,
    login_ticket: String,
    /// The session's id.
    sid: String,
}

/// A mini program login, and why its scene (if it named one) could not be confirmed.
pub struct MiniProgramLogin {
    pub response: WeChatLoginResponse,
    pub scene_error: Option<AuthError>,
}

const MAX_DEV_NAME: usize = 32;

impl AuthService {
    /// Mini program login; with `scene`, also scans and confirms that scene in one step.
    pub async fn wechat_login(
        &self,
        request: WeChatLoginRequest,
        from: &ClientAddr,
    ) -> Result<MiniProgramLogin, AuthError> {
        let code = request.code.trim();
        if code.is_empty() || code.len() > MAX_CODE_LEN {
            return Err(AuthError::InvalidRequest(format!(
                "code: must be 1 to {MAX_CODE_LEN} characters"
            )));
        }
        let app = self.app(request.app.as_deref())?;
        if let Some(scene) = request.scene.as_deref() {
            // Checked before the code is spent at WeChat: a malformed request costs the user nothing.
            scenes::check_scene(scene)?;
        }
        let device_name = device_names::checked(request.device_name.as_deref())?;
        let profile = self.new_user_profile(code)?;
        let session = self.code_to_session(app, code, from).await?;
        let mut signed_in = self
            .wechat_account_session(app, &session, &profile, device_name.clone(), from)
            .await?;
        self.metrics.count_login(LoginMethod::Wechat);
        // The login stands whatever happens to the scene: the code is spent, and the mini program
        // keeps its session to show the error and retry.
        let scene_error = match request.scene.as_deref() {
            Some(scene) => self
                .scan_and_confirm(scene, &signed_in.user, &signed_in.sid)
                .await
                .err(),
            None => None,
        };
        let store = self.store.as_ref();
        if request.scene.is_some()
            && !users::wechat_leads_to(store, &app.appid, &session, &signed_in.user.id).await?
        {
            // A link scene folded this account into the console user's (its sessions ended), even
            // should the scene's own step have failed after the fold: the login goes on as the
            // account this WeChat now leads to.
            signed_in = self
                .wechat_account_session(app, &session, &profile, device_name, from)
                .await?;
        }
        let (token, login_ticket) = (signed_in.token, signed_in.login_ticket);
        let ticket_ttl = self.settings.lifetimes.login_ticket;
        let response = WeChatLoginResponse {
            access_token: token.access_token,
            token_type: token.token_type,
            expires_in: token.expires_in,
            login_ticket,
            login_ticket_expires_in: ticket_ttl.as_secs(),
            user: token.user,
            scene_error: None,
        };
        Ok(MiniProgramLogin {
            response,
            scene_error,
        })
    }

    /// The account the WeChat of `session` leads to, and a mini program session of it. The WeChat's
    /// keys are read again once the session is written: should one lead elsewhere by then (the
    /// operator unlinked it, or a link scene folded its account into another), that session ends,
    /// what this login wrote pointing at the account it found is taken back, and the login goes
    /// on as the account the WeChat leads to now (once; a second change fails it). An unlink
    /// either sees the session (its keys go before the sessions it ends) or is seen here.
    async fn wechat_account_session(
        &self,
        app: &AppSettings,
        session: &WeChatSession,
        profile: &NewWeChatProfile,
        device_name: Option<String>,
        from: &ClientAddr,
    ) -> Result<WeChatSignedIn, AuthError> {
        let store = self.store.as_ref();
        for _attempt in 0..2 {
            let profile = profile.clone();
            let user = users::find_or_create_wechat(store, &app.appid, session, profile).await?;
            if user.is_organizer() {
                // Dev mode's organizers and admins are made here; listed from their first login.
                self.seen_listed.list_if_missing(store, &user).await?;
            }
            let (token, login_ticket, sid) = self
                .open_mini_program_session(&user, device_name.clone(), from)
                .await?;
            if users::wechat_leads_to(store, &app.appid, session, &user.id).await? {
                return Ok(WeChatSignedIn {
                    user,
                    token,
                    login_ticket,
                    sid,
                });
            }
            let ends = unix_now().saturating_add(token.expires_in);
            sessions::revoke_with_descendants(store, &user.id, &sid, ends).await?;
            users::take_back_wechat_keys(store, &app.appid, session, &user.id).await?;
        }
        // The account this WeChat leads to changed twice during the login: a race, not an outage.
        Err(AuthError::Busy {
            retry_after: Duration::from_secs(1),
        })
    }

    /// A mini program session for `user`, a login ticket it mints, and the session's id.
    async fn open_mini_program_session(
        &self,
        user: &UserRecord,
        device_name: Option<String>,
        from: &ClientAddr,
    ) -> Result<(TokenResponse, String, String), AuthError> {
        let opened = self
            .open_session(
                SessionUser::Known(user),
                NewSession {
                    audience: Audience::Miniprogram,
                    methods: &[tokens::AMR_WECHAT],
                    device_name,
                    ip: from.0.clone(),
                    parent: None,
                    sid: None,
                    started_at: None,
                },
            )
            .await?;
        let ticket_ttl = self.settings.lifetimes.login_ticket;
        let sid = opened.session.sid.clone();
        let login_ticket = tickets::mint(&self.keys.ring(), &user.id, opened.session, ticket_ttl)?;
        Ok((opened.response, login_ticket, sid))
    }

    /// Asks WeChat who the code belongs to, unless this address has sent too many codes WeChat
    /// rejected: junk codes must not reach WeChat (each is a call against the app's quota), while a
    /// venue's NAT carries hundreds of good logins a minute, so only rejected codes count. An
    /// address's codes are asked about a few at a time, so codes sent at once cannot all pass the
    /// count before the first rejection is counted.
    async fn code_to_session(
        &self,
        app: &AppSettings,
        code: &str,
        from: &ClientAddr,
    ) -> Result<WeChatSession, AuthError> {
        let limits = self.settings.wechat_login_limits;
        let failures = store_keys::wechat_code_failures_from(from);
        // Held from the count's read to the failure's count: codes sent at once go a few at a time.
        let _turn = self.wechat_code_turns.take(from).await?;
        if let Some(retry_after) =
            limits::refused_for(self.store.as_ref(), &failures, limits.failures_per_ip).await?
        {
            return Err(AuthError::TooManyRequests { retry_after });
        }
        match self.wechat.code_to_session(app, code).await {
            Ok(session) => Ok(session),
            Err(rejected @ WeChatError::CodeInvalid(_)) => {
                limits::count_failure(self.store.as_ref(), &failures, limits.window).await?;
                Err(rejected.into())
            }
            Err(
                other @ (WeChatError::UserBlocked
                | WeChatError::RateLimited
                | WeChatError::Unavailable(_)
                | WeChatError::Store(_)),
            ) => Err(other.into()),
        }
    }

    /// The one-step login's scene: scanned and confirmed from the phone session just opened.
    async fn scan_and_confirm(
        &self,
        scene: &str,
        user: &UserRecord,
        session: &str,
    ) -> Result<(), AuthError> {
        self.scan_as(scene, user).await?;
        self.confirm_as(scene, user, session).await
    }

    /// The profile a first login creates. In dev mode `dev:<name>` names the user, an organizer
    /// unless the name starts with `guest`, an admin too when it starts with `admin`; real WeChat tells us no name at all.
    fn new_user_profile(&self, code: &str) -> Result<NewWeChatProfile, AuthError> {
        match code.strip_prefix("dev:").filter(|_| self.settings.dev) {
            Some(name) => {
                let name = name.trim();
                if name.is_empty() || name.chars().count() > MAX_DEV_NAME {
                    return Err(AuthError::InvalidRequest(format!(
                        "code: a dev user name must be 1 to {MAX_DEV_NAME} characters"
                    )));
                }
                let roles = if name.starts_with("guest") {
                    vec![]
                } else if name.starts_with("admin") {
                    vec![ORGANIZER_ROLE.to_owned(), ADMIN_ROLE.to_owned()]
                } else {
                    vec![ORGANIZER_ROLE.to_owned()]
                };
                Ok(NewWeChatProfile {
                    display_name: name.to_owned(),
                    roles,
                    dev: true,
                })
            }
            // Made in dev mode whatever the code (a phone simulator's, through the fake WeChat):
            // nothing dev mode makes logs in on a server without it.
            None => Ok(NewWeChatProfile {
                display_name: "WeChat user".to_owned(),
                roles: vec![],
                dev: self.settings.dev,
            }),
        }
    }

    /// A fresh one-time ticket for the holder of a valid token.
    pub async fn mint_ticket(&self, claims: &Claims) -> Result<LoginTicketResponse, AuthError> {
        let user = self.user(&claims.sub).await?;
        let ttl = self.settings.lifetimes.login_ticket;
        let login_ticket =
            tickets::mint(&self.keys.ring(), &user.id, ParentSession::of(claims), ttl)?;
        Ok(LoginTicketResponse {
            login_ticket,
            expires_in: ttl.as_secs(),
        })
    }

    /// The H5 session the ticket opens is derived from the session that minted the ticket.
    pub async fn exchange_ticket(
        &self,
        request: TicketExchangeRequest,
        from: &ClientAddr,
    ) -> Result<TokenResponse, AuthError> {
        let device_name = device_names::checked(request.device_name.as_deref())?;
        let Redeemable {
            user_id,
            parent,
            sid,
            minted_at,
        } = tickets::redeemable(
            self.store.as_ref(),
            &self.keys.ring(),
            request.login_ticket.trim(),
        )
        .await?;
        // The ticket is redeemed by the insert of the session it names, and its user read, in one
        // batch.
        let opened = self
            .open_session(
                SessionUser::OfTicket(&user_id),
                NewSession {
                    audience: Audience::H5,
                    methods: &[tokens::AMR_TICKET],
                    device_name,
                    ip: from.0.clone(),
                    parent: Some(parent),
                    sid: Some(sid),
                    started_at: Some(minted_at),
                },
            )
            .await?;
        self.metrics.count_login(LoginMethod::Ticket);
        Ok(opened.response)
    }

    /// The same answer for an unknown login and a wrong password. Only failed attempts count
    /// toward the limits (per login, per address): a venue behind one NAT must not lock itself out
    /// with its own successful logins.
    pub async fn password_login(
        &self,
        request: PasswordLoginRequest,
        from: &ClientAddr,
    ) -> Result<TokenResponse, AuthError> {
        let login = users::normalize_login(&request.login)?;
        let device_name = device_names::checked(request.device_name.as_deref())?;
        let limits = self.settings.password_limits;
        let by_login = store_keys::password_failures_for(&login);
        let by_address = store_keys::password_failures_from(from);
        // The check, the hash and the counting of its failure share one turn, so concurrent guesses
        // cannot all pass the check before any of their failures is counted: at most the running
        // hashes (`password_hashing.concurrent`) overshoot a limit.
        let _turn = self.hashing.take().await?;
        let store = self.store.as_ref();
        if let Some(retry_after) = limits::longest([
            limits::refused_for(store, &by_login, limits.per_login).await?,
            limits::refused_for(store, &by_address, limits.per_ip).await?,
        ]) {
            return Err(AuthError::TooManyAttempts { retry_after });
        }
        let user = users::by_login(store, &login).await?;
        let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let user = match (
            passwords::verify(Secret::new(request.password), stored_hash).await?,
            user,
        ) {
            (true, Some(user)) => user,
            (true, None) | (false, _) => {
                limits::count_failure(store, &by_login, limits.window).await?;
                limits::count_failure(store, &by_address, limits.window).await?;
                return Err(AuthError::InvalidCredentials);
            }
        };
        // `open_session` refuses a console session to a user without the organizer role, and any
        // session once the password just checked is no longer the account's.
        let audience = match request.client {
            ClientKind::Console => Audience::Console,
            ClientKind::H5 => Audience::H5,
        };
        let opened = self
            .open_session(
                SessionUser::ByPassword(&user),
                NewSession {
                    audience,
                    methods: &[tokens::AMR_PASSWORD],
                    device_name,
                    ip: from.0.clone(),
                    parent: None,
                    sid: None,
                    started_at: None,
                },
            )
            .await?;
        self.metrics.count_login(LoginMethod::Password);
        Ok(opened.response)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::admin::Admin;
    use super::super::service::SessionUser;
    use super::super::test_support::{
        Calls, Fault, FaultyStore, TestService, TestWeChat, console_password_login, organizer,
        service_with, settings,
    };
    use super::super::users::UserRef;
    use super::*;
    use crate::store::Store;
    use meeteasy_protocol::{CreateSceneRequest, ScenePurpose, SceneRequest};

    /// A WeChat login from the mini program, with the code the test WeChat answers for.
    fn code_login() -> WeChatLoginRequest {
        WeChatLoginRequest {
            code: "a-code".into(),
            app: None,
            scene: None,
            device_name: None,
        }
    }

    /// Where the phone's requests come from.
    fn phone_address() -> ClientAddr {
        ClientAddr("192.0.2.7".into())
    }

    /// A service whose WeChat knows Ann (by `unionid` too, when given), after her first login;
    /// and the id of the account it made.
    async fn ann_logged_in_once(unionid: Option<&str>) -> (Arc<FaultyStore>, TestService, String) {
        let store = FaultyStore::new();
        let wechat = Arc::new(TestWeChat(Some(WeChatSession {
            openid: "o-ann".into(),
            unionid: unionid.map(str::to_owned),
        })));
        let service = service_with(store.clone(), settings(|_| {}), wechat).await;
        let first = service.wechat_login(code_login(), &phone_address()).await;
        let user_id = first.unwrap().response.user.id;
        (store, service, user_id)
    }

    /// The operator unlinks the WeChat while its login runs: after the login found the account
    /// by its key, as it reads the account (so it then writes the openid key again), or as it
    /// writes its session (before the unlink's ending of sessions could see it). The login reads
    /// its WeChat's keys once the session is written, finds one gone, ends that session, takes back
    /// the openid key it wrote again, and goes on as an account of its own.
    #[tokio::test]
    async fn a_login_whose_wechat_is_unlinked_meanwhile_goes_on_as_an_account_of_its_own() {
        let moments = [(Calls::Read, "user"), (Calls::Write, "its session index")];
        let cases = moments
            .into_iter()
            .flat_map(|at| [(at, None), (at, Some("u-ann"))]);
        for ((calls, moment), unionid) in cases {
            let (store, service, user_id) = ann_logged_in_once(unionid).await;
            let from = phone_address();
            let admin = Admin::new(store.clone() as Arc<dyn Store>);
            let ann = UserRef::Id(user_id.clone());
            let unlink = async move {
                admin.unlink_wechat(&ann, true).await.expect("unlinked");
            };
            let key = match calls {
                Calls::Read => store_keys::user(&user_id),
                Calls::Write | Calls::Notify => store_keys::user_sessions(&user_id),
            };
            store.before_next(calls, &key, Box::pin(unlink));

            let case = format!("unionid {unionid:?}, unlinked at {moment}");
            let second = service.wechat_login(code_login(), &from).await.unwrap();
            assert!(store.all_faults_hit(), "{case}: the unlink ran");
            assert_ne!(
                second.response.user.id, user_id,
                "{case}: the unlinked account"
            );
            let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
            assert!(
                live.is_empty(),
                "{case}: a session outlived the unlink: {live:?}"
            );
            let third = service.wechat_login(code_login(), &from).await.unwrap();
            assert_eq!(third.response.user.id, second.response.user.id, "{case}");
            let unlinked = users::get(store.as_ref(), &user_id).await.unwrap().unwrap();
            assert_eq!(unlinked.wechat_identities, Vec::<String>::new(), "{case}");
        }
    }

    /// On a mini program that sends a unionid, the unlink deletes the unionid's key, then the
    /// openid's. A login falling between the two finds the account by the openid's key, and the
    /// whole unlink ends before it writes the unionid's key back: it must not keep that account.
    #[tokio::test]
    async fn a_login_falling_between_the_unlink_s_two_deletes_does_not_keep_the_account() {
        let (store, service, user_id) = ann_logged_in_once(Some("u-ann")).await;
        let from = phone_address();
        let ann_record = users::get(store.as_ref(), &user_id).await.unwrap().unwrap();
        let both_keys = ann_record.wechat_identities;
        assert_eq!(both_keys.len(), 2, "the unionid's key and the openid's");
        let unionid_key = store_keys::wechat_unionid("u-ann");
        let unlink_deletes_the_unionid_key = {
            let (store, key) = (store.clone(), unionid_key.clone());
            async move { store.delete(&key).await.expect("deleted") }
        };
        store.before_next(
            Calls::Read,
            &unionid_key,
            Box::pin(unlink_deletes_the_unionid_key),
        );
        let admin = Admin::new(store.clone() as Arc<dyn Store>);
        let ann = UserRef::Id(user_id.clone());
        let unlink_runs_to_its_end = async move {
            admin.unlink_wechat(&ann, true).await.expect("unlinked");
        };
        store.before_next(
            Calls::Read,
            &store_keys::user(&user_id),
            Box::pin(unlink_runs_to_its_end),
        );

        let second = service.wechat_login(code_login(), &from).await.unwrap();
        assert!(store.all_faults_hit(), "the unlink ran");
        assert_ne!(second.response.user.id, user_id, "the unlinked account");
        let live = sessions::list(store.as_ref(), &user_id, "").await.unwrap();
        assert!(live.is_empty(), "a session outlived the unlink: {live:?}");
        let unlinked = users::get(store.as_ref(), &user_id).await.unwrap().unwrap();
        assert_eq!(unlinked.wechat_identities, Vec::<String>::new());
        for key in both_keys {
            let leads_to = store.get(&key).await.unwrap();
            assert_eq!(
                leads_to.as_deref(),
                Some(second.response.user.id.as_bytes())
            );
        }
    }

    /// A one-step login into a link scene: the link folds the account this very login made into
    /// the console user's, then the scene's own step fails. The login goes on as the account the
    /// WeChat leads to now, not as the folded one, whose session ended.
    #[tokio::test]
    async fn a_one_step_link_whose_scene_step_fails_after_the_fold_logs_in_the_linked_account() {
        let store = FaultyStore::new();
        let wechat = Arc::new(TestWeChat(Some(WeChatSession {
            openid: "o-pat".into(),
            unionid: None,
        })));
        let service = service_with(store.clone(), settings(|_| {}), wechat).await;
        let ann = organizer(store.as_ref(), "ann").await;
        let console = service.open_session(SessionUser::Known(&ann), console_password_login());
        let console_token = console.await.unwrap().response.access_token;
        let link = SceneRequest::new(CreateSceneRequest::default(), ScenePurpose::Link);
        let created = service
            .create_scene_for(link, &phone_address(), Some(&console_token))
            .await
            .expect("a link scene");
        // Once the fold has begun (it writes Ann's record first), the scene's next step fails.
        let scene_key = store_keys::scene(&created.scene);
        let scene_step_fails = {
            let (store, scene_key) = (store.clone(), scene_key.clone());
            async move { store.fail_next(Calls::Write, &scene_key, Fault::FailBefore) }
        };
        store.before_next(
            Calls::Write,
            &store_keys::user(&ann.id),
            Box::pin(scene_step_fails),
        );

        let one_step = WeChatLoginRequest {
            scene: Some(created.scene.clone()),
            ..code_login()
        };
        let login = service.wechat_login(one_step, &phone_address()).await;
        let login = login.expect("the login stands");
        assert!(
            store.all_faults_hit(),
            "the scene's step failed after the fold"
        );
        assert!(login.scene_error.is_some(), "the scene's failure is told");
        assert_eq!(
            login.response.user.id, ann.id,
            "the account the WeChat joined"
        );
        let claims = service.verify(&login.response.access_token).await;
        assert_eq!(claims.expect("a live session").sub, ann.id);
    }
}
