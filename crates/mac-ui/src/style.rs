//! Colours and the account state badges. Colour is a [`Style`] value the caller chooses (a
//! terminal that wants colour, `--color`, `NO_COLOR`); with colour off every string is plain.

use std::fmt;

/// The colours `mac` uses (the seed's palette).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Color {
    /// Good: ready, added.
    Green,
    /// Waiting: rate-limited, expiring.
    Yellow,
    /// Needs action: needs login, disabled, errors.
    Red,
    /// Information and headings.
    Cyan,
    /// Secondary text.
    Dim,
    /// Emphasis.
    Bold,
}

impl Color {
    fn code(self) -> &'static str {
        match self {
            Color::Green => "32",
            Color::Yellow => "33",
            Color::Red => "31",
            Color::Cyan => "36",
            Color::Dim => "2",
            Color::Bold => "1",
        }
    }
}

/// Whether output is coloured.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// Colour on.
    pub color: bool,
}

impl Style {
    /// Plain text, for pipes, files and `NO_COLOR`.
    pub const PLAIN: Style = Style { color: false };

    /// `text` in `color`, or as is when colour is off.
    pub fn paint(self, color: Color, text: &str) -> String {
        if self.color { format!("\x1b[{}m{text}\x1b[0m", color.code()) } else { text.to_owned() }
    }
}

/// The state of an account as one word, in the order a person must act on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Badge {
    /// Usable now.
    Ready,
    /// Blocked by a rate-limit answer until a time.
    RateLimited,
    /// A usage window (5 h or 7 d) is used up until it resets.
    Exhausted,
    /// The refresh token no longer works: a new login is needed.
    NeedsLogin,
    /// Switched off by the user.
    Disabled,
}

impl Badge {
    /// The word shown (`ready`, `rate-limited`, `exhausted`, `needs-login`, `disabled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Badge::Ready => "ready",
            Badge::RateLimited => "rate-limited",
            Badge::Exhausted => "exhausted",
            Badge::NeedsLogin => "needs-login",
            Badge::Disabled => "disabled",
        }
    }

    /// The badge's colour.
    pub fn color(self) -> Color {
        match self {
            Badge::Ready => Color::Green,
            Badge::RateLimited | Badge::Exhausted => Color::Yellow,
            Badge::NeedsLogin | Badge::Disabled => Color::Red,
        }
    }

    /// `[word]`, coloured when `style` says so.
    pub fn render(self, style: Style) -> String {
        style.paint(self.color(), &format!("[{}]", self.as_str()))
    }
}

impl fmt::Display for Badge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_when_asked() {
        assert_eq!(Badge::Ready.render(Style::PLAIN), "[ready]");
        assert_eq!(Badge::NeedsLogin.render(Style { color: true }), "\x1b[31m[needs-login]\x1b[0m");
    }
}
