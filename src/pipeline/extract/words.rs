//! Extraction, pass 3: a forgiving shell-like split of the attack text into commands, their
//! words and their stdout redirection. The C download plugins had no such pass.

use super::*;

// Offsets are u32 (a window or a decoded body is far smaller than 4 GiB): a window of
// one-letter commands holds as many commands as bytes, so their size is the extractor's
// working memory.

/// An offset as stored in [`Word`] and [`Cmd`].
pub(super) fn idx(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[derive(Clone, Copy)]
pub(super) struct Word {
    pub(super) a: u32,
    pub(super) b: u32,
}

#[derive(Clone)]
pub(super) struct Cmd {
    pub(super) w0: u32,
    pub(super) w1: u32,
    pub(super) at: u32,
    /// stdout redirection: target (range in the word buffer) and whether it appends.
    pub(super) redir: Option<(u32, u32, bool)>,
    /// Ended by a single `|`: its output feeds the next command.
    pub(super) piped: bool,
}

impl Cmd {
    /// Where the command starts in the text.
    pub(super) fn start(&self) -> usize {
        self.at as usize
    }
}

#[derive(Default)]
pub(super) struct Toks {
    pub(super) buf: Vec<u8>,
    pub(super) words: Vec<Word>,
    pub(super) cmds: Vec<Cmd>,
}

impl Toks {
    pub(super) fn words(&self, c: &Cmd) -> Vec<&[u8]> {
        self.words[c.w0 as usize..c.w1 as usize].iter().map(|w| &self.buf[w.a as usize..w.b as usize]).collect()
    }

    pub(super) fn redir(&self, c: &Cmd) -> Option<(&[u8], bool)> {
        c.redir.map(|(a, b, app)| (&self.buf[a as usize..b as usize], app))
    }
}

#[derive(Default)]
struct Tokenizer {
    pub(super) tk: Toks,
    /// Start of the word being read in `buf`, and its position in the text.
    pub(super) cur: Option<(usize, usize)>,
    pub(super) w0: usize,
    pub(super) start: Option<usize>,
    pub(super) redir: Option<(u32, u32, bool)>,
    /// The next word is a redirection target: (append, is stdout).
    pub(super) pending: Option<(bool, bool)>,
    pub(super) has_echo: bool,
}

impl Tokenizer {
    pub(super) fn push_char(&mut self, c: u8, pos: usize) {
        if self.cur.is_none() {
            self.cur = Some((self.tk.buf.len(), pos));
        }
        self.tk.buf.push(c);
    }

    pub(super) fn end_word(&mut self) {
        let Some((a, pos)) = self.cur.take() else { return };
        let b = self.tk.buf.len();
        if let Some((append, stdout)) = self.pending.take() {
            if stdout && b - a <= MAX_TARGET {
                self.redir = Some((idx(a), idx(b), append));
            }
            if self.start.is_none() {
                self.start = Some(pos);
            }
            return;
        }
        let w = &self.tk.buf[a..b];
        if w.eq_ignore_ascii_case(b"echo") || w.eq_ignore_ascii_case(b"@echo") {
            self.has_echo = true;
        }
        self.tk.words.push(Word { a: idx(a), b: idx(b) });
        if self.start.is_none() {
            self.start = Some(pos);
        }
    }

    pub(super) fn end_cmd(&mut self, piped: bool) {
        self.end_word();
        let w1 = self.tk.words.len();
        if let Some(start) = self.start.take() {
            if w1 > self.w0 || self.redir.is_some() {
                let (w0, w1, at) = (idx(self.w0), idx(w1), idx(start));
                self.tk.cmds.push(Cmd { w0, w1, at, redir: self.redir, piped });
            }
        }
        self.w0 = w1;
        self.redir = None;
        self.pending = None;
        self.has_echo = false;
    }
}

pub(super) fn tokenize(t: &[u8]) -> Toks {
    let mut z = Tokenizer::default();
    let mut i = 0;
    while i < t.len() {
        let c = t[i];
        match c {
            b' ' | b'\t' => {
                z.end_word();
                i += 1;
            }
            b'\'' | b'"' => i += 1,
            b';' | b'`' | b'(' | b')' | b'}' | b'&' => {
                z.end_cmd(false);
                i += 1;
            }
            b'{' => {
                // Brace expansion `{echo,X}` gives words; any other brace separates.
                let mut j = i + 1;
                while j < t.len()
                    && j - i < MAX_TARGET
                    && !matches!(t[j], b'{' | b'}' | b';' | b'|' | b'&')
                    && t[j] > b' '
                {
                    j += 1;
                }
                if t.get(j) == Some(&b'}') && t[i + 1..j].contains(&b',') {
                    z.end_word();
                    for (k, &ch) in t.iter().enumerate().take(j).skip(i + 1) {
                        match ch {
                            b',' => z.end_word(),
                            b'\'' | b'"' => {}
                            _ => z.push_char(ch, k),
                        }
                    }
                    z.end_word();
                    i = j + 1;
                } else {
                    z.end_cmd(false);
                    i += 1;
                }
            }
            b'|' => {
                if t.get(i + 1) == Some(&b'|') {
                    z.end_cmd(false);
                    i += 2;
                } else {
                    z.end_cmd(true);
                    i += 1;
                }
            }
            b'$' if t.get(i + 1) == Some(&b'(') => {
                z.end_cmd(false);
                i += 2;
            }
            b'>' => {
                // A single digit glued to `>` is a file descriptor, except in `echo` lines
                // (Windows `echo user 1 1>>f` writes "user 1 1").
                let mut stdout = true;
                if let Some((a, _)) = z.cur {
                    let w = &z.tk.buf[a..];
                    if w.len() == 1 && w[0].is_ascii_digit() && (w[0] != b'1' || !z.has_echo) {
                        stdout = w[0] == b'1';
                        z.tk.buf.truncate(a);
                        z.cur = None;
                    }
                }
                z.end_word();
                let append = t.get(i + 1) == Some(&b'>');
                i += 1 + usize::from(append);
                if t.get(i) == Some(&b'&') {
                    i += 1;
                    while t.get(i).is_some_and(|c| c.is_ascii_digit() || *c == b'-') {
                        i += 1;
                    }
                    continue;
                }
                z.pending = Some((append, stdout));
            }
            b'<' => {
                z.end_word();
                i += 1;
            }
            c if c < 0x20 || c == 0x7f => {
                z.end_cmd(false);
                i += 1;
            }
            _ => {
                z.push_char(c, i);
                i += 1;
            }
        }
    }
    z.end_cmd(false);
    z.tk
}
