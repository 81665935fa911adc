//! Thread-per-core runtime: executors, listeners, connections, shutdown.
