/*!
Finds where a field path (`containerDefinitions[1].portMappings[0].hostPort`) sits in a JSON
text, so the editor can mark the line a validation error is about. Tolerant of broken text:
it records what it could read before the first syntax error.
*/

/// The 1-based line of `path` in `text`, or of its nearest ancestor that is present
/// (a missing `image` is marked on its container).
pub fn line_of(text: &str, path: &str) -> Option<usize> {
    let found = positions(text);
    let mut path = path.to_string();
    loop {
        if let Some((_, line)) = found.iter().find(|(p, _)| *p == path) {
            return Some(*line);
        }
        if path.is_empty() {
            return None;
        }
        path = parent(&path).to_string();
    }
}

fn parent(path: &str) -> &str {
    match path.rfind(['.', '[']) {
        Some(i) => &path[..i],
        None => "",
    }
}

/// Every path in the document with the line its key (or array element) starts on.
pub fn positions(text: &str) -> Vec<(String, usize)> {
    let mut scanner = Scanner { chars: text.chars().collect(), pos: 0, line: 1, out: Vec::new() };
    scanner.skip_ws();
    let line = scanner.line;
    scanner.out.push((String::new(), line));
    let _ = scanner.value("");
    scanner.out
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    out: Vec<(String, usize)>,
}

impl Scanner {
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn value(&mut self, path: &str) -> Option<()> {
        self.skip_ws();
        match self.peek()? {
            '{' => self.object(path),
            '[' => self.array(path),
            '"' => self.string().map(|_| ()),
            _ => {
                while self.peek().is_some_and(|c| !(c.is_whitespace() || matches!(c, ',' | '}' | ']'))) {
                    self.bump();
                }
                Some(())
            }
        }
    }

    fn string(&mut self) -> Option<String> {
        self.bump(); // opening quote
        let mut s = String::new();
        loop {
            match self.bump()? {
                '"' => return Some(s),
                '\\' => {
                    s.push(self.bump()?);
                }
                c => s.push(c),
            }
        }
    }

    fn object(&mut self, path: &str) -> Option<()> {
        self.bump();
        loop {
            self.skip_ws();
            match self.peek()? {
                '}' => {
                    self.bump();
                    return Some(());
                }
                ',' => {
                    self.bump();
                }
                '"' => {
                    let line = self.line;
                    let key = self.string()?;
                    let child = if path.is_empty() { key } else { format!("{path}.{key}") };
                    self.out.push((child.clone(), line));
                    self.skip_ws();
                    if self.bump()? != ':' {
                        return None;
                    }
                    self.value(&child)?;
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, path: &str) -> Option<()> {
        self.bump();
        let mut index = 0;
        loop {
            self.skip_ws();
            match self.peek()? {
                ']' => {
                    self.bump();
                    return Some(());
                }
                ',' => {
                    self.bump();
                    index += 1;
                }
                _ => {
                    let child = format!("{path}[{index}]");
                    self.out.push((child.clone(), self.line));
                    self.value(&child)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_fields_and_falls_back_to_ancestors() {
        let text = "{\n  \"family\": \"x\",\n  \"containerDefinitions\": [\n    {\n      \"name\": \"a\",\n      \"portMappings\": [ { \"hostPort\": 80 } ]\n    }\n  ]\n}";
        assert_eq!(line_of(text, "family"), Some(2));
        assert_eq!(line_of(text, "containerDefinitions[0].name"), Some(5));
        assert_eq!(line_of(text, "containerDefinitions[0].portMappings[0].hostPort"), Some(6));
        assert_eq!(line_of(text, "containerDefinitions[0].image"), Some(4));
        assert_eq!(line_of("{ \"family\": ", "family"), Some(1));
    }
}
