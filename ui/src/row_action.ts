// The button of a list row whose action takes the row away (Revoke an invite, Log out a device,
// Remove a member): off while the action runs; after a success it stays off, as the reload that
// follows drops the row; after a failure it is on again at once, whatever that reload does (it
// fails too when the server is out of reach, and then draws no new row), so the user can retry.

/** What the rule needs of a button. */
export interface Switchable {
  disabled: boolean;
}

export type RowActionOutcome<T> = { ok: true; value: T } | { ok: false; failure: unknown };

/** Runs `action` with `button` off, as above; resolves with what the action gave or why it failed. */
export async function runRowAction<T>(button: Switchable, action: () => Promise<T>): Promise<RowActionOutcome<T>> {
  button.disabled = true;
  try {
    return { ok: true, value: await action() };
  } catch (failure) {
    button.disabled = false;
    return { ok: false, failure };
  }
}
