//! `Debug` for wire types that carry a credential: the credential shows as `<hidden>`, so a
//! `{:?}` in a log line or a panic message never leaks a token, ticket or password.

/// `debug_hiding!(Type { shown, fields } hiding { secret, fields });`
macro_rules! debug_hiding {
    ($type:ident { $($shown:ident),* } hiding { $($hidden:ident),* }) => {
        impl std::fmt::Debug for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($type))
                    $(.field(stringify!($shown), &self.$shown))*
                    $(.field(stringify!($hidden), &"<hidden>"))*
                    .finish()
            }
        }
    };
}

pub(crate) use debug_hiding;

#[cfg(test)]
mod tests {
    use crate::{IsLoginResponse, TokenResponse, User};

    #[test]
    fn credentials_never_show_in_debug() {
        let user = User {
            id: "u1".into(),
            display_name: "Ann".into(),
            avatar_url: None,
            roles: vec![],
        };
        let token = TokenResponse {
            access_token: "secret-token".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
            user: user.clone(),
        };
        let shown = format!("{token:?}");
        assert!(
            !shown.contains("secret-token") && shown.contains("Ann"),
            "{shown}"
        );
        let confirmed = IsLoginResponse::Confirmed {
            access_token: "secret-token".into(),
            token_type: "Bearer".into(),
            expires_in: 60,
            user,
        };
        assert!(!format!("{confirmed:?}").contains("secret-token"));
    }
}
