//! HTML escaping. Everything that did not come from our own templates goes through here before it
//! reaches a `formatted_body`.

use std::borrow::Cow;

/// Escapes text for use in HTML element content and double-quoted attribute values.
pub fn escape(input: &str) -> Cow<'_, str> {
    if !input.bytes().any(|b| matches!(b, b'<' | b'>' | b'&' | b'"' | b'\'')) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 16);
    for c in input.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn escapes_markup_and_leaves_plain_text_borrowed() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
        assert!(matches!(escape("plain text"), std::borrow::Cow::Borrowed(_)));
    }
}
