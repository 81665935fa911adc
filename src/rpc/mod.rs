//! ONC RPC (RFC 5531) and XDR (RFC 4506): record marking, call/reply messages, auth.
