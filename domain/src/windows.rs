//! Time windows for grants (being written).
