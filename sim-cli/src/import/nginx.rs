//! `lbsim import nginx`: nginx.conf syntax (directives, blocks, comments, quotes, `include`)
//! and the mapping of one `upstream` block, with the location that proxies to it, to a scenario.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Result;

use super::{Imported, comment, group_name, toml_str};
use crate::error::user;

/// `include` nesting deeper than this is refused (nginx has no limit; a cycle would never end).
const MAX_INCLUDE_DEPTH: usize = 16;
/// Block nesting deeper than this is refused (real configs nest a handful of levels).
const MAX_BLOCK_DEPTH: usize = 64;
/// Largest configuration file read.
const MAX_FILE_BYTES: usize = 16 << 20;
/// Most directives read over all files.
const MAX_DIRECTIVES: usize = 1_000_000;
/// Most server groups a scenario takes.
const MAX_GROUPS: usize = 1000;

/// One directive: its words and, for a block, its children.
#[derive(Debug)]
struct Node {
    name: String,
    args: Vec<String>,
    /// The line and column of each argument (for errors that point at one).
    arg_cols: Vec<(usize, usize)>,
    /// Where the directive's name is: file as shown, line, column.
    file: String,
    line: usize,
    col: usize,
    block: Option<Vec<Node>>,
}

impl Node {
    /// `nginx.conf:12` for comments: the file's name only.
    fn at(&self) -> String {
        let short = Path::new(&self.file).file_name().map_or(self.file.clone(), |n| n.to_string_lossy().into_owned());
        format!("{short}:{}", self.line)
    }
    /// `path/nginx.conf:12` for warnings.
    fn loc(&self) -> String {
        format!("{}:{}", self.file, self.line)
    }
    /// `path/nginx.conf:12:5` for errors about the directive.
    fn pos(&self) -> String {
        format!("{}:{}:{}", self.file, self.line, self.col)
    }
    /// `path/nginx.conf:12:20` for errors about argument `i`.
    fn arg_pos(&self, i: usize) -> String {
        let (line, col) = self.arg_cols.get(i).copied().unwrap_or((self.line, self.col));
        format!("{}:{line}:{col}", self.file)
    }
    /// The directive as written (for comments).
    fn text(&self) -> String {
        let mut s = self.name.clone();
        for a in &self.args {
            s.push(' ');
            s.push_str(a);
        }
        comment(&s)
    }
}

#[derive(Debug, PartialEq)]
enum Tok {
    Word(String),
    Semi,
    Open,
    Close,
}

/// Reads one file's tokens with their line and column (1-based).
fn lex(file: &str, text: &str) -> Result<Vec<(Tok, usize, usize)>> {
    let chars: Vec<char> = text.chars().collect();
    let (mut i, mut line, mut col) = (0usize, 1usize, 1usize);
    let mut toks = Vec::new();
    let advance = |i: &mut usize, line: &mut usize, col: &mut usize, c: char| {
        *i += 1;
        if c == '\n' {
            *line += 1;
            *col = 1;
        } else {
            *col += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, c);
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                let ch = chars[i];
                advance(&mut i, &mut line, &mut col, ch);
            }
            continue;
        }
        let (l0, c0) = (line, col);
        match c {
            ';' => {
                toks.push((Tok::Semi, l0, c0));
                advance(&mut i, &mut line, &mut col, c);
            }
            '{' => {
                toks.push((Tok::Open, l0, c0));
                advance(&mut i, &mut line, &mut col, c);
            }
            '}' => {
                toks.push((Tok::Close, l0, c0));
                advance(&mut i, &mut line, &mut col, c);
            }
            '"' | '\'' => {
                let quote = c;
                advance(&mut i, &mut line, &mut col, c);
                let mut word = String::new();
                loop {
                    let Some(&ch) = chars.get(i) else {
                        return Err(user(format!(
                            "{file}:{l0}:{c0}: unterminated string: expected a closing {quote} before the end of the file"
                        )));
                    };
                    advance(&mut i, &mut line, &mut col, ch);
                    if ch == quote {
                        break;
                    }
                    if ch == '\\'
                        && let Some(&next) = chars.get(i)
                    {
                        advance(&mut i, &mut line, &mut col, next);
                        match next {
                            '"' | '\'' | '\\' => word.push(next),
                            'n' => word.push('\n'),
                            't' => word.push('\t'),
                            'r' => word.push('\r'),
                            other => {
                                word.push('\\');
                                word.push(other);
                            }
                        }
                        continue;
                    }
                    word.push(ch);
                }
                // nginx wants a separator after a quoted word.
                if let Some(&next) = chars.get(i)
                    && !(next.is_whitespace() || next == ';' || next == '{' || next == '}')
                {
                    return Err(user(format!(
                        "{file}:{line}:{col}: unexpected {next:?} after a quoted string: expected a space, `;` or `{{`"
                    )));
                }
                toks.push((Tok::Word(word), l0, c0));
            }
            _ => {
                let mut word = String::new();
                while let Some(&ch) = chars.get(i) {
                    if ch.is_whitespace() || ch == ';' || ch == '{' || ch == '}' {
                        break;
                    }
                    // `${var}` keeps its braces inside a word.
                    if ch == '$' && chars.get(i + 1) == Some(&'{') {
                        while let Some(&b) = chars.get(i) {
                            word.push(b);
                            advance(&mut i, &mut line, &mut col, b);
                            if b == '}' {
                                break;
                            }
                        }
                        continue;
                    }
                    if ch == '\\' && i + 1 < chars.len() {
                        advance(&mut i, &mut line, &mut col, ch);
                        let next = chars[i];
                        word.push(next);
                        advance(&mut i, &mut line, &mut col, next);
                        continue;
                    }
                    word.push(ch);
                    advance(&mut i, &mut line, &mut col, ch);
                }
                toks.push((Tok::Word(word), l0, c0));
            }
        }
    }
    Ok(toks)
}

/// Parses files, following `include`s.
struct Reader {
    /// Canonical paths of the files being read (the include chain), for the cycle check.
    chain: Vec<PathBuf>,
    directives: usize,
}

impl Reader {
    /// Reads a file whose canonical path the caller checked against the include chain.
    fn read_file(&mut self, shown: &str, path: &Path, canonical: PathBuf) -> Result<Vec<Node>> {
        let text = crate::load::bounded_text(
            &path.to_string_lossy(),
            shown,
            MAX_FILE_BYTES,
            "the importer's limit on config files",
        )?;
        let toks = lex(shown, &text)?;
        self.chain.push(canonical);
        let mut pos = 0;
        let nodes = self.parse_block(shown, path, &toks, &mut pos, 0);
        self.chain.pop();
        let nodes = nodes?;
        if let Some((_, l, c)) = toks.get(pos) {
            return Err(user(format!("{shown}:{l}:{c}: unexpected `}}`: no block is open here")));
        }
        Ok(nodes)
    }

    fn parse_block(
        &mut self,
        shown: &str,
        path: &Path,
        toks: &[(Tok, usize, usize)],
        pos: &mut usize,
        depth: usize,
    ) -> Result<Vec<Node>> {
        let mut nodes = Vec::new();
        loop {
            let Some((tok, l, c)) = toks.get(*pos) else {
                return Ok(nodes);
            };
            let (l, c) = (*l, *c);
            let name = match tok {
                Tok::Close => return Ok(nodes),
                Tok::Semi => return Err(user(format!("{shown}:{l}:{c}: unexpected `;`: expected a directive name"))),
                Tok::Open => {
                    return Err(user(format!(
                        "{shown}:{l}:{c}: unexpected `{{`: expected a directive name before a block"
                    )));
                }
                Tok::Word(w) => w.clone(),
            };
            *pos += 1;
            let mut args = Vec::new();
            let mut arg_cols = Vec::new();
            loop {
                match toks.get(*pos) {
                    Some((Tok::Word(w), wl, wc)) => {
                        args.push(w.clone());
                        arg_cols.push((*wl, *wc));
                        *pos += 1;
                    }
                    Some((Tok::Semi, _, _)) => {
                        *pos += 1;
                        self.count(shown, l, c)?;
                        if name == "include" {
                            nodes.extend(self.include(shown, path, l, c, &args)?);
                        } else {
                            nodes.push(Node {
                                name,
                                args,
                                arg_cols,
                                file: shown.to_string(),
                                line: l,
                                col: c,
                                block: None,
                            });
                        }
                        break;
                    }
                    Some((Tok::Open, bl, bc)) => {
                        if depth + 1 > MAX_BLOCK_DEPTH {
                            return Err(user(format!(
                                "{shown}:{bl}:{bc}: blocks nest more than {MAX_BLOCK_DEPTH} levels deep (the limit)"
                            )));
                        }
                        let (bl, bc) = (*bl, *bc);
                        *pos += 1;
                        self.count(shown, l, c)?;
                        let children = self.parse_block(shown, path, toks, pos, depth + 1)?;
                        match toks.get(*pos) {
                            Some((Tok::Close, _, _)) => *pos += 1,
                            _ => {
                                let (el, ec) = end_of(toks);
                                return Err(user(format!(
                                    "{shown}:{el}:{ec}: unexpected end of file: expected `}}` to close the `{name}` block opened at {shown}:{bl}:{bc}"
                                )));
                            }
                        }
                        nodes.push(Node {
                            name,
                            args,
                            arg_cols,
                            file: shown.to_string(),
                            line: l,
                            col: c,
                            block: Some(children),
                        });
                        break;
                    }
                    Some((Tok::Close, cl, cc)) => {
                        return Err(user(format!(
                            "{shown}:{cl}:{cc}: unexpected `}}`: expected `;` to end the `{name}` directive (line {l})"
                        )));
                    }
                    None => {
                        let (el, ec) = end_of(toks);
                        return Err(user(format!(
                            "{shown}:{el}:{ec}: unexpected end of file: expected `;` or `{{` after the `{name}` directive (line {l})"
                        )));
                    }
                }
            }
        }
    }

    fn count(&mut self, shown: &str, l: usize, c: usize) -> Result<()> {
        self.directives += 1;
        if self.directives > MAX_DIRECTIVES {
            return Err(user(format!("{shown}:{l}:{c}: more than {MAX_DIRECTIVES} directives (the importer's limit)")));
        }
        Ok(())
    }

    fn include(&mut self, shown: &str, path: &Path, l: usize, c: usize, args: &[String]) -> Result<Vec<Node>> {
        let [target] = args else {
            return Err(user(format!("{shown}:{l}:{c}: `include` takes one file, got {} arguments", args.len())));
        };
        if target.contains(['*', '?', '[']) {
            return Err(user(format!(
                "{shown}:{l}:{c}: `include {target}`: glob patterns are not supported; include each file by name"
            )));
        }
        let dir = path.parent().unwrap_or(Path::new("."));
        let full = dir.join(target);
        let shown_inc = full.display().to_string();
        let canonical = std::fs::canonicalize(&full)
            .map_err(|e| user(format!("{shown}:{l}:{c}: `include {target}`: cannot read {shown_inc}: {e}")))?;
        if self.chain.contains(&canonical) {
            return Err(user(format!(
                "{shown}:{l}:{c}: `include {target}`: {shown_inc} is already being read (an include cycle)"
            )));
        }
        if self.chain.len() > MAX_INCLUDE_DEPTH {
            return Err(user(format!(
                "{shown}:{l}:{c}: `include {target}`: includes nest more than {MAX_INCLUDE_DEPTH} levels deep (the importer's limit)"
            )));
        }
        self.read_file(&shown_inc, &full, canonical)
    }
}

/// The line and column just after the last token (for "unexpected end of file").
fn end_of(toks: &[(Tok, usize, usize)]) -> (usize, usize) {
    match toks.last() {
        Some((Tok::Word(w), l, c)) => (*l, c + w.chars().count()),
        Some((_, l, c)) => (*l, c + 1),
        None => (1, 1),
    }
}

/// nginx time (`10s`, `500ms`, `1m30s`, a bare number is seconds) in milliseconds.
fn parse_time(text: &str) -> Option<u64> {
    if let Ok(n) = text.parse::<u64>() {
        return n.checked_mul(1000);
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit())?;
        if digits == 0 {
            return None;
        }
        let n: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "M" => 2_592_000_000,
            "y" => 31_536_000_000,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(ms)?)?;
        rest = &rest[unit_len..];
    }
    Some(total)
}

/// Milliseconds as an lbsim duration, in whole seconds when it is.
fn duration(ms: u64) -> String {
    if ms.is_multiple_of(1000) { format!("{}s", ms / 1000) } else { format!("{ms}ms") }
}

/// An upstream server line, read.
struct Server<'a> {
    node: &'a Node,
    address: String,
    weight: u64,
    max_fails: u64,
    fail_timeout_ms: u64,
    backup: bool,
    down: bool,
}

/// Upstreams found: (node, is inside `stream`).
fn upstreams<'a>(nodes: &'a [Node], in_stream: bool, out: &mut Vec<(&'a Node, bool)>) {
    for n in nodes {
        if let Some(children) = &n.block {
            if n.name == "upstream" {
                out.push((n, in_stream));
            } else {
                upstreams(children, in_stream || n.name == "stream", out);
            }
        }
    }
}

/// The first `proxy_pass` to `name`, with the chain of blocks around it (outermost first).
fn find_proxy<'a>(nodes: &'a [Node], name: &str, chain: &mut Vec<&'a [Node]>) -> Option<(&'a Node, Vec<&'a [Node]>)> {
    chain.push(nodes);
    for n in nodes {
        if n.name == "proxy_pass"
            && let Some(target) = n.args.first()
        {
            let host = target.split("://").last().unwrap_or("");
            let host = host.split(['/', ':', '?']).next().unwrap_or("");
            if host == name {
                let found = chain.clone();
                chain.pop();
                return Some((n, found));
            }
        }
        if let Some(children) = &n.block
            && n.name != "upstream"
            && let Some(hit) = find_proxy(children, name, chain)
        {
            chain.pop();
            return Some(hit);
        }
    }
    chain.pop();
    None
}

/// The innermost directive named `name` in the chain (nginx inheritance: location over server
/// over http).
fn inherited<'a>(chain: &[&'a [Node]], name: &str) -> Option<&'a Node> {
    chain.iter().rev().find_map(|level| level.iter().rev().find(|n| n.name == name && n.block.is_none()))
}

pub fn import(file: &str, upstream: Option<&str>, rate: f64) -> Result<Imported> {
    let mut reader = Reader { chain: Vec::new(), directives: 0 };
    let canonical = std::fs::canonicalize(file).map_err(|e| user(format!("{file}: cannot read: {e}")))?;
    let nodes = reader.read_file(file, Path::new(file), canonical)?;
    let mut found = Vec::new();
    upstreams(&nodes, false, &mut found);
    let names: Vec<String> = found.iter().map(|(n, _)| n.args.first().cloned().unwrap_or_default()).collect();
    let (up, in_stream) = match upstream {
        Some(want) => {
            *found.iter().find(|(n, _)| n.args.first().map(String::as_str) == Some(want)).ok_or_else(|| {
                user(format!("{file}: no `upstream {want}` block; the file has: {}", list_or_none(&names)))
            })?
        }
        None => match found.as_slice() {
            [one] => *one,
            [] => return Err(user(format!("{file}: no `upstream` block: nothing to balance"))),
            _ => {
                return Err(user(format!(
                    "{file}: several upstream blocks ({}): choose one with --upstream NAME",
                    names.join(", ")
                )));
            }
        },
    };
    let up_name = match up.args.as_slice() {
        [name] => name.clone(),
        _ => return Err(user(format!("{}: `upstream` takes one name", up.pos()))),
    };
    Mapper { warnings: Vec::new(), out: String::new() }.map(file, up, &up_name, in_stream, &nodes, rate)
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "no upstream blocks".to_string() } else { names.join(", ") }
}

struct Mapper {
    warnings: Vec<String>,
    out: String,
}

impl Mapper {
    /// A directive lbsim does not model: a warning and a comment.
    fn ignore(&mut self, n: &Node, why: &str) {
        self.warnings.push(format!("{}: `{}`: {why}", n.loc(), n.text()));
        let _ = writeln!(self.out, "# {} {}: ignored: {}", n.at(), n.text(), comment(why));
    }

    fn approximate(&mut self, n: &Node, why: &str) {
        self.warnings.push(format!("{}: `{}`: approximated: {why}", n.loc(), n.text()));
    }

    fn map(
        mut self,
        file: &str,
        up: &Node,
        up_name: &str,
        in_stream: bool,
        all: &[Node],
        rate: f64,
    ) -> Result<Imported> {
        let children = up.block.as_deref().unwrap_or(&[]);
        let mut servers = Vec::new();
        let mut algorithm: Option<(&Node, String)> = None;
        let mut notes = Vec::new(); // comments for the balancer table
        let _ = writeln!(
            self.out,
            "# Imported by `lbsim import nginx` from {} (upstream {up_name}, {}).",
            comment(file),
            up.at()
        );
        let _ = writeln!(
            self.out,
            "# Only the upstream block and the retry settings of the location that proxies to it\n# are read: the rest of nginx.conf does not decide where requests go.\n"
        );
        for n in children {
            match n.name.as_str() {
                "server" => servers.push(self.server(n)?),
                "least_conn" | "ip_hash" | "hash" | "random" | "least_time" => {
                    if let Some((prev, _)) = &algorithm {
                        return Err(user(format!(
                            "{}: `{}`: the balancing method is already set at {} (nginx refuses this too)",
                            n.pos(),
                            n.name,
                            prev.loc()
                        )));
                    }
                    let name = self.algorithm(n, &mut notes)?;
                    algorithm = Some((n, name));
                }
                "zone" => {
                    let _ = writeln!(
                        self.out,
                        "# {} {}: ignored: shared memory between nginx workers; lbsim's balancer is one process",
                        n.at(),
                        n.text()
                    );
                }
                "keepalive" | "keepalive_timeout" | "keepalive_requests" | "keepalive_time" => {
                    self.ignore(n, "lbsim does not model the balancer's cache of upstream connections")
                }
                _ => self.ignore(n, "not modeled by lbsim"),
            }
        }
        if servers.is_empty() {
            return Err(user(format!("{}: upstream {up_name} has no `server` line", up.pos())));
        }
        let (algo_name, algo_node) = match &algorithm {
            Some((n, a)) => (a.clone(), Some(*n)),
            None => ("round_robin".to_string(), None),
        };
        if servers.iter().any(|s| s.backup)
            && matches!(algo_name.as_str(), "ip_hash" | "consistent_hash" | "random" | "random_two")
        {
            let b = servers.iter().find(|s| s.backup).expect("a backup");
            return Err(user(format!(
                "{}: `backup` cannot be used with the `{}` balancing method (nginx refuses it too)",
                b.node.pos(),
                algo_node.map_or(algo_name.clone(), |n| n.name.clone())
            )));
        }
        let live: Vec<&Server> = servers.iter().filter(|s| !s.down).collect();
        if live.iter().all(|s| s.backup) {
            return Err(user(format!(
                "{}: upstream {up_name} has no primary server that is not `down`: nothing to balance",
                up.pos()
            )));
        }
        if live.len() > MAX_GROUPS {
            return Err(user(format!(
                "{}: {} servers; a scenario takes at most {MAX_GROUPS} server groups",
                up.pos(),
                live.len()
            )));
        }

        // Servers.
        let mut body = String::new();
        let mut taken = Vec::new();
        let mut seen = Vec::new();
        for s in &servers {
            if s.down {
                let _ = writeln!(body, "# {} {}: marked `down`: left out\n", s.node.at(), s.node.text());
                continue;
            }
            let name = group_name(&s.address, &mut taken);
            let _ = writeln!(body, "# {} {}", s.node.at(), s.node.text());
            let _ = writeln!(body, "[[servers]]\nname = {}\ncount = 1", toml_str(&name));
            if s.weight != 1 {
                let _ = writeln!(body, "weight = {}", s.weight);
            }
            if s.backup {
                let _ = writeln!(body, "backup = true");
            }
            body.push_str(&super::address_line(&s.address, &mut seen));
            let _ = writeln!(
                body,
                "# placeholder: nginx.conf does not say how fast the server is; measure it and set this"
            );
            let _ = writeln!(body, "service = {{ dist = \"exponential\", mean = \"10ms\" }}\n");
        }

        // Clients (placeholder traffic).
        let per_client = rate / 100.0;
        let _ = writeln!(
            body,
            "# placeholder traffic: {rate} requests/s in total from 100 clients; replace it with your own"
        );
        let _ = writeln!(body, "[[clients]]\nname = \"clients\"\ncount = 100\nrate = {per_client:?}");

        // Balancer.
        let mut bal = String::new();
        let _ = writeln!(bal, "\n[balancer]");
        if in_stream {
            let _ = writeln!(bal, "# {}: upstream in a `stream` block: TCP proxying", up.at());
            let _ = writeln!(bal, "layer = \"l4\"");
        } else {
            let _ = writeln!(bal, "# {}: upstream in an `http` block: HTTP proxying", up.at());
            let _ = writeln!(bal, "layer = \"l7\"");
        }
        match algo_node {
            Some(n) => {
                let _ = writeln!(bal, "# {} {}", n.at(), n.text());
            }
            None => {
                let _ = writeln!(bal, "# no balancing method in the upstream: nginx's default, weighted round robin");
            }
        }
        for note in &notes {
            let _ = writeln!(bal, "# {note}");
        }
        let _ = writeln!(bal, "algorithm = {}", toml_str(&algo_name));
        let mut needs_keys = false;
        if let Some(n) = algo_node.filter(|n| n.name == "hash") {
            let key = self.hash_key(n, in_stream);
            needs_keys = key.starts_with("header:");
            let _ = writeln!(bal, "hash_key = {}", toml_str(&key));
            // nginx hashes the key's text (ngx_crc32_long): lbsim does the same with this.
            let _ = writeln!(bal, "# nginx hashes the key's text with crc32: so does lbsim with hash_key_text");
            let _ = writeln!(bal, "hash_key_text = true");
        }
        if needs_keys {
            body.push_str("# placeholder: the hash key's values (the `hash` directive hashes a request attribute)\nkeys = { count = 1000, skew = 0, template = \"k{i}\" }\n");
        }

        // Passive health: nginx always has it (max_fails=1 fail_timeout=10s by default).
        let first = live[0];
        let differ = live.iter().find(|s| s.max_fails != first.max_fails || s.fail_timeout_ms != first.fail_timeout_ms);
        if let Some(other) = differ {
            self.approximate(
                other.node,
                &format!(
                    "lbsim has one max_fails/fail_timeout for the balancer; using the first server's ({}, {}ms)",
                    first.max_fails, first.fail_timeout_ms
                ),
            );
            let _ = writeln!(
                bal,
                "# approximated: servers differ in max_fails/fail_timeout; lbsim has one setting, the first server's"
            );
        }
        let _ = writeln!(
            bal,
            "# {} passive health checks (nginx's defaults are max_fails=1 fail_timeout=10s)",
            first.node.at()
        );
        let _ = writeln!(
            bal,
            "# nginx keeps `checked` and `now` in whole seconds (ngx_time()): a failed server is tried again \
             fail_timeout + 1 s after its last check"
        );
        let _ = writeln!(
            bal,
            "passive = {{ max_fails = {}, fail_timeout = \"{}\", clock_granularity = \"1s\" }}",
            first.max_fails,
            duration(first.fail_timeout_ms)
        );

        // Retries: the location that proxies to the upstream.
        let others = live.len().saturating_sub(1).min(100);
        let mut chain = Vec::new();
        match find_proxy(all, up_name, &mut chain) {
            None => {
                let _ = writeln!(
                    bal,
                    "# no proxy_pass to {up_name} found: nginx's default `proxy_next_upstream error timeout`, unlimited tries"
                );
                let _ = writeln!(bal, "retry_on_error = {others}");
            }
            Some((pass, chain)) => {
                let next = inherited(&chain, "proxy_next_upstream");
                let tries = inherited(&chain, "proxy_next_upstream_tries");
                let _ = writeln!(bal, "# {} {}", pass.at(), pass.text());
                // `http_500 http_502 http_503 http_504`: a 5xx answer is an unsuccessful attempt
                // too (retried, and counted by max_fails): lbsim's `fail_on_server_error`.
                let mut fail_5xx = false;
                let on_error = match next {
                    None => {
                        let _ = writeln!(
                            bal,
                            "# proxy_next_upstream not set: nginx's default `error timeout` (timeouts are not modeled)"
                        );
                        true
                    }
                    Some(n) => {
                        let _ = writeln!(bal, "# {} {}", n.at(), n.text());
                        let mut on = false;
                        for a in &n.args {
                            match a.as_str() {
                                "off" => on = false,
                                "error" => on = true,
                                "timeout" | "invalid_header" | "non_idempotent" | "denied" => {
                                    self.warnings.push(format!("{}: `proxy_next_upstream {a}`: not modeled: lbsim retries on connection errors only", n.loc()));
                                    let _ = writeln!(bal, "# ignored: `{a}`: lbsim retries on connection errors only");
                                }
                                "http_500" | "http_502" | "http_503" | "http_504" => {
                                    fail_5xx = true;
                                    on = true;
                                    let all = ["http_500", "http_502", "http_503", "http_504"]
                                        .iter()
                                        .all(|h| n.args.iter().any(|x| x == h));
                                    if !all {
                                        self.warnings.push(format!(
                                            "{}: `proxy_next_upstream {a}`: approximated: lbsim's server_error stands for every 5xx; nginx retries only the codes listed",
                                            n.loc()
                                        ));
                                        let _ = writeln!(
                                            bal,
                                            "# approximated: `{a}`: lbsim's server_error stands for every 5xx"
                                        );
                                    }
                                }
                                other if other.starts_with("http_") => {
                                    self.warnings.push(format!("{}: `proxy_next_upstream {other}`: not modeled: lbsim's server errors are 5xx (`server_error`)", n.loc()));
                                    let _ = writeln!(
                                        bal,
                                        "# ignored: `{}`: lbsim's server errors are 5xx (`server_error`)",
                                        comment(other)
                                    );
                                }
                                other => {
                                    return Err(user(format!(
                                        "{}: `proxy_next_upstream {other}`: expected error, timeout, invalid_header, http_500, http_502, http_503, http_504, http_403, http_404, http_429, non_idempotent or off",
                                        n.pos()
                                    )));
                                }
                            }
                        }
                        on
                    }
                };
                let retries = if !on_error {
                    0
                } else {
                    match tries {
                        None => {
                            let _ = writeln!(
                                bal,
                                "# proxy_next_upstream_tries not set: nginx's default 0 (every server): {others} other server(s)"
                            );
                            others
                        }
                        Some(t) => {
                            let _ = writeln!(bal, "# {} {}", t.at(), t.text());
                            let n: usize = match t.args.as_slice() {
                                [v] => v.parse().map_err(|_| {
                                    user(format!(
                                        "{}: `proxy_next_upstream_tries {v}`: expected a whole number (0 = unlimited)",
                                        t.arg_pos(0)
                                    ))
                                })?,
                                _ => {
                                    return Err(user(format!(
                                        "{}: `proxy_next_upstream_tries` takes one number",
                                        t.pos()
                                    )));
                                }
                            };
                            if n == 0 { others } else { (n - 1).min(100) }
                        }
                    }
                };
                let _ = writeln!(bal, "retry_on_error = {retries}");
                if fail_5xx {
                    bal.push_str("# http_5xx in proxy_next_upstream: a server's 5xx is a failed attempt\nfail_on_server_error = true\n");
                }
                for name in [
                    "proxy_next_upstream_timeout",
                    "proxy_connect_timeout",
                    "proxy_read_timeout",
                    "proxy_send_timeout",
                    "proxy_timeout",
                ] {
                    if let Some(n) = inherited(&chain, name) {
                        self.ignore_into(&mut bal, n, "lbsim's balancer has no upstream timeouts");
                    }
                }
            }
        }

        let mut text = std::mem::take(&mut self.out);
        let _ = writeln!(text, "\nname = {}\nduration = \"60s\"\n", toml_str(&format!("nginx-{up_name}")));
        text.push_str(&body);
        text.push_str(&bal);
        Ok(Imported { scenario: text, warnings: self.warnings })
    }

    fn ignore_into(&mut self, out: &mut String, n: &Node, why: &str) {
        self.warnings.push(format!("{}: `{}`: {why}", n.loc(), n.text()));
        let _ = writeln!(out, "# {} {}: ignored: {why}", n.at(), n.text());
    }

    fn server<'a>(&mut self, n: &'a Node) -> Result<Server<'a>> {
        let Some(address) = n.args.first() else {
            return Err(user(format!("{}: `server` needs an address", n.pos())));
        };
        let mut s = Server {
            node: n,
            address: address.clone(),
            weight: 1,
            max_fails: 1,
            fail_timeout_ms: 10_000,
            backup: false,
            down: false,
        };
        for (i, p) in n.args.iter().enumerate().skip(1) {
            let at = n.arg_pos(i);
            let (key, value) = p.split_once('=').map_or((p.as_str(), None), |(k, v)| (k, Some(v)));
            let number = |v: Option<&str>, range: std::ops::RangeInclusive<u64>| -> Result<u64> {
                v.and_then(|v| v.parse::<u64>().ok()).filter(|x| range.contains(x)).ok_or_else(|| {
                    user(format!(
                        "{at}: `server {address}`: `{p}`: expected {key}=N with N from {} to {}",
                        range.start(),
                        range.end()
                    ))
                })
            };
            match (key, value) {
                ("weight", v) => s.weight = number(v, 1..=1000)?,
                ("max_fails", v) => s.max_fails = number(v, 0..=1_000_000)?,
                ("fail_timeout", v) => {
                    s.fail_timeout_ms = v.and_then(parse_time).filter(|ms| (1..=86_400_000).contains(ms)).ok_or_else(|| {
                        user(format!("{at}: `server {address}`: `{p}`: expected fail_timeout=TIME (like 10s, 500ms, 1m30s) from 1ms to 24h"))
                    })?
                }
                ("backup", None) => s.backup = true,
                ("down", None) => s.down = true,
                ("max_conns" | "slow_start" | "route" | "service" | "resolve" | "drain", _) => {
                    self.warnings.push(format!("{}: `server {address}` `{p}`: not modeled by lbsim", n.loc()));
                    let _ = writeln!(self.out, "# {} server {}: ignored: `{}` is not modeled by lbsim", n.at(), comment(address), comment(p));
                }
                ("server", None) => {
                    return Err(user(format!(
                        "{at}: `server {address}`: a second `server` in one directive: expected `;` to end the `server` line at {}",
                        n.pos()
                    )))
                }
                _ => {
                    return Err(user(format!(
                        "{at}: `server {address}`: unknown parameter `{p}`: expected weight=, max_fails=, fail_timeout=, backup, down, max_conns=, slow_start=, resolve, route=, service= or drain"
                    )))
                }
            }
        }
        Ok(s)
    }

    /// The lbsim algorithm for a balancing-method directive.
    fn algorithm(&mut self, n: &Node, notes: &mut Vec<String>) -> Result<String> {
        let args: Vec<&str> = n.args.iter().map(String::as_str).collect();
        let bad = |expected: &str| user(format!("{}: `{}`: expected {expected}", n.pos(), n.text()));
        Ok(match (n.name.as_str(), args.as_slice()) {
            ("least_conn", []) => "least_connections".into(),
            ("ip_hash", []) => "ip_hash".into(),
            ("hash", [_, "consistent"]) => "consistent_hash".into(),
            ("hash", [_]) => {
                self.approximate(n, "nginx's plain hash is a modulo over the servers; lbsim has no modulo hash, so consistent_hash stands in");
                notes.push("approximated: nginx's plain `hash` is a modulo over the weighted servers; consistent_hash spreads keys the same way but moves fewer on changes".into());
                "consistent_hash".into()
            }
            ("hash", _) => return Err(bad("`hash KEY [consistent]`")),
            ("random", []) => "random".into(),
            ("random", ["two", rest @ ..]) => {
                match rest {
                    [] | ["least_conn"] => {}
                    [m] if m.starts_with("least_time=") => {
                        self.warnings.push(format!(
                            "{}: `{m}`: not modeled (commercial); least_conn used between the two",
                            n.loc()
                        ));
                        notes.push(format!("ignored: `{}`: least_conn is used between the two", comment(m)));
                    }
                    _ => return Err(bad("`random [two [least_conn|least_time=header|least_time=last_byte]]`")),
                }
                "random_two".into()
            }
            ("random", _) => return Err(bad("`random [two [least_conn]]`")),
            ("least_time", _) => {
                self.warnings.push(format!(
                    "{}: `{}`: not modeled (commercial); round robin is used",
                    n.loc(),
                    n.text()
                ));
                notes.push("ignored: least_time is not modeled; nginx's default round robin stands in".into());
                "round_robin".into()
            }
            (_, _) => return Err(bad("no arguments")),
        })
    }

    /// `hash KEY`: what lbsim hashes.
    fn hash_key(&mut self, n: &Node, in_stream: bool) -> String {
        let key = n.args.first().map(String::as_str).unwrap_or("");
        let mapped = match key {
            "$remote_addr" | "$binary_remote_addr" => Some("source_ip".to_string()),
            _ if in_stream => None,
            "$uri" | "$request_uri" | "$document_uri" => Some("path".to_string()),
            k => ["$http_", "$cookie_", "$arg_"]
                .iter()
                .find_map(|p| k.strip_prefix(p))
                .filter(|h| {
                    !h.is_empty()
                        && h.len() <= 100
                        && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                })
                .map(|h| format!("header:{h}")),
        };
        mapped.unwrap_or_else(|| {
            self.approximate(n, &format!("lbsim cannot hash `{key}`; hashing the client address instead"));
            "source_ip".to_string()
        })
    }
}
