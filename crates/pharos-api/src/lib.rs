//! HTTP and gRPC servers of pharos.
