//! TFTP client (SPEC §8.3): octet read requests (RFC 1350) with retransmission, replacing the
//! transfer of htm_tftpDownload.c.
