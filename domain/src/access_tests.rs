//! Property and table tests of the permission policy through the whole bot (being written).
