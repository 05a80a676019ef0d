//! The page's frame: layout, style, and small pieces the pages share.
//! Server-rendered HTML (maud escapes every value it is given), no script:
//! forms post, the server answers with the next page.

use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::auth::Actor;

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.25rem 1rem;align-items:center}
header a{color:#fff;text-decoration:none}header a.brand{font-weight:700;margin-right:.5rem}
header form{margin-left:auto}header .who{opacity:.85}
main{max-width:72rem;margin:0 auto;padding:1rem}
h1{font-size:1.35rem;margin:.25rem 0 1rem}h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{text-align:left;padding:.4rem .5rem;border-bottom:1px solid #e3e6ea;vertical-align:top;overflow-wrap:anywhere}
th{font-size:.8rem;text-transform:uppercase;letter-spacing:.03em;color:#5b6673}
.pill{display:inline-block;padding:0 .45rem;border-radius:1rem;font-size:.8rem;background:#e8edf3}
.urgent{background:#fde2e1;color:#8a1c14}.high{background:#fff0d6;color:#7a4a00}
.note{padding:.6rem .8rem;background:#fff;border-left:4px solid #1f3a5f;margin:.5rem 0}
.bad{border-left-color:#b3261e}.ok{border-left-color:#1e7b34}
form.inline{display:inline-flex;gap:.3rem;flex-wrap:wrap;margin:.15rem 0}
input[type=text],input[type=password],select{padding:.3rem .4rem;border:1px solid #b9c1cb;border-radius:4px;font:inherit;max-width:100%}
button{padding:.3rem .7rem;border:0;border-radius:4px;background:#1f3a5f;color:#fff;font:inherit;cursor:pointer}
button.quiet{background:#e8edf3;color:#1d232a}
pre{background:#fff;padding:.6rem;overflow-x:auto;border:1px solid #e3e6ea;font-size:.85rem}
.del{background:#fde2e1}.ins{background:#ddf4e4}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.75rem}
.card{background:#fff;padding:.75rem;border:1px solid #e3e6ea;border-radius:6px}
code{overflow-wrap:anywhere;word-break:break-word}
.muted{color:#5b6673}.pager{margin:.75rem 0;display:flex;gap:1rem}
@media (max-width:640px){
 table.rows thead{display:none}
 table.rows tr{display:block;border-bottom:1px solid #cfd5dc;padding:.35rem 0}
 table.rows td{display:block;border:0;padding:.1rem .5rem}
 table.rows td[data-label]::before{content:attr(data-label) ": ";font-weight:600;color:#5b6673}
}
"#;

/// A whole page: `title`, the person signed in (their name and sign-out), `body`.
pub fn page(title: &str, actor: Option<&Actor>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · dealflow" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "dealflow" }
                    @if let Some(a) = actor {
                        a href="/queue" { "Queues" }
                        a href="/team" { "Team" }
                        a href="/rules" { "Rules" }
                        span.who { (a.label) " · " (a.role) }
                        form method="post" action="/signout" {
                            (csrf_field(a))
                            button.quiet type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// The session's form token, as a hidden field of a form.
pub fn csrf_field(actor: &Actor) -> Markup {
    html! { input type="hidden" name="csrf" value=(actor.csrf.as_deref().unwrap_or_default()); }
}

pub fn priority(p: &str) -> Markup {
    html! { span class={ "pill " (p) } { (p) } }
}

/// A link to a task's subject (its deal, account or lead page).
pub fn subject_link(s: &dealflow::model::Subject) -> Markup {
    let href = match s.kind.as_str() {
        "deal" => Some(format!("/deals/{}", encode(&s.id))),
        "account" => Some(format!("/accounts/{}", encode(&s.id))),
        _ => None,
    };
    html! {
        @match href {
            Some(h) => a href=(h) { (s.kind) " " (s.id) },
            None => span { (s.kind) " " (s.id) },
        }
    }
}

/// A value for a path segment or a query string.
pub fn encode(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_events_is_escaped_not_markup() {
        let hostile = dealflow::model::Subject { kind: "deal".into(), id: "<img src=x onerror=alert(1)>".into() };
        let shown = subject_link(&hostile).into_string();
        assert!(!shown.contains("<img"), "{shown}");
        assert!(shown.contains("&lt;img src=x onerror=alert(1)&gt;"), "{shown}");
        assert!(shown.contains("/deals/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E"), "{shown}");
    }
}
