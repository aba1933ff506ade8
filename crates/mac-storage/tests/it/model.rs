//! Placeholder until the model test lands.
