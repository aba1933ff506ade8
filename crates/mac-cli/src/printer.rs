//! Where output goes: results on standard output (tables, ids, one JSON document), progress
//! and notes on standard error unless `-q`, errors always. Colour per stream, decided once
//! from `--color`, `NO_COLOR` and whether the stream is a terminal. A closed pipe
//! (`mac status | head -1`) is not an error.

use std::io::{self, IsTerminal, Write};

use mac_ui::{Spinner, Style};
use serde::Serialize;

use crate::args::{ColorChoice, GlobalArgs};

/// Output settings of one run.
#[derive(Clone, Debug)]
pub(crate) struct Printer {
    quiet: bool,
    verbose: u8,
    out_style: Style,
    err_style: Style,
    err_terminal: bool,
}

// A failed write to our own output (a closed pipe) has nowhere to be reported: it is ignored.
// Every write goes through the printer, even those that need none of its settings, so the
// streams' rules live in one place.
#[allow(clippy::unused_self)]
impl Printer {
    /// The printer `args` ask for; `no_color` is whether `NO_COLOR` is set to something.
    pub(crate) fn new(args: &GlobalArgs, no_color: bool) -> Self {
        let stdout_tty = io::stdout().is_terminal();
        let stderr_tty = io::stderr().is_terminal();
        let wants = |tty: bool| match args.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => tty && !no_color,
        };
        Self {
            quiet: args.quiet,
            verbose: args.verbose,
            out_style: Style { color: wants(stdout_tty) },
            err_style: Style { color: wants(stderr_tty) },
            err_terminal: stderr_tty,
        }
    }

    /// The style of standard output.
    pub(crate) fn style(&self) -> Style {
        self.out_style
    }

    /// The style of standard error.
    pub(crate) fn err_style(&self) -> Style {
        self.err_style
    }

    /// How many `-v`.
    pub(crate) fn verbosity(&self) -> u8 {
        self.verbose
    }

    /// A line of result on standard output.
    pub(crate) fn out(&self, line: &str) {
        let _ = writeln!(io::stdout().lock(), "{line}");
    }

    /// Raw text on standard output (redraws).
    pub(crate) fn out_raw(&self, text: &str) {
        let mut out = io::stdout().lock();
        let _ = write!(out, "{text}");
        let _ = out.flush();
    }

    /// `value` as one pretty JSON document on standard output.
    pub(crate) fn json<T: Serialize>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.out(&text),
            // The views hold strings, numbers and booleans only; this cannot fail, but if it
            // did, saying so beats printing nothing.
            Err(err) => self.error_line(&format!("error: cannot render JSON: {err}")),
        }
    }

    /// A progress line or note on standard error, unless `-q`.
    pub(crate) fn note(&self, line: &str) {
        if !self.quiet {
            let _ = writeln!(io::stderr().lock(), "{line}");
        }
    }

    /// A line on standard error even with `-q` (errors, URLs the user must open).
    pub(crate) fn error_line(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    /// A spinner on standard error while waiting (a plain line when it is not a terminal).
    pub(crate) fn spinner(&self, message: &str) -> Spinner {
        Spinner::start(message, self.err_terminal, self.quiet)
    }
}
