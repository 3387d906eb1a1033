//! HTTP client (SPEC §8.4): GET with redirects, chunked and length-delimited bodies, replacing
//! the `popen` of htm_httpDownload.c; `http_program` runs with an argument vector, no shell.
