// What a person does on the console's page in the router tests (the *.test.js files that run it
// through fake_console.js), written once: each step clicks what a person clicks, then lets the
// router settle.
import { settle } from "./fake_console.js";

/** Sends a password login from the login screen's password tab, as Ann, with `password`. */
export async function sendPasswordLogin(page, password) {
  page.part("tab-password").click();
  await settle();
  page.part("login-input").value = "ann@example.org";
  page.part("password-input").value = password;
  page.part("password-submit").click();
  await settle();
}

/** Leaves the team from the Team page: Ann's own row's Remove, then the dialog's confirm. */
export async function leaveTheTeam(page) {
  page.part("nav-team").click();
  await settle();
  page.part("team").querySelector("li[data-user-id=u-ann]").querySelector("button.remove-member").click();
  page.part("confirm-remove").click();
  await settle();
}
