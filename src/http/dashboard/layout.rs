//! The frame every dashboard page shares: the document head, the inline style sheet (readable on a phone,
//! dark text on light ground), the navigation with the logout form, and small pieces the pages reuse.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::Operator;

/// The style sheet, inline so the pages need nothing else; contrast at least 4.5:1 throughout.
const STYLE: &str = "
:root{color-scheme:light;--ink:#1a1a1a;--muted:#4a4a4a;--line:#c8c8c8;--accent:#0b4f8a;--bad:#a4000f;--ok:#0f5e1f}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--ink);background:#fff}
header{background:#0b2f52;color:#fff;padding:.5rem 1rem;display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center}
header a{color:#fff}header nav{display:flex;flex-wrap:wrap;gap:.25rem 1rem}
header form{margin-left:auto}
main{padding:1rem;max-width:72rem}
h1{font-size:1.4rem;margin:.5rem 0 1rem}h2{font-size:1.15rem;margin:1.5rem 0 .5rem}
a{color:var(--accent)}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{background:#eef2f6}
.scroll{overflow-x:auto}
.muted{color:var(--muted)}.bad{color:var(--bad);font-weight:600}.ok{color:var(--ok);font-weight:600}
.override{background:#fff4d6}
.error{color:var(--bad);display:block;font-size:.95rem}
label{display:block;font-weight:600;margin-top:.75rem}
input,select,button{font:inherit;padding:.4rem .5rem;max-width:100%}
input,select{border:1px solid #767676;border-radius:3px;width:22rem}
button{background:var(--accent);color:#fff;border:0;border-radius:3px;cursor:pointer;margin-top:.75rem}
header button{background:#fff;color:#0b2f52;margin:0}
td form{margin:0}td button{margin:0;padding:.2rem .5rem}
.filters{display:flex;flex-wrap:wrap;gap:0 1rem;align-items:end}.filters input,.filters select{width:11rem}
@media (max-width:40rem){th,td{padding:.3rem}input,select{width:100%}}
";

/// A page for a logged-in operator: navigation, logout, and `body` under an `h1` of `title`.
pub(super) fn page(title: &str, operator: &Operator, body: Markup) -> Markup {
    frame(
        title,
        html! {
            header {
                strong { "afterhours" }
                nav aria-label="Dashboard" {
                    a href="/dashboard" { "Overview" }
                    a href="/dashboard/calls" { "Calls" }
                    a href="/dashboard/rotations" { "Rotations" }
                    a href="/dashboard/overrides" { "Overrides" }
                }
                form method="post" action="/dashboard/logout" {
                    input type="hidden" name="csrf" value=(operator.csrf);
                    span { (operator.session.name) " " }
                    button type="submit" { "Log out" }
                }
            }
            main {
                h1 { (title) }
                (body)
            }
        },
    )
}

/// A page without navigation (login, failures).
pub(super) fn bare(title: &str, body: Markup) -> Markup {
    frame(
        title,
        html! {
            header { strong { "afterhours" } }
            main { h1 { (title) } (body) }
        },
    )
}

fn frame(title: &str, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · afterhours" }
                style { (PreEscaped(STYLE)) }
            }
            body { (content) }
        }
    }
}

/// A message that something went wrong.
pub(super) fn problem(message: &str) -> Markup {
    html! { p.bad role="alert" { (message) } }
}

/// An instant in zone `tz`, with the zone's abbreviation: "Fri 27 Nov 20:00 EST".
pub(super) fn when(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%a %-d %b %Y %H:%M %Z").to_string()
}
