/*!
The cluster query language of ECS `memberOf` placement constraints, e.g.
`attribute:ecs.availability-zone in [a, b] and not (attribute:ecs.instance-type =~ t2.*)`.

Grammar (keywords are case-insensitive; `&&`, `||`, `!` are accepted for and, or, not):

```text
expr       := and_expr ( "or" and_expr )*
and_expr   := unary ( "and" unary )*
unary      := "not" unary | "(" expr ")" | condition
condition  := subject ( cmp value | "exists" | "!exists" | ("in" | "not_in" | "!in") list )
cmp        := "==" | "!=" | ">" | ">=" | "<" | "<=" | "=~" | "!~"
subject    := "attribute:" NAME | agentConnected | agentVersion | instanceId | ec2InstanceId
            | registeredAt | runningTasksCount | "task:group"
list       := "[" value ( "," value )* "]"
value      := WORD | 'quoted' | "quoted"
```

Parse errors carry the character offset of the offending token so editors can point at it.
*/

mod eval;

pub use eval::Facts;
use std::fmt;

/// Something a condition can look at on a container instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Attribute(String),
    AgentConnected,
    AgentVersion,
    InstanceId,
    RegisteredAt,
    RunningTasksCount,
    TaskGroup,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Matches,
    NotMatches,
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Compare { subject: Subject, op: CmpOp, value: String, regex: Option<regex_lite::Regex> },
    Exists { subject: Subject, negated: bool },
    In { subject: Subject, values: Vec<String>, negated: bool },
}

/// Where and why an expression failed to parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Character offset (0-based) of the offending token.
    pub offset: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at character {}: {}", self.offset + 1, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses a `memberOf` expression.
pub fn parse(text: &str) -> Result<Expr, ParseError> {
    let tokens = lex(text)?;
    let mut parser = Parser { tokens, pos: 0, end: text.chars().count() };
    if parser.tokens.is_empty() {
        return Err(ParseError { offset: 0, message: "the expression is empty".into() });
    }
    let expr = parser.or_expr()?;
    if let Some(tok) = parser.peek() {
        return Err(parser.error_at(tok, format!("unexpected '{}' after a complete condition", tok.text)));
    }
    Ok(expr)
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Word,
    Quoted,
    Op,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    offset: usize,
}

const OPS: [&str; 11] = ["==", "!=", ">=", "<=", "=~", "!~", "&&", "||", ">", "<", "!"];

fn lex(text: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens: Vec<Token> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        // A pattern after =~ / !~ is taken raw (it may hold brackets), up to whitespace or
        // an unbalanced closing parenthesis.
        let after_match_op = tokens
            .last()
            .is_some_and(|t| t.kind == Kind::Op && (t.text == "=~" || t.text == "!~"));
        if after_match_op && c != '\'' && c != '"' {
            let mut depth = 0i32;
            while i < chars.len() && !chars[i].is_whitespace() {
                match chars[i] {
                    '(' => depth += 1,
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    _ => {}
                }
                i += 1;
            }
            tokens.push(Token { kind: Kind::Word, text: chars[start..i].iter().collect(), offset: start });
            continue;
        }
        let simple = match c {
            '(' => Some(Kind::LParen),
            ')' => Some(Kind::RParen),
            '[' => Some(Kind::LBracket),
            ']' => Some(Kind::RBracket),
            ',' => Some(Kind::Comma),
            _ => None,
        };
        if let Some(kind) = simple {
            tokens.push(Token { kind, text: c.to_string(), offset: start });
            i += 1;
            continue;
        }
        if c == '\'' || c == '"' {
            i += 1;
            let mut value = String::new();
            while i < chars.len() && chars[i] != c {
                value.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                return Err(ParseError { offset: start, message: format!("the quote {c} is never closed") });
            }
            i += 1;
            tokens.push(Token { kind: Kind::Quoted, text: value, offset: start });
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        if let Some(op) = OPS.iter().find(|op| rest.starts_with(**op)) {
            // `!exists` and `!in` are words, not the operator `!`.
            let word_follows = *op == "!" && chars.get(i + 1).is_some_and(|n| n.is_alphabetic());
            if !word_follows {
                i += op.len();
                tokens.push(Token { kind: Kind::Op, text: op.to_string(), offset: start });
                continue;
            }
        }
        if c == '!' || is_word_char(c) {
            i += 1;
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            tokens.push(Token { kind: Kind::Word, text: chars[start..i].iter().collect(), offset: start });
            continue;
        }
        return Err(ParseError { offset: start, message: format!("unexpected character '{c}'") });
    }
    Ok(tokens)
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '*' | '/' | '@' | '+' | '$' | '^' | '?')
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    end: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let tok = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        tok
    }

    fn error_at(&self, tok: &Token, message: String) -> ParseError {
        ParseError { offset: tok.offset, message }
    }

    fn error_at_end(&self, message: &str) -> ParseError {
        ParseError { offset: self.end, message: format!("the expression ends early: {message}") }
    }

    fn keyword(&self, words: &[&str]) -> bool {
        self.peek().is_some_and(|t| {
            (t.kind == Kind::Word || t.kind == Kind::Op) && words.iter().any(|w| t.text.eq_ignore_ascii_case(w))
        })
    }

    fn or_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and_expr()?;
        while self.keyword(&["or", "||"]) {
            self.pos += 1;
            let right = self.and_expr()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.unary()?;
        while self.keyword(&["and", "&&"]) {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if self.keyword(&["not", "!"]) {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.peek() {
            Some(t) if t.kind == Kind::LParen => {
                let open = t.clone();
                self.pos += 1;
                let inner = self.or_expr()?;
                match self.next() {
                    Some(t) if t.kind == Kind::RParen => Ok(inner),
                    Some(t) => Err(self.error_at(&t, format!("expected ')' to close the '(' at character {}, found '{}'", open.offset + 1, t.text))),
                    None => Err(self.error_at(&open, "this '(' is never closed".into())),
                }
            }
            _ => self.condition(),
        }
    }

    fn condition(&mut self) -> Result<Expr, ParseError> {
        let tok = self.next().ok_or_else(|| self.error_at_end("a condition is missing"))?;
        let subject = subject(&tok).map_err(|m| self.error_at(&tok, m))?;
        let op = self.next().ok_or_else(|| self.error_at_end("an operator is missing after the subject"))?;
        let word = op.text.to_ascii_lowercase();
        match (op.kind.clone(), word.as_str()) {
            (Kind::Word, "exists") => Ok(Expr::Exists { subject, negated: false }),
            (Kind::Word, "!exists" | "not_exists") => Ok(Expr::Exists { subject, negated: true }),
            (Kind::Word, "in") => Ok(Expr::In { subject, values: self.list()?, negated: false }),
            (Kind::Word, "!in" | "not_in") => Ok(Expr::In { subject, values: self.list()?, negated: true }),
            (Kind::Op | Kind::Word, _) => {
                let cmp = cmp_op(&word).ok_or_else(|| {
                    self.error_at(&op, format!("'{}' is not an operator (use ==, !=, >, >=, <, <=, =~, !~, exists, !exists, in, not_in)", op.text))
                })?;
                let value_tok = self.value_token()?;
                let regex = if matches!(cmp, CmpOp::Matches | CmpOp::NotMatches) {
                    Some(
                        regex_lite::Regex::new(&format!("^(?:{})$", value_tok.text)).map_err(|e| {
                            let detail = e.to_string();
                            let reason = detail.lines().last().unwrap_or("").trim().trim_start_matches("error:").trim().to_string();
                            self.error_at(&value_tok, format!("'{}' is not a valid regular expression: {reason}", value_tok.text))
                        })?,
                    )
                } else {
                    None
                };
                Ok(Expr::Compare { subject, op: cmp, value: value_tok.text, regex })
            }
            _ => Err(self.error_at(&op, format!("expected an operator after the subject, found '{}'", op.text))),
        }
    }

    fn value_token(&mut self) -> Result<Token, ParseError> {
        match self.next() {
            Some(t) if t.kind == Kind::Word || t.kind == Kind::Quoted => Ok(t),
            Some(t) => Err(self.error_at(&t, format!("expected a value, found '{}'", t.text))),
            None => Err(self.error_at_end("a value is missing after the operator")),
        }
    }

    fn list(&mut self) -> Result<Vec<String>, ParseError> {
        match self.next() {
            Some(t) if t.kind == Kind::LBracket => {}
            Some(t) => return Err(self.error_at(&t, format!("expected '[' to start a list, found '{}'", t.text))),
            None => return Err(self.error_at_end("a list [a, b] is missing")),
        }
        let mut values = vec![self.value_token()?.text];
        loop {
            match self.next() {
                Some(t) if t.kind == Kind::Comma => values.push(self.value_token()?.text),
                Some(t) if t.kind == Kind::RBracket => return Ok(values),
                Some(t) => return Err(self.error_at(&t, format!("expected ',' or ']' in the list, found '{}'", t.text))),
                None => return Err(self.error_at_end("the list is never closed with ']'")),
            }
        }
    }
}

fn subject(tok: &Token) -> Result<Subject, String> {
    if tok.kind != Kind::Word {
        return Err(format!("expected a subject such as attribute:NAME, found '{}'", tok.text));
    }
    if let Some(name) = tok.text.strip_prefix("attribute:") {
        if name.is_empty() {
            return Err("attribute: needs a name, e.g. attribute:ecs.availability-zone".into());
        }
        return Ok(Subject::Attribute(name.to_string()));
    }
    match tok.text.as_str() {
        "agentConnected" => Ok(Subject::AgentConnected),
        "agentVersion" => Ok(Subject::AgentVersion),
        "instanceId" | "ec2InstanceId" | "containerInstanceId" => Ok(Subject::InstanceId),
        "registeredAt" => Ok(Subject::RegisteredAt),
        "runningTasksCount" => Ok(Subject::RunningTasksCount),
        "task:group" => Ok(Subject::TaskGroup),
        other => Err(format!(
            "'{other}' is not something a constraint can test (use attribute:NAME, agentConnected, agentVersion, instanceId, registeredAt, runningTasksCount or task:group)"
        )),
    }
}

fn cmp_op(word: &str) -> Option<CmpOp> {
    Some(match word {
        "==" | "equals" => CmpOp::Eq,
        "!=" | "not_equals" => CmpOp::Ne,
        ">" | "greater_than" => CmpOp::Gt,
        ">=" | "greater_than_equal" => CmpOp::Ge,
        "<" | "less_than" => CmpOp::Lt,
        "<=" | "less_than_equal" => CmpOp::Le,
        "=~" | "matches" => CmpOp::Matches,
        "!~" | "not_matches" => CmpOp::NotMatches,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_ecs_examples() {
        for text in [
            "attribute:ecs.instance-type == t2.small",
            "attribute:ecs.availability-zone in [us-east-1a, us-east-1b]",
            "attribute:ecs.instance-type =~ g2.* and attribute:ecs.availability-zone != us-east-1d",
            "not (attribute:ecs.instance-type =~ t2.*)",
            "attribute:stack exists",
            "attribute:stack !exists or runningTasksCount > 2",
            "task:group == service:production",
            "agentConnected == true && (attribute:zone not_in [a, 'b c'])",
            "attribute:ecs.os-type == linux",
        ] {
            parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        }
    }

    #[test]
    fn errors_point_at_the_offending_character() {
        let text = "attribute:ecs.instance-type =~ (";
        let err = parse(text).unwrap_err();
        assert_eq!(err.offset, 31, "{err}");
        assert!(err.message.contains("regular expression"), "{err}");

        let err = parse("attribute:a == b and").unwrap_err();
        assert_eq!(err.offset, 20);
        let err = parse("colour == red").unwrap_err();
        assert_eq!(err.offset, 0);
        let err = parse("attribute:a in [x y]").unwrap_err();
        assert_eq!(err.offset, 18);
        let err = parse("(attribute:a == b").unwrap_err();
        assert_eq!(err.offset, 0);
        let err = parse("attribute:a ~~ b").unwrap_err();
        assert_eq!(err.offset, 12);
        assert!(parse("").is_err());
    }
}
