"""The page around the sections: document head, stylesheet and a strict CSP.

The Content-Security-Policy forbids every fetch (``default-src 'none'``) and every
script, so the file provably works offline and can be mailed or archived as is.
Colours are the Okabe–Ito palette (readable with colour-blindness) and survive
greyscale printing through distinct lightness.
"""

from __future__ import annotations

from collections.abc import Iterable

from recompense.report.svg import esc

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d1d9e0;--soft:#f6f8fa;--accent:#0072b2;
--floor:#e69f00;--share:#0072b2;--cap:#d55e00;--other:#999;--bad:#b42318;--good:#1a7f37}
*{box-sizing:border-box}
body{margin:0;font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",
Arial,sans-serif;color:var(--ink);background:#fff}
header,main,footer{max-width:1120px;margin:0 auto;padding:0 20px}
header{padding-top:24px}
h1{font-size:1.7rem;margin:0 0 4px}
h2{font-size:1.2rem;margin:0 0 4px}
.sub,.caption,figcaption,.muted{color:var(--muted);font-size:.9rem}
nav{margin:10px 0 0;font-size:.9rem}
nav a{color:var(--accent);margin-right:14px;text-decoration:none}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:10px;
margin:16px 0;padding:0}
.kpi{border:1px solid var(--line);border-radius:8px;padding:10px 12px;margin:0}
.kpi dt{color:var(--muted);font-size:.8rem;text-transform:uppercase;letter-spacing:.04em}
.kpi dd{margin:2px 0 0;font-size:1.2rem;font-weight:600;font-variant-numeric:tabular-nums;
overflow-wrap:anywhere}
.kpi dd small{display:block;font-size:.8rem;font-weight:400;color:var(--muted)}
section{border-top:1px solid var(--line);padding:18px 0 8px;break-inside:avoid}
figure{margin:8px 0}
.row{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:24px;align-items:start}
.row.lorenz{grid-template-columns:minmax(0,360px) minmax(0,1fr)}
svg.chart{width:100%;height:auto;display:block;font-size:12px;overflow:visible}
svg.lorenz{max-width:420px}
svg text{fill:var(--ink)}
svg .tick,svg .note,svg .legend{fill:var(--muted);font-size:11px}
svg .axis-title{fill:var(--muted);font-size:12px}
svg .label{font-size:13px}
svg .value{font-size:12px;font-variant-numeric:tabular-nums}
svg .big{font-size:20px;font-weight:700}
svg .inbar{fill:#fff;font-size:12px;font-weight:600}
svg .axis{stroke:#8c959f;stroke-width:1}
svg .grid{stroke:#eaeef2;stroke-width:1}
svg .ref{stroke:var(--muted);stroke-dasharray:4 3}
svg .equality{stroke:var(--muted);stroke-dasharray:5 4;fill:none}
svg .lorenz-curve{stroke:var(--accent);stroke-width:2.5;fill:none}
svg .lorenz-gap{fill:var(--accent);fill-opacity:.12}
svg .incident{fill:var(--cap);fill-opacity:.10}
.c-floor{fill:var(--floor)}.c-share{fill:var(--share)}.c-cap{fill:var(--cap)}
.c-other{fill:var(--other)}.c-funnel{fill:var(--accent)}.c-hour{fill:#56b4e9}
.c-peak{fill:var(--cap)}
svg .dots circle{fill-opacity:.55}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:6px;
vertical-align:-1px}
.swatch.floor{background:var(--floor)}.swatch.share{background:var(--share)}
.swatch.cap{background:var(--cap)}.swatch.other{background:var(--other)}
table{border-collapse:collapse;width:100%;font-size:.9rem;margin:8px 0}
caption{text-align:left;font-weight:600;padding:4px 0}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left}
th{background:var(--soft);font-weight:600}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.checks{list-style:none;padding:0;margin:8px 0;font-size:.9rem;columns:2 300px}
.checks li{margin:2px 0}
.ok{color:var(--good);font-weight:700}.bad{color:var(--bad);font-weight:700}
.nodata{border:1px dashed var(--line);border-radius:8px;padding:28px;text-align:center;
color:var(--muted);background:var(--soft)}
details{margin:6px 0;font-size:.9rem}
summary{cursor:pointer;color:var(--accent)}
code{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;word-break:break-all}
footer{color:var(--muted);font-size:.85rem;padding-bottom:32px}
footer p{border-top:1px solid var(--line);margin:16px 0 0;padding-top:14px}
@media (max-width:760px){.row,.row.lorenz{grid-template-columns:1fr}}
@media print{body{font-size:11pt}nav,details>summary{display:none}
header,main,footer{max-width:none;padding:0}section{padding-top:10px}
section,figure,table{break-inside:avoid}.kpi{border-color:#999}
@page{margin:14mm}}
"""


def page(title: str, header: str, sections: Iterable[str], footer: str) -> str:
    """One complete HTML5 document; ``title`` is plain text, the rest is trusted HTML."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="color-scheme" content="light">\n'
        f"<title>{esc(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        f"{header}\n<main>\n" + "\n".join(sections) + f"\n</main>\n{footer}\n</body>\n</html>\n"
    )
