//! Prompts behind a trait: [`InquirePrompter`] asks in a terminal with `inquire`;
//! [`ScriptedPrompter`] answers from a list, so every menu flow is testable without one.

use std::collections::VecDeque;
use std::io::IsTerminal;

use snafu::Snafu;

/// One item of a selection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// What is shown.
    pub label: String,
    /// A short note shown after the label (`used today`), if any.
    pub hint: Option<String>,
}

impl Choice {
    /// An item without a hint.
    pub fn new(label: impl Into<String>) -> Self {
        Self { label: label.into(), hint: None }
    }

    /// An item with a hint.
    pub fn with_hint(label: impl Into<String>, hint: impl Into<String>) -> Self {
        Self { label: label.into(), hint: Some(hint.into()) }
    }

    fn shown(&self) -> String {
        match &self.hint {
            Some(hint) => format!("{}  ({hint})", self.label),
            None => self.label.clone(),
        }
    }
}

/// Why a prompt could not be answered.
#[derive(Debug, Snafu)]
pub enum PromptError {
    /// Standard input or output is not a terminal.
    #[snafu(display(
        "the interactive menu needs a terminal (standard input and output are not both terminals)"
    ))]
    NoTerminal,
    /// The terminal failed (read error, closed).
    #[snafu(display("the terminal prompt failed: {message}"))]
    Terminal {
        /// What the prompt library said.
        message: String,
    },
    /// A scripted prompter ran out of answers or was asked something it did not expect.
    #[snafu(display("scripted prompt: {message}"))]
    Script {
        /// What went wrong.
        message: String,
    },
}

/// Asks the user things. `Ok(None)` means the user cancelled (Esc, Ctrl-C).
pub trait Prompter {
    /// Picks one of `choices`; the index of the chosen one.
    fn select(&mut self, message: &str, choices: &[Choice]) -> Result<Option<usize>, PromptError>;
    /// Yes or no; cancelling answers no.
    fn confirm(&mut self, message: &str, default: bool) -> Result<bool, PromptError>;
    /// A line of text (a pasted code, a label).
    fn text(&mut self, message: &str) -> Result<Option<String>, PromptError>;
}

/// Prompts in the terminal with `inquire`.
#[derive(Debug)]
pub struct InquirePrompter {
    _private: (),
}

impl InquirePrompter {
    /// A prompter for this process's terminal; fails unless standard input and output are
    /// terminals.
    pub fn new() -> Result<Self, PromptError> {
        if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
            Ok(Self { _private: () })
        } else {
            Err(PromptError::NoTerminal)
        }
    }
}

fn cancelled_or<T>(result: Result<T, inquire::InquireError>) -> Result<Option<T>, PromptError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(
            inquire::InquireError::OperationCanceled | inquire::InquireError::OperationInterrupted,
        ) => Ok(None),
        Err(inquire::InquireError::NotTTY) => Err(PromptError::NoTerminal),
        Err(err) => Err(PromptError::Terminal { message: err.to_string() }),
    }
}

impl Prompter for InquirePrompter {
    fn select(&mut self, message: &str, choices: &[Choice]) -> Result<Option<usize>, PromptError> {
        let shown: Vec<String> = choices.iter().map(Choice::shown).collect();
        let answer = inquire::Select::new(message, shown.clone())
            .with_page_size(12)
            .with_help_message("↑/↓ to move, Enter to choose, Esc to go back")
            .raw_prompt();
        Ok(cancelled_or(answer)?.map(|option| option.index))
    }

    fn confirm(&mut self, message: &str, default: bool) -> Result<bool, PromptError> {
        let answer = inquire::Confirm::new(message).with_default(default).prompt();
        Ok(cancelled_or(answer)?.unwrap_or(false))
    }

    fn text(&mut self, message: &str) -> Result<Option<String>, PromptError> {
        cancelled_or(inquire::Text::new(message).prompt())
    }
}

/// One scripted answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scripted {
    /// Select the choice whose label starts with this text.
    Pick(String),
    /// Cancel the prompt.
    Cancel,
    /// Answer a confirmation.
    Confirm(bool),
    /// Answer a text prompt.
    Text(String),
}

/// Answers prompts from a script, and records every message asked, for tests.
#[derive(Debug, Default)]
pub struct ScriptedPrompter {
    answers: VecDeque<Scripted>,
    /// Every prompt message, in order.
    pub asked: Vec<String>,
}

impl ScriptedPrompter {
    /// A prompter that picks choices by label prefix (`"Manage"`), `"!cancel"` cancels,
    /// `"!yes"`/`"!no"` confirm, and `"=text"` answers a text prompt.
    pub fn new(script: &[&str]) -> Self {
        let answers = script
            .iter()
            .map(|step| match *step {
                "!cancel" => Scripted::Cancel,
                "!yes" => Scripted::Confirm(true),
                "!no" => Scripted::Confirm(false),
                text => match text.strip_prefix('=') {
                    Some(text) => Scripted::Text(text.to_owned()),
                    None => Scripted::Pick(text.to_owned()),
                },
            })
            .collect();
        Self { answers, asked: Vec::new() }
    }

    /// Whether every scripted answer was used.
    pub fn is_done(&self) -> bool {
        self.answers.is_empty()
    }

    fn next(&mut self, message: &str) -> Result<Scripted, PromptError> {
        self.asked.push(message.to_owned());
        self.answers.pop_front().ok_or_else(|| PromptError::Script {
            message: format!("no answer left for {message:?}"),
        })
    }
}

impl Prompter for ScriptedPrompter {
    fn select(&mut self, message: &str, choices: &[Choice]) -> Result<Option<usize>, PromptError> {
        match self.next(message)? {
            Scripted::Cancel => Ok(None),
            Scripted::Pick(prefix) => choices
                .iter()
                .position(|choice| choice.label.starts_with(&prefix))
                .map(Some)
                .ok_or_else(|| PromptError::Script {
                    message: format!(
                        "{message:?} has no choice starting with {prefix:?} (choices: {:?})",
                        choices.iter().map(|c| c.label.as_str()).collect::<Vec<_>>()
                    ),
                }),
            other => Err(PromptError::Script {
                message: format!("{message:?} is a selection, the script says {other:?}"),
            }),
        }
    }

    fn confirm(&mut self, message: &str, _default: bool) -> Result<bool, PromptError> {
        match self.next(message)? {
            Scripted::Confirm(answer) => Ok(answer),
            Scripted::Cancel => Ok(false),
            other => Err(PromptError::Script {
                message: format!("{message:?} is a confirmation, the script says {other:?}"),
            }),
        }
    }

    fn text(&mut self, message: &str) -> Result<Option<String>, PromptError> {
        match self.next(message)? {
            Scripted::Text(text) => Ok(Some(text)),
            Scripted::Cancel => Ok(None),
            other => Err(PromptError::Script {
                message: format!("{message:?} is a text prompt, the script says {other:?}"),
            }),
        }
    }
}
