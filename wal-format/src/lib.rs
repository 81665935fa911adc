//! The on-disk WAL record format of dittofs.
//!
//! This crate only encodes and decodes bytes; it never performs I/O. The format
//! itself (segment header, records, CRC32C, O_DIRECT alignment) arrives with the
//! durable data path; until then the memory stores keep no log (see ARCHITECTURE.md).
