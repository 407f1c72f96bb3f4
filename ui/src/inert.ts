// A screen held still while an action that ends what it shows runs (a logout, leaving the team, a
// password login): everything else on it asks for the session that action is letting go of, or
// draws the screen afresh (the login's tabs), so nothing on it may be clicked or submitted
// meanwhile. The router's holdStill (main.ts) holds the Settings entry with it, and says what the
// screen is doing in a live region outside it: inert takes the screen out of the accessibility
// tree, live regions and busy labels included.

/**
 * Makes `screen` inert and busy, with every button in it off; the returned function, for an action
 * that failed, gives the screen back and turns on again only the buttons this turned off: one an
 * action already on its way holds off stays off until that action answers. Inert holds even for a
 * button that such an action, answering meanwhile, turns on again.
 */
export function makeInert(screen: HTMLElement): () => void {
  screen.inert = true;
  screen.setAttribute("aria-busy", "true");
  const turnedOff = Array.from(screen.querySelectorAll("button")).filter((button) => !button.disabled);
  for (const button of turnedOff) button.disabled = true;
  return () => {
    screen.inert = false;
    screen.removeAttribute("aria-busy");
    for (const button of turnedOff) button.disabled = false;
  };
}
