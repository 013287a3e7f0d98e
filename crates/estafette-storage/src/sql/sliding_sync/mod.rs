//! Simplified sliding sync: connections, and room activity read for room lists.

mod connections;
mod room_activity;
