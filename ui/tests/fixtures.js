// What the console's router tests (the *.test.js files that run it through fake_console.js) are
// given by the Rust side, written once: the preferences it loads, Ann's session and her team, an
// error, and a command the test answers itself. Only values that mean the same in every test live
// here; a test that needs another role or storage asks for it (`annSession`) rather than patching.

/** Sessions kept in the OS keychain, as the Rust side reports it. */
export const keychain = { kind: "keychain" };

/** The preferences `get_preferences` answers: a server given in the Settings, English, the keychain. */
export const preferences = { server_url: "https://meet.example", server_from_env: false, language: "en", storage: keychain };

/** Ann's session, as a `home` event carries it, with `role` and kept in `storage`. */
export function annSession(role, storage = keychain) {
  return { display_name: "Ann", avatar: null, roles: [role], expires_at: 1_900_000_000, server: "https://meet.example", storage };
}

/** Ann logged in as an organizer. */
export const organizerAnn = annSession("organizer");

/** Ann logged in as an admin: on the Team page she may invite, and remove members, herself too. */
export const adminAnn = annSession("admin");

/** Ann as `list_team` lists her to herself: an admin who logs in with WeChat. */
export const annAsMember = { user_id: "u-ann", display_name: "Ann", avatar: null, roles: ["admin"], methods: ["wechat"], last_login_at: null, you: true };

/** The team as `list_team` answers it to Ann, its only member and admin. */
export const teamOfAnn = { members: [annAsMember], you_are_admin: true };

/** The error of a command that could not reach the server. */
export const unreachable = { code: "server_unreachable", message: "the server could not be reached" };

/** A command whose answers the test gives, one call at a time. */
export function heldCommand() {
  const pending = [];
  const answer = () => new Promise((resolve, reject) => pending.push({ resolve, reject }));
  return { answer, next: () => pending.shift() };
}
