//! FTP client (SPEC §8.2): the Windows ftp.exe-like active-mode dialogue of
//! htm_ftpDownload.c, bounded, with PASV fallback.
