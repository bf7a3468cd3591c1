//! End-to-end tests (placeholder, being written).
