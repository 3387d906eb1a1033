#!/usr/bin/env python3
"""Build the default response files of honeytrap-rs.

Every file in this directory named <port>_tcp or <port>_udp is produced by one
builder function below. Running the script rewrites all of them, byte for byte
the same each time, into the directory that holds the script:

    python3 contrib/responses/generate.py           # (re)write the files
    python3 contrib/responses/generate.py --check   # compare, write nothing
    python3 contrib/responses/generate.py --verify  # re-parse every binary file

Rules kept throughout:
  * standard library only, no randomness at run time: "random looking" values
    (challenges, GUIDs, scrambles) are derived from fixed SHA-256 seeds;
  * no length, offset or checksum is typed in by hand: each one is computed
    from the bytes it describes;
  * text protocols use CRLF line ends where the protocol says so.

The README next to this script says what each file imitates.
"""

import datetime
import hashlib
import os
import struct
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

# A fixed point in time used wherever a protocol carries a clock value.
WHEN = datetime.datetime(2024, 3, 12, 9, 41, 7, tzinfo=datetime.timezone.utc)
LAST_MODIFIED = datetime.datetime(2023, 9, 21, 7, 12, 44, tzinfo=datetime.timezone.utc)

# The Windows machine the Windows-flavoured files pretend to be.
WIN_HOST = "FILESRV"
WIN_BUILD = (5, 2, 3790)  # Windows Server 2003 (SP2)


def seeded(label, n):
    """n deterministic, random-looking bytes."""
    out = b""
    counter = 0
    while len(out) < n:
        out += hashlib.sha256(b"honeytrap-rs/%s/%d" % (label.encode(), counter)).digest()
        counter += 1
    return out[:n]


def crlf(*lines):
    return b"".join(line.encode("utf-8") + b"\r\n" for line in lines)


def http_date(dt):
    days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    return "%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        days[dt.weekday()], dt.day, months[dt.month - 1], dt.year,
        dt.hour, dt.minute, dt.second)


def filetime(dt):
    """Windows FILETIME: 100-ns intervals since 1601-01-01 UTC."""
    epoch = datetime.datetime(1601, 1, 1, tzinfo=datetime.timezone.utc)
    delta = dt - epoch
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def utf16(s):
    return s.encode("utf-16-le")


# ----------------------------------------------------------------------------
# Plain-text banners
# ----------------------------------------------------------------------------

def ftp_21_tcp():
    # RFC 959: a 220 reply tells the client the service is ready for a new user.
    # IIS's FTP service names itself in the greeting.
    return crlf("220 Microsoft FTP Service")


# Telnet (RFC 854) commands and options (RFC 857 ECHO, RFC 858 SGA, RFC 1073 NAWS).
IAC, WILL, DO = 255, 251, 253
OPT_ECHO, OPT_SGA, OPT_NAWS = 1, 3, 31


def telnet_23_tcp():
    # Server will echo and suppress go-ahead (character mode, as a login prompt
    # that hides the password needs), and asks the client for its window size.
    # Then the prompt of an embedded Linux box whose host name was never set.
    negotiation = bytes([IAC, WILL, OPT_ECHO, IAC, WILL, OPT_SGA, IAC, DO, OPT_NAWS])
    return negotiation + b"\r\n(none) login: "


def smtp_25_tcp():
    # RFC 5321 4.2: greeting is "220 <domain>"; the word ESMTP announces that
    # EHLO is understood.
    return crlf("220 mx.localdomain ESMTP Postfix (Debian/GNU)")


def http_80_tcp():
    body = crlf(
        "<html>",
        "<head>",
        '<meta http-equiv="Content-Type" content="text/html; charset=utf-8">',
        "<title>Intranet</title>",
        "</head>",
        "<body>",
        "<h1>Intranet</h1>",
        '<p>Please <a href="/login.aspx">sign in</a> to continue.</p>',
        "</body>",
        "</html>",
    )
    # IIS 6 builds its ETag from the file's FILETIME in hex and a change number.
    etag = '"%x:0"' % filetime(LAST_MODIFIED)
    head = crlf(
        "HTTP/1.1 200 OK",
        "Content-Length: %d" % len(body),
        "Content-Type: text/html",
        "Last-Modified: %s" % http_date(LAST_MODIFIED),
        "Accept-Ranges: bytes",
        "ETag: %s" % etag,
        "Server: Microsoft-IIS/6.0",
        "X-Powered-By: ASP.NET",
        "Date: %s" % http_date(WHEN),
        "",
    )
    return head + body


def pop3_110_tcp():
    # RFC 1939 4: the greeting is a positive "+OK" line.
    return crlf("+OK Dovecot (Debian) ready.")


def cmd_shell():
    # What a cmd.exe bound to a socket prints before its first prompt.
    major, minor, build = WIN_BUILD
    return crlf(
        "Microsoft Windows [Version %d.%d.%d]" % (major, minor, build),
        "(C) Copyright 1985-2003 Microsoft Corp.",
        "",
    ) + b"C:\\WINDOWS\\system32>"


def vnc_5900_tcp():
    # RFB 6.1.1 (RFC 6143 7.1.1): 12-byte ProtocolVersion, LF-terminated.
    return b"RFB 003.008\n"


def redis_6379_tcp():
    # RESP error reply as sent by a password-protected server: clients then
    # usually try AUTH, which records the password they guess.
    return b"-NOAUTH Authentication required.\r\n"


# ----------------------------------------------------------------------------
# SIP (RFC 3261) - answer to an OPTIONS probe, with an SDP (RFC 4566) body
# ----------------------------------------------------------------------------

SIP_PBX = "192.168.1.10"
SIP_PEER = "192.168.1.34"


def sip_response(transport):
    sdp = crlf(
        "v=0",
        "o=root 1207913374 1207913374 IN IP4 %s" % SIP_PBX,
        "s=Asterisk PBX 13.38.3",
        "c=IN IP4 %s" % SIP_PBX,
        "t=0 0",
        # RFC 3264 9: a capability answer to OPTIONS uses port 0.
        "m=audio 0 RTP/AVP 0 8 101",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=fmtp:101 0-16",
        "a=ptime:20",
    )
    head = crlf(
        "SIP/2.0 200 OK",
        "Via: SIP/2.0/%s %s:5060;branch=z9hG4bK6d1f3a2c;received=%s;rport=5060"
        % (transport, SIP_PEER, SIP_PEER),
        'From: "1001" <sip:1001@%s>;tag=4c7e19a0' % SIP_PBX,
        "To: <sip:1000@%s>;tag=as5b0e2d71" % SIP_PBX,
        "Call-ID: 8f2b61c4d07e4a39@%s" % SIP_PEER,
        "CSeq: 1 OPTIONS",
        "Server: Asterisk PBX 13.38.3",
        "Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, INFO, MESSAGE",
        "Supported: replaces, timer",
        "Contact: <sip:%s:5060>" % SIP_PBX,
        "Accept: application/sdp",
        "Content-Type: application/sdp",
        "Content-Length: %d" % len(sdp),
        "",
    )
    return head + sdp


# ----------------------------------------------------------------------------
# DCE/RPC connection-oriented PDUs (C706 chapter 12; MS-RPCE)
# ----------------------------------------------------------------------------

NDR_UUID = "8a885d04-1ceb-11c9-9fe8-08002b104860"
NDR_VERSION = 2
PFC_FIRST_FRAG, PFC_LAST_FRAG = 0x01, 0x02
PTYPE_BIND_ACK = 12
DREP_LE_ASCII_IEEE = b"\x10\x00\x00\x00"


def pad4(n):
    return (-n) % 4


def rpc_135_tcp():
    call_id = 1
    max_xmit = max_recv = 5840  # Windows' default fragment sizes
    assoc_group = 0x0000C6A3
    sec_addr = b"135\x00"  # endpoint mapper's port, NUL included in the count
    body = struct.pack("<HHI", max_xmit, max_recv, assoc_group)
    body += struct.pack("<H", len(sec_addr)) + sec_addr
    # p_result_list must start on a 4-byte boundary of the whole PDU (header: 16).
    body += b"\x00" * pad4(16 + len(body))
    results = [(0, 0, uuid.UUID(NDR_UUID).bytes_le, NDR_VERSION)]  # acceptance
    body += struct.pack("<BBH", len(results), 0, 0)
    for result, reason, syntax, version in results:
        body += struct.pack("<HH", result, reason) + syntax + struct.pack("<I", version)
    header = struct.pack("<BBBB4sHHI", 5, 0, PTYPE_BIND_ACK,
                         PFC_FIRST_FRAG | PFC_LAST_FRAG, DREP_LE_ASCII_IEEE,
                         16 + len(body), 0, call_id)
    return header + body


# ----------------------------------------------------------------------------
# NetBIOS session service (RFC 1002 4.3) and SMB1 (MS-CIFS, MS-SMB)
# ----------------------------------------------------------------------------

NBSS_MESSAGE = 0x00
NBSS_POSITIVE_RESPONSE = 0x82


def nbss(kind, payload):
    # 1 byte type, then 1 flags byte whose low bit extends the 16-bit length.
    assert len(payload) < 1 << 17
    return struct.pack(">B", kind) + len(payload).to_bytes(3, "big") + payload


def netbios_139_tcp():
    return nbss(NBSS_POSITIVE_RESPONSE, b"")


SMB_COM_NEGOTIATE = 0x72
SMB_COM_SESSION_SETUP_ANDX = 0x73
SMB_COM_NO_ANDX = 0xFF
STATUS_SUCCESS = 0x00000000
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016

SMB_FLAGS_REPLY = 0x80
SMB_FLAGS_CANONICAL_PATHS = 0x10
SMB_FLAGS_CASE_INSENSITIVE = 0x08
SMB_FLAGS2_KNOWS_LONG_NAMES = 0x0001
SMB_FLAGS2_KNOWS_EAS = 0x0002
SMB_FLAGS2_EXTENDED_SECURITY = 0x0800
SMB_FLAGS2_NT_STATUS = 0x4000
SMB_FLAGS2_UNICODE = 0x8000

CAP_RAW_MODE = 0x00000001
CAP_UNICODE = 0x00000004
CAP_LARGE_FILES = 0x00000008
CAP_NT_SMBS = 0x00000010
CAP_RPC_REMOTE_APIS = 0x00000020
CAP_STATUS32 = 0x00000040
CAP_LEVEL_II_OPLOCKS = 0x00000080
CAP_LOCK_AND_READ = 0x00000100
CAP_NT_FIND = 0x00000200
CAP_DFS = 0x00001000
CAP_INFOLEVEL_PASSTHRU = 0x00002000
CAP_LARGE_READX = 0x00004000
CAP_LARGE_WRITEX = 0x00008000
CAP_LWIO = 0x00010000
CAP_EXTENDED_SECURITY = 0x80000000

# The dialect list Windows clients (and most worms and exploit kits that copy
# them) send is: PC NETWORK PROGRAM 1.0, LANMAN1.0, Windows for Workgroups 3.1a,
# LM1.2X002, LANMAN2.1, NT LM 0.12 -> "NT LM 0.12" is entry 5.
NT_LM_012_INDEX = 5

SMB_PID = 0xFEFF
SMB_UID = 0x0800


def smb_header(command, status, mid, uid=0, tid=0):
    flags = SMB_FLAGS_REPLY | SMB_FLAGS_CANONICAL_PATHS | SMB_FLAGS_CASE_INSENSITIVE
    flags2 = (SMB_FLAGS2_UNICODE | SMB_FLAGS2_NT_STATUS | SMB_FLAGS2_EXTENDED_SECURITY
              | SMB_FLAGS2_KNOWS_EAS | SMB_FLAGS2_KNOWS_LONG_NAMES)
    return struct.pack("<4sBIBHH8sHHHHH", b"\xffSMB", command, status, flags, flags2,
                       0, b"\x00" * 8, 0, tid, SMB_PID, uid, mid)


SMB_HEADER_LEN = len(smb_header(0, 0, 0))


def smb_command(words, data):
    assert len(words) % 2 == 0
    return struct.pack("<B", len(words) // 2) + words + struct.pack("<H", len(data)) + data


# --- ASN.1 DER, just enough for SPNEGO (RFC 4178) ---

def der(tag, content):
    n = len(content)
    if n < 0x80:
        length = bytes([n])
    else:
        raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
        length = bytes([0x80 | len(raw)]) + raw
    return bytes([tag]) + length + content


def der_oid(dotted):
    parts = [int(p) for p in dotted.split(".")]
    out = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        out += bytes(reversed(chunk))
    return der(0x06, out)


OID_SPNEGO = "1.3.6.1.5.5.2"
OID_NTLMSSP = "1.3.6.1.4.1.311.2.2.10"


def spnego_init(mechs):
    mech_types = der(0xA0, der(0x30, b"".join(der_oid(m) for m in mechs)))
    neg_token_init = der(0xA0, der(0x30, mech_types))
    return der(0x60, der_oid(OID_SPNEGO) + neg_token_init)


def spnego_resp_incomplete(mech, token):
    accept_incomplete = 1
    content = der(0xA0, der(0x0A, bytes([accept_incomplete])))
    content += der(0xA1, der_oid(mech))
    content += der(0xA2, der(0x04, token))
    return der(0xA1, der(0x30, content))


# --- NTLMSSP (MS-NLMP 2.2.1.2) ---

NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
NTLMSSP_REQUEST_TARGET = 0x00000004
NTLMSSP_NEGOTIATE_NTLM = 0x00000200
NTLMSSP_NEGOTIATE_ALWAYS_SIGN = 0x00008000
NTLMSSP_TARGET_TYPE_SERVER = 0x00020000
NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
NTLMSSP_NEGOTIATE_VERSION = 0x02000000
NTLMSSP_NEGOTIATE_128 = 0x20000000
NTLMSSP_NEGOTIATE_KEY_EXCH = 0x40000000
NTLMSSP_NEGOTIATE_56 = 0x80000000

MSV_AV_EOL = 0
MSV_AV_NB_COMPUTER_NAME = 1
MSV_AV_NB_DOMAIN_NAME = 2
MSV_AV_DNS_COMPUTER_NAME = 3
MSV_AV_DNS_DOMAIN_NAME = 4

NTLMSSP_REVISION_W2K3 = 0x0F


def ntlm_challenge():
    # A stand-alone (workgroup) server: the target is the machine itself.
    target_name = utf16(WIN_HOST)
    av_pairs = [
        (MSV_AV_NB_DOMAIN_NAME, utf16(WIN_HOST)),
        (MSV_AV_NB_COMPUTER_NAME, utf16(WIN_HOST)),
        (MSV_AV_DNS_DOMAIN_NAME, utf16(WIN_HOST.lower())),
        (MSV_AV_DNS_COMPUTER_NAME, utf16(WIN_HOST.lower())),
        (MSV_AV_EOL, b""),
    ]
    target_info = b"".join(struct.pack("<HH", t, len(v)) + v for t, v in av_pairs)
    flags = (NTLMSSP_NEGOTIATE_UNICODE | NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM
             | NTLMSSP_NEGOTIATE_ALWAYS_SIGN | NTLMSSP_TARGET_TYPE_SERVER
             | NTLMSSP_NEGOTIATE_EXTENDED_SESSIONSECURITY | NTLMSSP_NEGOTIATE_TARGET_INFO
             | NTLMSSP_NEGOTIATE_VERSION | NTLMSSP_NEGOTIATE_128
             | NTLMSSP_NEGOTIATE_KEY_EXCH | NTLMSSP_NEGOTIATE_56)
    major, minor, build = WIN_BUILD
    version = struct.pack("<BBH3sB", major, minor, build, b"\x00" * 3, NTLMSSP_REVISION_W2K3)
    challenge = seeded("ntlm-challenge", 8)
    # Fixed part: signature 8, type 4, name fields 8, flags 4, challenge 8,
    # reserved 8, info fields 8, version 8 = 56 bytes; the payload follows.
    fixed_len = 8 + 4 + 8 + 4 + 8 + 8 + 8 + len(version)
    name_off = fixed_len
    info_off = name_off + len(target_name)
    msg = b"NTLMSSP\x00" + struct.pack("<I", 2)
    msg += struct.pack("<HHI", len(target_name), len(target_name), name_off)
    msg += struct.pack("<I", flags) + challenge + b"\x00" * 8
    msg += struct.pack("<HHI", len(target_info), len(target_info), info_off)
    msg += version
    assert len(msg) == fixed_len
    return msg + target_name + target_info


def smb_negotiate_response():
    major, minor, build = WIN_BUILD
    security_mode = 0x03  # user-level security, challenge/response passwords
    capabilities = (CAP_RAW_MODE | CAP_UNICODE | CAP_LARGE_FILES | CAP_NT_SMBS
                    | CAP_RPC_REMOTE_APIS | CAP_STATUS32 | CAP_LEVEL_II_OPLOCKS
                    | CAP_LOCK_AND_READ | CAP_NT_FIND | CAP_DFS | CAP_INFOLEVEL_PASSTHRU
                    | CAP_LARGE_READX | CAP_LARGE_WRITEX | CAP_LWIO | CAP_EXTENDED_SECURITY)
    words = struct.pack("<HBHHIIIIQhB",
                        NT_LM_012_INDEX, security_mode,
                        50,      # MaxMpxCount
                        1,       # MaxNumberVcs
                        16644,   # MaxBufferSize
                        65536,   # MaxRawSize
                        0,       # SessionKey
                        capabilities,
                        filetime(WHEN),
                        0,       # ServerTimeZone (minutes from UTC)
                        0)       # ChallengeLength: none with extended security
    data = seeded("smb-server-guid", 16) + spnego_init([OID_NTLMSSP])
    return smb_header(SMB_COM_NEGOTIATE, STATUS_SUCCESS, mid=0) + smb_command(words, data)


def smb_session_setup_challenge():
    blob = spnego_resp_incomplete(OID_NTLMSSP, ntlm_challenge())
    native_os = utf16("Windows Server 2003 3790 Service Pack 2") + b"\x00\x00"
    native_lanman = utf16("Windows Server 2003 5.2") + b"\x00\x00"
    word_count = 4
    data_start = SMB_HEADER_LEN + 1 + 2 * word_count + 2
    pad = b"\x00" * ((data_start + len(blob)) % 2)  # Unicode strings 2-aligned
    data = blob + pad + native_os + native_lanman
    end_offset = data_start + len(data)
    words = struct.pack("<BBHHH", SMB_COM_NO_ANDX, 0, end_offset,
                        0,  # Action
                        len(blob))
    msg = smb_header(SMB_COM_SESSION_SETUP_ANDX, STATUS_MORE_PROCESSING_REQUIRED,
                     mid=1, uid=SMB_UID) + smb_command(words, data)
    assert len(msg) == end_offset
    return msg


def smb_445_tcp():
    # Direct-hosted SMB (port 445) keeps the 4-byte NetBIOS session framing.
    return (nbss(NBSS_MESSAGE, smb_negotiate_response())
            + nbss(NBSS_MESSAGE, smb_session_setup_challenge()))


# ----------------------------------------------------------------------------
# MS-SQL: TDS PRELOGIN response (MS-TDS 2.2.6.5)
# ----------------------------------------------------------------------------

TDS_TABULAR_RESULT = 0x04
TDS_STATUS_EOM = 0x01
PL_VERSION, PL_ENCRYPTION, PL_INSTOPT, PL_THREADID, PL_MARS = 0, 1, 2, 3, 4
PL_TERMINATOR = 0xFF
ENCRYPT_NOT_SUP = 0x02


def mssql_1433_tcp():
    # SQL Server 2005 SP4 = 9.00.5000. No encryption: the client then sends its
    # LOGIN7 record (user name, obfuscated password) in the clear.
    options = [
        (PL_VERSION, struct.pack(">BBHH", 9, 0, 5000, 0)),
        (PL_ENCRYPTION, bytes([ENCRYPT_NOT_SUP])),
        (PL_INSTOPT, b"\x00"),   # instance name accepted
        (PL_THREADID, b""),      # servers answer with an empty THREADID
        (PL_MARS, b"\x00"),      # MARS off
    ]
    table_len = 5 * len(options) + 1
    table, data = b"", b""
    for token, value in options:
        table += struct.pack(">BHH", token, table_len + len(data), len(value))
        data += value
    payload = table + bytes([PL_TERMINATOR]) + data
    header = struct.pack(">BBHHBB", TDS_TABULAR_RESULT, TDS_STATUS_EOM,
                         8 + len(payload), 0, 1, 0)
    return header + payload


# ----------------------------------------------------------------------------
# MySQL client/server protocol: Initial Handshake, protocol version 10
# ----------------------------------------------------------------------------

CLIENT_LONG_PASSWORD = 1 << 0
CLIENT_FOUND_ROWS = 1 << 1
CLIENT_LONG_FLAG = 1 << 2
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_NO_SCHEMA = 1 << 4
CLIENT_ODBC = 1 << 6
CLIENT_LOCAL_FILES = 1 << 7
CLIENT_IGNORE_SPACE = 1 << 8
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_INTERACTIVE = 1 << 10
CLIENT_IGNORE_SIGPIPE = 1 << 12
CLIENT_TRANSACTIONS = 1 << 13
CLIENT_RESERVED = 1 << 14
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_MULTI_STATEMENTS = 1 << 16
CLIENT_MULTI_RESULTS = 1 << 17
CLIENT_PS_MULTI_RESULTS = 1 << 18
CLIENT_PLUGIN_AUTH = 1 << 19
SERVER_STATUS_AUTOCOMMIT = 0x0002
LATIN1_SWEDISH_CI = 8


def mysql_3306_tcp():
    version = b"5.5.62-0+deb8u1"
    connection_id = 4157
    # 20 scramble bytes; real servers use printable, non-NUL values.
    scramble = bytes(0x21 + b % 0x5E for b in seeded("mysql-scramble", 20))
    plugin = b"mysql_native_password"
    # No CLIENT_SSL and no CLIENT_COMPRESS: keep the client in plain text.
    caps = (CLIENT_LONG_PASSWORD | CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG
            | CLIENT_CONNECT_WITH_DB | CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES
            | CLIENT_IGNORE_SPACE | CLIENT_PROTOCOL_41 | CLIENT_INTERACTIVE
            | CLIENT_IGNORE_SIGPIPE | CLIENT_TRANSACTIONS | CLIENT_RESERVED
            | CLIENT_SECURE_CONNECTION | CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS
            | CLIENT_PS_MULTI_RESULTS | CLIENT_PLUGIN_AUTH)
    auth_data_len = len(scramble) + 1  # the scramble's NUL terminator counts
    payload = bytes([10]) + version + b"\x00"
    payload += struct.pack("<I", connection_id) + scramble[:8] + b"\x00"
    payload += struct.pack("<HBHH", caps & 0xFFFF, LATIN1_SWEDISH_CI,
                           SERVER_STATUS_AUTOCOMMIT, caps >> 16)
    payload += bytes([auth_data_len]) + b"\x00" * 10
    payload += scramble[8:] + b"\x00"
    payload += plugin + b"\x00"
    sequence_id = 0
    return struct.pack("<I", len(payload))[:3] + bytes([sequence_id]) + payload


# ----------------------------------------------------------------------------
# RDP: X.224 Connection Confirm in TPKT (RFC 1006, ITU-T X.224, MS-RDPBCGR 2.2.1.2)
# ----------------------------------------------------------------------------

X224_CONNECTION_CONFIRM = 0xD0


def rdp_3389_tcp():
    # Windows Server 2003 predates RDP security negotiation: its confirm carries
    # no RDP_NEG_RSP, so clients fall back to standard RDP security and go on to
    # send their MCS Connect Initial (client name, keyboard, build).
    dst_ref, src_ref, class_option = 0x0000, 0x1234, 0x00
    tpdu = struct.pack(">BHHB", X224_CONNECTION_CONFIRM, dst_ref, src_ref, class_option)
    tpdu = bytes([len(tpdu)]) + tpdu  # length indicator excludes itself
    return struct.pack(">BBH", 3, 0, 4 + len(tpdu)) + tpdu


# ----------------------------------------------------------------------------
# Radmin (Famatech Remote Administrator) - see README for what is known
# ----------------------------------------------------------------------------

RADMIN_REPLY_CHECKSUM = 0x0212


def radmin_frame(payload):
    # 0x01, 32-bit big-endian payload length, 32-bit big-endian byte sum of the
    # payload, payload (first byte = message code).
    return struct.pack(">BII", 1, len(payload), sum(payload)) + payload


def radmin_4899_tcp():
    # Reply to the 10-byte connection request (message code 0x08): code 0x08,
    # then 0x02, two zero bytes, 0x0a, and 32 bytes of filler; the last filler
    # byte is chosen so that the byte sum equals the value seen on real servers.
    head = bytes([0x08, 0x02, 0x00, 0x00, 0x0A])
    filler = bytearray(b % 0x20 for b in seeded("radmin-reply", 32))
    filler[-1] = 0
    filler[-1] = RADMIN_REPLY_CHECKSUM - sum(head) - sum(filler)
    return radmin_frame(head + bytes(filler))


# ----------------------------------------------------------------------------
# Android Debug Bridge over TCP (ADB protocol.txt): CNXN from a "device"
# ----------------------------------------------------------------------------

A_CNXN = 0x4E584E43
A_VERSION = 0x01000000
ADB_MAX_PAYLOAD_V1 = 4096


def adb_5555_tcp():
    banner = (b"device::ro.product.name=rk322x_box;ro.product.model=TV BOX;"
              b"ro.product.device=rk322x;\x00")
    header = struct.pack("<6I", A_CNXN, A_VERSION, ADB_MAX_PAYLOAD_V1, len(banner),
                         sum(banner) & 0xFFFFFFFF, A_CNXN ^ 0xFFFFFFFF)
    return header + banner


# ----------------------------------------------------------------------------
# AJP13 (Apache JServ Protocol 1.3) container-to-server packets
# ----------------------------------------------------------------------------

AJP13_SEND_BODY_CHUNK = 3
AJP13_SEND_HEADERS = 4
AJP13_END_RESPONSE = 5
SC_RESP_CONTENT_TYPE = 0xA001
SC_RESP_CONTENT_LANGUAGE = 0xA002
SC_RESP_CONTENT_LENGTH = 0xA003


def ajp_string(s):
    b = s.encode("utf-8")
    return struct.pack(">H", len(b)) + b + b"\x00"


def ajp_packet(payload):
    return b"AB" + struct.pack(">H", len(payload)) + payload


def ajp_8009_tcp():
    tomcat = "Apache Tomcat/8.5.47"
    title = "HTTP Status 404 \u2013 Not Found"
    body = ('<!doctype html><html lang="en"><head><title>%s</title></head><body>'
            "<h1>%s</h1><hr/><p><b>Type</b> Status Report</p>"
            "<p><b>Description</b> The requested resource is not available.</p>"
            "<hr/><h3>%s</h3></body></html>" % (title, title, tomcat)).encode("utf-8")
    headers = [
        (SC_RESP_CONTENT_TYPE, "text/html;charset=utf-8"),
        (SC_RESP_CONTENT_LANGUAGE, "en"),
        (SC_RESP_CONTENT_LENGTH, str(len(body))),
    ]
    send_headers = struct.pack(">BH", AJP13_SEND_HEADERS, 404) + ajp_string("Not Found")
    send_headers += struct.pack(">H", len(headers))
    for code, value in headers:
        send_headers += struct.pack(">H", code) + ajp_string(value)
    # Tomcat terminates a body chunk with a NUL byte that the chunk length excludes.
    chunk = struct.pack(">BH", AJP13_SEND_BODY_CHUNK, len(body)) + body + b"\x00"
    end = struct.pack(">BB", AJP13_END_RESPONSE, 1)  # 1 = connection may be reused
    return ajp_packet(send_headers) + ajp_packet(chunk) + ajp_packet(end)


# ----------------------------------------------------------------------------

FILES = {
    "21_tcp": ftp_21_tcp,
    "23_tcp": telnet_23_tcp,
    "25_tcp": smtp_25_tcp,
    "80_tcp": http_80_tcp,
    "110_tcp": pop3_110_tcp,
    "135_tcp": rpc_135_tcp,
    "139_tcp": netbios_139_tcp,
    "445_tcp": smb_445_tcp,
    "1433_tcp": mssql_1433_tcp,
    "2323_tcp": telnet_23_tcp,
    "3306_tcp": mysql_3306_tcp,
    "3389_tcp": rdp_3389_tcp,
    "4444_tcp": cmd_shell,
    "4899_tcp": radmin_4899_tcp,
    "5060_tcp": lambda: sip_response("TCP"),
    "5060_udp": lambda: sip_response("UDP"),
    "5555_tcp": adb_5555_tcp,
    "5900_tcp": vnc_5900_tcp,
    "6379_tcp": redis_6379_tcp,
    "8009_tcp": ajp_8009_tcp,
    "21000_tcp": cmd_shell,
}


# ----------------------------------------------------------------------------
# --verify: independent re-parsing of the binary files (reads them from disk)
# ----------------------------------------------------------------------------

def _check(cond, what):
    if not cond:
        raise AssertionError(what)


def _verify_text_http_like(data, sep):
    head, _, body = data.partition(sep + sep)
    for line in head.split(sep):
        if line.lower().startswith(b"content-length:"):
            _check(int(line.split(b":", 1)[1]) == len(body), "Content-Length")
            return
    raise AssertionError("no Content-Length")


def _verify_dcerpc(d):
    ver, minor, ptype, flags, drep, frag_len, auth_len, call_id = struct.unpack_from("<BBBB4sHHI", d)
    _check((ver, minor, ptype) == (5, 0, 12), "version/type")
    _check(frag_len == len(d) and auth_len == 0, "frag_length")
    sec_len, = struct.unpack_from("<H", d, 24)
    _check(d[26:26 + sec_len] == b"135\x00", "secondary address")
    off = 26 + sec_len
    off += pad4(off)
    n = d[off]
    _check(n == 1, "n_results")
    res, reason = struct.unpack_from("<HH", d, off + 4)
    syntax = uuid.UUID(bytes_le=d[off + 8:off + 24])
    sver, = struct.unpack_from("<I", d, off + 24)
    _check(res == 0 and str(syntax) == NDR_UUID and sver == 2, "transfer syntax")
    _check(off + 28 == len(d), "trailing bytes")


def _der_read(d, off):
    tag = d[off]
    n = d[off + 1]
    off += 2
    if n & 0x80:
        k = n & 0x7F
        n = int.from_bytes(d[off:off + k], "big")
        off += k
    return tag, d[off:off + n], off + n


def _verify_ntlm_challenge(m):
    _check(m[:8] == b"NTLMSSP\x00" and struct.unpack_from("<I", m, 8)[0] == 2, "NTLMSSP type 2")
    nlen, nmax, noff = struct.unpack_from("<HHI", m, 12)
    ilen, imax, ioff = struct.unpack_from("<HHI", m, 40)
    _check(nlen == nmax and ilen == imax, "max lengths")
    _check(noff + nlen <= len(m) and ioff + ilen == len(m), "payload offsets")
    _check(m[noff:noff + nlen].decode("utf-16-le") == WIN_HOST, "target name")
    p = ioff
    while True:
        t, ln = struct.unpack_from("<HH", m, p)
        p += 4 + ln
        if t == MSV_AV_EOL:
            break
    _check(p == ioff + ilen, "AV pair list length")


def _verify_smb(d):
    off, packets = 0, []
    while off < len(d):
        _check(d[off] == 0, "NBSS message type")
        ln = int.from_bytes(d[off + 1:off + 4], "big")
        packets.append(d[off + 4:off + 4 + ln])
        off += 4 + ln
    _check(off == len(d) and len(packets) == 2, "NBSS framing")
    neg, ssx = packets
    _check(neg[:5] == b"\xffSMB\x72", "negotiate header")
    wc = neg[32]
    _check(wc == 17, "negotiate word count")
    bc, = struct.unpack_from("<H", neg, 33 + 2 * wc)
    data = neg[35 + 2 * wc:]
    _check(bc == len(data), "negotiate byte count")
    dialect, = struct.unpack_from("<H", neg, 33)
    _check(dialect == NT_LM_012_INDEX, "dialect index")
    tag, content, end = _der_read(data, 16)
    _check(tag == 0x60 and end == len(data), "SPNEGO init length")
    _check(ssx[:5] == b"\xffSMB\x73", "session setup header")
    wc = ssx[32]
    _check(wc == 4, "session setup word count")
    andx_cmd, _, andx_off, action, blob_len = struct.unpack_from("<BBHHH", ssx, 33)
    bc, = struct.unpack_from("<H", ssx, 41)
    _check(bc == len(ssx) - 43 and andx_off == len(ssx), "session setup byte count")
    blob = ssx[43:43 + blob_len]
    tag, resp, end = _der_read(blob, 0)
    _check(tag == 0xA1 and end == blob_len, "SPNEGO resp length")
    tag, seq, _ = _der_read(resp, 0)
    p = 0
    token = None
    while p < len(seq):
        tag, val, p = _der_read(seq, p)
        if tag == 0xA2:
            t2, token, e2 = _der_read(val, 0)
            _check(t2 == 0x04 and e2 == len(val), "responseToken")
    _check(token is not None, "responseToken present")
    _verify_ntlm_challenge(token)
    strings = ssx[43 + blob_len:]
    if (43 + blob_len) % 2:
        strings = strings[1:]
    parts = strings.decode("utf-16-le").split("\x00")
    _check(len(parts) == 3 and parts[2] == "", "native OS / LAN manager")


def _verify_tds(d):
    typ, status, ln, spid, pid, win = struct.unpack_from(">BBHHBB", d)
    _check(typ == 4 and status == 1 and ln == len(d), "TDS header")
    p, payload, seen = 0, d[8:], []
    while payload[p] != 0xFF:
        tok, off, n = struct.unpack_from(">BHH", payload, p)
        _check(off + n <= len(payload), "option bounds")
        seen.append((tok, off, n))
        p += 5
    _check([t for t, _, _ in seen] == [0, 1, 2, 3, 4], "option set")
    _check(seen[0][1] == p + 1, "first option data follows terminator")
    last = seen[-1]
    _check(last[1] + last[2] == len(payload), "last option ends payload")


def _verify_mysql(d):
    ln = int.from_bytes(d[:3], "little")
    _check(ln == len(d) - 4 and d[3] == 0 and d[4] == 10, "packet header / protocol 10")
    ver_end = d.index(b"\x00", 5)
    _check(d[5:ver_end].startswith(b"5."), "5.x version")
    p = ver_end + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2
    auth_len = d[p]
    part2 = max(13, auth_len - 8)
    p += 1 + 10 + part2
    _check(d[p:] == b"mysql_native_password\x00", "auth plugin")


def _verify_ajp(d):
    p, types = 0, []
    while p < len(d):
        _check(d[p:p + 2] == b"AB", "AJP prefix")
        ln, = struct.unpack_from(">H", d, p + 2)
        types.append((d[p + 4], d[p + 4:p + 4 + ln]))
        p += 4 + ln
    _check(p == len(d), "AJP framing")
    _check([t for t, _ in types] == [4, 3, 5], "packet types")
    chunk = types[1][1]
    clen, = struct.unpack_from(">H", chunk, 1)
    _check(len(chunk) == 3 + clen + 1 and chunk[-1] == 0, "chunk length")
    hdrs = types[0][1]
    status, = struct.unpack_from(">H", hdrs, 1)
    _check(status == 404, "status code")
    q = 3

    def string_at(q):
        n, = struct.unpack_from(">H", hdrs, q)
        _check(hdrs[q + 2 + n] == 0, "string terminator")
        return hdrs[q + 2:q + 2 + n], q + 3 + n

    _, q = string_at(q)
    count, = struct.unpack_from(">H", hdrs, q)
    q += 2
    values = {}
    for _ in range(count):
        code, = struct.unpack_from(">H", hdrs, q)
        values[code], q = string_at(q + 2)
    _check(q == len(hdrs), "SEND_HEADERS length")
    _check(int(values[SC_RESP_CONTENT_LENGTH]) == clen, "Content-Length value")


def _verify_radmin(d):
    _check(d[0] == 1, "frame marker")
    ln, cs = struct.unpack_from(">II", d, 1)
    _check(ln == len(d) - 9 and cs == sum(d[9:]) == RADMIN_REPLY_CHECKSUM, "length/checksum")
    _check(len(d) == 46 and d[9] == 0x08, "reply shape")


def _verify_rdp(d):
    _check(d[0] == 3 and struct.unpack_from(">H", d, 2)[0] == len(d), "TPKT")
    _check(d[4] == len(d) - 5 and d[5] == 0xD0, "X.224 CC")


def _verify_adb(d):
    cmd, a0, a1, n, chk, magic = struct.unpack_from("<6I", d)
    _check(cmd == A_CNXN and magic == cmd ^ 0xFFFFFFFF, "CNXN")
    _check(n == len(d) - 24 and chk == sum(d[24:]), "payload length/check")


def _verify_telnet(d):
    _check(d.startswith(bytes([IAC])) and d.endswith(b"login: "), "telnet")


# Text protocols whose lines must end in CRLF (the telnet prompt and the cmd.exe
# prompt end without a line break, which the check allows).
CRLF_TEXT = ["21_tcp", "23_tcp", "25_tcp", "80_tcp", "110_tcp", "2323_tcp", "4444_tcp",
             "5060_tcp", "5060_udp", "6379_tcp", "21000_tcp"]

VERIFY = {
    "23_tcp": _verify_telnet,
    "2323_tcp": _verify_telnet,
    "80_tcp": lambda d: _verify_text_http_like(d, b"\r\n"),
    "135_tcp": _verify_dcerpc,
    "139_tcp": lambda d: _check(d == b"\x82\x00\x00\x00", "positive session response"),
    "445_tcp": _verify_smb,
    "1433_tcp": _verify_tds,
    "3306_tcp": _verify_mysql,
    "3389_tcp": _verify_rdp,
    "4899_tcp": _verify_radmin,
    "5060_tcp": lambda d: _verify_text_http_like(d, b"\r\n"),
    "5060_udp": lambda d: _verify_text_http_like(d, b"\r\n"),
    "5555_tcp": _verify_adb,
    "5900_tcp": lambda d: _check(len(d) == 12 and d.endswith(b"\n"), "RFB version"),
    "8009_tcp": _verify_ajp,
}


def main(argv):
    mode = argv[1] if len(argv) > 1 else "--write"
    if mode not in ("--write", "--check", "--verify"):
        print("usage: %s [--check | --verify]" % argv[0], file=sys.stderr)
        return 2
    status = 0
    for name, build in FILES.items():
        path = os.path.join(HERE, name)
        data = build()
        if mode == "--write":
            with open(path, "wb") as f:
                f.write(data)
            print("%-10s %5d bytes" % (name, len(data)))
        elif mode == "--check":
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except FileNotFoundError:
                same = False
            if not same:
                print("%s: differs from the generator's output" % name)
                status = 1
        else:
            with open(path, "rb") as f:
                on_disk = f.read()
            try:
                if name in CRLF_TEXT:
                    _check(on_disk.count(b"\n") == on_disk.count(b"\r\n"), "bare LF")
                VERIFY.get(name, lambda d: None)(on_disk)
                print("%-10s ok" % name)
            except (AssertionError, struct.error, ValueError, IndexError) as e:
                print("%-10s FAILED: %s" % (name, e))
                status = 1
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
