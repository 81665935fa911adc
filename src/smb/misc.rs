//! IOCTL (validate negotiate, network interfaces, Samba's test-only
//! FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP; DFS refused; server-side copy in
//! copychunk.rs, sparse files and compression in fsctl.rs), ECHO.

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
        FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP => return fsp_async_sleep(st, call, req).await,
        FSCTL_GET_COMPRESSION => return super::fsctl::get_compression(st, call, req),
        FSCTL_SET_COMPRESSION => return super::fsctl::set_compression(st, call, req),
        super::lockseq::FSCTL_LMR_REQUEST_RESILIENCY => {
            return super::lockseq::request_resiliency(st, call, req)
        }
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

/// Longest FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP honoured: it holds this
/// connection's request loop, so a client can only stall itself, and briefly.
const FSP_ASYNC_SLEEP_MAX_S: u64 = 5;

/// FSCTL_SMBTORTURE_FSP_ASYNC_SLEEP (smbtorture smb2.ioctl.bug14769): waits the
/// input byte's seconds (capped) on an open, then answers OK if the open still
/// exists. A CLOSE of the handle sent meanwhile runs after it, as Samba makes a
/// close wait for the requests still running on its handle.
async fn fsp_async_sleep(
    st: &mut ConnState,
    call: &mut Call,
    req: &IoctlRequest<'_>,
) -> Result<Reply, u32> {
    let [secs] = req.input else {
        return Err(STATUS_INVALID_PARAMETER);
    };
    super::create::open_mut(st, call, req.file_id)?;
    let wait_s = u64::from(*secs).min(FSP_ASYNC_SLEEP_MAX_S);
    glommio::timer::sleep(std::time::Duration::from_secs(wait_s)).await;
    super::create::open_mut(st, call, req.file_id)?;
    ok(ioctl_body(req, &[]))
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
