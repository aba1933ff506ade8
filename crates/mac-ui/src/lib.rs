//! Terminal output and menus for `mac`: human durations, state badges and tables (coloured only
//! when the caller says the stream is a colour terminal), a spinner for waits, and the
//! interactive account menu, whose prompts go through the [`Prompter`] trait so the flows run
//! against a scripted fake in tests and against `inquire` in a terminal.
//!
//! Must not depend on: any `mac-*` crate above layer 1 (only `mac-storage`), network crates.
//! Nothing here decides whether colour is wanted: the caller passes a [`Style`].

mod duration;
mod menu;
mod prompt;
mod spinner;
mod style;
mod table;

pub use duration::{relative_day, wait_time};
pub use menu::{
    AccountAction, MainAction, MenuAccount, STRATEGIES, account_menu, choose_account,
    choose_provider, choose_strategy, main_menu,
};
pub use prompt::{Choice, InquirePrompter, PromptError, Prompter, Scripted, ScriptedPrompter};
pub use spinner::Spinner;
pub use style::{Badge, Color, Style};
pub use table::Table;
