// The Team page: every organizer with avatar, name, roles, ways in and last login. Admins also
// invite (the QR large, its expiry counting down, "Copy link" when the server draws plain QR codes,
// "Save QR as image"), see open and lately accepted invites with "Revoke", and remove members behind
// a confirmation. Rust holds the token and fetches the QR; this module gets data and pictures only.

import { coalesced } from "../coalesce.js";
import { countdown } from "../countdown.js";
import { countdownSlot } from "../countdown_slot.js";
import { h, replaceChildren } from "../dom.js";
import { formatDateTime, formatTimeLeft, roleName, t } from "../i18n.js";
import * as ipc from "../ipc.js";
import type { Invite, InviteRole, Member, NewInvite, Person, SessionEnded, Team } from "../ipc.js";
import { runRowAction } from "../row_action.js";
import { avatarElement, errorText, handOverIfEnded, pagesBar, sayIn } from "./parts.js";
import type { Page } from "./parts.js";

export interface TeamActions {
  show(page: Page): void;
  /** This console's own session is over (ended elsewhere). */
  sessionEnded(ended: SessionEnded): void;
  /** This user removed themself from the team, which ended this console's session. */
  leftTeam(): void;
  /** Holds this page, and the Settings entry around it, still while the leave runs, saying
   * `doing`; a session reached meanwhile (a password login answering late) waits for the leave's
   * outcome. The returned function gives them back, for a leave that failed, or draws that
   * session's Home. */
  holdStill(screen: HTMLElement, doing: string): () => void;
}

export interface TeamScreen {
  element: HTMLElement;
  refresh(): void;
  /** Stops the invite's countdown, and that of an invite whose creation answers later, when the page is left. */
  stop(): void;
}

export function teamScreen(actions: TeamActions): TeamScreen {
  const message = h("p", { class: "banner", id: "team-message", role: "status", tabindex: "-1", hidden: true });
  const members = h("ul", { class: "member-list", id: "member-list", "aria-labelledby": "team-title", "aria-busy": "true" }, h("li", { class: "muted" }, t.teamLoading));
  const inviteButtons = h("div", { class: "actions invite-actions", id: "invite-actions", hidden: true });
  const invitePanel = h("div", { class: "invite-panel", id: "invite-panel", hidden: true });
  const invitesSection = h("section", { class: "invites", id: "invites", "aria-labelledby": "invites-title", hidden: true });
  const invitesList = h("ul", { class: "invite-list", id: "invite-list", "aria-labelledby": "invites-title" });
  const question = h("p", { id: "remove-question" });
  const confirmButton = h("button", { type: "button", class: "danger", id: "confirm-remove" }, t.removeYes);
  const cancelButton = h("button", { type: "button", class: "secondary", id: "cancel-remove" }, t.cancel);
  const dialog = h("dialog", { class: "confirm", id: "remove-dialog", "aria-labelledby": "remove-question" }, question, h("div", { class: "actions" }, confirmButton, cancelButton));

  let team: Team | null = null;
  const inviteExpiry = countdownSlot();
  let removing: { member: Member; button: HTMLButtonElement } | null = null;
  /** This user is leaving the team: its outcome, not any other action's, says where the page goes. */
  let leaving = false;
  /** How this console's session ended, as an action answering during the leave found it. */
  let endedWhileLeaving: SessionEnded | null = null;

  const say = (text: string | null, tone: "info" | "error" = "info"): void => sayIn(message, text, tone);

  // A session found ended during a leave is most likely ended by the leave itself: it is handed
  // over only if the leave fails, and a leave that succeeds is said as leaving.
  const handOverEnded = (failure: unknown): boolean =>
    handOverIfEnded(failure, (ended) => {
      if (leaving) endedWhileLeaving ??= ended;
      else actions.sessionEnded(ended);
    });

  const refresh = coalesced(async () => {
    // It would ask with the session the leave is ending; a leave that fails reloads.
    if (leaving) return true;
    try {
      team = await ipc.listTeam();
      renderMembers(team);
      inviteButtons.hidden = !team.you_are_admin;
      invitesSection.hidden = !team.you_are_admin;
      if (team.you_are_admin) renderInvites(await ipc.listInvites());
      return true;
    } catch (failure) {
      if (handOverEnded(failure)) return false;
      say(errorText(failure), "error");
      return true;
    } finally {
      members.setAttribute("aria-busy", "false");
    }
  });

  function renderMembers(current: Team): void {
    replaceChildren(members, ...current.members.map((member) => memberRow(member, current.you_are_admin)));
  }

  function memberRow(member: Member, admin: boolean): HTMLElement {
    const ways = member.methods.length > 0 ? member.methods.map((method) => t.method(method)).join(t.listSeparator) : t.noWaysIn;
    const lastLogin = member.last_login_at === null ? t.neverLoggedIn : formatDateTime(member.last_login_at);
    const removeButton = admin
      ? h(
          "button",
          {
            type: "button",
            class: "secondary remove-member",
            "aria-label": t.removeMemberLabel(member.display_name),
          },
          t.removeMember,
        )
      : null;
    removeButton?.addEventListener("click", () => askToRemove(member, removeButton));
    return h(
      "li",
      { class: "member", "data-user-id": member.user_id, "data-you": member.you ? "true" : "false" },
      avatarElement(member.avatar, member.display_name, "medium"),
      h(
        "div",
        { class: "member-text" },
        h(
          "p",
          { class: "member-title" },
          h("span", { class: "member-name" }, member.display_name),
          member.you ? h("span", { class: "chip this-device" }, t.you) : null,
          ...member.roles.map((role) => h("span", { class: "chip role", "data-role": role }, roleName(role))),
        ),
        h(
          "p",
          { class: "member-details muted small" },
          h("span", { class: "member-ways" }, t.waysInLine(ways)),
          h("span", { class: "member-last-login" }, t.lastLoginLine(lastLogin)),
        ),
      ),
      removeButton,
    );
  }

  function askToRemove(member: Member, button: HTMLButtonElement): void {
    removing = { member, button };
    question.textContent = member.you ? t.removeQuestionYou : t.removeQuestion(member.display_name);
    dialog.showModal();
    cancelButton.focus();
  }

  async function remove(): Promise<void> {
    const target = removing;
    dialog.close();
    if (!target) return;
    if (target.member.you) {
      await leave(target.member, target.button);
      return;
    }
    const removed = await runRowAction(target.button, () => ipc.removeMember(target.member.user_id));
    if (removed.ok) {
      say(t.memberRemoved(target.member.display_name));
    } else {
      if (handOverEnded(removed.failure)) return;
      say(errorText(removed.failure), "error");
    }
    await refresh();
  }

  /** This user takes themself off the team, which ends this console's session: nothing else on the
   * page may run meanwhile (a second leave, an invite, a revoke, a reload), nor after, until the
   * login replaces the page, and the Settings may not draw it afresh. A leave that fails gives the
   * page and the Settings back as they were, and says why. */
  async function leave(you: Member, button: HTMLButtonElement): Promise<void> {
    const label = button.textContent ?? "";
    leaving = true;
    const release = actions.holdStill(element, t.leavingTeam);
    button.textContent = t.leavingTeam;
    try {
      await ipc.removeMember(you.user_id);
    } catch (failure) {
      leaving = false;
      release();
      button.textContent = label;
      const endedMeanwhile = endedWhileLeaving;
      endedWhileLeaving = null;
      if (handOverEnded(failure)) return;
      if (endedMeanwhile) {
        actions.sessionEnded(endedMeanwhile);
        return;
      }
      say(errorText(failure), "error");
      await refresh();
      // The hold took the focus off the page, and the reload redrew the rows: unless the user has
      // put it somewhere since, the keyboard goes back to their own row, to try again, or to why
      // the leave failed when that row has no button any more.
      if (document.activeElement === document.body || document.activeElement === null) {
        (members.querySelector("li[data-you=true]")?.querySelector<HTMLButtonElement>("button.remove-member") ?? message).focus();
      }
      return;
    }
    // Said as leaving, not as a session ended from another device.
    actions.leftTeam();
  }

  function renderInvites(invites: Invite[]): void {
    if (invites.length === 0) {
      replaceChildren(invitesList, h("li", { class: "muted", id: "no-invites" }, t.invitesEmpty));
      return;
    }
    replaceChildren(invitesList, ...invites.map(inviteRow));
  }

  function inviteRow(invite: Invite): HTMLElement {
    const role = roleName(invite.role);
    const accepted = invite.accepted_by;
    const acceptedAt = formatDateTime(invite.accepted_at ?? invite.created_at);
    // An accept whose role did not follow may be made again by its taker for an hour: Revoke ends that.
    const acceptedLine = (person: Person) =>
      invite.role_held ? t.inviteJoined(person.display_name, acceptedAt) : t.inviteAcceptedRoleNotHeld(person.display_name, acceptedAt);
    const line = accepted
      ? h("p", { class: "invite-joined" }, avatarElement(accepted.avatar, accepted.display_name, "small"), h("span", {}, acceptedLine(accepted)))
      : h("p", { class: "muted small" }, t.inviteOpenLine(invite.created_by, formatDateTime(invite.expires_at)));
    const revokeButton = accepted && invite.role_held
      ? null
      : h("button", { type: "button", class: "secondary revoke-invite", "aria-label": t.revokeInviteLabel(role, formatDateTime(invite.expires_at)) }, t.revokeInvite);
    revokeButton?.addEventListener("click", () => void revoke(invite, revokeButton));
    return h(
      "li",
      { class: "invite", "data-invite-id": invite.id, "data-state": accepted ? "accepted" : "open" },
      h("div", { class: "member-text" }, h("p", { class: "member-title" }, h("span", { class: "chip role", "data-role": invite.role }, role)), line),
      revokeButton,
    );
  }

  async function revoke(invite: Invite, button: HTMLButtonElement): Promise<void> {
    const revoked = await runRowAction(button, () => ipc.revokeInvite(invite.id));
    if (revoked.ok) {
      say(t.inviteRevoked);
      if (invitePanel.dataset.inviteId === invite.id) closeInvite();
    } else {
      if (handOverEnded(revoked.failure)) return;
      say(errorText(revoked.failure), "error");
    }
    await refresh();
    (invitesList.querySelector<HTMLButtonElement>("button.revoke-invite") ?? inviteButtons.querySelector<HTMLButtonElement>("button"))?.focus();
  }

  async function invite(role: InviteRole, button: HTMLButtonElement): Promise<void> {
    const label = button.textContent ?? "";
    // Both invite buttons are off while one invite is created: the other would create a second
    // invite, its QR shown over the first's, the first left open and unseen.
    const inviteActions = inviteButtons.querySelectorAll<HTMLButtonElement>("button");
    for (const each of inviteActions) each.disabled = true;
    button.textContent = t.inviteBusy;
    try {
      showInvite(await ipc.createInvite(role));
      void refresh();
    } catch (failure) {
      if (handOverEnded(failure)) return;
      say(errorText(failure), "error");
    } finally {
      for (const each of inviteActions) each.disabled = false;
      button.textContent = label;
    }
  }

  function showInvite(created: NewInvite): void {
    say(null);
    const expiry = h("p", { class: "invite-expiry", id: "invite-expiry", role: "timer" });
    const status = h("p", { class: "muted small", id: "invite-status", role: "status" });
    const qr = h("img", { id: "invite-qr", class: "invite-qr", src: created.qr, alt: t.inviteQrAlt(created.invite.role), width: "280", height: "280" });
    const saveButton = h("button", { type: "button", class: "secondary", id: "save-invite-qr" }, t.saveQr);
    saveButton.addEventListener("click", async () => {
      saveButton.disabled = true;
      try {
        status.textContent = t.qrSaved(await ipc.saveInviteQr(created.invite.id));
      } catch (failure) {
        if (handOverEnded(failure)) return;
        status.textContent = errorText(failure);
      }
      saveButton.disabled = false;
    });
    let linkParts: Node[] = [];
    let copyButton: HTMLButtonElement | null = null;
    if (created.link !== null) {
      const link = created.link;
      const linkInput = h("input", { id: "invite-link", type: "text", readonly: true, value: link, "aria-label": t.inviteLinkLabel });
      const copy = h("button", { type: "button", class: "secondary", id: "copy-invite-link" }, t.copyLink);
      copy.addEventListener("click", () => void copyLink(link, linkInput, status));
      copyButton = copy;
      linkParts = [linkInput];
    }
    const doneButton = h("button", { type: "button", class: "ghost", id: "close-invite" }, t.closeInvite);
    doneButton.addEventListener("click", () => closeInvite());
    invitePanel.dataset.inviteId = created.invite.id;
    replaceChildren(
      invitePanel,
      h("div", { class: "invite-qr-frame" }, qr),
      h(
        "div",
        { class: "invite-text" },
        h("h2", { id: "invite-title" }, t.inviteTitle(created.invite.role)),
        h("p", { class: "muted" }, t.inviteScanHint),
        expiry,
        ...linkParts,
        h("div", { class: "actions" }, copyButton, saveButton, doneButton),
        status,
      ),
    );
    invitePanel.hidden = false;
    inviteExpiry.replace(() =>
      countdown(created.invite.expires_at * 1000, (left) => {
        expiry.textContent = left > 0 ? t.inviteExpiresIn(formatTimeLeft(left)) : t.inviteExpiredNow;
        expiry.dataset.state = left > 0 ? "open" : "expired";
      }),
    );
    (copyButton ?? saveButton).focus();
  }

  function closeInvite(): void {
    inviteExpiry.clear();
    invitePanel.hidden = true;
    delete invitePanel.dataset.inviteId;
    replaceChildren(invitePanel);
    inviteButtons.querySelector<HTMLButtonElement>("button")?.focus();
  }

  const organizerButton = h("button", { type: "button", class: "primary", id: "invite-organizer" }, t.inviteOrganizer);
  const adminButton = h("button", { type: "button", class: "secondary", id: "invite-admin" }, t.inviteAdmin);
  organizerButton.addEventListener("click", () => void invite("organizer", organizerButton));
  adminButton.addEventListener("click", () => void invite("admin", adminButton));
  replaceChildren(inviteButtons, organizerButton, adminButton);
  replaceChildren(invitesSection, h("h2", { id: "invites-title" }, t.invitesTitle), h("p", { class: "muted small" }, t.invitesHint), invitesList);

  confirmButton.addEventListener("click", () => void remove());
  cancelButton.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => {
    if (removing && !removing.button.disabled) removing.button.focus();
  });

  const element = h(
    "section",
    { class: "card team-card", id: "team" },
    pagesBar("team", actions.show),
    h("h1", { id: "team-title" }, t.teamTitle),
    h("p", { class: "muted" }, t.teamHint),
    message,
    inviteButtons,
    invitePanel,
    members,
    invitesSection,
    dialog,
  );
  void refresh();
  return { element, refresh: () => void refresh(), stop: () => inviteExpiry.close() };
}

async function copyLink(link: string, input: HTMLInputElement, status: HTMLElement): Promise<void> {
  try {
    await navigator.clipboard.writeText(link);
    status.textContent = t.linkCopied;
    return;
  } catch {
    // No async clipboard in this webview: the older way, from the selected text.
  }
  input.focus();
  input.select();
  status.textContent = document.execCommand("copy") ? t.linkCopied : t.linkCopyManual;
}
