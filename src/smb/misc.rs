//! IOCTL (validate negotiate, network interfaces; DFS refused; server-side
//! copy in copychunk.rs, sparse files and compression in fsctl.rs), ECHO.

use std::net::IpAddr;

use dittofs_smb_wire::ioctl::*;
use dittofs_smb_wire::negotiate::ValidateNegotiateInfo;
use dittofs_smb_wire::session::encode_empty;
use dittofs_smb_wire::status::*;

use super::dispatch::Call;
use super::state::ConnState;
use super::{ok, Reply, SmbContext};

/// Link speed reported for the one interface (10 Gbit/s).
const LINK_SPEED_BPS: u64 = 10_000_000_000;

pub async fn ioctl(
    ctx: &SmbContext,
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let output = match req.ctl_code {
        FSCTL_VALIDATE_NEGOTIATE_INFO => {
            let v =
                ValidateNegotiateInfo::decode(req.input).map_err(|_| STATUS_INVALID_PARAMETER)?;
            let matches = v.guid == st.client_guid
                && v.security_mode == st.client_security_mode
                && v.capabilities == st.client_capabilities
                && v.dialects == st.client_dialects;
            if !matches {
                // MS-SMB2 3.3.5.15.12: a mismatch means tampering; the client drops
                // the connection on any failure, so refuse loudly.
                log::warn!("FSCTL_VALIDATE_NEGOTIATE_INFO mismatch");
                return Err(STATUS_ACCESS_DENIED);
            }
            ValidateNegotiateInfo::encode_response(
                st.server_capabilities,
                &ctx.server_guid,
                st.server_security_mode,
                st.dialect,
            )
        }
        FSCTL_QUERY_NETWORK_INTERFACE_INFO => {
            if !req.input.is_empty() {
                // As Samba (smbtorture smb2.ioctl.bug14788.NETWORK_INTERFACE).
                return Err(STATUS_INVALID_PARAMETER);
            }
            let addr: IpAddr = call.local.ip();
            encode_network_interfaces(&[NetworkInterface {
                if_index: 1,
                capability: 0,
                link_speed: LINK_SPEED_BPS,
                addr,
            }])
        }
        FSCTL_PIPE_TRANSCEIVE => return super::ipc::transceive(ctx, st, call, req).await,
        FSCTL_DFS_GET_REFERRALS | FSCTL_DFS_GET_REFERRALS_EX => {
            return Err(STATUS_FS_DRIVER_REQUIRED)
        }
        FSCTL_SRV_REQUEST_RESUME_KEY => {
            return super::copychunk::request_resume_key(ctx, st, call, req)
        }
        FSCTL_SRV_COPYCHUNK | FSCTL_SRV_COPYCHUNK_WRITE => {
            return super::copychunk::copychunk(ctx, st, call, req).await
        }
        FSCTL_SET_SPARSE => return super::fsctl::set_sparse(ctx, st, call, req).await,
        FSCTL_SET_ZERO_DATA => return super::fsctl::set_zero_data(ctx, st, call, req).await,
        FSCTL_QUERY_ALLOCATED_RANGES => {
            return super::fsctl::query_allocated_ranges(ctx, st, call, req).await
        }
        FSCTL_GET_COMPRESSION => return super::fsctl::get_compression(st, call, req),
        FSCTL_SET_COMPRESSION => return super::fsctl::set_compression(st, call, req),
        _ => {
            // A handle that is not open fails as such before the code is
            // looked at (smbtorture smb2.compound.related5).
            super::create::open_mut(st, call, req.file_id)?;
            return Err(STATUS_NOT_SUPPORTED);
        }
    };
    if output.len() > req.max_output_response as usize {
        return Err(STATUS_BUFFER_TOO_SMALL);
    }
    ok(ioctl_body(req, &output))
}

/// An IOCTL response body carrying `output` (every FSCTL handler's success).
pub(super) fn ioctl_body(req: &IoctlRequest<'_>, output: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    IoctlResponse {
        ctl_code: req.ctl_code,
        file_id: req.file_id,
        output,
        flags: 0,
    }
    .encode(&mut body);
    body
}

pub fn echo() -> Result<Reply, u32> {
    let mut body = Vec::new();
    encode_empty(&mut body);
    ok(body)
}
