"""Turns a terminal capture with colours (`tmux capture-pane -e -p`) into an HTML page that looks like
the terminal, for the screenshots in docs/ (headless chromium --screenshot renders it):

    tmux capture-pane -t NAME -e -p > out.ansi
    /usr/bin/python3.11 docs/ansi_to_html.py out.ansi > out.html
"""

import html
import re
import sys

BASIC = ["#1e1e1e", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#e5e5e5"]
BRIGHT = ["#767676", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff"]


def colour256(n):
    if n < 8:
        return BASIC[n]
    if n < 16:
        return BRIGHT[n - 8]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return f"#{steps[n // 36]:02x}{steps[n // 6 % 6]:02x}{steps[n % 6]:02x}"
    grey = 8 + (n - 232) * 10
    return f"#{grey:02x}{grey:02x}{grey:02x}"


def convert(text):
    state = {"fg": None, "bg": None, "bold": False}
    out = []
    for part in re.split(r"(\x1b\[[0-9;]*m)", text):
        if not part.startswith("\x1b["):
            if part:
                style = ";".join(s for s in (f"color:{state['fg']}" if state["fg"] else "", f"background:{state['bg']}" if state["bg"] else "",
                                             "font-weight:bold" if state["bold"] else "") if s)
                out.append(f'<span style="{style}">{html.escape(part)}</span>' if style else html.escape(part))
            continue
        codes = [int(c) if c else 0 for c in part[2:-1].split(";")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                state = {"fg": None, "bg": None, "bold": False}
            elif c == 1:
                state["bold"] = True
            elif c == 22:
                state["bold"] = False
            elif 30 <= c <= 37 or 90 <= c <= 97:
                state["fg"] = (BASIC if c < 90 else BRIGHT)[c % 10]
            elif 40 <= c <= 47 or 100 <= c <= 107:
                state["bg"] = (BASIC if c < 100 else BRIGHT)[c % 10]
            elif c in (38, 48) and i + 2 < len(codes) and codes[i + 1] == 5:
                state["fg" if c == 38 else "bg"] = colour256(codes[i + 2])
                i += 2
            elif c in (38, 48) and i + 4 < len(codes) and codes[i + 1] == 2:
                state["fg" if c == 38 else "bg"] = "#%02x%02x%02x" % tuple(codes[i + 2:i + 5])
                i += 4
            elif c == 39:
                state["fg"] = None
            elif c == 49:
                state["bg"] = None
            i += 1
    return "".join(out)


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read().rstrip("\n") + "\n"
    print('<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;background:#1e1e1e}'
          'pre{margin:0;padding:14px 16px;color:#e5e5e5;font:14px/1.18 "DejaVu Sans Mono",monospace}</style></head>'
          f"<body><pre>{convert(text)}</pre></body></html>")


if __name__ == "__main__":
    main(sys.argv[1])
