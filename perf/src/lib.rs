//! The dittofs benchmark harness: an NFSv3 load generator with build-farm workloads.
