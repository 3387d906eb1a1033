/*
 * Shellcode signatures for honeytrap's cspm plugin (shellcode_sigfile).
 *
 * Format (nepenthes): NAMESPACE::NAME { pattern "..." "..."; mapping (ITEM, ...); };
 * The pattern is a regular expression over bytes; in strings, write \\xHH for a byte in
 * the expression. Mapping item N names capture group N, item 0 the whole match.
 * Signatures are tried in this order; a decoder's match decodes the data and matching
 * starts again from the top, the first other match is the result.
 *
 * These are generic forms of x86 and x86-64 code that exploits commonly carry; the
 * registers, loop counters and keys vary, the instruction sequences do not.
 */

// ---------------------------------------------------------------- XOR decoders

/* GetPC by jmp/call/pop, then a byte-wise XOR loop:
 *   jmp short +N (or jmp +2; jmp +5; call back); pop r32; [dec r32]; xor ecx,ecx;
 *   mov cx,imm16 | mov cl,imm8; xor byte [r32+ecx],key | [r32],key | [r32+d8],key;
 *   [inc r32]; loop; [jmp +5; call back]
 */
xor::jmp_call_pop_byte
{
	pattern
	"(.*)((?:\\xEB[\\x02-\\x7F]|\\xEB\\x02\\xEB\\x05\\xE8[\\xF0-\\xFF]\\xFF\\xFF\\xFF)"
	"[\\x58-\\x5F][\\x48-\\x4F]?(?:\\x31|\\x33)\\xC9(?:\\x66\\xB9(..)|\\xB1(.))"
	"\\x80(?:\\x34[\\x08-\\x0F]|\\x74[\\x08-\\x0F].|[\\x30-\\x37]|[\\x70-\\x77].)(.)[\\x40-\\x47]?\\xE2[\\x80-\\xFF]"
	"(?:\\xEB\\x05\\xE8[\\x00-\\xFF]\\xFF\\xFF\\xFF)?)(.*)$";
	mapping (none, pre, decoder, size, size, key, post);
};

/* The same with the call first (call +N; pop; ...; loop) and the payload right after. */
xor::call_pop_byte
{
	pattern
	"(.*)(\\xE8[\\x00-\\x7F]\\x00\\x00\\x00[\\x58-\\x5F](?:\\x83[\\xC0-\\xC7].)?(?:\\x31|\\x33)\\xC9"
	"(?:\\x66\\xB9(..)|\\xB1(.))"
	"\\x80(?:\\x34[\\x08-\\x0F]|\\x74[\\x08-\\x0F].|[\\x30-\\x37]|[\\x70-\\x77].)(.)[\\x40-\\x47]?\\xE2[\\x80-\\xFF])(.*)$";
	mapping (none, pre, decoder, size, size, key, post);
};

/* GetPC by fnstenv, dword XOR:
 *   xor|sub ecx,ecx; sub ecx,-N (or push N; pop ecx); fldz; fnstenv [esp-12]; pop r32;
 *   xor dword [r32+0x13],key; sub r32,-4; loop
 */
xor::fnstenv_dword
{
	pattern
	"(.*)((?:(?:\\x31|\\x33|\\x29|\\x2B)\\xC9\\x83\\xE9(.)|\\x6A(.)\\x59)\\xD9\\xEE\\xD9\\x74\\x24\\xF4[\\x58-\\x5F]"
	"\\x81[\\x70-\\x77]\\x13(....)\\x83[\\xE8-\\xEF]\\xFC\\xE2\\xF4)(.*)$";
	mapping (none, pre, decoder, sizeinvert, size, key, post);
};

/* GetPC by call into itself (call $+4; inc eax|...; pop), dword XOR at +0x0E. */
xor::callself_dword
{
	pattern
	"(.*)((?:\\x31|\\x33|\\x29|\\x2B)\\xC9\\x83\\xE9(.)\\xE8\\xFF\\xFF\\xFF\\xFF[\\xC0-\\xC7][\\x58-\\x5F]"
	"\\x81[\\x70-\\x77]\\x0E(....)\\x83[\\xE8-\\xEF]\\xFC\\xE2\\xF4)(.*)$";
	mapping (none, pre, decoder, sizeinvert, key, post);
};

/* Length as the XOR of two constants (mov ecx,A; xor ecx,B), one key byte,
 * xor byte [r32+ecx-1],key; loop. */
linkxor::mov_xor_length
{
	pattern
	"(\\xB9(....)\\x81\\xF1(....)(?:\\xEB.)?[\\x58-\\x5F]\\x80\\x74[\\x08-\\x0F]\\xFF(.)\\xE2[\\x80-\\xFF]"
	"(?:\\xEB\\x05\\xE8[\\x00-\\xFF]\\xFF\\xFF\\xFF)?)(.*)$";
	mapping (none, decoder, size, size, key, post);
};

/* Each byte XOR-ed with its loop counter: xor ecx,ecx; mov cx,N; call $+4; ...;
 * pop esi; xor [esi+ecx+d],cl; loop. */
konstanzxor::counter_key
{
	pattern
	"((?:\\x31|\\x33)\\xC9\\x66\\xB9(..)\\xE8\\xFF\\xFF\\xFF\\xFF[\\xC0-\\xC7][\\x58-\\x5F]\\x30\\x4C[\\x08-\\x0F].\\xE2[\\x80-\\xFF])(.*)$";
	mapping (none, decoder, size, post);
};

// ------------------------------------------------------- connect-back transfers

/* Windows stager: connect (API hash 0x6174A599) to a pushed sockaddr_in
 * (push ip; push port<<16|AF_INET; mov esi,esp; the socket may be made in between),
 * then recv (0x5FC8D902) the stage. */
connectbackfiletransfer::win_stager_recv
{
	pattern
	"\\x68(....)\\x68\\x02\\x00(..)\\x89\\xE6.{0,48}?\\x6A\\x10\\x56\\x57\\x68\\x99\\xA5\\x74\\x61\\xFF\\xD5"
	".{0,160}?\\x68\\x02\\xD9\\xC8\\x5F\\xFF\\xD5";
	mapping (none, host, port);
};

/* Linux x86 stager: socketcall(SYS_CONNECT) to a pushed sockaddr_in, then read(2)
 * (mov al,3 / push 3; pop eax; int 0x80) into memory it jumps to. */
connectbackfiletransfer::linux_x86_stager_read
{
	pattern
	"\\x68(....)\\x68\\x02\\x00(..)\\x89\\xE1.{0,24}?\\xCD\\x80"
	".{0,48}?(?:\\xB0\\x03|\\x6A\\x03\\x58)\\xCD\\x80.{0,16}?\\xFF[\\xE0-\\xE7]";
	mapping (none, host, port);
};

// --------------------------------------------------------- connect-back shells

/* Windows: connect (0x6174A599) to a pushed sockaddr_in, then "cmd" pushed. */
connectbackshell::win_connect_cmd
{
	pattern
	"\\x68(....)\\x68\\x02\\x00(..)\\x89\\xE6.{0,48}?\\x6A\\x10\\x56\\x57\\x68\\x99\\xA5\\x74\\x61\\xFF\\xD5"
	".{0,160}?\\x68\\x63\\x6D\\x64\\x00";
	mapping (none, host, port);
};

/* Linux x86: socketcall(SYS_CONNECT) to a pushed sockaddr_in (the port and AF_INET pushed
 * as one dword or as two words), dup2 and execve of "/bin//sh" or "//bin/sh" pushed. */
connectbackshell::linux_x86_connect_sh
{
	pattern
	"\\x68(....)(?:\\x68\\x02\\x00(..)|\\x66\\x68(..)\\x66\\x6A\\x02)\\x89\\xE1.{0,24}?\\xCD\\x80"
	".{0,64}?(?:\\x68\\x2F\\x2F\\x73\\x68\\x68\\x2F\\x62\\x69\\x6E|\\x68\\x6E\\x2F\\x73\\x68\\x68\\x2F\\x2F\\x62\\x69)";
	mapping (none, host, port, port);
};

/* Linux x86-64: mov rcx, sockaddr_in (AF_INET, port, ip); push rcx; mov rsi,rsp; connect. */
connectbackshell::linux_x64_connect_sh
{
	pattern
	"\\x48\\xB9\\x02\\x00(..)(....)\\x51\\x48\\x89\\xE6.{0,16}?\\x6A\\x2A\\x58\\x0F\\x05"
	".{0,96}?\\x2F\\x62\\x69\\x6E\\x2F(?:\\x2F)?\\x73\\x68";
	mapping (none, port, host);
};

/* An address and port pushed XOR-ed with keys and decoded in registers:
 * mov eax,ip^k; xor eax,k; ... mov ax,port^k2; xor ax,k2 (network order). */
connectbackshell::xored_sockaddr
{
	pattern
	"\\xB8(....)\\x35(....)\\x50\\x66\\xB8(..)\\x66\\x35(..)\\x66\\x50\\x66\\x6A\\x02";
	mapping (none, host, hostkey, port, portkey);
};

// ---------------------------------------------------------------- bind shells

/* Windows: bind (0x6737DBC2) on a pushed sockaddr_in with INADDR_ANY. */
bindshell::win_bind
{
	pattern
	"\\x68\\x02\\x00(..)\\x89\\xE6\\x6A\\x10\\x56\\x57\\x68\\xC2\\xDB\\x37\\x67\\xFF\\xD5";
	mapping (none, port);
};

/* Linux x86: push INADDR_ANY; push port<<16|AF_INET (or the port and AF_INET as two
 * words); socketcall(SYS_BIND). */
bindshell::linux_x86_bind
{
	pattern
	"[\\x50-\\x57](?:\\x68\\x02\\x00(..)|\\x66\\x68(..)\\x66\\x6A\\x02)"
	"\\x6A\\x10\\x51[\\x50-\\x57]\\x89\\xE1\\x6A\\x66\\x58\\xCD\\x80";
	mapping (none, port, port);
};

/* Linux x86-64: push rdx; mov dword [rsp], port<<16|AF_INET; mov rsi,rsp; bind(2). */
bindshell::linux_x64_bind
{
	pattern
	"\\x52\\xC7\\x04\\x24\\x02\\x00(..)\\x48\\x89\\xE6\\x6A\\x10\\x5A\\x6A\\x31\\x58\\x0F\\x05";
	mapping (none, port);
};

// ------------------------------------------------------------ commands and URLs

/* A command line for cmd.exe, NUL-terminated as the shellcode passes it to WinExec. */
execute::cmd_line
{
	pattern
	"((?:[Cc][Mm][Dd](?:\\.[Ee][Xx][Ee])?)[ \\t]+/[CcKk][ \\t]+[\\x20-\\x7E]{2,1024}?)\\x00";
	mapping (none, command);
};

/* A URL the shellcode downloads from (URLDownloadToFile and the like), NUL-terminated. */
url::nul_terminated
{
	pattern
	"((?:[Hh][Tt][Tt][Pp][Ss]?|[Ff][Tt][Pp]|[Tt][Ff][Tt][Pp])://[\\x21-\\x7E]{4,1024}?)\\x00";
	mapping (none, uri);
};
