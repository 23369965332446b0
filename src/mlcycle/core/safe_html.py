"""HTML that stays inert when downloaded: JSON embedded in ``<script>`` blocks cannot close them."""

from __future__ import annotations

import json
import re

# A line `var name = {...}` / `[...]`: how report templates (Evidently's included) embed their data.
# The literal is decoded to find its end.
_ASSIGNMENT = re.compile(r"^[ \t]*(?:var|let|const)[ \t]+[\w$]+[ \t]*=[ \t]*(?=[\[{])", re.MULTILINE)


def escape_embedded_json(page: str) -> str:
    """``page`` with every ``<`` inside a JSON object or array a script assigns written as ``\\u003c``.

    A string value such as ``</script><script>alert(1)</script>`` otherwise ends the script block
    and runs as a new one when the file is opened outside a sandbox. JSON has no ``<`` outside its
    strings, so within a decoded literal the replacement changes no value. The literal is found by
    decoding it, never by looking for ``</script>``, which the hostile value itself provides.
    """
    decoder = json.JSONDecoder()
    out: list[str] = []
    pos = 0
    for match in _ASSIGNMENT.finditer(page):
        start = match.end()
        if start < pos:
            continue
        try:
            _, end = decoder.raw_decode(page, start)
        except ValueError:
            continue
        out += [page[pos:start], page[start:end].replace("<", "\\u003c")]
        pos = end
    out.append(page[pos:])
    return "".join(out)
