//! What an operator does from the command line: add a password user, grant and revoke roles, list
//! and show users, end a user's sessions, make an invite, rotate the signing keys. Needs only the
//! store, so it runs without WeChat (and behind the admin socket of a running server); an invite's
//! mini program code needs WeChat too, when it is given one ([`InviteCodes`]).

use std::sync::Arc;
use std::time::Duration;

use meeteasy_protocol::{Invite, LoginMethod, TeamRole, User};

use crate::config::AppSettings;
use crate::key_sealing::KeyEncryptionKey;
use crate::store::Store;
use crate::wechat::WeChat;

use super::invites::{self, Creator, InviteQr};
use super::secrets::random_id;
use super::signing_keys::{self, Rotation};
use super::team::{self, Demotion, TeamActor};
use super::users::{self, NewPasswordUser, UserRecord, UserRef};
use super::{AuthError, account_changes, links, login_claims, passwords, sessions};

/// A user as the operator sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserSummary {
    pub user: User,
    /// The password login (email or phone), if any.
    pub login: Option<String>,
    /// A login a change of the account is claiming, not yet its own (a change stopped half way:
    /// sent again it finishes, an hour on the claim lapses).
    pub claiming: Option<String>,
    pub methods: Vec<LoginMethod>,
    pub last_login_at: Option<u64>,
}

/// An invite the operator made: its code (shown once, never stored) and the link it opens
/// (`<public_url>/m/invite/<code>`, what its QR encodes in `url` mode).
#[derive(Debug, Clone)]
pub struct OperatorInvite {
    pub invite: Invite,
    pub code: String,
    pub link: String,
    /// Its QR when that is a mini program code (the app's `qr_mode` is `wxacode`): a PNG from
    /// WeChat, which no terminal can draw from the link.
    pub mini_program_code: Option<Vec<u8>>,
}

/// What draws an operator's invite as the app's phones scan it: the app (whose `qr_mode` and
/// `invite_page` decide) and WeChat, for a mini program code. Without it an invite's QR encodes
/// its link, which opens the mini program only where WeChat's "scan ordinary link" rule sends it.
pub struct InviteCodes {
    pub app: AppSettings,
    pub wechat: Arc<dyn WeChat>,
}

/// What taking an account's WeChat did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnlinkedWechat {
    pub user: User,
    /// WeChat identity keys deleted (a unionid and an openid can be one person's).
    pub identities: usize,
    /// Sessions a WeChat login had opened, and what derived from them.
    pub sessions_ended: u64,
    /// Identity keys a WeChat login in that very moment made lead here again: run it again.
    pub leading_again: usize,
}

/// The signing keys after a rotation, by `kid`.
#[derive(Debug)]
pub struct RotatedKeys {
    pub current: String,
    pub next: String,
    /// Still published and accepted, for tokens signed before.
    pub retired: Vec<String>,
}

pub struct Admin {
    store: Arc<dyn Store>,
    invite_codes: Option<InviteCodes>,
}

impl Admin {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            invite_codes: None,
        }
    }

    /// Draws the invites it makes as `codes` says (see [`InviteCodes`]).
    pub fn with_invite_codes(self, codes: InviteCodes) -> Self {
        Self {
            invite_codes: Some(codes),
            ..self
        }
    }

    pub async fn add_password_user(&self, new: NewPasswordUser) -> Result<User, AuthError> {
        let hash = passwords::hash(new.password.clone()).await?;
        let user = users::create_password_user(self.store.as_ref(), new, hash).await?;
        team::list_as_recorded(self.store.as_ref(), &user.id).await?;
        Ok(user.to_wire())
    }

    /// Adds `role` (`admin` brings `organizer` with it); the team list shows the change at once.
    pub async fn grant(&self, who: &UserRef, role: &str) -> Result<User, AuthError> {
        let store = self.store.as_ref();
        // Under the account's change lock: a link folding a WeChat-only account away would
        // delete the role with it.
        let id = users::find_named(store, who).await?.id;
        let holder = format!("grant:{}", random_id()?);
        let found = UserRef::Id(id.clone());
        let grant = users::grant(store, &found, role);
        let user = account_changes::one_at_a_time(&self.store, &id, &holder, grant).await?;
        team::list_as_recorded(store, &user.id).await?;
        if TeamRole::parse(role.trim()).is_some() {
            tracing::info!(
                team_event = "role_granted",
                actor = %TeamActor::Operator,
                user = %user.id,
                role = role.trim(),
                "team change"
            );
        }
        Ok(user.to_wire())
    }

    /// Takes `role` from a user. Taking `organizer` takes `admin` too (an admin is always an
    /// organizer) and ends the user's console sessions at once; taking the last admin's role is
    /// refused with [`AuthError::LastAdmin`]. Any other role granted is taken as it was given.
    pub async fn revoke_role(&self, who: &UserRef, role: &str) -> Result<User, AuthError> {
        let store = self.store.as_ref();
        let Some(team_role) = TeamRole::parse(role.trim()) else {
            let after = users::take_other_role(store, who, role).await?;
            return Ok(after.to_wire());
        };
        let user = users::find_named(store, who).await?;
        if !user.has_role(team_role.as_str()) {
            return Err(users::role_not_held(who, team_role.as_str(), &user));
        }
        let demotion = match team_role {
            TeamRole::Organizer => Demotion::Team,
            TeamRole::Admin => Demotion::Admin,
        };
        let (after, ended) = team::demote(store, &user.id, demotion).await?;
        let after = after.ok_or_else(|| users::no_user(who))?;
        tracing::info!(
            team_event = "role_revoked",
            actor = %TeamActor::Operator,
            user = %after.id,
            role = team_role.as_str(),
            console_sessions_ended = ended,
            "team change"
        );
        Ok(after.to_wire())
    }

    /// The team (every organizer, from the team index) and every user with a password login
    /// (from the index of password users, kept since v1.1), each once, sorted by name. Mini program
    /// users without a role and without a password are not listed: the store keeps no list of
    /// them (`show_user` finds any user by id).
    pub async fn list_users(&self) -> Result<Vec<UserSummary>, AuthError> {
        let store = self.store.as_ref();
        let mut ids: Vec<String> = team::members(store)
            .await?
            .into_iter()
            .map(|member| member.user.id)
            .collect();
        for id in users::password_user_ids(store).await? {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let mut listed = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(user) = users::get(store, &id).await? {
                listed.push(self.summary(user).await?);
            }
        }
        listed.sort_by(|a, b| {
            (&a.user.display_name, &a.user.id).cmp(&(&b.user.display_name, &b.user.id))
        });
        Ok(listed)
    }

    /// One user, by id or login.
    pub async fn show_user(&self, who: &UserRef) -> Result<UserSummary, AuthError> {
        let store = self.store.as_ref();
        let user = match (users::find(store, who).await?, who) {
            (Some(user), _) => user,
            // A login only claimed so far (a change stopped half way): its claimant, which the
            // summary shows claiming it.
            (None, UserRef::Login(login)) => login_claims::claimant(store, login)
                .await?
                .ok_or_else(|| users::no_user(who))?,
            (None, UserRef::Id(_)) => return Err(users::no_user(who)),
        };
        self.summary(user).await
    }

    /// Ends every live session of the user (console, H5, mini program, and what derives from
    /// them); returns how many ended.
    pub async fn end_user_sessions(&self, who: &UserRef) -> Result<u64, AuthError> {
        let user = users::find_named(self.store.as_ref(), who).await?;
        Ok(
            sessions::end_user_sessions(self.store.as_ref(), &user.id, &sessions::EVERY_CLIENT)
                .await?,
        )
    }

    /// Takes every WeChat way into an account (one linked by mistake, or by someone who saw its
    /// link QR) and ends every session a WeChat login opened, with what derives from them. The
    /// owner links their own WeChat again from the console. An account without a password login
    /// would be left with no way in: refused unless `leave_no_way_in` (its roles stay; its owner's
    /// next WeChat login makes a new account, to invite again).
    pub async fn unlink_wechat(
        &self,
        who: &UserRef,
        leave_no_way_in: bool,
    ) -> Result<UnlinkedWechat, AuthError> {
        let store = self.store.as_ref();
        let user = users::find_named(store, who).await?;
        if user.wechat_identities.is_empty() {
            return Err(AuthError::InvalidRequest(format!(
                "user: no WeChat identity is recorded for {} (an account from before v1.1 records its WeChat at its next WeChat login)",
                user.id
            )));
        }
        if user.password_hash.is_none() && !leave_no_way_in {
            return Err(AuthError::InvalidRequest(format!(
                "user: {} logs in with WeChat only, so unlinking it leaves no way into the account; give --leave-no-way-in to unlink anyway (their next WeChat login makes a new account, without roles)",
                user.id
            )));
        }
        let unlinked = links::unlink_every_wechat(store, &user).await?;
        tracing::info!(
            account_event = "wechat_unlinked",
            actor = %TeamActor::Operator,
            user = %user.id,
            identities = unlinked.deleted,
            sessions_ended = unlinked.sessions_ended,
            leading_again = unlinked.leading_again,
            "account change"
        );
        Ok(UnlinkedWechat {
            user: unlinked.user.to_wire(),
            identities: unlinked.deleted,
            sessions_ended: unlinked.sessions_ended,
            leading_again: unlinked.leading_again,
        })
    }

    /// An invite made by the operator: `created_by` is [`super::operator_user`] ("Server
    /// operator", id `operator`, which no account has). `expires_in` defaults to a day and is at
    /// most a week. `public_url` is the server's (the link is `<public_url>/m/invite/<code>`). Its
    /// QR, kept for an admin to fetch later, is the app's mini program code in `wxacode` mode
    /// (given [`InviteCodes`]), else a QR of that link.
    pub async fn create_invite(
        &self,
        role: TeamRole,
        expires_in: Option<Duration>,
        public_url: &str,
    ) -> Result<OperatorInvite, AuthError> {
        let (record, code) = invites::new_invite(
            Creator::Operator,
            role,
            expires_in.map(|lifetime| lifetime.as_secs()),
        )?;
        let link = invites::invite_link(public_url.trim_end_matches('/'), &code);
        let app = (self.invite_codes.as_ref()).map(|codes| (&codes.app, codes.wechat.as_ref()));
        let (png, mini_program_code) = match invites::drawn(app, &link, &code).await? {
            InviteQr::MiniProgramCode(png) => (png.clone(), Some(png)),
            InviteQr::OfLink(png) => (png, None),
        };
        let store = self.store.as_ref();
        invites::save(store, &record, &code, &png).await?;
        invites::log_created(&record, &TeamActor::Operator);
        Ok(OperatorInvite {
            invite: invites::to_wire(store, &record).await?,
            code,
            link,
            mini_program_code,
        })
    }

    async fn summary(&self, user: UserRecord) -> Result<UserSummary, AuthError> {
        Ok(UserSummary {
            last_login_at: team::last_login(self.store.as_ref(), &user.id).await?,
            methods: user.methods(),
            login: user.login.clone(),
            claiming: user
                .claiming_login
                .as_ref()
                .map(|claim| claim.login.clone()),
            user: user.to_wire(),
        })
    }

    /// Rotates the signing keys, sealing them with `key_encryption_key` if given (as the servers on
    /// this store must); running instances switch within moments.
    pub async fn rotate_keys(
        &self,
        rotation: Rotation,
        key_encryption_key: Option<&KeyEncryptionKey>,
    ) -> Result<RotatedKeys, AuthError> {
        let ring = signing_keys::rotate(self.store.as_ref(), rotation, key_encryption_key).await?;
        Ok(RotatedKeys {
            current: ring.current_kid().to_owned(),
            next: ring.next_kid().to_owned(),
            retired: ring.retired_kids().map(str::to_owned).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use meeteasy_protocol::{Audience, Secret};

    use super::super::sessions::{Claim, SessionRecord, is_revoked, open};
    use super::super::test_support::{Calls, Fault, FaultyStore};
    use super::super::unix_now;
    use super::super::{store_keys, tokens};
    use super::*;

    async fn admin_with(store: &Arc<FaultyStore>) -> Admin {
        Admin::new(store.clone() as Arc<dyn Store>)
    }

    async fn add(admin: &Admin, login: &str, name: &str, roles: &[&str]) -> User {
        admin
            .add_password_user(NewPasswordUser {
                login: login.into(),
                display_name: name.into(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                password: Secret::new("a password"),
            })
            .await
            .unwrap()
    }

    async fn session(store: &dyn Store, user: &User, client: Audience, n: char) -> String {
        opened(store, user, (client, tokens::AMR_PASSWORD), n, None).await
    }

    /// A session `n` of `user` for `client`, opened by a login by `method` (or derived from
    /// `parent`).
    async fn opened(
        store: &dyn Store,
        user: &User,
        (client, method): (Audience, &str),
        n: char,
        parent: Option<&str>,
    ) -> String {
        let sid = n.to_string().repeat(43);
        let now = unix_now();
        let record = SessionRecord {
            user_id: user.id.clone(),
            client,
            device_name: None,
            ip: "192.0.2.1".into(),
            created_at: now,
            last_seen_at: now,
            methods: vec![method.into()],
            parent: parent.map(str::to_owned),
            expires_at: now + 600,
        };
        open(store, &sid, &record, Claim::Any, &[]).await.unwrap();
        sid
    }

    /// `user`'s account as one a WeChat (its unionid and openid) was linked to.
    async fn linked(store: &dyn Store, user: &User, unionid: &str) -> [String; 2] {
        let keys = [
            store_keys::wechat_unionid(unionid),
            store_keys::wechat_openid("wx-app", &format!("o-{unionid}")),
        ];
        for key in &keys {
            let put = store.put(key, user.id.as_bytes(), crate::store::Lifetime::Forever);
            put.await.unwrap();
        }
        users::update(store, &user.id, |record| {
            record.wechat_identities.extend(keys.iter().cloned());
        })
        .await
        .unwrap();
        keys
    }

    #[tokio::test]
    async fn unlinking_wechat_takes_every_identity_and_the_sessions_it_opened() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let ann = add(&admin, "ann@example.org", "Ann", &["organizer"]).await;
        let keys = linked(store.as_ref(), &ann, "u-1").await;
        let by_password = session(store.as_ref(), &ann, Audience::Console, 'p').await;
        let scan = (Audience::Console, tokens::AMR_WECHAT);
        let by_wechat = opened(store.as_ref(), &ann, scan, 'w', None).await;
        let h5 = (Audience::H5, tokens::AMR_WECHAT);
        let derived = opened(store.as_ref(), &ann, h5, 'd', Some(&by_wechat)).await;
        // Moved to another account (a link) after the unlink read it as Ann's, before its delete:
        // not this account's to take.
        let moved = {
            let (store, key) = (store.clone(), keys[1].clone());
            async move {
                let put = store.put(&key, b"someone-else", crate::store::Lifetime::Forever);
                put.await.expect("moved");
            }
        };
        store.before_next(Calls::Write, &keys[1], Box::pin(moved));

        let ann_ref = UserRef::Id(ann.id.clone());
        let unlinked = admin.unlink_wechat(&ann_ref, false).await.unwrap();
        assert!(store.all_faults_hit(), "the key moved during the unlink");
        // One key deleted; the one moved away is only forgotten.
        assert_eq!((unlinked.identities, unlinked.sessions_ended), (1, 2));
        assert_eq!(unlinked.leading_again, 0);
        assert_eq!(store.get(&keys[0]).await.unwrap(), None);
        assert_eq!(
            store.get(&keys[1]).await.unwrap().as_deref(),
            Some(&b"someone-else"[..])
        );
        let shown = admin.show_user(&ann_ref).await.unwrap();
        assert_eq!(shown.methods, [LoginMethod::Password]);
        assert_eq!(shown.user.roles, ["organizer"]);
        for (sid, ended) in [(&by_wechat, true), (&derived, true), (&by_password, false)] {
            assert_eq!(
                is_revoked(store.as_ref(), &ann.id, sid).await.unwrap(),
                ended
            );
        }
        // Nothing left to take.
        assert!(matches!(
            admin.unlink_wechat(&ann_ref, false).await,
            Err(AuthError::InvalidRequest(_))
        ));
    }

    /// A run stopped by a store error after the keys went leaves the identities recorded, so
    /// running it again ends the sessions and finishes.
    #[tokio::test]
    async fn an_unlink_stopped_half_way_is_finished_by_running_it_again() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let ann = add(&admin, "ann@example.org", "Ann", &["organizer"]).await;
        let keys = linked(store.as_ref(), &ann, "u-3").await;
        let scan = (Audience::Console, tokens::AMR_WECHAT);
        let by_wechat = opened(store.as_ref(), &ann, scan, 'w', None).await;
        let index = store_keys::user_sessions(&ann.id);
        store.fail_next(Calls::Read, &index, Fault::FailBefore);

        let ann_ref = UserRef::Id(ann.id.clone());
        assert!(admin.unlink_wechat(&ann_ref, false).await.is_err());
        assert!(store.all_faults_hit(), "stopped at the sessions");
        assert_eq!(
            store.get(&keys[0]).await.unwrap(),
            None,
            "the keys went first"
        );
        assert!(
            !is_revoked(store.as_ref(), &ann.id, &by_wechat)
                .await
                .unwrap()
        );

        let finished = admin.unlink_wechat(&ann_ref, false).await.unwrap();
        assert_eq!((finished.identities, finished.sessions_ended), (0, 1));
        assert!(
            is_revoked(store.as_ref(), &ann.id, &by_wechat)
                .await
                .unwrap()
        );
        let shown = admin.show_user(&ann_ref).await.unwrap();
        assert_eq!(shown.methods, [LoginMethod::Password]);
    }

    #[tokio::test]
    async fn unlinking_the_only_way_in_needs_saying_so() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let pat = add(&admin, "pat@example.org", "Pat", &["organizer"]).await;
        users::update(store.as_ref(), &pat.id, |record| {
            record.login = None;
            record.password_hash = None;
        })
        .await
        .unwrap();
        let keys = linked(store.as_ref(), &pat, "u-2").await;
        let pat_ref = UserRef::Id(pat.id.clone());

        let refused = admin.unlink_wechat(&pat_ref, false).await;
        let Err(AuthError::InvalidRequest(said)) = refused else {
            panic!("expected a refusal, got {refused:?}");
        };
        assert!(said.contains("--leave-no-way-in"), "{said}");
        assert!(
            store.get(&keys[0]).await.unwrap().is_some(),
            "nothing taken"
        );

        let unlinked = admin.unlink_wechat(&pat_ref, true).await.unwrap();
        assert_eq!(unlinked.identities, 2);
        assert!(admin.show_user(&pat_ref).await.unwrap().methods.is_empty());
    }

    #[tokio::test]
    async fn users_are_listed_and_shown_with_their_ways_in() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        add(&admin, "zoe@example.org", "Zoe", &[]).await;
        let ann = add(&admin, "ann@example.org", "Ann", &["organizer"]).await;
        admin
            .grant(&UserRef::Id(ann.id.clone()), "admin")
            .await
            .unwrap();
        let listed = admin.list_users().await.unwrap();
        let names: Vec<&str> = listed
            .iter()
            .map(|u| u.user.display_name.as_str())
            .collect();
        assert_eq!(names, ["Ann", "Zoe"]);
        assert_eq!(listed[0].user.roles, ["organizer", "admin"]);
        assert_eq!(listed[0].methods, [LoginMethod::Password]);
        assert_eq!(listed[0].login.as_deref(), Some("ann@example.org"));

        let shown = admin
            .show_user(&UserRef::parse("ANN@example.org"))
            .await
            .unwrap();
        assert_eq!(shown.user.id, ann.id);
        assert_eq!(
            admin.show_user(&UserRef::Id(ann.id.clone())).await.unwrap(),
            shown
        );
        assert!(matches!(
            admin.show_user(&UserRef::Id("nobody".into())).await,
            Err(AuthError::InvalidRequest(_))
        ));
    }

    /// A login a change of Ann's is claiming (its key taken, the change stopped before her
    /// record was written) finds Ann, shown claiming it; once the claim lapsed, it finds no one.
    #[tokio::test]
    async fn a_login_only_claimed_shows_its_claimant() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let ann = add(&admin, "ann@example.org", "Ann", &["organizer"]).await;
        let claimed = UserRef::parse("ann@example.com");
        let claim_made_at = |made_at| {
            let store = store.clone();
            let ann = ann.id.clone();
            async move {
                let claim = super::super::login_claims::LoginClaim {
                    login: "ann@example.com".into(),
                    id: "c1".into(),
                    made_at: Some(made_at),
                };
                let marked = users::update(store.as_ref(), &ann, |record| {
                    record.claiming_login = Some(claim.clone());
                });
                marked.await.unwrap();
                let key = store_keys::login("ann@example.com");
                let value = login_claims::key_value(&ann, "c1");
                store
                    .put(&key, &value, crate::store::Lifetime::Forever)
                    .await
                    .unwrap();
            }
        };

        claim_made_at(unix_now()).await;
        let shown = admin.show_user(&claimed).await.expect("its claimant");
        assert_eq!(shown.user.id, ann.id);
        assert_eq!(shown.login.as_deref(), Some("ann@example.org"));
        assert_eq!(shown.claiming.as_deref(), Some("ann@example.com"));

        claim_made_at(unix_now() - 2 * 3_600).await;
        let lapsed = admin.show_user(&claimed).await;
        assert!(
            matches!(lapsed, Err(AuthError::InvalidRequest(_))),
            "{lapsed:?}"
        );
    }

    #[tokio::test]
    async fn revoking_organizer_ends_console_sessions_and_keeps_the_last_admin() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let ann = add(&admin, "ann@example.org", "Ann", &["organizer", "admin"]).await;
        let pat = add(&admin, "pat@example.org", "Pat", &["organizer"]).await;
        let console = session(store.as_ref(), &pat, Audience::Console, 'c').await;
        let h5 = session(store.as_ref(), &pat, Audience::H5, 'h').await;

        let after = admin
            .revoke_role(&UserRef::Id(pat.id.clone()), "organizer")
            .await
            .unwrap();
        assert!(after.roles.is_empty());
        assert!(is_revoked(store.as_ref(), &pat.id, &console).await.unwrap());
        assert!(!is_revoked(store.as_ref(), &pat.id, &h5).await.unwrap());

        for role in ["admin", " organizer "] {
            assert!(matches!(
                admin.revoke_role(&UserRef::Id(ann.id.clone()), role).await,
                Err(AuthError::LastAdmin)
            ));
        }
        let names: Vec<String> = admin
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .filter(|u| !u.user.roles.is_empty())
            .map(|u| u.user.display_name)
            .collect();
        assert_eq!(names, ["Ann"]);

        assert_eq!(
            admin
                .end_user_sessions(&UserRef::Id(pat.id.clone()))
                .await
                .unwrap(),
            1,
            "the H5 session was left"
        );
        assert!(is_revoked(store.as_ref(), &pat.id, &h5).await.unwrap());
    }

    #[tokio::test]
    async fn a_role_other_than_the_team_s_is_taken_as_it_was_given() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let pat = add(&admin, "pat@example.org", "Pat", &["organizer", "speaker"]).await;
        let console = session(store.as_ref(), &pat, Audience::Console, 'c').await;
        let pat_ref = UserRef::Id(pat.id.clone());

        let after = admin.revoke_role(&pat_ref, " speaker ").await.unwrap();
        assert_eq!(after.roles, ["organizer"]);
        assert!(!is_revoked(store.as_ref(), &pat.id, &console).await.unwrap());
        // Not held (taken already, or a team role mistyped): refused, so it cannot look done.
        for not_held in ["speaker", "Organizer", "organiser", "speaker!", "admin"] {
            assert!(
                matches!(
                    admin.revoke_role(&pat_ref, not_held).await,
                    Err(AuthError::InvalidRequest(_))
                ),
                "{not_held}"
            );
        }
        let user = admin.show_user(&pat_ref).await.unwrap();
        assert_eq!(user.user.roles, ["organizer"]);
        assert!(matches!(
            admin
                .revoke_role(&UserRef::Id("nobody".into()), "speaker")
                .await,
            Err(AuthError::InvalidRequest(_))
        ));
    }

    #[tokio::test]
    async fn an_operator_invite_is_made_by_the_server_operator() {
        let store = FaultyStore::new();
        let admin = admin_with(&store).await;
        let made = admin
            .create_invite(
                TeamRole::Admin,
                Some(Duration::from_secs(600)),
                "https://auth.example.com/",
            )
            .await
            .unwrap();
        assert_eq!(
            made.link,
            format!("https://auth.example.com/m/invite/{}", made.code)
        );
        assert_eq!(made.invite.created_by, super::super::operator_user());
        assert_eq!(made.invite.role, TeamRole::Admin);
        assert_eq!(made.invite.expires_at - made.invite.created_at, 600);
        // The operator's invite stands on any server, dev mode or not.
        let listed = invites::list(store.as_ref(), false).await.unwrap();
        assert_eq!(listed, vec![made.invite.clone()]);
        // The code itself is nowhere in the store's keys.
        assert!(
            store
                .written_keys()
                .iter()
                .all(|key| !key.contains(&made.code))
        );
        assert!(
            admin
                .create_invite(TeamRole::Organizer, Some(Duration::from_secs(604_801)), "x")
                .await
                .is_err()
        );
        assert_eq!(
            made.mini_program_code, None,
            "no app given: a QR of the link"
        );
    }

    /// An app that draws its QRs as mini program codes (`wxacode`, the production default) gets
    /// one for the operator's invite too, of its invite page with the code as scene: a QR of the
    /// link would open a web page, not the mini program, where no "scan ordinary link" rule is set.
    #[tokio::test]
    async fn an_operator_invite_of_a_wxacode_app_is_its_mini_program_code() {
        use super::super::test_support::{DrawingWeChat, settings};
        use crate::config::QrMode;
        let store = FaultyStore::new();
        let wechat = Arc::new(DrawingWeChat::default());
        let mut app = settings(|_| {}).apps[0].clone();
        app.qr_mode = QrMode::Wxacode;
        let codes = InviteCodes {
            app: app.clone(),
            wechat: wechat.clone(),
        };
        let admin = admin_with(&store).await.with_invite_codes(codes);
        let made = admin.create_invite(TeamRole::Admin, None, "https://auth.example.com");
        let made = made.await.unwrap();
        let drawn = format!("png of {}", made.code).into_bytes();
        assert_eq!(made.mini_program_code.as_ref(), Some(&drawn));
        let kept = store.get(&store_keys::invite_qr(&made.invite.id)).await;
        assert_eq!(
            kept.unwrap(),
            Some(drawn),
            "an admin is shown the same code later"
        );

        // The same app in `url` mode: the link's QR, and WeChat is not asked.
        app.qr_mode = QrMode::Url;
        let codes = InviteCodes {
            app,
            wechat: wechat.clone(),
        };
        let admin = admin_with(&store).await.with_invite_codes(codes);
        let made = admin.create_invite(TeamRole::Admin, None, "https://auth.example.com");
        assert_eq!(made.await.unwrap().mini_program_code, None);
        assert_eq!(wechat.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }
}
