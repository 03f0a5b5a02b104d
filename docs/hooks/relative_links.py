"""mkdocs hook: make the language switch's root-relative links ("/", "/zh/") relative to the page.

The i18n plugin gives each home page its language links as site-absolute paths, which break when
the site is served from a sub-path (a project page) or opened from disk; every other page already
gets relative ones.
"""

import posixpath
import re

_ALTERNATE = re.compile(r'<a href="(/[^"]*)" hreflang="')


def on_post_page(output, page, config):
    here = "/" + posixpath.dirname(page.url.rstrip("/") + "/index.html")

    def relative(match):
        rel = posixpath.relpath(match.group(1), here)
        return f'<a href="{rel.rstrip("/") + "/" if rel != "." else "./"}" hreflang="'

    return _ALTERNATE.sub(relative, output)
