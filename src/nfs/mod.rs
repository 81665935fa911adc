//! NFSv3 (RFC 1813), MOUNT v3 and portmap v2 on the one NFS port.
