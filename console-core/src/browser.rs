//! Opens a URL in the organizer's default browser through the desktop's own opener, so no shell
//! plugin is needed. The URL may carry a one-time login ticket: it is never logged.

use std::io;
use std::process::{Command, Stdio};

#[cfg(all(unix, not(target_os = "macos")))]
const OPENER: (&str, &[&str]) = ("xdg-open", &[]);
#[cfg(target_os = "macos")]
const OPENER: (&str, &[&str]) = ("open", &[]);
#[cfg(windows)]
const OPENER: (&str, &[&str]) = ("rundll32", &["url.dll,FileProtocolHandler"]);

pub fn open_url(url: &str) -> io::Result<()> {
    let (program, leading_args) = OPENER;
    let mut child = Command::new(program)
        .args(leading_args)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // The opener usually hands over to the browser and exits; reap it without blocking the caller.
    std::thread::spawn(move || child.wait());
    Ok(())
}
