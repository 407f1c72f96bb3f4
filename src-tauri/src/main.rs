//! The console's entry point; everything lives in the library so it can be tested without a window.

// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    meeteasy_console::run();
}
