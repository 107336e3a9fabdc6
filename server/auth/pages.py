"""The small HTML pages of staff login and logout."""

from __future__ import annotations

from html import escape

_STYLE = (
    "body{font-family:system-ui,sans-serif;background:#f4f6f8;display:flex;justify-content:center;"
    "margin-top:10vh}form{background:#fff;padding:2rem;border-radius:8px;min-width:18rem;"
    "box-shadow:0 1px 4px #0002}label{display:block;margin:.6rem 0 .2rem}input{width:100%;"
    "padding:.4rem;box-sizing:border-box}button{margin-top:1rem;padding:.5rem 1rem}.err{color:#b00020}"
)


def login_page(csrf: str, next_path: str, error: str = "") -> str:
    message = f'<p class="err" role="alert">{escape(error)}</p>' if error else ""
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Teller staff login</title>
<style>{_STYLE}</style></head><body><form method="post" action="/login">
<h1>Digital Teller — staff</h1>{message}
<input type="hidden" name="csrf_token" value="{escape(csrf)}">
<input type="hidden" name="next" value="{escape(next_path)}">
<label for="username">User name</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Password</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<label for="code">One-time code (if your account has one)</label>
<input id="code" name="code" inputmode="numeric" autocomplete="one-time-code" maxlength="8">
<button type="submit">Log in</button></form></body></html>"""


def logout_page(csrf: str, name: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log out</title>
<style>{_STYLE}</style></head><body><form method="post" action="/logout">
<p>Logged in as <b>{escape(name)}</b>.</p>
<input type="hidden" name="csrf_token" value="{escape(csrf)}"><button type="submit">Log out</button>
</form></body></html>"""
